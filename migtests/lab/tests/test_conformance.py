"""Combinations the reference never sends, forced on real libvirt.

Each row bypasses the reference driver and calls migrateToURI3 with raw
flags: what real libvirt does must be what the simulated libvirt (the unit
tests' model, reference/tests/simulated_libvirt.py) says it does -- an error
with the same code, or a "success" copying the same disks.  Rows with a
configuration show that the reference refuses that configuration, and the
real outcome shows why it must.
"""

import ddt
from tempest.lib import decorators
from testtools import content

from migtests.lab import scenario
from migtests.lab.scenario import LAYOUTS
from migtests.lab.tests import base
from reference import act
from reference import conf
from reference.model import ConfigError
from reference.model import Disk
from reference.model import DiskKind
from reference.model import MigrationRefused
from reference.model import MigrationRequest
from reference.planner import plan_migration
from reference.tests import simulated_libvirt as sim

BASE = ('LIVE', 'PEER2PEER', 'PERSIST_DEST', 'UNDEFINE_SOURCE')

FORCED = (
    # name, layout, extra flags, params, configuration the reference refuses.
    # Each is harmful: libvirt refuses it, or it copies the wrong disks.
    ('tunnelled-block', 'local', ('TUNNELLED', 'NON_SHARED_INC'), {},
     {'live_migration_tunnelled': True}),
    ('tunnelled-selective-disks', 'local+volume',
     ('TUNNELLED', 'NON_SHARED_INC'), {'migrate_disks': ['vda']},
     {'live_migration_tunnelled': True}),
    ('tunnelled-full-copy', 'local', ('TUNNELLED', 'NON_SHARED_DISK'),
     {'migrate_disks': ['vda']}, {'live_migration_tunnelled': True}),
    ('tunnelled-with-native-tls', 'volume', ('TUNNELLED', 'TLS'), {},
     {'live_migration_tunnelled': True,
      'live_migration_with_native_tls': True}),
    ('tunnelled-post-copy', 'volume', ('TUNNELLED', 'POSTCOPY'), {},
     {'live_migration_tunnelled': True,
      'live_migration_permit_post_copy': True}),
    ('unsafe-tunnel-ignores-disk-list', 'local', ('TUNNELLED', 'UNSAFE'),
     {'migrate_disks': ['vda']},
     {'live_migration_flag': 'VIR_MIGRATE_TUNNELLED,VIR_MIGRATE_UNSAFE'}),
    ('full-copy-without-disk-list', 'local+volume', ('NON_SHARED_DISK',), {},
     None),
    ('incremental-copy-without-disk-list', 'local+volume',
     ('NON_SHARED_INC',), {}, None),
    ('disk-list-without-copy-flag', 'local', (), {'migrate_disks': ['vda']},
     None),
    ('local-disk-without-copy', 'local', (), {}, None),
    ('unknown-disk-target', 'local', ('NON_SHARED_DISK',),
     {'migrate_disks': ['nope']}, None),
    ('unknown-disk-target-beside-local', 'local', ('NON_SHARED_DISK',),
     {'migrate_disks': ['vda', 'nope']}, None),
    ('zerocopy-without-parallel', 'volume', ('ZEROCOPY',), {}, None),
)
# Harmless on libvirt 9.0: the list is ignored and there is nothing to copy.
HARMLESS = (
    ('disk-list-of-volume-without-copy-flag', 'volume', (),
     {'migrate_disks': ['vdb']}, None),
)


def layout_disks(layout):
    spec = LAYOUTS[layout]
    return tuple(([Disk('vda', DiskKind.LOCAL)] if spec['local'] else [])
                 + ([Disk('vdb', DiskKind.VOLUME)] if spec['volume'] else []))


@ddt.ddt
class TestConformance(base.LabTestCase):
    LAB_NAME = 'cnf'
    RUNNER = scenario.FaultRunner

    @ddt.data(*FORCED)
    @ddt.unpack
    @decorators.idempotent_id('833ab46d-7b4c-4713-9693-b59b4b6cfc04')
    def test_forced(self, name, layout, extra, params, refused_config):
        model, hosts = self._conforms(layout, extra, params)
        # The reference never sends it, and refuses its configuration.
        self.assertFalse(model.ok, model)
        if refused_config is not None:
            self.assertReferenceRefuses(refused_config, hosts, layout)

    @ddt.data(*HARMLESS)
    @ddt.unpack
    @decorators.idempotent_id('d36b5424-9d54-4de0-a2f5-8f53d0e0e251')
    def test_harmless(self, name, layout, extra, params, refused_config):
        model, _ = self._conforms(layout, extra, params)
        self.assertTrue(model.ok, model)

    def _conforms(self, layout, extra, params):
        """Force the call; assert real and simulated libvirt agree."""
        flags = tuple('VIR_MIGRATE_' + f for f in BASE + extra)
        guest, source = self.runner.guest(layout)
        destination = self.runner.other(source)
        hosts = [act.read_capabilities(self.runner.conn(h))
                 for h in (source, destination)]
        real = self.runner.force(layout, flags, params)
        if real.error is None:
            self.runner.discard(layout)
        model = sim.evaluate(sim.Call(hosts[0], hosts[1], frozenset(flags),
                                      params, layout_disks(layout)))
        self.addDetail('outcome', content.json_content({
            'real': vars(real), 'simulated': {
                'rule': model.rule, 'error': model.error,
                'hazard': model.hazard, 'copied': sorted(model.copied)}}))
        self.assertTrue(model.matches(real.error),
                        'real libvirt: %s %s; simulated: %s'
                        % (real.error, real.message, model))
        if real.error is None:
            self.assertEqual(sorted(model.copied), real.copied)
        return model, hosts

    def assertReferenceRefuses(self, options, hosts, layout):
        try:
            settings = conf.settings(**options)
        except ConfigError:
            return
        request = MigrationRequest(destination='dest',
                                   disks=layout_disks(layout))
        self.assertRaises(MigrationRefused, plan_migration, settings,
                          hosts[0], hosts[1], request)
