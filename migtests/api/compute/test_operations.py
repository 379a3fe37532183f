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

"""What operators do to a running live migration, through Nova's API.

Listing it in progress (2.23), aborting it (2.24), forcing it to complete
(2.22), and the completion timeout's two actions.  These need migrations
slow enough to act on while they run -- a setting, not Nova's shipped
defaults -- so they run only where ``[migtests] slow_migrations`` says the
cloud was set up for them (``migtests-job --profile operations``).

The servers are volume-backed: their migration moves memory only, so a
bandwidth limit slows it evenly and an abort is answered at once (a
throttled disk copy takes minutes to cancel, measured on the lab).
"""

from tempest import config
from tempest.lib.common.utils import test_utils
from tempest.lib import decorators
from tempest.lib import exceptions

from migtests.api.compute import base
from migtests.common import waiters

CONF = config.CONF


class OperatorActionsTest(base.MigrationTestBase):

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.migtests.slow_migrations:
            raise cls.skipException(
                '%s: migrations here are not slow enough to act on while '
                'they run ([migtests] slow_migrations; migtests-job '
                '--profile operations)' % cls.__name__)
        if not CONF.service_available.cinder:
            raise cls.skipException(
                '%s: needs volume-backed servers ([service_available] '
                'cinder = false)' % cls.__name__)

    @classmethod
    def setup_clients(cls):
        super().setup_clients()
        cls.placement_client = cls.os_admin.placement_client
        cls.providers_client = cls.os_admin.resource_providers_client
        # The plugin's own (migtests.services): abort, force-complete.
        cls.live_migrations_client = \
            cls.os_admin.migtests_compute.LiveMigrationsClient()

    # --- servers and their migrations --------------------------------------
    def server(self, host=None):
        """A volume-backed server of the counter image, on ``host`` if
        given (placing it is an admin's: the server is then admin's)."""
        if host is None:
            server = self.create_migratable_server(volume_backed=True)
        else:
            server = self.create_migratable_server(
                volume_backed=True, clients=self.os_admin,
                availability_zone='nova:%s' % host)
        # A server a failed action left in ERROR would fail its deletion.
        self.addCleanup(self.reset_if_error, server['id'])
        return server

    def start(self, server_id):
        """Start a live migration and return (source host, the ids of the
        server's earlier migrations, the migration as listed in progress
        once it copies memory)."""
        source = self.get_host_for_server(server_id)
        known = {m['id'] for m in self.live_migrations(server_id)}
        self.admin_servers_client.live_migrate_server(
            server_id, host=None, block_migration='auto')
        found = {}

        def copying():
            for migration in self.admin_servers_client.\
                    list_in_progress_live_migration(server_id)['migrations']:
                if migration['id'] not in known and \
                        migration['status'] == 'running' and \
                        migration['memory_processed_bytes']:
                    found['migration'] = migration
                    return True
            return False
        if not test_utils.call_until_true(copying, 60, 0.5):
            raise exceptions.TimeoutException(
                'the live migration of %s was never listed running with '
                'memory copied' % server_id)
        return source, known, found['migration']

    def abort(self, server_id, migration_id):
        """Abort the running migration (2.24)."""
        self.live_migrations_client.abort_live_migration(server_id,
                                                         migration_id)

    def assert_stayed(self, server_id, source, record, last):
        """The migration ended ``cancelled``; the server is ACTIVE on its
        source, still counting, and holds resources there only."""
        self.assertEqual('cancelled', record['status'], record)
        waiters.wait_for_server_status(self.admin_servers_client, server_id,
                                       'ACTIVE')
        self.assertEqual(source, self.get_host_for_server(server_id))
        self.assert_guest_kept_running(server_id, last)
        self.assertEqual([source], self.allocated_on(server_id))

    def assert_moved(self, server_id, source, record, last):
        self.assertEqual('completed', record['status'], record)
        waiters.wait_for_server_status(self.admin_servers_client, server_id,
                                       'ACTIVE')
        now = self.get_host_for_server(server_id)
        self.assertNotEqual(source, now)
        self.assertEqual(now, record['dest_compute'], record)
        self.assert_guest_continued(server_id, last)
        self.assertEqual([now], self.allocated_on(server_id))

    def force_complete(self, server_id, migration_id):
        """Force the running migration to complete (2.22); not tempest.lib's
        client, which sends the string 'null' (migtests.services)."""
        self.live_migrations_client.force_complete_live_migration(
            server_id, migration_id)

    def reset_if_error(self, server_id):
        """What an operator does to a server that a failed action left in
        ERROR, once they have seen that it still runs on its host."""
        server = self.admin_servers_client.show_server(server_id)['server']
        if server['status'] == 'ERROR':
            self.admin_servers_client.reset_state(server_id, state='active')

    def allocated_on(self, server_id):
        """The names of the resource providers holding the server's
        allocations (placement): nothing left on the other host."""
        allocations = self.placement_client.list_allocations(
            server_id)['allocations']
        return sorted(self.providers_client.show_resource_provider(
            uuid)['name'] for uuid in allocations)

    # --- the scenarios -----------------------------------------------------
    @decorators.attr(type=['multinode', 'slow'])
    @decorators.idempotent_id('c11e2d83-2259-40ee-a79f-bbb25110978e')
    def test_in_progress_migration_is_listed_with_its_figures(self):
        server = self.server()
        last = self.counter_if_any(server['id'])
        source, known, migration = self.start(server['id'])
        self.assertEqual(server['id'], migration['server_uuid'])
        self.assertEqual(source, migration['source_compute'])
        self.assertNotEqual(source, migration['dest_compute'])
        self.assertGreater(migration['memory_total_bytes'], 0)
        self.assertLessEqual(migration['memory_remaining_bytes'],
                             migration['memory_total_bytes'])
        self.abort(server['id'], migration['id'])
        record = self.wait_for_migration(server['id'], known)
        self.assert_stayed(server['id'], source, record, last)

    @decorators.attr(type=['multinode', 'slow'])
    @decorators.idempotent_id('2ade841b-ff83-416b-b028-0f701fbd5429')
    def test_abort_keeps_the_server_on_its_source(self):
        server = self.server()
        volume = self.create_volume()
        self.attach_volume(server, volume)
        # Runs before the detach (cleanups run last first): a server left
        # in ERROR refuses it, and the run would wait out the timeouts.
        self.addCleanup(self.reset_if_error, server['id'])
        last = self.counter_if_any(server['id'])
        on_volume = None
        if last is not None:
            on_volume = self.wait_counting(
                server['id'], pattern=CONF.migtests.volume_counter_pattern)
        source, known, migration = self.start(server['id'])
        self.abort(server['id'], migration['id'])
        record = self.wait_for_migration(server['id'], known)
        self.assert_stayed(server['id'], source, record, last)
        # Still attached (beside the root volume), in use, and the guest
        # still writes to it, its data intact.
        attached = self.servers_client.list_volume_attachments(
            server['id'])['volumeAttachments']
        self.assertIn(volume['id'], [a['volumeId'] for a in attached])
        self.assertEqual('in-use', self.volumes_client.show_volume(
            volume['id'])['volume']['status'])
        self.assert_guest_kept_running(server['id'], on_volume,
                                       CONF.migtests.volume_counter_pattern)

    @decorators.attr(type=['multinode', 'slow'])
    @decorators.idempotent_id('719bbbe2-39d8-4de7-9068-943c6680520f')
    def test_force_complete_finishes_the_migration(self):
        server = self.server()
        last = self.counter_if_any(server['id'])
        source, known, migration = self.start(server['id'])
        self.force_complete(server['id'], migration['id'])
        record = self.wait_for_migration(server['id'], known)
        self.assert_moved(server['id'], source, record, last)

    @decorators.attr(type=['multinode', 'slow'])
    @decorators.idempotent_id('31963f84-175d-4b3e-afb5-3daebaaf1b95')
    def test_completion_timeout_abort(self):
        host = CONF.migtests.abort_on_timeout_host
        if not host:
            raise self.skipException('no compute host whose timeout action '
                                     'is abort ([migtests] '
                                     'abort_on_timeout_host)')
        server = self.server(host)
        last = self.counter_if_any(server['id'])
        source, known, _ = self.start(server['id'])
        self.assertEqual(host, source)
        record = self.wait_for_migration(server['id'], known)
        self.assert_stayed(server['id'], source, record, last)

    @decorators.attr(type=['multinode', 'slow'])
    @decorators.idempotent_id('e99385a1-9212-46e5-9abd-57124a1ce8c2')
    def test_completion_timeout_force_complete(self):
        host = CONF.migtests.force_complete_on_timeout_host
        if not host:
            raise self.skipException('no compute host whose timeout action '
                                     'is force_complete ([migtests] '
                                     'force_complete_on_timeout_host)')
        server = self.server(host)
        last = self.counter_if_any(server['id'])
        source, known, _ = self.start(server['id'])
        self.assertEqual(host, source)
        record = self.wait_for_migration(server['id'], known)
        self.assert_moved(server['id'], source, record, last)
