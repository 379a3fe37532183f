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

"""Nova-level faults on the local cloud, scripted like the lab's faults.

For each fault: a volume-backed counter server is booted and live-migrated
slowly (the ``operations`` profile), the fault is injected on the
destination once the migration copies memory, and what an operator then
sees is recorded -- once the migration has ended or Nova has stopped
moving, and again after the fault is repaired: the instance's state, the
migration record, where libvirt runs the guest (asked of both hosts'
libvirtd) and whether its console's count carried on.

A fault fails when Nova loses the guest or its data: the guest runs on no
host or on two, it restarted, or Nova records it on a host libvirt does
not run it on.  A guest that is safe but left in ERROR is not a failure:
the report says what the operator must do.
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

from migtests.cloud import services
from migtests.lab import system
from migtests.lab.system import Recorded

FINAL = ('completed', 'error', 'failed', 'cancelled', 'done')


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    what: str
    inject: callable     # (cloud, source host, destination host)
    repair: callable


def _kill_compute(cloud, source, destination):
    role = services.compute_name(_compute(cloud, destination), cloud.driver)
    for item in cloud.lab.state['processes']:
        if item['role'] == role:
            Recorded(**item).signal(signal.SIGKILL)


def _start_compute(cloud, source, destination):
    compute = _compute(cloud, destination)
    since = int(time.time()) + 1
    started = services.computes(cloud.controller, cloud.site, cloud.lab,
                                cloud.driver, only=compute.name)
    cloud.controller.await_ready(
        'nova-compute on %s again' % compute.name,
        lambda: [c for c in cloud._catalog('computes', since=since)[
            'pending'] if c == compute.name], started)


def _kill_libvirtd(cloud, source, destination):
    cloud.lab.daemon(destination).signal(signal.SIGKILL)


def _start_libvirtd(cloud, source, destination):
    cloud.lab.start_daemon(destination)


def _route(host, action, address):
    system.run(['ip', '-n', host.netns, 'route', action, 'blackhole',
                address + '/32'])


def _cut(cloud, source, destination):
    """Nothing between the two computes, both ways (a blackhole route to
    the other on each: this kernel has no tc drop action and the machine
    no packet filter); the controller stays reachable from both."""
    _route(destination, 'add', source.address)
    _route(source, 'add', destination.address)


def _restore(cloud, source, destination):
    _route(destination, 'del', source.address)
    _route(source, 'del', destination.address)


FAULTS = (
    Fault('destination-nova-compute-killed',
          'the destination\'s nova-compute killed (SIGKILL)',
          _kill_compute, _start_compute),
    Fault('destination-libvirtd-killed',
          'the destination\'s libvirtd killed (SIGKILL)',
          _kill_libvirtd, _start_libvirtd),
    Fault('network-between-computes-cut',
          'the network between the two computes cut (blackhole routes; '
          'the controller still reachable)', _cut, _restore),
)


def _compute(cloud, host):
    return next(c for h, c in zip(cloud.lab.hosts, cloud.site.computes)
                if h is host)


def _host(cloud, compute_name):
    return next(h for h, c in zip(cloud.lab.hosts, cloud.site.computes)
                if c.name == compute_name)


def api(cloud, step, **args):
    """A step of nova_faults in the controller's namespace; its answer."""
    name = 'faults-api'
    payload = json.dumps({'site': cloud._site_json(), 'args': args})
    with open(cloud.controller.log(name), 'a') as log:
        proc = subprocess.run(
            cloud.controller.command([sys.executable, '-m',
                                      'migtests.cloud.nova_faults', step]),
            input=payload, stdout=subprocess.PIPE, stderr=log, text=True,
            timeout=600, env=cloud.controller.env())
    if proc.returncode != 0:
        raise system.LabError('nova_faults %s failed: %s [log %s]' % (
            step, cloud.controller.tail(name, 2), cloud.controller.log(name)))
    return json.loads(proc.stdout)


def running_on(cloud, uuid):
    """The compute hosts whose libvirtd runs the domain (asked of each,
    by its socket; a daemon that does not answer is said)."""
    import libvirt
    found = []
    for host, compute in zip(cloud.lab.hosts, cloud.site.computes):
        uri = 'qemu+unix:///system?socket=%s' % os.path.join(
            host.dir, 'run', 'libvirt-sock')
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError:
            found.append('%s: libvirtd does not answer' % compute.name)
            continue
        try:
            domain = conn.lookupByUUIDString(uuid)
            if domain.isActive():
                found.append(compute.name)
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return found


def _settle(cloud, server, timeout, need_idle):
    """Poll the server until its latest migration ended (and, with
    ``need_idle``, no task runs on it), or ``timeout``; the last state."""
    deadline = time.monotonic() + timeout
    while True:
        now = api(cloud, 'state', id=server)
        latest = max(now['migrations'], key=lambda m: m['id'],
                     default={'status': None})
        done = latest['status'] in FINAL and (
            not need_idle or now['task_state'] is None)
        if done or time.monotonic() > deadline:
            now['settled'] = done
            return now
        time.sleep(2)


def judge(before, after, where):
    """(failed, what happened, what the operator must do)."""
    latest = max(after['migrations'], key=lambda m: m['id'])
    if len([w for w in where if ':' not in w]) != 1:
        return True, 'the guest runs on %s' % (where or 'no host'), \
            'find the guest\'s disks and restart it by hand: Nova lost it'
    runs = where[0]
    counters = after['counters']
    moved = runs != before['host']
    # Its console is the host's: on its source the first boot is there;
    # on a destination any boot line is a restart.
    if after['boots'] > (0 if moved else 1) or not counters or \
            counters[-1] <= before['counter']:
        return True, 'the guest restarted or stopped counting (%s, %d ' \
            'boot lines)' % (counters, after['boots']), \
            'the guest\'s memory was lost: check its data'
    if after['host'] != runs:
        return True, 'Nova records it on %s, libvirt runs it on %s' % (
            after['host'], runs), 'Nova lost track of the guest: fix the ' \
            'instance\'s host by hand'
    if after['status'] == 'ERROR':
        return False, 'safe on %s, instance ERROR' % runs, \
            'openstack server set --state active %s, once seen running ' \
            'on %s' % (after.get('id', ''), runs)
    if latest['status'] not in FINAL:
        return False, 'safe on %s, migration still %s' % (
            runs, latest['status']), 'abort the migration or wait for ' \
            'the monitor to notice (the migration record is stuck)'
    return False, 'safe on %s (%s)' % (runs, 'moved' if moved else
                                       'stayed'), 'nothing'


def computes_ready(cloud, timeout=180):
    """Wait until every nova-compute is up and enabled (Nova disables a
    compute whose libvirt connection was lost, and enables it again once
    it reconnects); returns the seconds it took, or what is still wrong
    after ``timeout``."""
    started = time.monotonic()
    wrong = {}

    def ready():
        wrong.clear()
        wrong.update({host: v for host, v in api(cloud, 'services').items()
                      if v[0] != 'up' or v[1] != 'enabled'})
        return not wrong
    try:
        system.wait_for(ready, timeout, interval=2, what='the computes')
    except system.LabError:
        return 'after %d s: %s' % (timeout, '; '.join(
            '%s %s/%s (%s)' % (host, *v) for host, v in wrong.items()))
    return round(time.monotonic() - started, 1)


def run(cloud, fault):
    """One fault on the cloud's current driver; its report row."""
    name = 'fault-%s-%s' % (cloud.driver, fault.name)[:60]
    started = time.monotonic()
    ready = computes_ready(cloud)
    if not isinstance(ready, float):
        raise system.LabError('the computes are not ready for %s: %s'
                              % (fault.name, ready))
    server = api(cloud, 'boot', name=name)
    row = {'fault': fault.name, 'what': fault.what, 'driver': cloud.driver}
    try:
        moving = api(cloud, 'migrate', id=server['id'])
        source = _host(cloud, moving['source'])
        destination = _host(cloud, moving['destination'])
        fault.inject(cloud, source, destination)
        try:
            row['during'] = _settle(cloud, server['id'], 150, False)
            row['during']['runs_on'] = running_on(cloud, server['id'])
        finally:
            fault.repair(cloud, source, destination)
        # How long until Nova takes the repaired compute again.
        row['computes_ready_after_repair'] = computes_ready(cloud)
        after = _settle(cloud, server['id'], 180, True)
        after['id'] = server['id']
        where = running_on(cloud, server['id'])
        after['runs_on'] = where
        failed, happened, operator = judge(server, after, where)
        row.update(after=after, failed=failed, happened=happened,
                   operator=operator, source=moving['source'],
                   destination=moving['destination'])
    finally:
        try:
            api(cloud, 'cleanup', id=server['id'])
        except system.LabError as exc:
            row['cleanup'] = str(exc)
    row['seconds'] = round(time.monotonic() - started, 1)
    return row


def markdown(rows):
    lines = ['# Nova-level faults on the local cloud', '',
             '| fault | driver | migration | instance (during → after) | '
             'Nova\'s host / libvirt runs it on | counter | what happened | '
             'operator must | verdict |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for row in rows:
        if 'after' not in row:
            lines.append('| %s | %s | not run: %s | | | | | | **failed** |'
                         % (row['fault'], row['driver'], row.get('error')))
            continue
        during, after = row['during'], row['after']
        latest = max(after['migrations'], key=lambda m: m['id'])
        lines.append('| %s | %s | %s | %s/%s → %s/%s | %s / %s | %s | %s '
                     '| %s | %s |' % (
                         row['fault'], row['driver'], latest['status'],
                         during['status'], during['task_state'],
                         after['status'], after['task_state'], after['host'],
                         ', '.join(after['runs_on']) or 'none',
                         after['counters'][-1:], row['happened'],
                         row['operator'],
                         '**failed**' if row['failed'] else 'safe'))
    ready = ['- %s (%s): the computes up and enabled again %s' % (
        row['fault'], row['driver'],
        '%s s after the repair' % row['computes_ready_after_repair']
        if isinstance(row['computes_ready_after_repair'], float)
        else 'only ' + row['computes_ready_after_repair'])
        for row in rows if 'computes_ready_after_repair' in row]
    return '\n'.join(lines + ([''] + ready if ready else [])) + '\n'
