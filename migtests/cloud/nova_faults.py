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

"""The API side of the local cloud's Nova-level faults (faults.py).

Run inside the controller's network namespace, as catalog.py is:
``python -m migtests.cloud.nova_faults STEP`` with the site and the step's
arguments as JSON on stdin; prints a JSON result.  Steps: ``boot`` (a
volume-backed server of the counter image), ``migrate`` (start a live
migration and return once it copies memory), ``state`` (what an operator
sees: the server, its migrations, its console's counters), ``cleanup``
(reset a server left in ERROR, delete it).
"""

import json
import sys

from migtests.cloud import catalog
from migtests import console
from migtests.lab import system

MICROVERSION = '2.80'   # in-progress migrations, abort, force-complete


def _conn(site):
    conn = catalog.connect(site)
    conn.compute.default_microversion = MICROVERSION
    return conn


def boot(conn, args):
    image = conn.image.find_image('migtests-counter', ignore_missing=False)
    flavor = conn.compute.find_flavor('migtests-128', ignore_missing=False)
    server = conn.compute.create_server(
        name=args['name'], flavor_id=flavor.id, networks='none',
        block_device_mapping=[{
            'boot_index': 0, 'uuid': image.id, 'source_type': 'image',
            'destination_type': 'volume', 'volume_size': 1,
            'delete_on_termination': True}])
    server = conn.compute.wait_for_server(server, wait=300)
    # Counting before the fault: the count it must carry on.
    counts = system.wait_for(
        lambda: console.counters(_console(conn, server.id)), 120,
        interval=1, what='the counter of %s' % server.id)
    return {'id': server.id, 'host': server.compute_host,
            'counter': counts[-1]}


def migrate(conn, args):
    server = conn.compute.get_server(args['id'])
    known = {m.id for m in conn.compute.migrations(instance_uuid=server.id)}
    conn.compute.live_migrate_server(server, host=None,
                                     block_migration='auto')

    def copying():
        for migration in conn.compute.server_migrations(server):
            if migration.id not in known and migration.status == 'running' \
                    and migration.memory_processed_bytes:
                return {'migration': migration.id,
                        'source': migration.source_compute,
                        'destination': migration.dest_compute}
        return None
    return system.wait_for(copying, 60, interval=0.5,
                           what='a running migration of %s' % server.id)


def _console(conn, server_id):
    try:
        return conn.compute.get_server_console_output(server_id)['output']
    except Exception as exc:   # a compute that does not answer: said
        return 'console unavailable: %s' % exc


def state(conn, args):
    server = conn.compute.get_server(args['id'])
    text = _console(conn, server.id)
    return {
        'status': server.status, 'vm_state': server.vm_state,
        'task_state': server.task_state, 'host': server.compute_host,
        'fault': (server.fault or {}).get('message'),
        'migrations': [{'id': m.id, 'status': m.status,
                        'source': m.source_compute,
                        'destination': m.dest_compute}
                       for m in conn.compute.migrations(
                           instance_uuid=server.id)],
        'counters': console.counters(text)[-5:],
        'boots': console.boots(text),
        'console_unavailable': text.startswith('console unavailable')}


def cleanup(conn, args):
    server = conn.compute.find_server(args['id'])
    if server is None:
        return {}
    if server.status == 'ERROR':
        conn.compute.reset_server_state(server, 'active')
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, wait=180)
    return {}


def services(conn, args):
    """The nova-compute services: host -> [state, status, reason]."""
    return {s.host: [s.state, s.status, s.disabled_reason]
            for s in conn.compute.services(binary='nova-compute')}


STEPS = {'boot': boot, 'migrate': migrate, 'state': state,
         'cleanup': cleanup, 'services': services}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in STEPS:
        sys.stderr.write('usage: nova_faults {%s} < JSON\n' % ','.join(STEPS))
        return 2
    given = json.load(sys.stdin)
    json.dump(STEPS[argv[0]](_conn(given['site']), given.get('args', {})),
              sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
