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

"""Block live migration: the guest carries on, its local disk copied and its
attached volume left where it is and still written.

Tempest's own LiveAutoBlockMigrationV225Test and LiveMigrationTest run the
same migrations at the API level (server ACTIVE on another host, volume
attached); these scenarios add what the API cannot show, read from the
guest itself on the counter image: it was not restarted, and it kept
writing to the same volume across the move.  Without the counter image
they would repeat Tempest's tests, so they skip.
"""

from tempest import config
from tempest.lib import decorators

from migtests.api.compute import base
from migtests.common import utils
from migtests import console

CONF = config.CONF


class BlockMigrationTest(base.MigrationTestBase):

    @classmethod
    def skip_checks(cls):
        super().skip_checks()
        if not CONF.compute_feature_enabled.block_migration_for_live_migration:
            raise cls.skipException(
                '%s: block migration is disabled ([compute-feature-enabled] '
                'block_migration_for_live_migration)' % cls.__name__)

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('5558919f-8a5a-464a-a1cc-e3fee6a4b0e4')
    def test_block_migration_local_root_disk(self):
        """The guest on a copied root disk carries on counting."""
        self.skip_without_counter_image()
        server = self.create_migratable_server()
        last = self.wait_counting(server['id'])
        self.live_migrate(server['id'], block_migration=True, last=last)
        self.assert_guest_continued(server['id'], last)

    @decorators.attr(type='multinode')
    @utils.services('volume')
    @decorators.idempotent_id('fc5e3c7b-ab9b-4c7e-bfe5-377554963dfe')
    def test_block_migration_with_attached_volume(self):
        """The 2016 gate failure: root disk copied, the volume left alone --
        the guest's count on the volume carries on after the move."""
        self.skip_without_counter_image()
        server = self.create_migratable_server()
        volume = self.create_volume()
        self.attach_volume(server, volume)
        last = self.wait_counting(server['id'])
        on_volume = self.wait_counting(
            server['id'], pattern=CONF.migtests.volume_counter_pattern)
        self.live_migrate(server['id'], block_migration=True, last=last)
        self.assert_guest_continued(server['id'], last)
        # Read from the volume on the destination: it carried on, so the
        # guest still writes to the same volume, its data intact.
        self.assert_guest_continued(server['id'], on_volume,
                                    CONF.migtests.volume_counter_pattern)

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('ac16137d-feee-490a-b23e-a14d2a5d9d85')
    def test_block_migration_with_config_drive(self):
        """The guest reads, on the destination, the config drive it booted
        with: libvirt never copies a read-only disk, so whoever migrates
        must put it there first."""
        self.skip_without_counter_image()
        if not CONF.compute_feature_enabled.config_drive:
            raise self.skipException('config drives are disabled '
                                     '([compute-feature-enabled] '
                                     'config_drive)')
        server = self.create_migratable_server(config_drive=True)
        label, booted = self.wait_config_drive(server['id'])
        self.assertEqual('config-2', label, 'not Nova\'s config drive')
        self.assertNotEqual(console.EMPTY_SHA256, booted)
        last = self.wait_counting(server['id'])
        self.live_migrate(server['id'], block_migration=True, last=last)
        self.assert_guest_continued(server['id'], last)
        # The destination's console holds only what the guest printed
        # there.
        self.assertEqual(
            ('config-2', booted), self.wait_config_drive(server['id']),
            'the config drive the guest reads on the destination is not '
            'the one it booted with')
