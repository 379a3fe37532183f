"""Block live migration: local disks copied, attached volumes never."""

from tempest import config
from tempest.lib import decorators

from migtests.api.compute import base

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
        server = self.create_migratable_server()
        last = self.counter_if_any(server['id'])
        self.live_migrate(server['id'], block_migration=True)
        self.assert_guest_continued(server['id'], last)

    @decorators.attr(type='multinode')
    @decorators.idempotent_id('fc5e3c7b-ab9b-4c7e-bfe5-377554963dfe')
    def test_block_migration_with_attached_volume(self):
        """The 2016 gate failure: root disk copied, the volume left alone."""
        if not CONF.service_available.cinder:
            raise self.skipException('no volume service ([service_available]'
                                     ' cinder = false)')
        if not CONF.migtests.attached_volume_block_migration:
            raise self.skipException(
                'block migration with an attached volume is not expected to '
                'work here ([migtests] attached_volume_block_migration)')
        server = self.create_migratable_server()
        volume = self.create_volume()
        self.attach_volume(server, volume)
        last = self.counter_if_any(server['id'])
        # The counter image keeps a second count on the volume itself.
        on_volume = None
        if last is not None:
            on_volume = self.wait_counting(
                server['id'], pattern=CONF.migtests.volume_counter_pattern)
        self.live_migrate(server['id'], block_migration=True)
        attached = self.servers_client.list_volume_attachments(
            server['id'])['volumeAttachments']
        self.assertEqual([volume['id']], [a['volumeId'] for a in attached])
        self.assertEqual('in-use', self.volumes_client.show_volume(
            volume['id'])['volume']['status'])
        self.assert_guest_continued(server['id'], last)
        # Read from the volume on the destination: it carried on, so the
        # guest still writes to the same volume, its data intact.
        self.assert_guest_continued(server['id'], on_volume,
                                    CONF.migtests.volume_counter_pattern)
