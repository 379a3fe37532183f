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

"""The matrix never loses its results: an error in a cell or a row is that
cell's or row's outcome, results are written as they come, and an interrupt
leaves a report marked incomplete (stand-in labs; the real ones run in
tox -e functional and tox -e matrix)."""

import json
import os
import threading
from unittest import mock

import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import cases
from migtests.lab import matrix
from migtests.lab import report
from migtests.lab.system import LabError
from reference.model import HostCapabilities
from reference.model import MigrationRefused
from reference.versions import Version


LIVE = 'defaults-volume-backed'


class FakeHost:
    def __init__(self, name):
        self.name = name


class FakeRunner:
    """A lab whose libvirt calls fail as a dying daemon's do."""

    def __init__(self, lab, died=('h1',), repair=None):
        self.lab = lab
        self.died = list(died)
        self.repair = repair
        self.revived = 0

    def capabilities(self, host, tls_ready=False):
        return HostCapabilities(Version.parse('7.0.0'), Version.parse('5.2'))

    def guest(self, layout, on=None):
        raise Exception('internal error: client socket is closed')

    def revive_daemons(self):
        self.revived += 1
        if self.repair:
            raise self.repair
        died, self.died = self.died, []
        return died

    def close(self):
        pass


class FakeLab:
    def __init__(self, name, suites):
        self.hosts = [FakeHost('h1'), FakeHost('h2')]
        self.downs = 0

    def up(self):
        return self

    def down(self, keep_logs=False):
        self.downs += 1

    def leftovers(self):
        return []


class TestRows(testtools.TestCase):

    def runner(self, **kwargs):
        return FakeRunner(FakeLab('x', ['bullseye', 'bullseye']), **kwargs)

    @decorators.idempotent_id('5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d83')
    def test_a_daemon_killed_by_the_forced_call_is_the_rows_finding(self):
        # tunnelled-with-native-tls: libvirt 7.0's daemon dies of it.
        row = matrix._conformance_row(
            self.runner(), cases.Forced('tls-in-tunnel', 'volume',
                                        ('TUNNELLED', 'TLS')))
        self.assertTrue(row['agrees'], row)
        self.assertEqual('libvirtd of h1 died', row['real'])
        self.assertIn('tunnelled-tls', row['simulated'])

    @decorators.idempotent_id('6c7d8e9f-0a1b-4c2d-9e3f-4a5b6c7d8e94')
    def test_a_lab_that_cannot_be_repaired_is_the_rows_outcome(self):
        row = matrix._conformance_row(
            self.runner(repair=LabError('libvirtd of h1 exited at start')),
            cases.Forced('full-copy', 'local', ('NON_SHARED_DISK',)))
        self.assertFalse(row['agrees'])
        self.assertIn('lab error: internal error: client socket is closed',
                      row['real'])
        self.assertIn('could not be repaired: libvirtd of h1 exited at '
                      'start', row['real'])

    @decorators.idempotent_id('7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9fa5')
    def test_every_cell_and_row_of_a_broken_pair_is_recorded(self):
        recorder = matrix.Recorder.in_memory()
        with mock.patch.object(matrix, 'Lab', FakeLab), \
                mock.patch.object(matrix, 'FaultRunner', FakeRunner):
            cells, rows = matrix.run_pair(
                'bullseye', 'bullseye', list(matrix.CASES.values()), 'ut',
                lambda message: None, recorder)
        self.assertEqual(len(matrix.CASES), len(cells))
        self.assertEqual({'failed'}, {c.outcome for c in cells})
        self.assertIn('(libvirtd of h1 died)', cells[0].error)
        self.assertEqual(len(cases.FORCED), len(rows))
        self.assertEqual(len(cells), len(recorder.results['cells']))
        self.assertEqual(len(rows), len(recorder.results['conformance']))

    @decorators.idempotent_id('8e9f0a1b-2c3d-4e4f-9a5b-6c7d8e9f0ab6')
    def test_a_lab_that_does_not_come_up_makes_its_cells_not_run(self):
        class NoLab(FakeLab):
            def up(self):
                raise LabError('libvirtd of h1 exited at start: boom')
        with mock.patch.object(matrix, 'Lab', NoLab):
            cells, rows = matrix.run_pair(
                'bullseye', 'sid', [matrix.CASES[LIVE]], 'ut',
                lambda message: None)
        self.assertEqual([('bullseye', 'sid'), ('sid', 'bullseye')],
                         [(c.source, c.destination) for c in cells])
        self.assertEqual({'not run'}, {c.outcome for c in cells})
        self.assertIn('the lab did not come up: libvirtd of h1 exited',
                      cells[0].error)


class TestResultsAreKept(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.prefix = self.useFixture(fixtures.TempDir()).path + '/'
        for target in ('guestimage.build', 'chroots.build'):
            self.useFixture(fixtures.MockPatch(
                'migtests.lab.matrix.' + target))

    def results(self):
        with open(self.prefix + 'results.json') as f:
            return json.load(f)

    @decorators.idempotent_id('9f0a1b2c-3d4e-4f5a-8b6c-7d8e9f0a1bc7')
    def test_written_as_each_cell_ends(self):
        seen = []

        def pair(a, b, chosen, name, progress, recorder, stop):
            for source, destination in ((a, b), (b, a)):
                recorder.cell(report.Cell(source, destination, LIVE, 'ok'))
                seen.append(len(self.results()['cells']))
        with mock.patch.object(matrix, 'run_pair', pair):
            results = matrix.run_matrix(['bullseye', 'sid'], [LIVE],
                                        self.prefix, lambda m: None,
                                        only_pairs=[('bullseye', 'sid')])
        self.assertEqual([1, 2], seen)
        self.assertTrue(results['complete'])
        self.assertTrue(self.results()['complete'])

    @decorators.idempotent_id('0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2cd8')
    def test_an_interrupt_writes_what_ran_and_stops_every_pair(self):
        stopped = []
        first_cell = threading.Event()

        def pair(a, b, chosen, name, progress, recorder, stop):
            recorder.cell(report.Cell(a, b, LIVE, 'ok'))
            first_cell.set()
            stopped.append(stop.wait(10))

        def interrupted_wait(futures, timeout=None):
            first_cell.wait(10)
            raise KeyboardInterrupt
        with mock.patch.object(matrix, 'run_pair', pair), \
                mock.patch.object(matrix.concurrent.futures, 'wait',
                                  interrupted_wait):
            self.assertRaises(KeyboardInterrupt, matrix.run_matrix,
                              ['bullseye', 'sid'], [LIVE], self.prefix,
                              lambda m: None,
                              only_pairs=[('bullseye', 'sid')])
        self.assertEqual([True], stopped)
        results = self.results()
        self.assertFalse(results['complete'])
        self.assertEqual(1, len(results['cells']))
        with open(self.prefix + 'report.md') as f:
            self.assertIn('**Incomplete run**: 1 of 2 cells ran', f.read())
        self.assertEqual(['report.html', 'report.md', 'results.json',
                          'results.subunit', 'results.xml'],
                         sorted(os.listdir(self.prefix)))


class TestRemovedMachineType(testtools.TestCase):
    """machine-type-removed: refused toward a QEMU that lacks the type,
    then sent anyway (libvirt must fail); from a source that lacks it,
    libvirt must refuse to start the guest."""

    OLD = frozenset({'pc-i440fx-2.3', 'pc-i440fx-7.2'})
    NEW = frozenset({'pc-i440fx-5.2', 'pc-i440fx-11.1'})

    class Runner:
        def __init__(self, source_types, destination_types, run, forced):
            self.hosts = [FakeHost('h1'), FakeHost('h2')]
            self.types = {'h1': source_types, 'h2': destination_types}
            self._run, self.forced = run, forced
            self.created, self.discarded = [], []

        def guest(self, layout, on=None):
            if 'pc-i440fx-2.3' not in self.types[on.name]:
                raise RuntimeError('unsupported machine type')
            self.created.append(on.name)
            return mock.Mock(), on

        def machine_type(self, guest, host):
            return 'pc-i440fx-2.3'

        def discard(self, layout):
            self.discarded.append(layout)

        def other(self, host):
            return self.hosts[1]

        def capabilities(self, host, tls_ready=False):
            return HostCapabilities(Version.parse('9.0.0'),
                                    Version.parse('7.2'),
                                    machine_types=self.types[host.name])

        def run(self, case):
            raise self._run

        def force(self, layout, flags, params):
            return self.forced

    def cell(self, source_types, destination_types, forced=None):
        runner = self.Runner(source_types, destination_types,
                             MigrationRefused('machine-type-removed', 'gone'),
                             forced)
        with mock.patch.object(matrix, '_host_of',
                               lambda r, layout, suite, by: r.hosts[0]):
            return matrix._run_cell(runner, cases.get('machine-type-removed'),
                                    'bookworm', 'trixie', {}), runner

    @decorators.idempotent_id('b3528cd7-720d-46b5-89cf-78d9aea089ac')
    def test_refused_then_sent_anyway_and_failed_passes(self):
        cell, _ = self.cell(self.OLD, self.NEW, mock.Mock(
            error='VIR_ERR_CONFIG_UNSUPPORTED', message='no such machine',
            copied=[]))
        self.assertEqual('ok', cell.outcome, cell.error)
        self.assertIn('refused as expected', cell.error)
        self.assertIn('sent anyway: VIR_ERR_CONFIG_UNSUPPORTED', cell.note)

    @decorators.idempotent_id('c9d25f55-207b-46d3-8384-d6ff789f2241')
    def test_libvirt_migrating_it_anyway_is_red(self):
        cell, _ = self.cell(self.OLD, self.NEW, mock.Mock(
            error=None, message='', copied=[]))
        self.assertEqual('failed', cell.outcome)
        self.assertIn('libvirt migrated what the plan refused', cell.error)

    @decorators.idempotent_id('3c27d20b-aef2-4fed-a25c-b76a8666b5c7')
    def test_a_source_without_the_type_must_not_start_it(self):
        cell, runner = self.cell(self.NEW, self.OLD)
        self.assertEqual('ok', cell.outcome, cell.error)
        self.assertIn('cannot start on this source', cell.note)
        self.assertEqual([], runner.created)

    @decorators.idempotent_id('490ef77d-5717-4fe2-96d4-fdcfbfdc8a5c')
    def test_a_guest_starting_where_the_type_is_not_listed_is_red(self):
        runner = self.Runner(self.NEW, self.OLD, None, None)
        runner.guest = lambda layout, on=None: (None, on)
        cell = matrix._cannot_start(
            runner, cases.get('machine-type-removed'), runner.hosts[0],
            report.Cell('sid', 'bookworm', 'machine-type-removed',
                        'not run'))
        self.assertEqual('failed', cell.outcome)
        self.assertEqual(['old-machine'], runner.discarded)


class TestExpectedRefusal(testtools.TestCase):
    """A case may expect the planner's refusal where the destination's
    libvirt does not list the running guest's machine type: that cell
    passes only when the refusal comes, and only there."""

    class Runner:
        def __init__(self, source_qemu, destination_qemu, outcome):
            self.hosts = [FakeHost('h1'), FakeHost('h2')]
            self.qemu = {'h1': source_qemu, 'h2': destination_qemu}
            self.outcome = outcome

        def guest(self, layout, on=None):
            return mock.Mock(), self.hosts[0]

        def other(self, host):
            return self.hosts[1]

        def capabilities(self, host, tls_ready=False):
            qemu = Version.parse(self.qemu[host.name])
            return HostCapabilities(Version.parse('9.0.0'), qemu,
                                    machine_types=frozenset(
                                        {'pc', 'pc-i440fx-5.2',
                                         'pc-i440fx-%d.%d' % qemu[:2]}))

        def discard(self, layout):
            pass

        def machine_type(self, guest, host):
            # The guest started on the source: libvirt recorded its type.
            return 'pc-i440fx-%s' % self.qemu[host.name]

        def run(self, case):
            if isinstance(self.outcome, Exception):
                raise self.outcome
            return self.outcome

    def cell(self, source_qemu, destination_qemu, outcome):
        case = cases.get('machine-type-alias')
        runner = self.Runner(source_qemu, destination_qemu, outcome)
        with mock.patch.object(matrix, '_host_of',
                               lambda r, layout, suite, by: r.hosts[0]):
            return matrix._run_cell(runner, case, 'sid', 'bullseye', {})

    @decorators.idempotent_id('1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e')
    def test_the_expected_refusal_passes(self):
        cell = self.cell('11.1', '5.2', MigrationRefused(
            'machine-type-too-new', 'pc-i440fx-11.1 is newer than 5.2'))
        self.assertEqual('ok', cell.outcome)
        self.assertIn('refused as expected', cell.error)

    @decorators.idempotent_id('2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f')
    def test_a_migration_where_a_refusal_was_due_fails(self):
        result = mock.Mock(flags=(), params={}, migration_seconds=1.0)
        cell = self.cell('11.1', '5.2', result)
        self.assertEqual('failed', cell.outcome)
        self.assertIn('machine-type-too-new', cell.error)

    @decorators.idempotent_id('3d4e5f6a-7b8c-4d9e-8f0a-2b3c4d5e6f7a')
    def test_a_refusal_toward_a_newer_qemu_is_red(self):
        cell = self.cell('5.2', '11.1', MigrationRefused(
            'machine-type-too-new', 'refused'))
        self.assertEqual('refused', cell.outcome)


class TestLackingFeature(testtools.TestCase):
    """Hosts without a feature a case needs (libvirt 1.2.17 has neither
    native TLS nor post-copy): the case's refusal passes, or the guest
    migrates without the flag; the flag sent anyway, or any other outcome,
    is red."""

    class Runner(TestExpectedRefusal.Runner):
        def __init__(self, libvirt, outcome):
            super().__init__('5.2', '5.2', outcome)
            self.libvirt = Version.parse(libvirt)
            self.ran = []

        def capabilities(self, host, tls_ready=False):
            return HostCapabilities(self.libvirt, Version.parse('5.2'))

        def run(self, case):
            self.ran.append(case)
            return super().run(case)

    def cell(self, case_id, libvirt, outcome):
        runner = self.Runner(libvirt, outcome)
        with mock.patch.object(matrix, '_host_of',
                               lambda r, layout, suite, by: r.hosts[0]):
            return runner, matrix._run_cell(runner, cases.get(case_id), 'a',
                                            'b', {})

    @decorators.idempotent_id('b1e7c3d5-9a2f-4c6e-8d0b-3f5a7c9e1b24')
    def test_the_cases_refusal_where_the_feature_is_lacking_passes(self):
        _, cell = self.cell('native-tls-true-live', '1.2.17', MigrationRefused(
            'native-tls-unsupported', 'native TLS needs libvirt >= 3.2.0'))
        self.assertEqual('ok', cell.outcome)
        self.assertIn('refused as expected', cell.error)
        # The same refusal where the hosts have it is red.
        _, cell = self.cell('native-tls-true-live', '9.0.0', MigrationRefused(
            'native-tls-unsupported', 'native TLS needs libvirt >= 3.2.0'))
        self.assertEqual('refused', cell.outcome)

    @decorators.idempotent_id('c2f8d4e6-0b3a-4d7f-9e1c-4a6b8d0f2c35')
    def test_without_the_feature_the_guest_migrates_without_its_flag(self):
        result = mock.Mock(flags=('VIR_MIGRATE_LIVE',), params={},
                           migration_seconds=1.0)
        runner, cell = self.cell('post-copy-switch-mid-migration', '1.2.17',
                                 result)
        self.assertEqual('ok', cell.outcome, cell.error)
        self.assertIn('lack post_copy', cell.note)
        ran = runner.ran[0]
        self.assertEqual((None, ('POSTCOPY',)), (ran.during, ran.flags_absent))

    @decorators.idempotent_id('d3a9e5f7-1c4b-4e8a-8f2d-5b7c9e1a3d46')
    def test_the_flag_sent_where_it_is_lacking_is_red(self):
        result = mock.Mock(flags=('VIR_MIGRATE_POSTCOPY',), params={},
                           migration_seconds=1.0)
        _, cell = self.cell('post-copy-switch-mid-migration', '1.2.17',
                            result)
        self.assertEqual('failed', cell.outcome)
        self.assertIn('POSTCOPY', cell.error)
        self.assertIn('the plan sent POSTCOPY, which these hosts lack',
                      cell.error)
