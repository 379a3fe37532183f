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

"""Combinations the reference never sends, forced on real libvirt.

Each forced call of the catalogue (cases.FORCED) bypasses the reference
driver and calls migrateToURI3 with raw flags: what real libvirt does must
be what the simulated libvirt (the unit tests' model,
reference/behaviour.py) says it does -- an error with the same code, or a
"success" copying the same disks.  Calls with a configuration show that
the reference refuses that configuration, and the real outcome shows why
it must.
"""

import ddt
from tempest.lib import decorators
from testtools import content

from migtests.lab import cases
from migtests.lab import conformance
from migtests.lab.forced import FaultRunner
from migtests.lab.tests import base
from reference import conf
from reference.model import ConfigError
from reference.model import MigrationRefused
from reference.model import MigrationRequest
from reference.planner import plan_migration


@ddt.ddt
class TestConformance(base.LabTestCase):
    LAB_NAME = 'cnf'
    RUNNER = FaultRunner

    @ddt.data(*[f for f in cases.FORCED if f.harmful])
    @decorators.idempotent_id('833ab46d-7b4c-4713-9693-b59b4b6cfc04')
    def test_forced(self, forced):
        model, hosts = self._conforms(forced)
        # The reference never sends it, and refuses its configuration.
        self.assertFalse(model.ok, model)
        if forced.refused_config is not None:
            self.assertReferenceRefuses(forced, hosts)

    @ddt.data(*[f for f in cases.FORCED if not f.harmful])
    @decorators.idempotent_id('d36b5424-9d54-4de0-a2f5-8f53d0e0e251')
    def test_harmless(self, forced):
        model, _ = self._conforms(forced)
        self.assertTrue(model.ok, model)

    def _conforms(self, forced):
        """Force the call; assert real and simulated libvirt agree."""
        real, model, hosts = conformance.check(self.runner, forced)
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

    def assertReferenceRefuses(self, forced, hosts):
        try:
            settings = conf.settings(**forced.refused_config)
        except ConfigError:
            return
        request = MigrationRequest(
            destination='dest', disks=cases.LAYOUTS[forced.layout].disks())
        self.assertRaises(MigrationRefused, plan_migration, settings,
                          hosts[0], hosts[1], request)
