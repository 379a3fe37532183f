"""A refused live migration leaves the server active on its source."""

from tempest.lib import decorators
from tempest.lib import exceptions

from migtests.api.compute import base


class MigrationFailureTest(base.MigrationTestBase):

    def _assert_refused_and_stayed(self, server, host):
        source = self.get_host_for_server(server['id'])
        known = {m['id'] for m in self.live_migrations(server['id'])}
        self.assertRaises(exceptions.BadRequest,
                          self.admin_servers_client.live_migrate_server,
                          server['id'], host=host, block_migration='auto')
        base.waiters.wait_for_server_status(self.admin_servers_client,
                                            server['id'], 'ACTIVE')
        self.assertEqual(source, self.get_host_for_server(server['id']))
        completed = [m for m in self.live_migrations(server['id'])
                     if m['id'] not in known and m['status'] == 'completed']
        self.assertEqual([], completed)

    @decorators.attr(type=['negative', 'multinode'])
    @decorators.idempotent_id('4fe44c45-5699-4413-82b8-e202bb21eeee')
    def test_migrate_to_same_host_is_refused(self):
        server = self.create_migratable_server()
        self._assert_refused_and_stayed(
            server, self.get_host_for_server(server['id']))

    @decorators.attr(type=['negative', 'multinode'])
    @decorators.idempotent_id('ef2970c8-16bd-468a-a513-c7a268d56c2c')
    def test_migrate_to_unknown_host_is_refused(self):
        self._assert_refused_and_stayed(self.create_migratable_server(),
                                        'migtests-no-such-host')
