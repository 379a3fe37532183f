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

"""A refused live migration leaves the server active on its source.

Tempest's LiveMigrationNegativeTest covers the unknown destination; the
destination that is the source itself is this plugin's.  Up to
microversion 2.33 the API checks the destination before it answers (400);
from 2.34 the check moved to the conductor and the request is accepted, the
refusal only in the migration record: the scenario is pinned to the
synchronous answer.
"""

from tempest.lib import decorators
from tempest.lib import exceptions

from migtests.api.compute import base
from migtests.common import waiters


class MigrationFailureTest(base.MigrationTestBase):

    max_microversion = '2.33'

    @decorators.attr(type=['negative', 'multinode'])
    @decorators.idempotent_id('d6c0c805-1989-43d5-8567-1434145b241c')
    def test_migrate_to_same_host_is_refused(self):
        server = self.create_migratable_server()
        source = self.get_host_for_server(server['id'])
        known = {m['id'] for m in self.live_migrations(server['id'])}
        self.assertRaises(exceptions.BadRequest,
                          self.admin_servers_client.live_migrate_server,
                          server['id'], host=source, block_migration='auto')
        waiters.wait_for_server_status(self.admin_servers_client,
                                       server['id'], 'ACTIVE')
        self.assertEqual(source, self.get_host_for_server(server['id']))
        completed = [m for m in self.live_migrations(server['id'])
                     if m['id'] not in known and m['status'] == 'completed']
        self.assertEqual([], completed)
