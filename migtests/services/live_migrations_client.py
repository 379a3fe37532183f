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

"""What an operator does to a running live migration, as Nova's compute
API takes it: abort it (2.24) or force it to complete (2.22).

tempest.lib has no abort, and its force_complete_live_migration sends
``{"force_complete": "null"}`` (the string), which Nova 34's schema
refuses with 400 "'null' is not of type 'null'" (a finding: the API
reference asks for JSON null).  The compute client base keeps Tempest's
microversion handling.
"""

import json

from tempest.lib.services.compute import base_compute_client


class LiveMigrationsClient(base_compute_client.BaseComputeClient):

    def abort_live_migration(self, server_id, migration_id):
        """DELETE /servers/{server_id}/migrations/{migration_id}: 202."""
        resp, body = self.delete('servers/%s/migrations/%s'
                                 % (server_id, migration_id))
        self.expected_success(202, resp.status)
        return resp

    def force_complete_live_migration(self, server_id, migration_id):
        """POST .../migrations/{migration_id}/action with
        ``{"force_complete": null}``: 202."""
        resp, body = self.post('servers/%s/migrations/%s/action'
                               % (server_id, migration_id),
                               json.dumps({'force_complete': None}))
        self.expected_success(202, resp.status)
        return resp
