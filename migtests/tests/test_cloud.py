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

"""The local cloud's pure parts: job reading, tempest.conf, service
configuration, the job's verdict.  The cloud itself runs in tox -e job."""

import configparser
import datetime
import io
import json
import os
import re
import tempfile
from unittest import mock

import fixtures
from oslotest import base
import subunit
from tempest.lib import decorators

from migtests.cloud import cloud
from migtests.cloud import configs
from migtests.cloud import job
from migtests.cloud import migrations
from migtests.cloud import repros
from migtests.cloud import tempestconf
from migtests import command
from migtests.lab.system import LabError
from reference.model import MigrationRefused

ZUUL_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'zuul.d')

SITE = configs.Site(
    address='192.0.2.100', dir='/x/cloud', mysql_socket='/x/mysqld.sock',
    password='secret', venv='/venv',
    computes=(configs.Compute('compute1', '192.0.2.11'),
              configs.Compute('compute2', '192.0.2.12')))


def parse(text):
    parser = configparser.RawConfigParser()
    parser.optionxform = str
    parser.read_string(text)
    return parser


class TestJobDefinition(base.BaseTestCase):
    """The local run reads the gate job's selection and settings."""

    def setUp(self):
        super().setUp()
        self.jobs = tempestconf.load_jobs(ZUUL_DIR)

    @decorators.idempotent_id('0d7a8a43-4f56-4a37-9d7e-1a3f0a0e3c11')
    def test_selection_is_the_jobs_regex(self):
        variables = tempestconf.job_vars(self.jobs, 'migtests-multinode')
        regex = tempestconf.selection(variables)
        self.assertRegex('migtests.api.compute.test_live_migration.X', regex)
        self.assertRegex(
            'tempest.api.compute.admin.test_live_migration.LiveMigrationTest'
            '.test_live_block_migration', regex)
        self.assertNotRegex('tempest.api.compute.servers.test_servers', regex)

    @decorators.idempotent_id('2b0f5e0c-60a4-4c4e-8b3d-6f3a3c2d9e52')
    def test_settings_inherited_from_the_base_job(self):
        settings = tempestconf.job_settings(
            tempestconf.job_vars(self.jobs, 'migtests-multinode'))
        self.assertEqual(2, settings['compute']['min_compute_nodes'])
        self.assertTrue(
            settings['compute-feature-enabled']['live_migration'])
        self.assertTrue(settings['service_available']['cinder'])

    @decorators.idempotent_id('4f0c7d0b-1f5e-4bb8-8d0e-2f4fd8a1b6a3')
    def test_child_overrides_parent_and_dicts_merge(self):
        jobs = {'a': {'name': 'a', 'vars': {'x': 1, 'd': {'k': 1, 'j': 2}}},
                'b': {'name': 'b', 'parent': 'a',
                      'vars': {'x': 2, 'd': {'k': 3}}}}
        self.assertEqual({'x': 2, 'd': {'k': 3, 'j': 2}},
                         tempestconf.job_vars(jobs, 'b'))

    @decorators.idempotent_id('9a3e34f7-3f0d-4ac2-9b88-0c6b8b1f7e24')
    def test_unknown_job_and_missing_regex(self):
        error = self.assertRaises(tempestconf.JobError,
                                  tempestconf.job_vars, self.jobs, 'nope')
        self.assertIn("no job 'nope'", str(error))
        self.assertRaises(tempestconf.JobError, tempestconf.selection, {})

    @decorators.idempotent_id('b1f9f2a4-7c57-4d6e-8c1e-54a0b0f3b1a5')
    def test_parent_loop_is_an_error(self):
        jobs = {'a': {'name': 'a', 'parent': 'b'},
                'b': {'name': 'b', 'parent': 'a'}}
        error = self.assertRaises(tempestconf.JobError,
                                  tempestconf.job_vars, jobs, 'a')
        self.assertIn('loop', str(error))

    @decorators.idempotent_id('c83c8c1e-2f4c-4d71-9c55-8d0a2d7f4f66')
    def test_bad_yaml_is_one_line(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, 'jobs.yaml'), 'w') as f:
                f.write('- job: [unclosed\n')
            error = self.assertRaises(tempestconf.JobError,
                                      tempestconf.load_jobs, d)
        self.assertIn('not YAML', str(error))
        self.assertNotIn('\n', str(error))


class TestTempestConf(base.BaseTestCase):
    @decorators.idempotent_id('d2b8a0c6-3a0f-4e8b-a2f5-3c5b1e0f9d77')
    def test_missing_service_turned_off_with_its_reason(self):
        job_settings = {'service_available': {'cinder': True},
                        'compute': {'min_compute_nodes': 2}}
        settings, notes = tempestconf.compose(
            job_settings, {'compute': {'image_ref': 'img'}},
            {'cinder': 'no volume service', 'nova': None})
        self.assertFalse(settings['service_available']['cinder'])
        self.assertTrue(settings['service_available']['nova'])
        self.assertEqual({'min_compute_nodes': 2, 'image_ref': 'img'},
                         settings['compute'])
        self.assertEqual(['[service_available] cinder = false: '
                          'no volume service'], notes)

    @decorators.idempotent_id('e5a1f3c2-7b9d-4c0e-8f1a-2d3c4b5a6978')
    def test_written_values(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, 'tempest.conf')
            tempestconf.write({'compute-feature-enabled': {
                'live_migration': True, 'pause': False},
                'compute': {'min_compute_nodes': 2}}, path)
            parser = configparser.RawConfigParser()
            parser.read(path)
        self.assertEqual('true', parser['compute-feature-enabled'][
            'live_migration'])
        self.assertEqual('false', parser['compute-feature-enabled']['pause'])
        self.assertEqual('2', parser['compute']['min_compute_nodes'])

    @decorators.idempotent_id('f6b2e4d3-8c0e-4d1f-9a2b-3e4d5c6b7a89')
    def test_volume_service_on_unless_turned_off(self):
        self.assertIsNone(cloud.services()['cinder'])
        self.assertIsNone(cloud.services()['nova'])
        self.assertIn('--no-volumes', cloud.services(volumes=False)['cinder'])
        self.assertIn('object store', cloud.services()['swift'])

    @decorators.idempotent_id('08f1c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c4d')
    def test_volume_scenarios_enabled_with_the_volume_service(self):
        fake = mock.Mock(site=SITE, volumes=True, profile='shipped', facts={
            'image': 'i', 'flavor': 'f', 'flavor_alt': 'g'},
            suites=('bookworm', 'bookworm'))
        values = cloud.tempest_values(fake)
        self.assertNotIn('slow_migrations', values['migtests'])
        self.assertFalse(values['migtests']['mixed_computes'])
        fake.suites = ('bookworm', 'trixie')
        self.assertTrue(cloud.tempest_values(fake)['migtests'][
            'mixed_computes'])
        self.assertTrue(values['compute-feature-enabled'][
            'block_migrate_cinder_iscsi'])
        self.assertTrue(values['compute-feature-enabled'][
            'volume_backed_live_migration'])
        self.assertEqual('i', values['migtests']['counter_image_ref'])
        fake.volumes = False
        values = cloud.tempest_values(fake)
        self.assertNotIn('block_migrate_cinder_iscsi',
                         values['compute-feature-enabled'])


class TestServiceConfigs(base.BaseTestCase):
    @decorators.idempotent_id('1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d')
    def test_computes_use_nova_defaults_for_migration(self):
        for compute in SITE.computes:
            conf = configs.nova_compute(SITE, compute)
            options = [o for section in conf.values() for o in section]
            self.assertEqual([], [o for o in options
                                  if o.startswith('live_migration')])
            self.assertEqual({'virt_type': 'qemu', 'cpu_mode': 'none'},
                             conf['libvirt'])
            self.assertEqual(compute.name, conf['DEFAULT']['host'])
            self.assertEqual(compute.address, conf['DEFAULT']['my_ip'])
            self.assertNotIn('database', conf)

    @decorators.idempotent_id('9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d')
    def test_the_driver_is_the_only_difference_between_the_two(self):
        compute = SITE.computes[0]
        upstream = configs.nova_compute(SITE, compute)
        reference = configs.nova_compute(SITE, compute, 'reference')
        self.assertEqual('libvirt.LibvirtDriver',
                         upstream['DEFAULT']['compute_driver'])
        self.assertEqual('reference_libvirt.ReferenceLibvirtDriver',
                         reference['DEFAULT'].pop('compute_driver'))
        upstream['DEFAULT'].pop('compute_driver')
        self.assertEqual(upstream, reference)

    @decorators.idempotent_id('0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f')
    def test_2016_profile_is_read_by_the_reference_as_the_tunnel(self):
        from reference import conf as reference_conf
        from reference.model import Operation
        conf = configs.nova_compute(SITE, SITE.computes[0], 'reference',
                                    '2016')
        self.assertIn('VIR_MIGRATE_TUNNELLED',
                      conf['libvirt']['live_migration_flag'])
        self.assertFalse(configs.PROFILES['2016'].shipped_defaults)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'nova.conf')
            configs.write(conf, path)
            settings = reference_conf.load_settings(
                reference_conf.make_conf([path]))
        # Mitaka's defaults ask for the tunnel for both operations; the
        # reference says where that came from.
        self.assertEqual({Operation.LIVE: True, Operation.BLOCK: True},
                         {op: settings.tunnelled_for(op)
                          for op in (Operation.LIVE, Operation.BLOCK)})
        self.assertEqual('block_migration_flag',
                         settings.tunnel_source[Operation.BLOCK])

    @decorators.idempotent_id('6c7d8e9f-0a1b-4c2d-9e3f-5a6b7c8d9e0f')
    def test_operations_profile_gives_each_compute_its_timeout_action(self):
        profile = configs.PROFILES['operations']
        confs = {c.name: configs.nova_compute(SITE, c, 'upstream',
                                              'operations')['libvirt']
                 for c in SITE.computes}
        self.assertEqual({'compute1': 'abort', 'compute2': 'force_complete'},
                         {name: conf['live_migration_timeout_action']
                          for name, conf in confs.items()})
        for conf in confs.values():
            self.assertEqual(1, conf['live_migration_bandwidth'])
            self.assertTrue(conf['live_migration_permit_post_copy'])
        self.assertFalse(profile.shipped_defaults)
        # tempest.conf says which host does what, for the scenarios.
        fake = mock.Mock(site=SITE, volumes=True, profile='operations',
                         facts={'image': 'i', 'flavor': 'f',
                                'flavor_alt': 'g'}, suites=())
        migtests = cloud.tempest_values(fake)['migtests']
        self.assertTrue(migtests['slow_migrations'])
        self.assertEqual('compute1', migtests['abort_on_timeout_host'])
        self.assertEqual('compute2',
                         migtests['force_complete_on_timeout_host'])
        # It runs the operator-action scenarios, not the job's selection.
        self.assertRegex(
            'migtests.api.compute.test_operations.OperatorActionsTest.'
            'test_completion_timeout_abort', profile.regex)
        self.assertNotRegex('migtests.api.compute.test_live_migration.'
                            'LiveMigrationTest.test_paused_server',
                            profile.regex)

    @decorators.idempotent_id('2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e')
    def test_rendered_file_names_itself_for_privsep(self):
        conf = configs.privsep_config_file(
            configs.nova_compute(SITE, SITE.computes[0]), '/etc/c1.conf')
        parser = parse(configs.render(conf))
        self.assertEqual('/venv/bin/privsep-helper --config-file '
                         '/etc/c1.conf',
                         parser['nova_sys_admin']['helper_command'])
        self.assertEqual('compute1', parser['DEFAULT']['host'])

    @decorators.idempotent_id('3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f')
    def test_databases_by_unix_socket_only(self):
        conf = configs.nova_controller(SITE)
        self.assertEqual('mysql+pymysql://root@localhost/nova_api?'
                         'unix_socket=/x/mysqld.sock',
                         conf['api_database']['connection'])
        for make in (configs.keystone, configs.placement, configs.glance,
                     configs.neutron):
            text = configs.render(make(SITE))
            self.assertIn('unix_socket=/x/mysqld.sock', text)

    @decorators.idempotent_id('19a2b3c4-d5e6-4f70-8a9b-0c1d2e3f4a5b')
    def test_cinder_uses_the_local_ceph(self):
        conf = configs.cinder(SITE, {'conf': '/x/ceph.conf',
                                     'pool': 'volumes'})
        self.assertEqual('ceph', conf['DEFAULT']['enabled_backends'])
        self.assertEqual('cinder.volume.drivers.rbd.RBDDriver',
                         conf['ceph']['volume_driver'])
        self.assertEqual('/x/ceph.conf', conf['ceph']['rbd_ceph_conf'])
        self.assertIn('unix_socket=/x/mysqld.sock',
                      conf['database']['connection'])

    @decorators.idempotent_id('4d5e6f7a-8b9c-4d0e-1f2a-3b4c5d6e7f80')
    def test_neutron_runs_no_agents(self):
        self.assertEqual('', configs.ml2()['ml2']['mechanism_drivers'])
        self.assertEqual('', configs.neutron(SITE)['DEFAULT'][
            'service_plugins'])


class TestVerdict(base.BaseTestCase):
    COUNTS = {'Passed': 3, 'Skipped': 2, 'Failed': 0}

    @decorators.idempotent_id('6f7a8b9c-0d1e-4f2a-3b4c-5d6e7f809102')
    def test_verdicts(self):
        failed = dict(self.COUNTS, Failed=1)
        self.assertEqual(0, job.verdict(0, self.COUNTS)[0])
        self.assertEqual(1, job.verdict(1, failed)[0])
        self.assertEqual(1, job.verdict(3, self.COUNTS)[0])
        status, reason = job.verdict(
            0, {'Passed': 0, 'Skipped': 7, 'Failed': 0})
        self.assertEqual(1, status)
        self.assertIn('no test passed', reason)

    @decorators.idempotent_id('8b9c0d1e-2f3a-4b4c-9d5e-6f7a80910324')
    def test_too_few_plugin_tests_passed_is_red(self):
        counts = self.COUNTS
        jobs = tempestconf.load_jobs(ZUUL_DIR)
        wanted = tempestconf.min_passed(tempestconf.job_vars(
            jobs, tempestconf.DEFAULT_JOB))
        self.assertGreater(wanted, 0)
        status, reason = job.verdict(0, counts, wanted - 1, wanted)
        self.assertEqual(1, status)
        self.assertIn("only %d of the plugin's tests passed" % (wanted - 1),
                      reason)
        self.assertEqual(0, job.verdict(0, counts, wanted, wanted)[0])
        # A scenario added without raising the guard.
        status, reason = job.verdict(0, counts, wanted + 1, wanted)
        self.assertEqual(1, status)
        self.assertIn('raise it to %d' % (wanted + 1), reason)

    @decorators.idempotent_id('7a8b9c0d-1e2f-4a3b-4c5d-6e7f80910213')
    def test_bad_usage_is_one_line_and_exit_2(self):
        stderr = io.StringIO()
        with mock.patch('os.geteuid', return_value=1000), \
                mock.patch('sys.stderr', stderr):
            self.assertEqual(2, job.main([]))
        self.assertIn('run as root', stderr.getvalue())
        stderr = io.StringIO()
        with mock.patch('os.geteuid', return_value=0), \
                mock.patch('sys.stderr', stderr):
            self.assertEqual(2, job.main(['--zuul-dir', '/nonexistent']))
        self.assertEqual(1, len(stderr.getvalue().splitlines()))


class TestJobRecord(base.BaseTestCase):
    """results.json of the job says what ran, test by test, as it runs,
    read from Tempest's own subunit stream."""

    PLUGIN = ('migtests.api.compute.test_live_migration.LiveMigrationTest.'
              'test_paused_server[id-1,slow]')
    SKIPPED = ('setUpClass (tempest.api.compute.admin.test_live_migration.'
               'LiveMigrationRemoteConsolesV26Test)')
    FAILED = ('tempest.api.compute.admin.test_live_migration.'
              'LiveMigrationTest.test_live_block_migration[id-2]')
    LOST = 'migtests.api.compute.test_operations.T.test_abort[id-3]'
    SERVER = '11111111-2222-3333-4444-555555555555'

    def stream(self, path):
        """A subunit v2 stream as `tempest run --subunit` writes one, with
        non-subunit output before it."""
        start = datetime.datetime(2026, 11, 27, 12, 0, 0,
                                  tzinfo=datetime.timezone.utc)
        with open(path, 'wb') as f:
            f.write(b'a warning Tempest printed\n')
            out = subunit.StreamResultToBytes(f)
            # Tests listed before the run (stestr's partitioning).
            out.status(test_id=self.PLUGIN, test_status='exists')
            # A worker's own output: a file of no test, in the stream.
            out.status(file_name='stderr', file_bytes=b'a worker said so\n',
                       mime_type='text/plain; charset=utf8', eof=True)
            for test_id, status, seconds, files in (
                    # Its own log, as Tempest attaches it to each test.
                    (self.PLUGIN, 'success', 31.527, {
                        "pythonlogging:''": (
                            b'Request (LiveMigrationTest:test_paused_server)'
                            b': 202 POST http://x/servers 0.1s\n'
                            b'Request (LiveMigrationTest:test_paused_server)'
                            b': 202 POST http://x/v2.1/servers/%s/action '
                            b'0.1s\n' % self.SERVER.encode())}),
                    (self.SKIPPED, 'skip', 0, {
                        'reason': b'Serial console not supported.'}),
                    (self.FAILED, 'fail', 40.0, {
                        'traceback': b'AssertionError: boom'})):
                out.status(test_id=test_id, test_status='inprogress',
                           timestamp=start)
                for name, data in files.items():
                    out.status(test_id=test_id, file_name=name,
                               file_bytes=data, mime_type='text/plain; '
                               'charset=utf8', eof=True, timestamp=start)
                out.status(test_id=test_id, test_status=status,
                           timestamp=start + datetime.timedelta(
                               seconds=seconds))
            # A test whose worker died: it started and never ended.
            out.status(test_id=self.LOST, test_status='inprogress',
                       timestamp=start)

    @decorators.idempotent_id('1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4de9')
    def test_each_test_is_written_as_it_ends(self):
        with tempfile.TemporaryDirectory() as results:
            path = os.path.join(results, 'results.json')
            record = job.Record(path, 'migtests-multinode', ['upstream'])

            def written():
                with open(path) as f:
                    return json.load(f)
            self.assertFalse(written()['complete'])
            self.assertTrue(written()['shipped_defaults'])
            record.begin('upstream')
            stream = os.path.join(results, 'stream')
            self.stream(stream)
            cloud = mock.Mock()
            cloud.controller.command.return_value = ['cat', stream]
            log = os.path.join(results, 'tempest-upstream.log')
            with mock.patch('sys.stdout', io.StringIO()) as console:
                returncode = job.run_tempest(cloud, results, 'x', None, 2,
                                             record, log, 'upstream')
            self.assertEqual(0, returncode)
            self.assertIn('--subunit',
                          cloud.controller.command.call_args[0][0])
            tests = written()['runs']['upstream']['tests']
            self.assertEqual([self.PLUGIN, self.SKIPPED, self.FAILED,
                              self.LOST], [t['id'] for t in tests])
            self.assertEqual(['ok', 'SKIPPED', 'FAILED', 'FAILED'],
                             [t['status'] for t in tests])
            self.assertIn('never ended', tests[3]['reason'])
            # The servers each test acted on, from its own log: what
            # libvirt received is joined on them, by full test id.
            self.assertEqual([[self.SERVER], [], [], []],
                             [t['servers'] for t in tests])
            self.assertEqual({self.SERVER: self.PLUGIN},
                             migrations.servers_by_test(tests))
            self.assertEqual(31.527, tests[0]['seconds'])
            self.assertEqual('Serial console not supported.',
                             tests[1]['reason'])
            self.assertEqual({'Passed': 1, 'Skipped': 1, 'Failed': 2},
                             record.totals())
            self.assertEqual(1, record.passed('migtests.'))
            # One line per test on the console; the rest in the log, the
            # raw stream beside it.
            self.assertEqual(4, len(console.getvalue().splitlines()))
            with open(log) as f:
                text = f.read()
            for expected in ('a warning Tempest printed', 'a worker said so',
                             'Request (LiveMigrationTest:test_paused_server)',
                             'AssertionError: boom'):
                self.assertIn(expected, text)
            self.assertTrue(os.path.getsize(os.path.join(
                results, 'tempest-upstream.subunit')))
            self.assertFalse(written()['complete'])
            record.finish('failed: 1 test(s) failed')
            self.assertTrue(written()['complete'])
            self.assertEqual('failed: 1 test(s) failed',
                             written()['verdict'])


class TestBothDrivers(base.BaseTestCase):
    """The job's verdict with both drivers: the reference may fail a test
    only by refusing, with its reason, on a profile that is not Nova's
    shipped defaults."""

    def record(self, reference_status, refused):
        test = 'tempest.api.compute.admin.test_live_migration.T.%s[id-1]'
        call = {'test': test % 'test_block', 'api': 'migrateToURI3',
                'flags': ['LIVE', 'NON_SHARED_INC'], 'params': {},
                'result': 'ok'}
        record = job.Record(os.path.join(self.dir, 'results.json'), 'j',
                            job.DRIVER_ORDER)
        record.data['runs'] = {
            'upstream': {'tests': [{'id': test % 'test_block',
                                    'status': 'ok'}],
                         'migrations': [call], 'plans': {}},
            'reference': {'tests': [{'id': test % 'test_block',
                                     'status': reference_status}],
                          'migrations': [], 'plans': {test % 'test_block': [
                              MigrationRefused('tunnelled-block',
                                               'remove TUNNELLED').as_dict()
                          ]} if refused else {}}}
        return record

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path

    def judge(self, reference_outcome, refused, profile):
        record = self.record('ok' if reference_outcome[0] == 0
                             else 'FAILED', refused)
        return job.judge({'upstream': (0, 'all passed'),
                          'reference': reference_outcome}, record,
                         self.dir, configs.PROFILES[profile])

    @decorators.idempotent_id('1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a')
    def test_refusal_on_shipped_defaults_is_red(self):
        status, reason = self.judge((1, '1 test(s) failed'), True,
                                    'shipped')
        self.assertEqual(1, status)
        self.assertIn('reference driver: 1 test(s) failed', reason)
        with open(os.path.join(self.dir, 'compare.md')) as f:
            self.assertIn('**explained**', f.read())

    @decorators.idempotent_id('2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b')
    def test_refusal_on_the_2016_profile_is_explained(self):
        status, reason = self.judge((1, '1 test(s) failed'), True, '2016')
        self.assertEqual(0, status)
        self.assertIn('refused 1 migration(s)', reason)
        with open(os.path.join(self.dir, 'compare.json')) as f:
            self.assertEqual(1, json.load(f)['verdicts']['explained'])

    @decorators.idempotent_id('3f4a5b6c-7d8e-4f9a-0b1c-2d3e4f5a6b7c')
    def test_failure_without_refusal_is_red_on_any_profile(self):
        status, reason = self.judge((1, '1 test(s) failed'), False, '2016')
        self.assertEqual(1, status)
        self.assertIn('T.test_block[id-1] without a refusal', reason)

    @decorators.idempotent_id('4a5b6c7d-8e9f-4a0b-1c2d-3e4f5a6b7c8d')
    def test_both_passing_is_green(self):
        self.assertEqual((0, 'both drivers passed'),
                         self.judge((0, 'all passed'), False, 'shipped'))


class TestRestartedCompute(base.BaseTestCase):
    @decorators.idempotent_id('5b6c7d8e-9f0a-4b1c-2d3e-4f5a6b7c8d9e')
    def test_reported_since_reads_nova_utc_time(self):
        from migtests.cloud import catalog
        since = 1795000000      # 2026-11-18T11:06:40Z
        self.assertTrue(catalog._reported_since('2026-11-18T11:06:40.000000',
                                                since))
        self.assertFalse(catalog._reported_since(
            '2026-11-18T11:06:39.000000', since))
        self.assertFalse(catalog._reported_since(None, since))


class TestNovaPatch(base.BaseTestCase):
    @decorators.idempotent_id('9c904a5c-2927-4610-adb6-54fb2e93c625')
    def test_a_patch_of_another_tree_is_refused_before_anything(self):
        directory = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(directory, 'x.patch')
        for text, expected in (
                ('+++ b/tempest/lib/x.py\n', 'patches tempest/lib/x.py'),
                ('no diff at all\n', 'patches no file')):
            with open(path, 'w') as f:
                f.write(text)
            exc = self.assertRaises(LabError, cloud.check_nova_patch, path)
            self.assertIn(expected, str(exc))


def _run(test, status, failure='', migrations=()):
    return {'tests': [{'id': repros.SCENARIOS + test + '[id-1,multinode]',
                       'status': status, 'failure': failure}],
            'migrations': list(migrations)}


class TestRepro(base.BaseTestCase):
    """migtests job --repro NAME: what it sets, what counts as shown."""

    @decorators.idempotent_id('be664bb7-b64f-4cef-9112-9674f48c8b47')
    def test_a_repro_sets_profile_computes_and_driver(self):
        args = job.parse_args(['--repro', 'failed-migration-error'])
        self.assertEqual(('shipped', 'trixie,sid', 'upstream'),
                         (args.profile, args.computes, args.driver))
        args = job.parse_args(['--repro', 'removed-flags-ignored'])
        self.assertEqual(('2016', None), (args.profile, args.computes))
        exc = self.assertRaises(command.BadInput, job.parse_args,
                                ['--repro', 'abort-error', '--driver',
                                 'reference'])
        self.assertIn('drop --driver', str(exc))

    @decorators.idempotent_id('08086850-cce8-406b-8abf-1fd563814041')
    def test_the_regex_selects_its_scenario_only(self):
        repro = repros.REPROS['abort-error']
        name = repros.SCENARIOS + repro.test
        self.assertTrue(re.search(repro.regex, name + '[id-1,slow]'))
        self.assertFalse(re.search(repro.regex, name + '_not[id-1]'))
        self.assertFalse(re.search(repro.regex, 'x' + name))
        for repro in repros.REPROS.values():
            self.assertTrue(os.path.exists(os.path.join(
                os.path.dirname(__file__), '..', '..', 'doc', 'source',
                'findings', repro.page + '.md')), repro.page)

    @decorators.idempotent_id('9db6e1a7-0581-4972-9a85-a76d16990a80')
    def test_a_failure_counts_only_with_its_signature(self):
        repro = repros.REPROS['abort-error']
        shown, evidence = repro.shown(_run(
            repro.test, 'FAILED', "MismatchError: 'cancelled' != 'error': "
            "{'id': 1}"), '/x')
        self.assertTrue(shown)
        self.assertIn("{'id': 1}", evidence[1])
        failed = repros.REPROS['failed-migration-error']
        self.assertTrue(failed.shown(_run(
            failed.test, 'FAILED', 'AssertionError: live migration did not '
            'complete: {}; the server stayed on its source, its guest '
            'running, status ERROR'), '/x')[0])
        self.assertEqual((False, ['the scenario passed']),
                         repro.shown(_run(repro.test, 'ok'), '/x'))
        shown, evidence = repro.shown(_run(repro.test, 'FAILED',
                                           'TimeoutException: x'), '/x')
        self.assertFalse(shown)
        self.assertEqual((False, ['the scenario not run']),
                         repro.shown(_run('other', 'ok'), '/x'))

    @decorators.idempotent_id('fa2cf571-eba0-4e43-864a-e6d5f6e95f1d')
    def test_config_drive_of_zeros(self):
        repro = repros.REPROS['config-drive-empty']
        # What testtools printed on this machine for Nova 34.
        self.assertTrue(repro.shown(_run(
            repro.test, 'FAILED', "reference = ('config-2', '35a6') actual "
            "   = ('-', '04af') : the config drive the guest reads on the "
            "destination is not the one it booted with"), '/x')[0])
        self.assertFalse(repro.shown(_run(
            repro.test, 'FAILED', "reference = ('config-2', 'ab') actual = "
            "('config-2', 'cd')"), '/x')[0])

    @decorators.idempotent_id('eba5379e-4c52-44d0-8c59-bc82f0251592')
    def test_removed_flags_need_no_tunnel_and_no_word(self):
        repro = repros.REPROS['removed-flags-ignored']
        logs = self.useFixture(fixtures.TempDir()).path
        # As the records name them (results.json of a run here).
        calls = [{'flags': ['LIVE', 'NON_SHARED_INC']}]
        run = _run(repro.test, 'ok', migrations=calls)
        shown, evidence = repro.shown(run, logs)
        self.assertTrue(shown, evidence)
        self.assertEqual('libvirt received LIVE|NON_SHARED_INC', evidence[0])
        # A patched Nova says so: not reproduced, its words shown.
        with open(os.path.join(logs, 'nova-compute-upstream-compute1.log'),
                  'w') as f:
            f.write('WARNING [libvirt] live_migration_flag = x is ignored\n')
        shown, evidence = repro.shown(run, logs)
        self.assertFalse(shown)
        self.assertIn('nova-compute said: WARNING [libvirt] '
                      'live_migration_flag = x is ignored', evidence)
        empty = self.useFixture(fixtures.TempDir()).path
        for tunnel in (['LIVE', 'TUNNELLED'],
                       ['VIR_MIGRATE_LIVE', 'VIR_MIGRATE_TUNNELLED']):
            self.assertEqual(
                (False, ['libvirt received %s' % '|'.join(tunnel),
                         'the tunnel was applied']),
                repro.shown(_run(repro.test, 'ok',
                                 migrations=[{'flags': tunnel}]), empty))
        self.assertEqual((False, ['no migration reached libvirt']),
                         repro.shown(_run(repro.test, 'ok'), logs))

    @decorators.idempotent_id('de4b87f2-1420-4947-9738-8fc2575d2654')
    def test_failure_text_is_the_end_of_the_traceback(self):
        self.assertEqual(
            "MismatchError: 'cancelled' != 'error': {'id': 1}",
            job._failure_text(
                'Traceback (most recent call last):\n'
                '  File "t.py", line 3, in test\n    self.check()\n'
                '  File "m.py", line 704, in assertThat\n'
                '    raise mismatch_error\n    ^^^^^^^^^^^^^^\n'
                "MismatchError: 'cancelled' != 'error':\n{'id': 1}\n"))
        self.assertEqual('b c d', job._failure_text('b\n c\n\nd\n'))
        self.assertEqual(10, len(job._failure_text('x' * 50, limit=10)))
