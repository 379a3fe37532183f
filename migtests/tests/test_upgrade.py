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

"""The rolling-upgrade cloud's decisions and report, without a cloud:
which suites a Nova series accepts, what a mixed cloud runs, and how a
pair's results become the report's cells."""

import dataclasses
from unittest import mock

from oslotest import base
from tempest.lib import decorators

from migtests.cloud import configs
from migtests.cloud import upgrade
from migtests.lab import chroots
from migtests.lab import report
from migtests.lab.system import LabError

# Nova 34's minimum (nova/virt/libvirt/driver.py).
NOVA_34 = ('34.0.0', (8, 0, 0), (6, 2, 0))
MODULE = 'migtests.api.compute.test_rolling_upgrade.RollingUpgradeTest.'


@mock.patch.object(upgrade, 'nova_minimum', return_value=NOVA_34)
class TestComputes(base.BaseTestCase):

    @decorators.idempotent_id('0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9')
    def test_two_known_suites(self, _):
        self.assertEqual(('bookworm', 'trixie'),
                         upgrade.parse('bookworm,trixie'))

    @decorators.idempotent_id('1b2c3d4e-5f60-4172-9384-a5b6c7d8e9fa')
    def test_default_is_the_machines_suite_twice(self, _):
        self.assertEqual(('bookworm', 'bookworm'),
                         upgrade.parse(None, default='bookworm'))

    @decorators.idempotent_id('2c3d4e5f-6071-4283-a495-b6c7d8e9fa0b')
    def test_below_novas_minimum_is_refused_up_front(self, _):
        error = self.assertRaises(LabError, upgrade.parse, 'bullseye,sid')
        self.assertEqual(
            "--computes: bullseye has libvirt 7.0.0 / QEMU 5.2, below nova "
            "34.0.0's minimum (libvirt 8.0.0, QEMU 6.2.0): its nova-compute "
            "would not start", str(error))

    @decorators.idempotent_id('3d4e5f60-7182-4394-b5a6-c7d8e9fa0b1c')
    def test_bad_input_is_one_line(self, _):
        for text in ('bookworm', 'bookworm,trixie,sid', 'bookworm,,',
                     'bookworm,jessie'):
            error = self.assertRaises(LabError, upgrade.parse, text)
            self.assertNotIn('\n', str(error))

    @decorators.idempotent_id('3df00340-4f03-4c25-9407-fba81c7bcd4d')
    def test_a_candidate_below_the_minimum_is_refused_by_its_versions(
            self, _):
        # Its versions are its chroot's (built here, before the cloud).
        old = dataclasses.replace(
            chroots.SUITES['bookworm'], name='bookworm+old', base='bookworm',
            libvirt='7.6.0', qemu='6.1.0')
        with mock.patch.object(chroots, 'suite', side_effect=lambda n, c=None:
                               old if n == 'bookworm+old'
                               else chroots.SUITES[n]) as suite:
            error = self.assertRaises(LabError, upgrade.parse,
                                      'bookworm,bookworm+old')
        self.assertIn('bookworm+old has libvirt 7.6.0 / QEMU 6.1.0, below '
                      'nova 34.0.0\'s minimum', str(error))
        suite.assert_any_call('bookworm+old', upgrade.CACHE)


class TestProfile(base.BaseTestCase):

    @decorators.idempotent_id('4e5f6071-8293-44a5-86b7-d8e9fa0b1c2d')
    def test_a_mixed_cloud_runs_the_rolling_upgrade_scenarios(self):
        shipped = configs.PROFILES['shipped']
        self.assertIs(shipped, upgrade.profile_for(shipped, ('bookworm',
                                                             'bookworm')))
        mixed = upgrade.profile_for(shipped, ('bookworm', 'trixie'))
        self.assertEqual(upgrade.REGEX, mixed.regex)
        self.assertEqual(3, mixed.min_passed)
        self.assertTrue(mixed.shipped_defaults)
        self.assertIn('compute2 trixie (libvirt 11.3.0, QEMU 10.0)',
                      mixed.why)

    @decorators.idempotent_id('5f607182-93a4-45b6-97c8-e9fa0b1c2d3e')
    def test_no_other_profile_on_a_mixed_cloud(self):
        self.assertRaises(LabError, upgrade.profile_for,
                          configs.PROFILES['operations'], ('bookworm', 'sid'))


class TestCells(base.BaseTestCase):

    def run_results(self, statuses, call_result='ok'):
        # Full ids, with the tags Tempest gives them.
        tests = [{'id': MODULE + name + '[id-1,multinode]', 'status': status,
                  'seconds': 9.0,
                  'reason': 'the cloud is not mixed' if status == 'SKIPPED'
                  else ''} for name, status in statuses.items()]
        calls = [{'test': 'RollingUpgradeTest.' + name, 'flags': ['LIVE'],
                  'result': call_result} for name in statuses
                 if 'older_to_newer' in name]
        return {'runs': {'upstream': {'tests': tests,
                                      'migrations': calls}}}

    @decorators.idempotent_id('607182a3-b4c5-46d7-88e9-fa0b1c2d3e4f')
    def test_directions_come_from_the_versions(self):
        found = upgrade.cells(self.run_results({
            'test_older_to_newer_keeps_running': 'ok',
            'test_newer_to_older_is_refused': 'ok'}), ('sid', 'trixie'))
        by_case = {c['case']: c for c in found}
        moved = by_case['upstream: guest keeps running']
        self.assertEqual(('trixie', 'sid', 'ok'), (
            moved['source'], moved['destination'], moved['outcome']))
        refused = by_case['upstream: refused by Nova']
        self.assertEqual(('sid', 'trixie', 'ok'), (
            refused['source'], refused['destination'], refused['outcome']))
        self.assertIn('Nova refused, as designed', refused['note'])

    @decorators.idempotent_id('e32c86ce-e74d-45d7-b44a-9b7e949b4874')
    def test_a_class_that_did_not_set_up_leaves_every_cell_not_run(self):
        results = {'runs': {'upstream': {'tests': [{
            'id': 'setUpClass (%sRollingUpgradeTest)' % MODULE[:-len(
                'RollingUpgradeTest.')],
            'status': 'SKIPPED', 'seconds': 0.0,
            'reason': 'the cloud is not mixed'}], 'migrations': []}}}
        found = upgrade.cells(results, ('trixie', 'sid'))
        self.assertEqual(len(upgrade.SCENARIOS), len(found))
        self.assertEqual({('not run', 'the cloud is not mixed')},
                         {(c['outcome'], c['error']) for c in found})

    @decorators.idempotent_id('990828eb-a040-48af-a258-1c7cc336b9c5')
    def test_a_scenario_the_report_does_not_know_is_an_error(self):
        self.assertRaises(LabError, upgrade.cells, self.run_results(
            {'test_something_new': 'ok'}), ('trixie', 'sid'))

    @decorators.idempotent_id('7182a3b4-c5d6-47e8-99fa-0b1c2d3e4f50')
    def test_a_red_cell_carries_libvirts_reason(self):
        found = upgrade.cells(self.run_results(
            {'test_older_to_newer_with_attached_volume': 'FAILED'},
            call_result="error while loading state for instance 0x0 of "
                        "device 'virtio-blk'"), ('trixie', 'sid'))
        self.assertEqual('failed', found[0]['outcome'])
        self.assertEqual("libvirt: error while loading state for instance "
                         "0x0 of device 'virtio-blk'", found[0]['error'])
        # The report takes the cell as the matrix's do.
        results = {'suites': {'trixie': {}, 'sid': {}}, 'seconds': 1.0,
                   'cells': found, 'title': upgrade.TITLE,
                   'about': upgrade.ABOUT}
        self.assertIn('- failed — libvirt: error while loading state for '
                      "instance 0x0 of device 'virtio-blk' (1): trixie → "
                      'sid: upstream: attached volume',
                      report.markdown(results))

    @decorators.idempotent_id('82a3b4c5-d6e7-48f9-8a0b-1c2d3e4f5061')
    def test_a_skip_is_not_run_with_its_reason(self):
        found = upgrade.cells(self.run_results(
            {'test_newer_to_older_is_refused': 'SKIPPED'}),
            ('bookworm', 'sid'))
        self.assertEqual(('not run', 'the cloud is not mixed'),
                         (found[0]['outcome'], found[0]['error']))

    @decorators.idempotent_id('93b4c5d6-e7f8-490a-9b1c-2d3e4f506172')
    def test_pairs_once_each_older_first(self):
        self.assertEqual([('bookworm', 'trixie'), ('bookworm', 'sid'),
                          ('trixie', 'sid')],
                         upgrade.pairs(['bookworm', 'trixie', 'sid']))


class TestRollingCli(base.BaseTestCase):

    @decorators.idempotent_id('a4c5d6e7-f809-4a1b-8c2d-3e4f50617283')
    def test_bad_input_is_one_line_exit_2(self):
        import contextlib
        import io
        from migtests.cloud import rolling
        for argv, needle in (
                (['--compare', '/nonexistent.json', '/nonexistent.json'],
                 'not a results.json of the matrix or the upgrade cloud'),
                (['--suites', 'bookworm'], 'at least two suites')):
            err = io.StringIO()
            with contextlib.redirect_stderr(err), mock.patch.object(
                    upgrade, 'nova_minimum', return_value=NOVA_34):
                self.assertEqual(2, rolling.main(argv))
            self.assertIn(needle, err.getvalue())
            self.assertEqual(1, len(err.getvalue().strip().splitlines()))
