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

"""The record of what libvirt received (recorded_compute) and its join
with Tempest's tests (migrations), on a fake libvirt module."""

import json
import os
import types
from xml.etree import ElementTree

import fixtures
from tempest.lib import decorators
import testtools

from migtests.cloud import migrations
from migtests.cloud import recorded_compute
from reference.model import Decision
from reference.model import MigrationPlan
from reference.model import MigrationRefused
from reference.model import MonitorPlan
from reference.model import PLAN_RECORD

# A plan as nova_driver records it (MigrationPlan.as_dict()).
PLAN = MigrationPlan(
    api='migrateToURI3', uri='qemu+tcp://compute2/system',
    flags=('VIR_MIGRATE_LIVE', 'VIR_MIGRATE_TLS'), params={},
    decisions=(Decision('VIR_MIGRATE_TLS (auto)', 'both TLS ready'),),
    fallbacks=(), monitor=MonitorPlan((), None, 'abort')).as_dict()


def nova_driver_record(data):
    """The line nova_driver._log_record writes after the log prefix."""
    return PLAN_RECORD + json.dumps(data, sort_keys=True) + '\n'


class FakeError(Exception):
    def get_error_message(self):
        return 'Operation not supported: Selecting disks to migrate is not ' \
            'implemented for tunnelled migration'


def fake_libvirt():
    class Domain:
        def UUIDString(self):
            return '11111111-2222-3333-4444-555555555555'

        def name(self):
            return 'instance-00000001'

        # libvirt-python's own signature (Nova passes params= and flags=
        # by keyword).
        def migrateToURI3(self, dconnuri, params, flags=0):
            if flags & 4:
                raise FakeError()
            return 0
    return types.SimpleNamespace(
        virDomain=Domain, libvirtError=FakeError, VIR_MIGRATE_LIVE=1,
        VIR_MIGRATE_PEER2PEER=2, VIR_MIGRATE_TUNNELLED=4,
        VIR_MIGRATE_NON_SHARED_INC=128, VIR_MIGRATE_PARAM_URI='migrate_uri')


UUID = '11111111-2222-3333-4444-555555555555'


class TestRecord(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.record = os.path.join(self.dir,
                                   'migrations-upstream-compute1.jsonl')
        self.libvirt = fake_libvirt()
        recorded_compute.wrap(self.libvirt, self.record)

    def lines(self):
        with open(self.record) as f:
            return [json.loads(line) for line in f]

    @decorators.idempotent_id('9b8a7c6d-5e4f-4321-8a9b-0c1d2e3f4a5b')
    def test_each_call_is_recorded_as_libvirt_received_it(self):
        domain = self.libvirt.virDomain()
        domain.migrateToURI3('qemu+tcp://compute2/system', {
            'migrate_disks': ['vda'], 'destination_xml': '<domain/>'},
            1 | 2 | 128)
        # As Nova calls it: by keyword (the first real run failed on that).
        self.assertRaises(FakeError, domain.migrateToURI3,
                          'qemu+tcp://compute2/system',
                          params={'migrate_disks': ['vda']},
                          flags=1 | 4 | 128)
        first, second = self.lines()
        self.assertEqual(['VIR_MIGRATE_LIVE', 'VIR_MIGRATE_PEER2PEER',
                          'VIR_MIGRATE_NON_SHARED_INC'], first['flags'])
        self.assertEqual({'migrate_disks': ['vda'],
                          'destination_xml': '<xml, 9 characters>'},
                         first['params'])
        self.assertEqual('ok', first['result'])
        self.assertIn('tunnelled migration', second['result'])
        self.assertEqual('11111111-2222-3333-4444-555555555555',
                         second['uuid'])
        self.assertEqual('qemu+tcp://compute2/system', second['uri'])
        self.assertEqual(['VIR_MIGRATE_LIVE', 'VIR_MIGRATE_TUNNELLED',
                          'VIR_MIGRATE_NON_SHARED_INC'], second['flags'])

    @decorators.idempotent_id('8a7b6c5d-4e3f-4210-9b8a-1c0d2e3f4a5c')
    def test_calls_are_joined_with_the_test_that_moved_the_server(self):
        domain = self.libvirt.virDomain()
        domain.migrateToURI3('qemu+tcp://compute2/system',
                             {'migrate_disks': ['vda']}, 1 | 2 | 128)
        # Tempest's and the plugin's classes share a name and a method
        # name: only the full ids tell them apart.
        line = ('2026 INFO tempest.lib.common.rest_client [req-1 ] '
                'Request (LiveMigrationTest:test_live_block_migration): '
                '202 POST http://192.0.2.100:8774/v2.1/servers/%s/action '
                '0.1s\n')
        tempest = ('tempest.api.compute.admin.test_live_migration.'
                   'LiveMigrationTest.test_live_block_migration[id-1]')
        plugin = ('migtests.api.compute.test_live_migration.'
                  'LiveMigrationTest.test_live_block_migration[id-2]')
        tests = migrations.servers_by_test([
            {'id': tempest, 'servers': migrations.servers_acted_on(
                line % '99999999-2222-3333-4444-555555555555')},
            {'id': plugin, 'servers': migrations.servers_acted_on(
                line % UUID + line % UUID)}])
        calls = migrations.by_test(self.dir, tests, 'upstream')
        self.assertEqual([], migrations.by_test(self.dir, tests,
                                                'reference'))
        self.assertEqual(plugin, calls[0]['test'])
        self.assertEqual(['LIVE', 'PEER2PEER', 'NON_SHARED_INC'],
                         calls[0]['flags'])
        self.assertEqual(['  1 x migrateToURI3 LIVE|PEER2PEER|NON_SHARED_INC'
                          ' migrate_disks=vda'], migrations.summary(calls))


TEST_ID = 'tempest.api.compute.admin.test_live_migration.T.%s[id-1,slow]'


def tid(name):
    return TEST_ID % name


class TestCompare(testtools.TestCase):
    def call(self, test, flags, disks=None):
        return {'test': test, 'api': 'migrateToURI3', 'flags': flags,
                'params': {'migrate_disks': disks} if disks else {},
                'result': 'ok'}

    def run_of(self, calls, statuses, plans=None):
        return {'migrations': calls, 'plans': plans or {},
                'tests': [{'id': TEST_ID % name, 'status': status}
                          for name, status in statuses.items()]}

    @decorators.idempotent_id('7a6b5c4d-3e2f-4109-8a7b-2c1d0e3f4a5d')
    def test_a_difference_is_found_and_said(self):
        upstream = [self.call(tid('block'), ['LIVE', 'NON_SHARED_INC'],
                              ['vda']),
                    self.call(tid('live'), ['LIVE'])]
        reference = [self.call(tid('block'), ['LIVE', 'NON_SHARED_INC'],
                               ['vda']),
                     self.call(tid('live'), ['LIVE', 'TLS'])]
        both = {'block': 'ok', 'live': 'ok'}
        result = migrations.compare(
            self.run_of(upstream, both), self.run_of(reference, both, {
                tid('live'): [PLAN]}))
        self.assertEqual(1, result['differ'])
        self.assertEqual({tid('block'): 'same', tid('live'): 'differs'},
                         {r['test']: r['verdict'] for r in result['tests']})
        self.assertEqual({tid('block'): 'block', tid('live'): 'live'},
                         {r['test']: r['operation']
                          for r in result['tests']})
        text = migrations.markdown(result)
        self.assertIn('| ' + tid('live') + ' | live | ok: migrateToURI3 '
                      'LIVE → ok | ok: '
                      'migrateToURI3 LIVE|TLS → ok | **differs** |', text)
        # The difference, with the reference's reason.
        self.assertIn('### ' + tid('live') + ' (differs)\n\n- migrateToURI3 '
                      'qemu+tcp://compute2/system flags VIR_MIGRATE_LIVE|'
                      'VIR_MIGRATE_TLS params {}\n- VIR_MIGRATE_TLS (auto): '
                      'both TLS ready', text)

    @decorators.idempotent_id('6b5c4d3e-2f1a-4098-9b8a-3d2c1e0f4a5e')
    def test_a_failure_is_explained_only_by_a_refusal(self):
        upstream = [self.call(tid('block'), ['LIVE', 'NON_SHARED_INC'],
                              ['vda']),
                    self.call(tid('live'), ['LIVE'])]
        refusal = MigrationRefused('tunnelled-block', 'remove TUNNELLED')
        result = migrations.compare(
            self.run_of(upstream, {'block': 'ok', 'live': 'ok'}),
            self.run_of([], {'block': 'FAILED', 'live': 'FAILED'},
                        {tid('block'): [refusal.as_dict()]}))
        self.assertEqual({tid('block'): 'explained',
                          tid('live'): 'unexplained'},
                         {r['test']: r['verdict'] for r in result['tests']})
        # The other way round: Nova's driver failed where the reference's
        # passed.
        fixed = migrations.compare(
            self.run_of(upstream, {'block': 'FAILED', 'live': 'ok'}),
            self.run_of(upstream, {'block': 'ok', 'live': 'ok'}))
        self.assertEqual({tid('block'): 'fixed', tid('live'): 'same'},
                         {r['test']: r['verdict'] for r in fixed['tests']})
        self.assertEqual([{'error': 'tunnelled-block',
                           'message': 'remove TUNNELLED'}],
                         result['tests'][0]['reference']['refused'])
        self.assertIn('| ' + tid('block') + ' | block | ok: migrateToURI3 '
                      'LIVE|'
                      'NON_SHARED_INC migrate_disks=vda → ok | FAILED: '
                      'refused (tunnelled-block): remove TUNNELLED | '
                      '**explained** |', migrations.markdown(result))

    @decorators.idempotent_id('8e6334f6-413f-4498-9fb2-09b1dac33443')
    def test_the_picture_has_a_row_per_test_coloured_by_outcome(self):
        result = migrations.compare(
            self.run_of([], {'block': 'ok', 'live': 'ok'}),
            self.run_of([], {'block': 'FAILED', 'live': 'ok'}))
        root = ElementTree.fromstring(migrations.svg(result, title='T'))
        ns = '{http://www.w3.org/2000/svg}'
        texts = [t.text for t in root.iter(ns + 'text')]
        fills = [r.get('fill') for r in root.iter(ns + 'rect')]
        self.assertEqual('T', texts[0])
        # Class.test, each with its two outcomes and its verdict.
        self.assertEqual(['T.block', 'ok', 'FAILED', 'unexplained', None,
                          'T.live', 'ok', 'ok', 'same', None], texts[5:15])
        self.assertEqual([migrations.OUTCOME_COLOURS['ok'],
                          migrations.OUTCOME_COLOURS['FAILED'],
                          migrations.OUTCOME_COLOURS['ok'],
                          migrations.OUTCOME_COLOURS['ok']], fills)
        self.assertEqual('2 tests: 1 same, 1 unexplained', texts[-1])
        # What the reference sent that Nova's driver did not, by flag.
        self.assertEqual('+TLS -TUNNELLED', migrations.flag_difference({
            'upstream': {'calls': [
                self.call(tid('x'), ['LIVE', 'TUNNELLED'])]},
            'reference': {'calls': [self.call(tid('x'), ['LIVE', 'TLS'])],
                          'refused': []}}))

    @decorators.idempotent_id('4d3e2f1a-0b9c-4876-9d0c-5f4e3a2b1c7a')
    def test_an_outcome_change_without_any_call_is_a_row(self):
        # A negative test migrates nothing; its failure on one driver is
        # still reported.
        result = migrations.compare(
            self.run_of([], {'unknown_host': 'ok'}),
            self.run_of([], {'unknown_host': 'FAILED'}))
        self.assertEqual([(tid('unknown_host'), '-', 'unexplained')],
                         [(r['test'], r['operation'], r['verdict'])
                          for r in result['tests']])

    @decorators.idempotent_id('5c4d3e2f-1a0b-4987-8c9b-4e3d2f1a0b6f')
    def test_plans_are_read_from_the_drivers_compute_logs(self):
        logs = self.useFixture(fixtures.TempDir()).path
        tests = [{'id': tid('test_live'), 'servers': [UUID]}]
        prefix = ('2026-11-28 01:00:00.000 1 INFO reference.nova_driver '
                  '[req-1 - - -] [instance: %s] ' % UUID)
        refusal = MigrationRefused('x', 'y').as_dict()
        for driver in ('reference', 'upstream'):
            with open(os.path.join(logs, 'nova-compute-%s-compute1.log'
                                   % driver), 'w') as f:
                # What people read, then the record tools read.
                f.write(prefix + 'migration plan: migrateToURI3 qemu+tcp://'
                        'compute2/system flags VIR_MIGRATE_LIVE\n')
                f.write(prefix + nova_driver_record(PLAN))
                f.write(prefix + 'something else\n')
                f.write(prefix + nova_driver_record(refusal))
        self.assertEqual({tid('test_live'): [PLAN, refusal]},
                         migrations.plans(
                             logs, migrations.servers_by_test(tests),
                             'reference'))
