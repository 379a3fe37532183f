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

"""Live migration with the configuration Nova ships."""

from tempest import config
from tempest.lib import decorators

from migtests.api.compute import base
from migtests.common import waiters

CONF = config.CONF


class LiveMigrationTest(base.MigrationTestBase):
    """block_migration 'auto': Nova decides from the storage it sees."""

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('8ee366da-f510-41e0-8dad-264ff8b7cc91')
    def test_live_migration_there_and_back(self):
        server = self.create_migratable_server()
        source = self.get_host_for_server(server['id'])
        self.live_migrate(server['id'])
        back_to = (source if CONF.compute_feature_enabled.
                   can_migrate_between_any_hosts else None)
        self.live_migrate(server['id'], host=back_to)
        self.assertEqual(source, self.get_host_for_server(server['id']))

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('c4d229c1-4dc3-40fe-8236-8c7d0d4c02c8')
    def test_guest_keeps_running(self):
        """The console counter carries on: migrated, not restarted."""
        self.skip_without_counter_image()
        server = self.create_migratable_server()
        last = self.wait_counting(server['id'])
        self.live_migrate(server['id'], last=last)
        self.assert_guest_continued(server['id'], last)

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('13023e75-b5fe-45c5-8e5e-99342a94b923')
    def test_paused_server(self):
        if not CONF.compute_feature_enabled.pause:
            raise self.skipException('pausing servers is disabled '
                                     '([compute-feature-enabled] pause)')
        # Tempest's test_live_block_migration_paused migrates a paused
        # server; what this adds is the guest's own count after unpausing.
        self.skip_without_counter_image()
        server = self.create_migratable_server()
        last = self.wait_counting(server['id'])
        self.admin_servers_client.pause_server(server['id'])
        waiters.wait_for_server_status(self.admin_servers_client,
                                       server['id'], 'PAUSED')
        self.live_migrate(server['id'], state='PAUSED')
        self.admin_servers_client.unpause_server(server['id'])
        waiters.wait_for_server_status(self.admin_servers_client,
                                       server['id'], 'ACTIVE')
        self.assert_guest_continued(server['id'], last)

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('6d070a7a-70f4-4fe4-b479-7c847c1619b6')
    def test_migration_record(self):
        """os-migrations shows the live migration, completed, both hosts."""
        server = self.create_migratable_server()
        source = self.get_host_for_server(server['id'])
        record = self.live_migrate(server['id'])
        records = [m for m in self.live_migrations(server['id'])
                   if m['id'] == record['id']]
        self.assertEqual(1, len(records))
        self.assertEqual('live-migration', records[0]['migration_type'])
        self.assertEqual('completed', records[0]['status'])
        self.assertEqual(source, records[0]['source_compute'])
        self.assertEqual(self.get_host_for_server(server['id']),
                         records[0]['dest_compute'])
