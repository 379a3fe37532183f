"""Combinations the reference never sends, forced on real libvirt.

Each row bypasses the reference driver and calls migrateToURI3 with raw
flags: what real libvirt does must be what the simulated libvirt (the unit
tests' model, reference/behaviour.py) says it does -- an error
with the same code, or a "success" copying the same disks.  Rows with a
configuration show that the reference refuses that configuration, and the
real outcome shows why it must.
"""

import ddt
from tempest.lib import decorators
from testtools import content

from migtests.lab import conformance
from migtests.lab import scenario
from migtests.lab.tests import base
from reference import conf
from reference.model import ConfigError
from reference.model import MigrationRefused
from reference.model import MigrationRequest
from reference.planner import plan_migration


@ddt.ddt
class TestConformance(base.LabTestCase):
    LAB_NAME = 'cnf'
    RUNNER = scenario.FaultRunner

    @ddt.data(*conformance.FORCED)
    @ddt.unpack
    @decorators.idempotent_id('833ab46d-7b4c-4713-9693-b59b4b6cfc04')
    def test_forced(self, name, layout, extra, params, refused_config):
        model, hosts = self._conforms(layout, extra, params)
        # The reference never sends it, and refuses its configuration.
        self.assertFalse(model.ok, model)
        if refused_config is not None:
            self.assertReferenceRefuses(refused_config, hosts, layout)

    @ddt.data(*conformance.HARMLESS)
    @ddt.unpack
    @decorators.idempotent_id('d36b5424-9d54-4de0-a2f5-8f53d0e0e251')
    def test_harmless(self, name, layout, extra, params, refused_config):
        model, _ = self._conforms(layout, extra, params)
        self.assertTrue(model.ok, model)

    def _conforms(self, layout, extra, params):
        """Force the call; assert real and simulated libvirt agree."""
        real, model, hosts = conformance.check(self.runner, layout, extra,
                                               params)
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
                                   disks=conformance.layout_disks(layout))
        self.assertRaises(MigrationRefused, plan_migration, settings,
                          hosts[0], hosts[1], request)
