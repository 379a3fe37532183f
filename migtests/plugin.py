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

"""Tempest plugin entry point: migtests' live and block migration tests."""

import os

from tempest import config as tempest_config
from tempest.test_discover import plugins

from migtests import config


class MigtestsTempestPlugin(plugins.TempestPlugin):
    def load_tests(self):
        top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return os.path.join(top, 'migtests', 'api'), top

    def register_opts(self, conf):
        config.register_opts(conf)

    def get_opt_lists(self):
        return [(group.name, opts) for group, opts in config.list_opts()]

    def get_service_clients(self):
        """The plugin's own clients, as Tempest's plugin interface
        registers them (``os_admin.migtests_compute``), with the compute
        service's settings."""
        params = tempest_config.service_client_config('compute')
        params.update(name='migtests_compute',
                      service_version='migtests_compute',
                      module_path='migtests.services.live_migrations_client',
                      client_names=['LiveMigrationsClient'])
        return [params]
