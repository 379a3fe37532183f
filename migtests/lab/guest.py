# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""A real guest on the lab: its disks, its domain, its serial counter.

Disk layouts: ``local`` (a qcow2 root disk vda on the host's own storage,
copied by a block migration), ``volume`` (vdb, the lab's shared qemu-nbd
volume, attached like a Cinder volume) or both; with no disk at all the
guest runs from its initramfs alone.  Disks are filled with known patterns
at creation so that data can be checked after a migration.
"""

import hashlib
import os
from xml.sax.saxutils import quoteattr

from migtests import console
from migtests.lab import cases
from migtests.lab import guestimage
from migtests.lab.lab import STORAGE_ADDRESS
from migtests.lab import system
from migtests.lab.system import LabError
from migtests.lab.system import run

# Pinned so that guests move between QEMU versions (a bare 'pc' expands to
# the source's newest type, which an older destination refuses).
MACHINE = 'pc-i440fx-5.2'
ROOT_SIZE = '64M'
ROOT_PATTERN, VOLUME_PATTERN, CONFIG_PATTERN = 0x5a, 0xa5, 0x3c
CONFIG_SIZE = 4 * 1024 * 1024
_CONFIG_BYTES = bytes([CONFIG_PATTERN]) * CONFIG_SIZE
PATTERN_BYTES = 4 * 1024 * 1024
_DOMAIN = '''<domain type='qemu'>
  <name>%(name)s</name>
  <memory unit='MiB'>%(memory)d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='%(machine)s'>hvm</type>
    <kernel>%(kernel)s</kernel>
    <initrd>%(initrd)s</initrd>
    <cmdline>%(cmdline)s</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
%(disks)s
    <serial type='file'>
      <source path=%(serial)s append='off'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
'''

_LOCAL_DISK = '''    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file=%(path)s/>
      <target dev='%(target)s' bus='virtio'/>
    </disk>'''

_CONFIG_DISK = '''    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file=%(path)s/>
      <target dev='%(target)s' bus='ide'/>
      <readonly/>
    </disk>'''

_VOLUME_DISK = '''    <disk type='network' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source protocol='nbd' name=%(export)s>
        <host name='%(address)s' port='%(port)d'/>
      </source>
      <target dev='%(target)s' bus='virtio'/>
    </disk>'''


class Guest:
    def __init__(self, lab, name, local=True, volume=None, memory=128,
                 dirty_mib=0, config=False, machine=None):
        self.lab, self.name = lab, name
        self.local, self.volume, self.memory = local, volume, memory
        self.config = config
        self.machine = machine or MACHINE
        self.config_ns_path = '/var/lib/libvirt/images/%s.config' % name
        self.dirty_mib = dirty_mib
        self.root_ns_path = '/var/lib/libvirt/images/%s.qcow2' % name
        self.serial_ns_path = '/var/log/libvirt/%s.serial' % name

    def xml(self):
        disks = []
        if self.local:
            disks.append(_LOCAL_DISK % {'path': quoteattr(self.root_ns_path),
                                        'target': cases.ROOT_DISK})
        if self.config:
            disks.append(_CONFIG_DISK % {
                'path': quoteattr(self.config_ns_path),
                'target': cases.CONFIG_DISK})
        if self.volume:
            path, port = self.lab.volume(
                self.volume, fill=(VOLUME_PATTERN, PATTERN_BYTES))
            disks.append(_VOLUME_DISK % {'export': quoteattr(self.volume),
                                         'address': STORAGE_ADDRESS,
                                         'port': port,
                                         'target': cases.VOLUME_DISK})
        return _DOMAIN % {
            'name': self.name, 'memory': self.memory,
            'machine': self.machine,
            'cmdline': guestimage.command_line(self.dirty_mib),
            'kernel': self.lab.image.kernel, 'initrd': self.lab.image.initrd,
            'disks': '\n'.join(disks),
            'serial': quoteattr(self.serial_ns_path)}

    # --- disks -----------------------------------------------------------
    def root_path(self, host):
        return host.path(self.root_ns_path)

    def prepare_root(self, host, pattern=True):
        """Create the root disk on ``host`` (with the pattern: the source;
        without: the destination a block migration copies into)."""
        path = self.root_path(host)
        if os.path.exists(path):
            os.unlink(path)
        run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, ROOT_SIZE])
        if pattern:
            run(['qemu-io', '-f', 'qcow2', '-c', 'write -q -P %d 0 %d'
                 % (ROOT_PATTERN, PATTERN_BYTES), path])

    def config_path(self, host):
        return host.path(self.config_ns_path)

    def prepare_config(self, host):
        """The config drive, with its pattern, as Nova writes it on the
        instance's host."""
        path = self.config_path(host)
        with open(path, 'wb') as f:
            f.write(_CONFIG_BYTES)

    def config_sha256(self):
        """The checksum of the config drive the guest booted with."""
        return hashlib.sha256(_CONFIG_BYTES).hexdigest()

    def config_seen(self, host, timeout=30):
        """The checksum of its config drive the guest on ``host`` printed
        last (it reads it past its page cache every few seconds), waited
        for."""
        def seen():
            found = console.config_drives(self.serial(host))
            return found and found[-1][1]
        return system.wait_for(seen, timeout, interval=0.2,
                               what='the config drive line of %s on %s'
                               % (self.name, host.name))

    def config_intact(self, host):
        try:
            with open(self.config_path(host), 'rb') as f:
                return f.read() == _CONFIG_BYTES
        except FileNotFoundError:
            return False

    def remove_root(self, host):
        path = self.root_path(host)
        if os.path.exists(path):
            os.unlink(path)

    def pattern_intact(self, path, fmt, pattern):
        command = 'read -q -P %d 0 %d' % (pattern, PATTERN_BYTES)
        proc = run(['qemu-io', '-U', '-r', '-f', fmt, '-c', command, path],
                   check=False)
        return proc.returncode == 0 and 'Pattern verification failed' \
            not in proc.stdout

    def root_intact(self, host):
        return self.pattern_intact(self.root_path(host), 'qcow2',
                                   ROOT_PATTERN)

    def volume_intact(self):
        return self.pattern_intact(self.lab.volume(self.volume)[0], 'raw',
                                   VOLUME_PATTERN)

    def roots_identical(self, host_a, host_b):
        """The guest-visible content of the two hosts' root disks is
        byte-identical (qemu-img compare: 0 same, 1 differ)."""
        proc = run(['qemu-img', 'compare', '-U', '-f', 'qcow2', '-F',
                    'qcow2', self.root_path(host_a), self.root_path(host_b)],
                   check=False)
        if proc.returncode not in (0, 1):
            raise LabError('qemu-img compare failed: %s'
                           % proc.stderr.strip())
        return proc.returncode == 0

    # --- life cycle --------------------------------------------------------
    def create(self, host, conn):
        if self.local:
            self.prepare_root(host)
        if self.config:
            self.prepare_config(host)
        serial = host.path(self.serial_ns_path)
        if os.path.exists(serial):
            os.unlink(serial)
        domain = conn.defineXML(self.xml())
        domain.create()
        self.wait_counter(host, after=0, timeout=60)
        return domain

    def serial(self, host):
        try:
            with open(host.path(self.serial_ns_path), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def counters(self, host):
        return console.counters(self.serial(host))

    def wait_counter(self, host, after, timeout=30):
        """Wait for the guest on ``host`` to print a counter over ``after``."""
        def advanced():
            values = self.counters(host)
            return values and values[-1] > after and values[-1]
        try:
            return system.wait_for(advanced, timeout, interval=0.1,
                                   what='the counter of %s on %s'
                                   % (self.name, host.name))
        except LabError:
            tail = self.serial(host).strip().splitlines()[-3:]
            raise LabError('guest %s on %s printed no counter above %d in '
                           '%d s; serial tail: %s' % (
                               self.name, host.name, after, timeout,
                               ' | '.join(tail) or '(empty)')) from None
