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

"""One lab host: a network namespace, a private mount namespace, a libvirtd.

Inside the host's mount namespace /etc, /var and /run are made private
(overlay or tmpfs) and the libvirt directories are bind-mounted from the
host's own directory, so the machine's own libvirt files, sockets and
daemons are never touched.  The test process reaches the daemon through
its unix socket; other hosts reach it over TCP/TLS on the host's address.
"""

import os
import shlex
import subprocess
import uuid

from migtests.lab import system
from migtests.lab import virt

# In-namespace path -> sub-directory of the host's directory.
BINDS = {
    '/etc/libvirt': 'etc',
    '/etc/pki': 'pki',
    '/run/libvirt': 'run',
    '/var/lib/libvirt': 'lib',
    '/var/log/libvirt': 'log',
}

# What the checks read from a daemon's log: the migration's steps, QEMU's
# replies and events (qemu_monitor_json) and the commands libvirt sends it
# (qemu_monitor: QEMU_MONITOR_SEND_MSG).
LOG_FILTERS = ' '.join('1:qemu.' + c for c in (
    'qemu_migration', 'qemu_monitor_json', 'qemu_monitor'))

LIBVIRTD_CONF = '''\
listen_tls = 1
listen_tcp = 1
listen_addr = "%(address)s"
auth_tcp = "none"
auth_tls = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
host_uuid = "%(uuid)s"
log_outputs = "2:file:/var/log/libvirt/libvirtd.log"
log_filters = "%(filters)s"
max_clients = 64
keepalive_interval = 2
keepalive_count = 3
'''

QEMU_CONF = '''\
security_driver = "none"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
migration_address = "%(address)s"
migration_host = "%(address)s"
migrate_tls_x509_cert_dir = "/etc/pki/qemu"
migrate_tls_x509_verify = 1
keepalive_interval = 2
keepalive_count = 3
'''


class LabHost:
    """``chroot``: a Debian suite chroot whose libvirtd and QEMU the host
    runs instead of the machine's own (migtests.lab.chroots)."""

    def __init__(self, lab, index, chroot=None, suite=None, hostname=None):
        self.lab = lab
        self.index = index
        self.chroot, self.suite = chroot, suite
        self.name = 'h%d' % index
        # Its own UTS namespace always; a name of its own (and an /etc/hosts
        # naming every peer) when a service identifies hosts by name, as
        # Nova does.
        self.hostname = hostname
        self.address = '192.0.2.%d' % (10 + index)
        self.netns = lab.prefix + self.name
        self.dir = os.path.join(lab.dir, self.name)
        self.socket = os.path.join(self.dir, 'run', 'libvirt-sock')
        self.uri = 'qemu+unix:///system?socket=%s' % self.socket

    def path(self, ns_path):
        """The machine's path of a file the host's daemon sees at ns_path."""
        for inside, sub in BINDS.items():
            if ns_path == inside or ns_path.startswith(inside + '/'):
                return os.path.join(self.dir, sub, ns_path[len(inside) + 1:])
        return ns_path

    def configure(self, ca, libvirt_conf='', qemu_conf=''):
        subs = list(BINDS.values()) + ['ovl/etc', 'ovl/etc-work', 'ovl/var',
                                       'ovl/var-work', 'lib/images']
        for sub in subs:
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        values = {'address': self.address, 'filters': LOG_FILTERS,
                  'uuid': str(uuid.uuid5(uuid.NAMESPACE_URL,
                                         self.lab.dir + self.name))}
        self._write('etc/libvirtd.conf', LIBVIRTD_CONF % values + libvirt_conf)
        self._write('etc/qemu.conf', QEMU_CONF % values + qemu_conf)
        ca.install(os.path.join(self.dir, 'pki'), self.name, self.address)
        if self.chroot is None:
            self._private_accounts()
        if self.hostname:
            self._write('ovl/etc/hosts', self.lab.hosts_file())

    def _private_accounts(self):
        """libvirt looks up its compiled-in 'libvirt-qemu' user and 'kvm'
        group even when qemu.conf says root: give them to the daemon in its
        private /etc (the overlay's upper layer), not to the machine."""
        for name, extra in (('passwd', ['libvirt-qemu:x:64055:64055:lab:'
                                        '/nonexistent:/usr/sbin/nologin']),
                            ('group', ['libvirt-qemu:x:64055:',
                                       'kvm:x:64056:'])):
            with open('/etc/' + name) as f:
                lines = f.read().splitlines()
            have = {line.split(':')[0] for line in lines}
            lines += [e for e in extra if e.split(':')[0] not in have]
            self._write('ovl/etc/' + name, '\n'.join(lines) + '\n')

    def _write(self, relative, text):
        with open(os.path.join(self.dir, relative), 'w') as f:
            f.write(text)

    def _chroot_script(self, command):
        """Mounts inside the chroot; the machine's tree stays untouched.

        A host with a name (a compute of the local cloud) also gets the
        namespace's own tree as a host on the machine's libvirt has it
        (private /etc, /var and /run, libvirt's directories): the program
        run beside its daemon (nova-compute, from the job's environment)
        lives there, outside the chroot, and finds the chroot's libvirtd
        at the usual socket.  The instances' directory and /etc/hosts are
        the same files on both sides."""
        d, r = shlex.quote(self.dir), shlex.quote(self.chroot)
        # libvirt's cache (QEMU capabilities) of this chroot: a suite's,
        # or a candidate's by its content (its chroot's name, no '/').
        cache = shlex.quote(self.lab.cache + '/qemu-'
                            + os.path.basename(self.chroot))
        root = shlex.quote(self.lab.root)
        lines = self._first_lines()
        if self.hostname:
            lines += self._own_tree() + [
                'mkdir -p /var/lib/nova %s/var/lib/nova' % r,
                'mount --bind /var/lib/nova %s/var/lib/nova' % r,
                # debootstrap's minbase writes no /etc/hosts: the (empty)
                # mount point is the chroot's only change.
                'test -e %s/etc/hosts || : > %s/etc/hosts' % (r, r),
                'mount --bind %s/ovl/etc/hosts %s/etc/hosts' % (d, r),
            ]
        lines += [
            'mount -t proc proc %s/proc' % r,
            'mount -t sysfs sysfs %s/sys' % r,
            'mount --rbind /dev %s/dev && mount --make-rslave %s/dev' % (r, r),
            'mount -t tmpfs -o mode=0755 mtlab-run %s/run' % r,
            'mkdir -p %s/run/lock %s %s/var/cache/libvirt %s%s'
            % (r, cache, r, r, root),
            'mount --bind %s %s/var/cache/libvirt' % (cache, r),
            # Guest kernels, shared volumes: at the same path inside.
            'mount --bind %s %s%s' % (root, r, root),
        ]
        for inside, sub in BINDS.items():
            lines.append('mkdir -p %s%s && mount --bind %s/%s %s%s'
                         % (r, inside, d, sub, r, inside))
        lines.append('exec chroot %s %s' % (r, command))
        return '\n'.join(lines)

    def _own_tree(self):
        """Mounts giving the namespace a private /etc, /var and /run over
        the machine's, libvirt's directories the host's own, and the host's
        name."""
        d = shlex.quote(self.dir)
        cache = shlex.quote(self.lab.cache)
        lines = [
            'mount -t overlay mtlab-etc -o lowerdir=/etc,upperdir=%s/ovl/etc,'
            'workdir=%s/ovl/etc-work /etc' % (d, d),
            'mount -t overlay mtlab-var -o lowerdir=/var,upperdir=%s/ovl/var,'
            'workdir=%s/ovl/var-work /var' % (d, d),
            'mount -t tmpfs -o mode=0755 mtlab-run /run',
            'mkdir -p /run/lock /var/cache/libvirt',
            'mount --bind %s /var/cache/libvirt' % cache,
        ]
        for inside, sub in BINDS.items():
            lines.append('mkdir -p %s && mount --bind %s/%s %s'
                         % (inside, d, sub, inside))
        return lines

    def _mount_script(self, command):
        if self.chroot is not None:
            return self._chroot_script(command)
        return '\n'.join(self._first_lines() + self._own_tree()
                         + ['exec ' + command])

    def _first_lines(self):
        """Mounts private from here on; the host's own name in its UTS
        namespace: its given one, else its namespace's.  libvirt up to
        1.2.x refuses a migration between two hosts of the same name
        ("Attempt to migrate guest to the same host": its migration
        cookie compares hostnames as well as host UUIDs; measured with
        libvirt 1.2.17 and 1.3.1 built from source, every matrix cell)."""
        return ['set -e', 'mount --make-rprivate /',
                'hostname %s' % shlex.quote(self.hostname or self.netns)]

    def start(self, log_file):
        """Start libvirtd in the host's namespaces; return the Recorded pid."""
        script = self._mount_script(
            'libvirtd --listen -f /etc/libvirt/libvirtd.conf '
            '-p /run/libvirt/libvirtd.pid')
        proc = subprocess.Popen(
            system.in_netns(self.netns, ['unshare', '-m', '-u', '--', 'sh',
                                         '-c', script]),
            stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True)
        return system.Recorded.of('libvirtd-' + self.name, proc.pid)

    def enter(self, daemon):
        """The command prefix that runs a program beside the host's daemon
        (``daemon``: its Recorded pid): same network, mount and UTS
        namespaces, so it sees the host's /etc, /var and libvirt socket."""
        return ['nsenter', '-t', str(daemon.pid), '-m', '-u', '-n', '--']

    def wait_ready(self, recorded, timeout=60):
        def ready():
            if not recorded.alive():
                raise system.LabError(
                    'libvirtd of %s exited at start: %s'
                    % (self.name, self.log_tail()))
            return os.path.exists(self.socket) and self._answers()
        system.wait_for(ready, timeout, what='libvirtd of %s' % self.name)

    def _answers(self):
        try:
            self.connect().close()
            return True
        except Exception:
            return False

    def connect(self):
        libvirt = virt.libvirt()
        # Errors reach the caller as exceptions; libvirt's default handler
        # would print each one to stderr as well.
        libvirt.registerErrorHandler(lambda context, error: None, None)
        return libvirt.open(self.uri)

    def log_tail(self, lines=3):
        for path in (os.path.join(self.dir, 'log', 'libvirtd.log'),
                     os.path.join(self.lab.dir, 'daemon-%s.out' % self.name)):
            try:
                with open(path, errors='replace') as f:
                    tail = [line.strip()
                            for line in f.read().splitlines()[-lines:]]
                if tail:
                    return ' | '.join(tail)
            except FileNotFoundError:
                continue
        return '(no log)'
