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

"""A one-node Ceph cluster for the local cloud's volume service.

One mon, one mgr and one OSD (bluestore on a sparse file), from Debian's
packages, in the controller's namespace: they listen on the controller's
address, which exists only inside the lab's namespaces (the computes'
QEMU must reach them: RBD volumes are attached through librbd, no kernel
help).  Pool size 1, auth none.  Everything lives under the cloud's
directory, so every run starts from an empty cluster and teardown (the
lab's, by recorded PID) leaves nothing behind.
"""

import glob
import os
import subprocess
import sys
import sysconfig
import uuid

from migtests.cloud.controller import CloudError

POOL = 'volumes'
# Debian's python3-rados / python3-rbd: built for the machine's Python 3.11;
# they are not on PyPI.
DEBIAN_BINDINGS = '/usr/lib/python3/dist-packages'
MON_PORTS = (3300, 6789)           # msgr2, msgr1
HEALTH_TIMEOUT = 60

CONF = '''\
[global]
fsid = %(fsid)s
mon_host = %(mon)s
public_addr = %(address)s
cluster_addr = %(address)s
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
# With auth none there is no global_id to reclaim: the warning is moot.
mon_warn_on_insecure_global_id_reclaim_allowed = false
osd_crush_chooseleaf_type = 0
# The machine's disk may be nearly full: no health warning (the mon
# would stop itself at its critical level).
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_memory_target = 939524096
run_dir = %(dir)s/run
admin_socket = %(dir)s/run/$cluster-$name.asok
log_file = %(dir)s/log/$cluster-$name.log
pid_file = %(dir)s/run/$name.pid
keyring = %(dir)s/keyring

[mon]
mon_data = %(dir)s/mon/$cluster-$id

[mgr]
mgr_data = %(dir)s/mgr/$cluster-$id

[osd]
osd_data = %(dir)s/osd/$cluster-$id
osd_objectstore = bluestore
bluestore_block_path = %(dir)s/osd/block-$id.img
bluestore_block_create = true
bluestore_block_size = 10737418240
'''


class Ceph:
    def __init__(self, controller, address, directory):
        """``controller``: where its daemons and commands run (the cloud's
        Controller); ``address``: the controller's, which it listens on."""
        self.ctl = controller
        self.dir = directory
        self.conf = os.path.join(self.dir, 'ceph.conf')
        self.address = address

    def up(self):
        """Bootstrap and start; returns the recorded daemons once the
        cluster reports HEALTH_OK with the volumes pool."""
        for sub in ('run', 'log', 'mon', 'mgr', 'osd'):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        fsid = str(uuid.uuid4())
        mon = '[v2:%s:%d,v1:%s:%d]' % (self.address, MON_PORTS[0],
                                       self.address, MON_PORTS[1])
        with open(self.conf, 'w') as f:
            f.write(CONF % {'fsid': fsid, 'mon': mon,
                            'address': self.address, 'dir': self.dir})
        ctl, conf = self.ctl, ['-c', self.conf]
        keyring = os.path.join(self.dir, 'keyring')
        ctl.manage('ceph-bootstrap', [
            'ceph-authtool', '--create-keyring', keyring, '--gen-key',
            '-n', 'mon.', '--cap', 'mon', 'allow *'])
        monmap = os.path.join(self.dir, 'monmap')
        ctl.manage('ceph-bootstrap', [
            'monmaptool', '--create', '--fsid', fsid, '--addv', 'a', mon,
            monmap])
        ctl.manage('ceph-bootstrap', ['ceph-mon'] + conf + [
            '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', keyring])
        daemons = {'ceph-mon': ctl.service(
            'ceph-mon', ['ceph-mon', '-f'] + conf + ['-i', 'a'])}
        daemons['ceph-mgr'] = ctl.service(
            'ceph-mgr', ['ceph-mgr', '-f'] + conf + ['-i', 'x'])
        osd_uuid = str(uuid.uuid4())
        osd_id = self.ceph(['osd', 'new', osd_uuid], daemons).strip()
        os.makedirs(os.path.join(self.dir, 'osd', 'ceph-' + osd_id))
        ctl.manage('ceph-bootstrap', ['ceph-osd'] + conf + [
            '-i', osd_id, '--mkfs', '--osd-uuid', osd_uuid])
        daemons['ceph-osd'] = ctl.service(
            'ceph-osd', ['ceph-osd', '-f'] + conf + ['-i', osd_id])
        self.ceph(['osd', 'pool', 'create', POOL, '8', '8'], daemons)
        ctl.manage('ceph-bootstrap', ['rbd'] + conf + [
            'pool', 'init', POOL])
        ctl.await_ready('Ceph HEALTH_OK',
                        lambda: self._unhealthy(daemons), daemons,
                        HEALTH_TIMEOUT)
        return daemons

    def ceph(self, args, daemons, timeout=60):
        """A ceph CLI call in the controller's namespace; its output."""
        command = self.ctl.command(['ceph', '-c', self.conf,
                                    '--connect-timeout', '20'] + args)
        try:
            proc = subprocess.run(command, capture_output=True, text=True,
                                  timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            proc = None
        if proc is None or proc.returncode != 0:
            dead = [n for n, p in daemons.items() if not p.alive()]
            raise CloudError('ceph %s failed: %s%s' % (
                ' '.join(args), 'no answer' if proc is None else
                (proc.stderr.strip().splitlines() or ['?'])[-1],
                '; %s exited: %s' % (dead[0], self.ctl.tail(dead[0]))
                if dead else ''))
        return proc.stdout

    def _unhealthy(self, daemons):
        health = self.ceph(['health'], daemons).strip()
        if not health.startswith('HEALTH_OK'):
            return [health]
        # Healthy, and every placement group of the pool serving.
        stat = self.ceph(['pg', 'stat'], daemons)
        busy = [word for word in ('creating', 'peering', 'unknown',
                                  'activating') if word in stat]
        return ['placement groups ' + ', '.join(busy)] if busy else []

    def client_settings(self):
        """What Cinder is told (it hands the mon addresses to Nova)."""
        return {'conf': self.conf, 'pool': POOL}


def link_bindings():
    """Make Debian's rados and rbd modules importable in this venv (same
    Python minor version), by symbolic link; returns what is missing."""
    target = sysconfig.get_paths()['purelib']
    missing = []
    for module in ('rados', 'rbd'):
        found = glob.glob(os.path.join(
            DEBIAN_BINDINGS, '%s.cpython-3%d*-linux-gnu.so'
            % (module, sys.version_info.minor)))
        if not found:
            missing.append(module)
            continue
        link = os.path.join(target, os.path.basename(found[0]))
        if not os.path.exists(link):
            os.symlink(found[0], link)
    return missing
