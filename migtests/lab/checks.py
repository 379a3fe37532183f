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

"""What the lab checks of a migration, read from the hosts themselves.

After a migration: the destination runs the guest persistently and the
source no longer has it; the guest was not rebooted (its serial counter
carries on); a block migration copied exactly the local disks (read from
QEMU's mirror jobs in the source's libvirtd log), byte-identical, and the
shared volume is untouched and still attached.  After a failure: the guest
still runs on its source, counting, its disks intact.
"""

import os
import re
import xml.etree.ElementTree as ElementTree

from migtests import console
from migtests.lab import cases
from migtests.lab import virt

_MIRROR_RE = re.compile(r'"event": "BLOCK_JOB_(?:READY|COMPLETED)", "data": '
                        r'\{"device": "drive-([\w-]+)".*?"type": "mirror"')
# QEMU's legacy (tunnelled) block migration reports its progress this way
# (query-migrate's "disk"), its keys in no fixed order: libvirt 1.2.17 logs
# QEMU 5.2's reply with "total" first (conformance row tunnelled-block on
# libvirt-1.2.17).
_LEGACY_RE = re.compile(r'"disk": \{[^}]*"transferred": [1-9]')
# ... or only in the migrate command libvirt sent ("blk" or, incremental,
# "inc" true): libvirt 1.3.1 follows a migration by QEMU's events and
# queries its progress only once it has completed, when QEMU reports no
# disk any more (conformance row tunnelled-block on libvirt-1.3.1:
# "blk":false,"inc":true).
_LEGACY_SENT_RE = re.compile(
    r'"execute": ?"migrate", ?"arguments": ?\{[^}]*"(?:blk|inc)": ?true')
LEGACY = 'legacy-block-migration'


class DaemonLog:
    """The host's libvirtd log (or another of its logs: ``path`` inside the
    host), read from an offset taken before a call."""

    def __init__(self, host, path='/var/log/libvirt/libvirtd.log'):
        self.path = host.path(path)
        try:
            with open(self.path, 'rb') as f:
                self.offset = f.seek(0, 2)
        except FileNotFoundError:
            self.offset = 0

    def since(self):
        if not os.path.exists(self.path):
            return ''
        with open(self.path, 'rb') as f:
            f.seek(self.offset)
            return f.read().decode(errors='replace')

    def copied(self, aliases, text=None):
        """The disks (targets, by ``aliases``: see disk_aliases) whose
        storage the source copied since the offset (``text``: the log
        since then, when already read)."""
        text = self.since() if text is None else text
        copied = set(_MIRROR_RE.findall(text))
        if _LEGACY_RE.search(text) or _LEGACY_SENT_RE.search(text):
            copied.add(LEGACY)
        return sorted(aliases[alias] for alias in copied)


def disk_aliases(domain):
    """alias (without 'drive-') -> target dev, from the live XML."""
    tree = ElementTree.fromstring(domain.XMLDesc(0))
    result = {}
    for disk in tree.iter('disk'):
        alias, target = disk.find('alias'), disk.find('target')
        if alias is not None and target is not None:
            result[alias.get('name')] = target.get('dev')
    result[LEGACY] = LEGACY
    return result


def job_stats(domain):
    """The completed migration job's figures, as libvirt measured them."""
    libvirt = virt.libvirt()
    try:
        stats = domain.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except libvirt.libvirtError:
        return {}
    keep = ('time_elapsed', 'downtime', 'memory_total', 'memory_processed',
            'memory_bps', 'memory_dirty_rate', 'setup_time')
    return {k: stats[k] for k in keep if k in stats}


def arrived(runner, case, guest, source, destination, before, copied):
    """The guest moved, kept running and kept its data; raises
    AssertionError naming what is wrong."""
    libvirt = virt.libvirt()
    names = [d.name() for d in runner.conn(source).listAllDomains()]
    if guest.name in names:
        raise AssertionError('%s still defined on the source %s'
                             % (guest.name, source.name))
    domain = runner.conn(destination).lookupByName(guest.name)
    if not (domain.isActive() and domain.isPersistent()):
        raise AssertionError('%s not active and persistent on %s'
                             % (guest.name, destination.name))
    if case.paused:
        state = domain.state()[0]
        if state != libvirt.VIR_DOMAIN_PAUSED:
            raise AssertionError('paused guest arrived in state %d' % state)
        domain.resume()
    guest.wait_counter(destination, before, timeout=30)
    problem = console.not_continued(before, guest.serial(destination))
    if problem:
        raise AssertionError('%s on %s: %s'
                             % (guest.name, destination.name, problem))
    expected = cases.LAYOUTS[case.layout].copied()
    if copied != expected:
        raise AssertionError('copied disks %s, expected %s'
                             % (copied, expected))
    if guest.local:
        if not guest.root_intact(destination):
            raise AssertionError('root disk pattern lost on %s'
                                 % destination.name)
        if not guest.roots_identical(source, destination):
            raise AssertionError('root disks differ between hosts')
    if guest.config:
        if not guest.config_intact(destination):
            raise AssertionError('config drive missing or changed on %s'
                                 % destination.name)
        seen = guest.config_seen(destination)
        if seen != guest.config_sha256():
            raise AssertionError('the guest on %s reads a config drive of '
                                 'SHA-256 %s; it booted with %s'
                                 % (destination.name, seen,
                                    guest.config_sha256()))
    if guest.volume:
        if not guest.volume_intact():
            raise AssertionError('shared volume data changed')
        if cases.VOLUME_DISK not in disk_aliases(domain).values():
            raise AssertionError('volume no longer attached')


def stayed(runner, guest, source, root_intact=True):
    """The guest still runs on its source, counting, its disks intact."""
    domain = runner.conn(source).lookupByName(guest.name)
    if not domain.isActive():
        raise AssertionError('%s is not running on its source %s'
                             % (guest.name, source.name))
    last = guest.counters(source)[-1]
    guest.wait_counter(source, last, timeout=15)
    if guest.local and root_intact and not guest.root_intact(source):
        raise AssertionError('root disk of %s damaged on %s'
                             % (guest.name, source.name))
    if guest.volume and not guest.volume_intact():
        raise AssertionError('shared volume of %s damaged' % guest.name)
