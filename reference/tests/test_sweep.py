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

"""Every plan the reference makes is accepted by the simulated libvirt of
its hosts' versions and copies exactly the local disks."""

import ddt
import fixtures

from reference.tests import base
from reference.tests import sweep

_SETTINGS = list(sweep.option_sets())


@ddt.ddt
class TestSweep(base.TestCase):
    @ddt.data(*sweep.stack_pairs())
    def test_pair(self, pair):
        result = sweep.check_pair(pair, _SETTINGS, sweep.Result())
        self.assertEqual([], result.problems[:5],
                         '%d problems' % len(result.problems))
        # A pair whose block migrations libvirt itself would lose (8.7.x)
        # refuses most requests, each refusal checked above; the others
        # still plan more than they refuse.
        self.assertGreater(result.plans, result.refusals - result.justified)

    def test_sweep_covers_at_least_2000_combinations(self):
        per_pair = 2 * len(_SETTINGS) * len(sweep.REQUESTS)
        self.assertGreaterEqual(per_pair * len(sweep.stack_pairs()), 2000)


class TestSweepCanFail(base.TestCase):
    """The checker flags plans like those the 2016 defaults produced."""

    def _patch_planner(self, **change):
        """Make every plan carry the given changes of flags or params."""
        real = sweep.plan_migration

        def planner(*args):
            plan = real(*args)
            fields = dict(vars(plan))
            for name, transform in change.items():
                fields[name] = transform(fields[name])
            return plan.__class__(**fields)
        self.useFixture(fixtures.MonkeyPatch(
            'reference.tests.sweep.plan_migration', planner))

    def test_tunnelled_with_disk_list_on_1_2_17_is_caught(self):
        self._patch_planner(flags=lambda f: f + ('VIR_MIGRATE_TUNNELLED',))
        result = sweep.check_pair((('1.2.17', '2.5'), ('1.2.17', '2.5')),
                                  _SETTINGS[:3], sweep.Result())
        self.assertTrue(any('tunnelled-selective-disks' in p
                            for p in result.problems), result.problems)

    def test_dropping_the_disk_list_is_caught(self):
        self._patch_planner(params=lambda p: {
            k: v for k, v in p.items() if k != 'migrate_disks'})
        # 1.2.17 copies the attached volume onto itself (lab conformance
        # row incremental-copy-without-disk-list); from 1.2.19 the
        # destination refuses instead (libvirt commit 6da3b694c).
        result = sweep.check_pair((('1.2.17', '2.5'), ('1.2.17', '2.5')),
                                  _SETTINGS[:1], sweep.Result())
        self.assertTrue(any('shared-disk-copied' in p
                            for p in result.problems), result.problems)

    def test_a_destination_xml_change_on_migrateToURI_is_caught(self):
        self._patch_planner(fallbacks=lambda f: f + ('migrateToURI',))
        result = sweep.check_pair((('9.0.0', '7.2'), ('9.0.0', '7.2')),
                                  _SETTINGS[:1], sweep.Result())
        self.assertTrue(any('cannot carry a destination XML' in p
                            for p in result.problems), result.problems)
