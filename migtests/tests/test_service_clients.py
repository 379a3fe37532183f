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

"""The plugin's service client, registered the way Tempest registers a
plugin's clients (tempest.lib's ServiceClients), and what it sends."""

import json
from unittest import mock

from tempest.lib import auth
from tempest.lib import decorators
from tempest.lib import exceptions
from tempest.lib.services import clients
import testtools

from migtests import plugin


class TestLiveMigrationsClient(testtools.TestCase):

    def client(self):
        # What Tempest's plugin manager does with each plugin's clients
        # (once per process: the registry is Tempest's singleton).
        registry = clients.ClientsRegistry()
        if 'migtests' not in registry.get_service_clients():
            with mock.patch.object(plugin.tempest_config,
                                   'service_client_config',
                                   return_value={'service': 'compute',
                                                 'region': 'RegionOne'}):
                registry.register_service_client(
                    'migtests',
                    plugin.MigtestsTempestPlugin().get_service_clients())
        credentials = auth.KeystoneV3Credentials(
            username='admin', password='x', project_name='admin',
            user_domain_name='Default', project_domain_name='Default')
        service_clients = clients.ServiceClients(
            credentials, 'http://192.0.2.1/identity/v3')
        return service_clients.migtests_compute.LiveMigrationsClient()

    def answer(self, status):
        return mock.Mock(status=status), b''

    @decorators.idempotent_id('410f5ec6-92f0-41c9-80e8-10e49db3eb73')
    def test_abort_and_force_complete_as_nova_takes_them(self):
        client = self.client()
        with mock.patch.object(client, 'delete',
                               return_value=self.answer(202)) as delete:
            client.abort_live_migration('s1', 7)
        delete.assert_called_once_with('servers/s1/migrations/7')
        with mock.patch.object(client, 'post',
                               return_value=self.answer(202)) as post:
            client.force_complete_live_migration('s1', 7)
        path, body = post.call_args[0]
        self.assertEqual('servers/s1/migrations/7/action', path)
        # JSON null, which Nova's schema takes (not the string 'null').
        self.assertEqual({'force_complete': None}, json.loads(body))
        with mock.patch.object(client, 'post',
                               return_value=self.answer(200)):
            self.assertRaises(exceptions.InvalidHttpSuccessCode,
                              client.force_complete_live_migration, 's1', 7)
