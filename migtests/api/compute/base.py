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

"""The base every migtests scenario stands on: two compute hosts, an admin
to place and move servers, block_migration 'auto' (2.25).

Built on the interfaces Tempest offers plugins only (tempest.test,
tempest.common.compute, tempest.config, tempest.lib: Tempest's
doc/source/plugins/plugin.rst) -- not on tempest.api.compute.base, whose
helpers change with Tempest's own tests.
"""

import time

from tempest.common import compute
from tempest import config
from tempest.lib.common import api_version_utils
from tempest.lib.common.utils import data_utils
from tempest.lib.common.utils import test_utils
from tempest.lib import exceptions
from tempest import test

from migtests.common import waiters
from migtests import console

CONF = config.CONF

FINISHED = ('completed', 'error', 'failed', 'cancelled')
# Seconds a failed migration's server is watched for ERROR (measured: 1.3 s
# after the record said failed, Nova 34, trixie -> sid).
SETTLE_SECONDS = 10


class MigrationTestBase(api_version_utils.BaseMicroversionTest,
                        test.BaseTestCase):
    """Servers are the primary project's unless a scenario places them
    (an admin's request); states, hosts and consoles are read with the
    admin's clients, which see both."""

    credentials = ['primary', 'admin']
    min_microversion = '2.25'

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        for switch in ('nova', 'neutron'):
            if not getattr(CONF.service_available, switch):
                raise cls.skipException(
                    '%s: needs %s ([service_available] %s = false)'
                    % (cls.__name__, switch, switch))
        api_version_utils.check_skip_with_microversion(
            cls.min_microversion, cls.max_microversion,
            CONF.compute.min_microversion, CONF.compute.max_microversion)
        if not CONF.compute_feature_enabled.live_migration:
            raise cls.skipException(
                '%s: live migration is disabled ([compute-feature-enabled] '
                'live_migration)' % cls.__name__)
        if CONF.compute.min_compute_nodes < 2:
            raise cls.skipException(
                '%s: needs two compute hosts ([compute] min_compute_nodes '
                '>= 2)' % cls.__name__)

    @classmethod
    def setup_credentials(cls):
        # The primary project gets a network of its own to boot on.
        cls.set_network_resources(network=True, subnet=True, router=True,
                                  dhcp=True)
        super().setup_credentials()

    @classmethod
    def setup_clients(cls):
        super().setup_clients()
        cls.servers_client = cls.os_primary.servers_client
        cls.admin_servers_client = cls.os_admin.servers_client
        cls.migrations_client = cls.os_admin.migrations_client
        if CONF.service_available.cinder:
            cls.volumes_client = cls.os_primary.volumes_client_latest

    @classmethod
    def resource_setup(cls):
        super().resource_setup()
        cls.request_microversion = (
            api_version_utils.select_request_microversion(
                cls.min_microversion, CONF.compute.min_microversion))
        cls.setup_api_microversion_fixture(
            compute_microversion=cls.request_microversion)

    # --- servers and volumes ---------------------------------------------
    def create_server(self, clients=None, **kwargs):
        """An ACTIVE server on the primary project's network, of the
        admin's project when ``clients`` is ``self.os_admin``; deleted
        after the test whatever state it is left in."""
        clients = clients or self.os_primary
        kwargs.setdefault('name', data_utils.rand_name(
            prefix=CONF.resource_name_prefix,
            name=self.__class__.__name__ + '-server'))
        server, _ = compute.create_test_server(
            clients, tenant_network=self.get_tenant_network(),
            wait_until='ACTIVE', **kwargs)
        self.addCleanup(waiters.wait_for_server_deletion,
                        clients.servers_client, server['id'])
        self.addCleanup(test_utils.call_and_ignore_notfound_exc,
                        clients.servers_client.delete_server, server['id'])
        return server

    def create_migratable_server(self, **kwargs):
        image = CONF.migtests.counter_image_ref or CONF.compute.image_ref
        return self.create_server(image_id=image, **kwargs)

    def get_host_for_server(self, server_id):
        return self.admin_servers_client.show_server(
            server_id)['server']['OS-EXT-SRV-ATTR:host']

    def create_volume(self, client=None):
        """An available volume (of the admin's project with ``client``
        the admin's volumes client), deleted after the test."""
        client = client or self.volumes_client
        volume = client.create_volume(
            size=CONF.volume.volume_size,
            display_name=data_utils.rand_name(
                prefix=CONF.resource_name_prefix,
                name=self.__class__.__name__ + '-volume'))['volume']
        self.addCleanup(client.wait_for_resource_deletion, volume['id'])
        self.addCleanup(test_utils.call_and_ignore_notfound_exc,
                        client.delete_volume, volume['id'])
        waiters.wait_for_volume_status(client, volume['id'], 'available')
        return volume

    def attach_volume(self, server, volume):
        """Attach it and wait until it is in use; detached after the test
        (before the server and the volume are deleted)."""
        self.servers_client.attach_volume(server['id'],
                                          volumeId=volume['id'])
        waiters.wait_for_volume_status(self.volumes_client, volume['id'],
                                       'in-use')
        self.addCleanup(waiters.wait_for_volume_status, self.volumes_client,
                        volume['id'], 'available')
        self.addCleanup(test_utils.call_and_ignore_notfound_exc,
                        self.servers_client.detach_volume, server['id'],
                        volume['id'])

    def live_migrate(self, server_id, block_migration='auto', host=None,
                     state='ACTIVE', last=None):
        """Live-migrate, wait for the record, check it and the new host.

        A migration that does not complete fails the test -- after checking
        where it left the server: on its source and, given the count seen
        before (``last``), still running there with no restart.  Its status
        is not waited for then: Nova 34 leaves such an instance in ERROR."""
        source = self.get_host_for_server(server_id)
        known = {m['id'] for m in self.live_migrations(server_id)}
        self.admin_servers_client.live_migrate_server(
            server_id, host=host, block_migration=block_migration)
        record = self.wait_for_migration(server_id, known)
        if record['status'] != 'completed':
            self.assertEqual(source, self.get_host_for_server(server_id),
                             'the failed migration left the server off its '
                             'source: %s' % record)
            self.assert_guest_kept_running(server_id, last)
            status = self.status_settled(server_id)
            self.fail('live migration did not complete: %s; the server '
                      'stayed on its source%s, status %s' % (
                          record, '' if last is None else
                          ', its guest running', status))
        waiters.wait_for_server_status(self.admin_servers_client, server_id,
                                       state)
        now = self.get_host_for_server(server_id)
        self.assertEqual(source, record['source_compute'], record)
        self.assertEqual(now, record['dest_compute'], record)
        self.assertNotEqual(source, now)
        if host is not None:
            self.assertEqual(host, now)
        return record

    def status_settled(self, server_id, seconds=SETTLE_SECONDS):
        """The server's status after a failed migration: ERROR as soon as
        it shows, else what it shows after ``seconds`` -- Nova 34 sets
        ERROR a moment after the record says failed, once the driver's
        error is raised again after the rollback."""
        deadline = time.monotonic() + seconds
        while True:
            status = self.admin_servers_client.show_server(
                server_id)['server']['status']
            if status == 'ERROR' or time.monotonic() >= deadline:
                return status
            time.sleep(1)

    def live_migrations(self, server_id):
        return self.migrations_client.list_migrations(
            instance_uuid=server_id,
            migration_type='live-migration')['migrations']

    def wait_for_migration(self, server_id, known):
        """The new migration record of the server, once it has finished."""
        found = {}

        def finished():
            for record in self.live_migrations(server_id):
                if record['id'] not in known and record['status'] in FINISHED:
                    found['record'] = record
                    return True
            return False
        if not test_utils.call_until_true(
                finished, CONF.migtests.migration_timeout, 2):
            raise exceptions.TimeoutException(
                'live migration of %s did not finish in %d s'
                % (server_id, CONF.migtests.migration_timeout))
        return found['record']

    # --- the guest's console ------------------------------------------------
    def console_text(self, server_id):
        return self.admin_servers_client.get_console_output(
            server_id)['output']

    def wait_counting(self, server_id, above=0, pattern=None):
        """Wait until the console shows a counter (``pattern``; default:
        the guest's own) above ``above``."""
        pattern = pattern or CONF.migtests.counter_pattern
        values = []

        def advanced():
            values[:] = console.counters(self.console_text(server_id),
                                         pattern)
            return bool(values) and values[-1] > above
        if not test_utils.call_until_true(
                advanced, CONF.migtests.counter_timeout, 1):
            raise exceptions.TimeoutException(
                'the console of %s shows no counter %r above %d after %d s'
                % (server_id, pattern, above, CONF.migtests.counter_timeout))
        return values[-1]

    def wait_config_drive(self, server_id):
        """The (label, SHA-256) of its config drive the guest printed
        last (it reads the drive past its page cache every few seconds)."""
        found = []

        def printed():
            found[:] = console.config_drives(
                self.console_text(server_id),
                CONF.migtests.config_drive_pattern)
            return bool(found)
        if not test_utils.call_until_true(
                printed, CONF.migtests.counter_timeout, 1):
            raise exceptions.TimeoutException(
                'the console of %s shows no config drive line after %d s'
                % (server_id, CONF.migtests.counter_timeout))
        return found[-1]

    def skip_without_counter_image(self):
        if not CONF.migtests.counter_image_ref:
            raise self.skipException(
                'no [migtests] counter_image_ref: the console cannot show '
                'whether the guest kept running')

    def counter_if_any(self, server_id):
        """The console counter now, or None without a counter image."""
        if not CONF.migtests.counter_image_ref:
            return None
        return self.wait_counting(server_id)

    def assert_guest_continued(self, server_id, last_before, pattern=None):
        """The count (``pattern``; default: the guest's own) carries on
        after a migration: the destination's console shows no boot and a
        count past ``last_before`` (nothing to check when that is None: no
        counter image)."""
        self._assert_count(server_id, last_before, pattern,
                           console.not_continued)

    def assert_guest_kept_running(self, server_id, last_before,
                                  pattern=None):
        """The count carries on on the host the guest never left: its
        console, first boot included, shows one boot and a count past
        ``last_before``."""
        self._assert_count(server_id, last_before, pattern,
                           console.not_kept_running)

    def _assert_count(self, server_id, last_before, pattern, problem_of):
        if last_before is None:
            return
        pattern = pattern or CONF.migtests.counter_pattern
        self.wait_counting(server_id, last_before, pattern)
        problem = problem_of(last_before, self.console_text(server_id),
                             pattern, CONF.migtests.boot_mark)
        self.assertIsNone(problem, 'server %s: %s' % (server_id, problem))
