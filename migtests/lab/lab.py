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

"""The lab: N libvirt hosts and a storage host on one private network.

Life cycle: ``up`` (cleans a stale lab of the same name first), ``down``
(idempotent; works from the state file after a crash), ``status``.  State
lives on disk (``<dir>/state.json``): namespaces made, processes started
with their start times.  Teardown stops recorded processes and whatever
runs inside the lab's own namespaces, deletes those namespaces, and removes
the lab's directory.  Mounts exist only inside the hosts' private mount
namespaces, so they vanish with the hosts' processes.

Network: a bridge in its own namespace (``<prefix>net``); every host and
the storage host hang off it with a veth pair, addresses from TEST-NET-1
(192.0.2.0/24) that exist only inside these namespaces.
"""

import json
import os
import shutil
import subprocess

from migtests.lab import chroots
from migtests.lab import guestimage
from migtests.lab.host import LabHost
from migtests.lab.pki import CertificateAuthority
from migtests.lab import system
from migtests.lab.system import LabError
from migtests.lab.system import Recorded
from migtests.lab.system import run

DEFAULT_ROOT = os.environ.get('MIGTESTS_LAB_ROOT', '/tmp/migtests')
STORAGE_ADDRESS = '192.0.2.100'
STORAGE_NAME = 'controller'     # its name in the hosts' /etc/hosts
NBD_PORT = 10809


class Lab:
    def __init__(self, name='lab', hosts=2, root=DEFAULT_ROOT, suites=None,
                 hostnames=None):
        """``suites``: one Debian suite per host (its chroot's libvirt and
        QEMU), or None for the machine's own.  ``hostnames``: one name per
        host, each host's /etc/hosts naming every host and the service host
        (STORAGE_NAME); a named host on a suite's chroot also gets the
        namespace's own tree for what runs beside its daemon
        (LabHost._chroot_script)."""
        if not name.isalnum() or len(name) > 6:
            raise LabError('lab name %r: use up to 6 letters or digits'
                           % name)
        self.name = name
        self.root = root
        self.dir = os.path.join(root, 'labs', name)
        self.cache = os.path.join(root, 'cache')
        self.prefix = 'mt%s-' % name
        self.bridge_ns = self.prefix + 'net'
        self.storage_ns = self.prefix + 'st'
        self.suites = list(suites) if suites else [None] * hosts
        names = list(hostnames) if hostnames else [None] * len(self.suites)
        if len(names) != len(self.suites):
            raise LabError('hostnames: one per host (%d hosts, %d names)'
                           % (len(self.suites), len(names)))
        self.hosts = [LabHost(self, i + 1, suite=suite,
                              chroot=chroots.path(self.cache, suite)
                              if suite else None, hostname=hostname)
                      for i, (suite, hostname) in enumerate(
                          zip(self.suites, names))]
        self.state_file = os.path.join(self.dir, 'state.json')
        self.state = {'netns': [], 'processes': []}
        self.volumes = {}
        self.residue = []
        self.ca = None          # the lab's CA, once up (pki)

    # --- state on disk -------------------------------------------------
    def _save(self):
        with open(self.state_file + '.tmp', 'w') as f:
            json.dump(self.state, f, indent=1)
        os.replace(self.state_file + '.tmp', self.state_file)

    def _record(self, recorded):
        self.state['processes'].append(vars(recorded))
        self._save()
        return recorded

    def _load(self):
        try:
            with open(self.state_file) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    # --- life cycle ------------------------------------------------------
    def up(self):
        self.down()
        os.makedirs(self.dir)
        os.makedirs(self.cache, exist_ok=True)
        self._save()
        try:
            self.image = guestimage.build(self.cache)
            for suite in sorted({s for s in self.suites if s}):
                chroots.build(self.cache, suite)
            self._network()
            ca = self.ca = CertificateAuthority()
            daemons = []
            for host in self.hosts:
                host.configure(ca)
                log = open(os.path.join(self.dir, 'daemon-%s.out'
                                        % host.name), 'w')
                with log:
                    daemons.append((host, self._record(host.start(log))))
            for host, recorded in daemons:
                host.wait_ready(recorded)
        except BaseException:
            self.down(keep_logs=True)
            raise
        return self

    def _netns(self, name):
        run(['ip', 'netns', 'add', name])
        self.state['netns'].append(name)
        self._save()
        run(['ip', '-n', name, 'link', 'set', 'lo', 'up'])

    def _attach(self, netns, port, address):
        run(['ip', '-n', self.bridge_ns, 'link', 'add', port, 'type', 'veth',
             'peer', 'name', 'eth0', 'netns', netns])
        run(['ip', '-n', self.bridge_ns, 'link', 'set', port, 'master', 'br0',
             'up'])
        run(['ip', '-n', netns, 'addr', 'add', address + '/24', 'dev',
             'eth0'])
        run(['ip', '-n', netns, 'link', 'set', 'eth0', 'up'])

    def _network(self):
        self._netns(self.bridge_ns)
        run(['ip', '-n', self.bridge_ns, 'link', 'add', 'br0', 'type',
             'bridge'])
        run(['ip', '-n', self.bridge_ns, 'link', 'set', 'br0', 'up'])
        for host in self.hosts:
            self._netns(host.netns)
            self._attach(host.netns, 'v' + host.name, host.address)
        self._netns(self.storage_ns)
        self._attach(self.storage_ns, 'vst', STORAGE_ADDRESS)

    def hosts_file(self):
        lines = ['127.0.0.1 localhost',
                 '%s %s' % (STORAGE_ADDRESS, STORAGE_NAME)]
        lines += ['%s %s' % (h.address, h.hostname) for h in self.hosts
                  if h.hostname]
        return '\n'.join(lines) + '\n'

    def spawn(self, role, argv, log_path, host=None, env=None, cwd=None):
        """Start a recorded process in the storage (service) host's
        network namespace, or beside ``host``'s daemon; its output goes to
        ``log_path``.  ``down`` stops it with everything else."""
        if host is None:
            command = system.in_netns(self.storage_ns, argv)
        else:
            command = host.enter(self.daemon(host)) + list(argv)
        with open(log_path, 'a') as log:
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, env=env,
                cwd=cwd)
        return self._record(Recorded.of(role, proc.pid))

    def run_beside(self, host, argv):
        """Run a command beside ``host``'s daemon (its namespaces: its own
        /etc, /var and libvirt socket) and wait for it."""
        return run(host.enter(self.daemon(host)) + list(argv))

    def stop(self, role):
        """Stop every recorded process of ``role`` (by its recorded PID;
        its record stays, for ``down`` and ``leftovers``)."""
        for item in self.state['processes']:
            if item['role'] == role:
                Recorded(**item).stop()

    def daemon(self, host):
        """The recorded libvirtd of a host."""
        role = 'libvirtd-' + host.name
        return next(Recorded(**p) for p in reversed(self.state['processes'])
                    if p['role'] == role)

    def start_daemon(self, host):
        """(Re)start a host's libvirtd; it reconnects to its guests."""
        self.daemon(host).stop()
        with open(os.path.join(self.dir, 'daemon-%s.out' % host.name),
                  'a') as log:
            recorded = self._record(host.start(log))
        host.wait_ready(recorded)

    def link(self, host, up):
        """Cut (or restore) a host's network link, as a pulled cable."""
        run(['ip', '-n', self.bridge_ns, 'link', 'set', 'v' + host.name,
             'up' if up else 'down'])

    def volume(self, name, size_mib=32, fill=None):
        """A shared volume: a raw image served by qemu-nbd on the storage
        host, reachable from every host (like an attached Cinder volume).

        ``fill`` = (byte, length) writes a pattern before it is served.
        """
        if name in self.volumes:
            return self.volumes[name]
        path = os.path.join(self.dir, 'storage', name + '.raw')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        run(['qemu-img', 'create', '-q', '-f', 'raw', path,
             '%dM' % size_mib])
        if fill:
            run(['qemu-io', '-f', 'raw', '-c', 'write -q -P %d 0 %d' % fill,
                 path])
        port = NBD_PORT + len(self.volumes)
        log = open(os.path.join(self.dir, 'nbd-%s.out' % name), 'w')
        with log:
            proc = subprocess.Popen(
                system.in_netns(self.storage_ns, [
                    'qemu-nbd', '--persistent', '--shared=8', '-x', name,
                    '-f', 'raw', '--cache=none', '-b', STORAGE_ADDRESS,
                    '-p', str(port), path]),
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        recorded = self._record(Recorded.of('qemu-nbd-' + name, proc.pid))
        system.wait_for(lambda: self.listening(port) or not
                        recorded.alive(), 10, what='qemu-nbd %s' % name)
        if not recorded.alive():
            raise LabError('qemu-nbd for %s exited at start' % name)
        self.volumes[name] = (path, port)
        return path, port

    def listening(self, port):
        """Whether something listens on ``port`` in the service host."""
        out = run(system.in_netns(self.storage_ns, [
            'ss', '-Hltn', 'sport = :%d' % port]), check=False).stdout
        return bool(out.strip())

    def down(self, keep_logs=False):
        """Stop everything the lab started, from its state file.

        Each step runs whatever became of the ones before it (a process
        that exits at any moment is simply done); what could not be cleaned
        is kept in ``residue``, which ``leftovers()`` reports."""
        self.residue = []
        state = self._load()
        if state is None and not os.path.isdir(self.dir):
            self._delete_leftover_netns([])
            return
        state = state or {'netns': [], 'processes': []}
        self.state = state
        # Guests (QEMU) and services first: they run inside the hosts' and
        # the controller's namespaces.
        killed = [Recorded(**item) for item in state['processes']]
        for netns in state['netns']:
            self._teardown_step('processes in %s' % netns,
                                system.kill_netns, netns, killed=killed)
        for item in reversed(state['processes']):
            self._teardown_step('process %s (%d)' % (item['role'],
                                                     item['pid']),
                                Recorded(**item).stop)
        # Whatever still runs in a lab namespace (a QEMU that would not
        # die) is reported; deleting the namespace would only hide it.
        for netns in state['netns']:
            left = self._teardown_step('processes in %s' % netns,
                                       system.kill_netns, netns,
                                       killed=killed) or []
            self.residue += ['process %d in %s' % (pid, netns)
                             for pid in left]
        # Out of its namespace is not yet gone: a killed process may still
        # be exiting, or be a zombie until it is reaped.
        lingering = self._teardown_step('ending processes',
                                        system.wait_gone, killed) or []
        self.residue += ['process %d (%s) has not ended' % (r.pid, r.role)
                         for r in lingering]
        self._delete_leftover_netns(state['netns'])
        if keep_logs:
            self._teardown_step('logs', self._keep_logs)
        # What cannot be removed is reported by leftovers().
        shutil.rmtree(self.dir, ignore_errors=True)

    def _teardown_step(self, what, function, *args, **kwargs):
        """One step of ``down``; a failure is recorded, and the next step
        runs all the same."""
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            self.residue.append('%s: %s' % (what, ' '.join(str(exc).split())
                                            or type(exc).__name__))
        return None

    def _delete_leftover_netns(self, recorded):
        existing = self._teardown_step('namespaces', lambda: run(
            ['ip', 'netns', 'list']).stdout.split()) or []
        for netns in sorted(set(recorded) | {n for n in existing
                                             if n.startswith(self.prefix)}):
            if netns in existing:
                self._teardown_step('namespace %s' % netns, run,
                                    ['ip', 'netns', 'delete', netns])

    def _keep_logs(self):
        target = os.path.join(self.root, 'failed-%s' % self.name)
        shutil.rmtree(target, ignore_errors=True)
        try:
            shutil.copytree(self.dir, target, symlinks=True,
                            ignore_dangling_symlinks=True,
                            ignore=shutil.ignore_patterns(
                                '*.qcow2', '*.raw', 'pki', 'ovl', '*.sock',
                                '*-sock*'))
        except shutil.Error:
            pass  # a socket or a file that vanished: the logs are kept

    def leftovers(self):
        """What of this lab still exists (empty after a clean down)."""
        found = []
        existing = run(['ip', 'netns', 'list'], check=False).stdout.split()
        found += ['netns %s' % n for n in existing
                  if n.startswith(self.prefix)]
        for item in self.state['processes']:
            if Recorded(**item).alive():
                found.append('process %s (%d)' % (item['role'], item['pid']))
        if os.path.exists(self.dir):
            found.append('directory %s' % self.dir)
        with open('/proc/self/mounts') as f:
            found += ['mount %s' % line.split()[1] for line in f
                      if self.dir in line.split()[1]]
        return found + self.residue

    def status(self):
        state = self._load()
        if state is None:
            return {'lab': self.name, 'up': False}
        return {'lab': self.name, 'up': True, 'dir': self.dir,
                'netns': state['netns'],
                'processes': [dict(p, alive=Recorded(**p).alive())
                              for p in state['processes']]}
