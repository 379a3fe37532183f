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

"""A cloud half upgraded: computes on different hypervisor versions.

What Nova users meet while a rolling upgrade is under way: guests are moved
off a compute before it is upgraded, from the older hypervisor to the newer
one, and Nova refuses the other direction (its conductor: a destination
whose hypervisor version is older than the source's).  The computes'
versions are read from Nova itself (os-hypervisors).  They run where
``[migtests] mixed_computes`` says the computes differ (skipped otherwise,
before any credentials are made) and fail if Nova shows one version.
"""

from tempest import config
from tempest.lib.common.utils import test_utils
from tempest.lib import decorators
from tempest.lib import exceptions

from migtests.api.compute import base
from migtests.common import utils
from migtests.common import waiters

CONF = config.CONF

# Nova's refusal (exception.DestinationHypervisorTooOld).
TOO_OLD = 'requires a newer hypervisor version'


class RollingUpgradeTest(base.MigrationTestBase):
    """Servers are booted on a chosen compute (an admin's request, as an
    operator draining a host would do): they are the admin project's."""

    # Up to 2.33 the API answers a refused destination itself (400); from
    # 2.34 the refusal is asynchronous (test_migration_failure).
    max_microversion = '2.33'

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.migtests.mixed_computes:
            raise cls.skipException(
                '%s: the computes are not said to differ ([migtests] '
                'mixed_computes)' % cls.__name__)

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        hypervisors = cls.os_admin.hypervisor_client.list_hypervisors(
            detail=True)['hypervisors']
        versions = {h['service']['host']: h['hypervisor_version']
                    for h in hypervisors if h['state'] == 'up'}
        if len(set(versions.values())) < 2:
            raise exceptions.InvalidConfiguration(
                '[migtests] mixed_computes is set, but every compute runs '
                'hypervisor version %s' % ', '.join(
                    sorted({str(v) for v in versions.values()})))
        ordered = sorted(versions, key=versions.get)
        cls.older, cls.newer = ordered[0], ordered[-1]
        cls.versions = versions

    @classmethod
    def setup_clients(cls):
        super().setup_clients()
        cls.admin_volumes_client = cls.os_admin.volumes_client_latest

    def boot_on(self, host, **kwargs):
        self.skip_without_counter_image()
        # Deleted after the test whatever its state (Nova 34 leaves an
        # instance whose live migration failed in ERROR), so that a red
        # scenario reports its own failure, not a class teardown's.
        server = self.create_server(
            clients=self.os_admin, availability_zone='nova:%s' % host,
            image_id=CONF.migtests.counter_image_ref, **kwargs)
        self.assertEqual(host, self.get_host_for_server(server['id']))
        return server

    def admin_volume_attached(self, server):
        """A volume of the admin's project attached to ``server``; after
        the test the server is deleted (which detaches the volume in any
        state: Nova 34 leaves an instance whose live migration failed in
        ERROR, where a detach is refused) and then the volume."""
        client = self.admin_volumes_client
        volume = self.create_volume(client)
        self.admin_servers_client.attach_volume(server['id'],
                                                volumeId=volume['id'])
        self.addCleanup(waiters.wait_for_volume_status, client,
                        volume['id'], 'available')
        self.addCleanup(waiters.wait_for_server_deletion,
                        self.admin_servers_client, server['id'])
        self.addCleanup(test_utils.call_and_ignore_notfound_exc,
                        self.admin_servers_client.delete_server,
                        server['id'])
        waiters.wait_for_volume_status(client, volume['id'], 'in-use')
        return volume

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('d7ed25cf-650f-467f-b7ec-46e83b4d0e75')
    def test_older_to_newer_keeps_running(self):
        """Drained from the older compute: the guest carries on counting on
        the newer one."""
        server = self.boot_on(self.older)
        last = self.wait_counting(server['id'])
        self.live_migrate(server['id'], host=self.newer, last=last)
        self.assert_guest_continued(server['id'], last)

    @decorators.attr(type='multinode')
    @utils.services('volume')
    @decorators.idempotent_id('1b572e41-b59f-4567-bb70-26b480c58c41')
    def test_older_to_newer_with_attached_volume(self):
        """Its local disk copied, its volume left where it is: the guest's
        count on the volume carries on on the newer compute."""
        server = self.boot_on(self.older)
        self.admin_volume_attached(server)
        last = self.wait_counting(server['id'])
        on_volume = self.wait_counting(
            server['id'], pattern=CONF.migtests.volume_counter_pattern)
        self.live_migrate(server['id'], host=self.newer, last=last)
        self.assert_guest_continued(server['id'], last)
        self.assert_guest_continued(server['id'], on_volume,
                                    CONF.migtests.volume_counter_pattern)

    @decorators.attr(type=['multinode', 'negative'])
    @decorators.idempotent_id('79ca07f5-ebee-4fd7-add4-757b48ba6c83')
    def test_newer_to_older_is_refused(self):
        """Nova refuses the destination whose hypervisor is older, before
        libvirt is asked; the guest keeps running on its source."""
        server = self.boot_on(self.newer)
        last = self.wait_counting(server['id'])
        known = {m['id'] for m in self.live_migrations(server['id'])}
        error = self.assertRaises(
            exceptions.BadRequest, self.admin_servers_client.
            live_migrate_server, server['id'], host=self.older,
            block_migration='auto')
        self.assertIn(TOO_OLD, str(error))
        waiters.wait_for_server_status(self.admin_servers_client,
                                       server['id'], 'ACTIVE')
        self.assertEqual(self.newer, self.get_host_for_server(server['id']))
        self.assertEqual([], [m for m in self.live_migrations(server['id'])
                              if m['id'] not in known
                              and m['status'] == 'completed'])
        self.assert_guest_kept_running(server['id'], last)
