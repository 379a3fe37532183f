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

"""The act layer on the simulated libvirt (put in place of ``libvirt``)."""

import itertools
import os
import sys
import threading

import fixtures

from reference import act
from reference.tests import base
from reference.tests.base import host
from reference.tests.base import plan
from reference.tests.base import request
from reference.tests import simulated_libvirt as sim

URI = 'qemu+tcp://dest/system'


class ActTestCase(base.TestCase):
    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch('sys.modules', dict(
            sys.modules, libvirt=sim)))

    def domain(self, stack, req, destination=None, **kw):
        return sim.virDomain(stack, {URI: destination or stack},
                             disks=req.disks,
                             shared_storage=req.shared_storage,
                             paused=req.paused, **kw)


class TestStart(ActTestCase):
    def test_calls_the_planned_api_with_flags_and_params(self):
        stack, req = host(), request('vda:local vdb:volume')
        p = plan(source=stack, req=req)
        dom = self.domain(stack, req)
        self.assertEqual('migrateToURI3', act.migrate(dom, p))
        (api, uri, outcome), = dom.migrations
        self.assertEqual(URI, uri)
        self.assertEqual({'vda'}, outcome.copied)

    def test_flags_value(self):
        self.assertEqual(sim.VIR_MIGRATE_LIVE | sim.VIR_MIGRATE_TLS,
                         act.flags_value(['VIR_MIGRATE_LIVE',
                                          'VIR_MIGRATE_TLS']))

    def test_falls_back_when_the_binding_lacks_uri3(self):
        stack, req = host(), request('vda:volume', 'live')
        p = plan(source=stack, req=req)
        dom = self.domain(stack, req, missing_apis={'migrateToURI3'})
        self.assertEqual('migrateToURI2', act.migrate(dom, p))

    def test_falls_back_when_the_daemon_has_no_uri3(self):
        old = host('1.0.5', '1.4')
        req = request('vda:volume', 'live')
        # Planned as if URI3 existed; the daemon answers VIR_ERR_NO_SUPPORT.
        p = plan(source=host('9.0.0', '7.2'), req=req)
        dom = self.domain(old, req)
        self.assertEqual('migrateToURI2', act.start(dom, p))

    def test_never_falls_back_when_the_disk_list_would_be_lost(self):
        req = request('vda:local vdb:volume')
        p = plan(req=req)
        self.assertEqual((), p.fallbacks)
        dom = self.domain(host(), req, missing_apis={'migrateToURI3'})
        exc = self.assertRaises(act.MigrationUnsupported, act.start, dom, p)
        self.assertIn('migrateToURI3', str(exc))
        self.assertEqual([], dom.migrations)

    def test_a_flag_the_binding_lacks_is_not_a_missing_api(self):
        req = request('vda:volume', 'live')
        p = plan(req=req)
        self.assertTrue(p.fallbacks)
        odd = p.__class__(**dict(vars(p), flags=p.flags + (
            'VIR_MIGRATE_FROM_THE_FUTURE',)))
        dom = self.domain(host(), req)
        exc = self.assertRaises(act.MigrationUnsupported, act.start, dom, odd)
        self.assertEqual('missing-flag', exc.error)
        self.assertIn('VIR_MIGRATE_FROM_THE_FUTURE', str(exc))
        self.assertEqual([], dom.migrations)

    def test_no_support_for_another_reason_is_no_fallback(self):
        req = request('vda:volume', 'live')
        p = plan(req=req)

        class Refusing(sim.virDomain):
            def migrateToURI3(self, dconnuri, params, flags):
                raise sim.libvirtError(
                    sim.VIR_ERR_NO_SUPPORT, 'this function is not supported '
                    'by the connection driver: virDomainMigrateStartPostCopy')
        dom = Refusing(host(), {URI: host()}, disks=req.disks)
        exc = self.assertRaises(act.MigrationUnsupported, act.start, dom, p)
        self.assertEqual('VIR_ERR_NO_SUPPORT', exc.error)
        self.assertEqual([], dom.migrations)

    def test_no_fallback_on_a_combination_error(self):
        # The 2016 failure: an older API must not be tried to hide it.
        stack = host('1.2.17', '2.5')
        req = request('vda:local vdb:volume')
        p = plan(source=stack, req=req)
        bad = p.__class__(**dict(vars(p), flags=p.flags + (
            'VIR_MIGRATE_TUNNELLED',), fallbacks=('migrateToURI2',)))
        dom = self.domain(stack, req)
        exc = self.assertRaises(act.MigrationUnsupported, act.start, dom, bad)
        self.assertEqual('VIR_ERR_OPERATION_UNSUPPORTED', exc.error)
        self.assertIn('Selecting disks', str(exc))
        self.assertEqual([], dom.migrations)


class TestErrors(ActTestCase):
    def test_unsafe(self):
        stack, req = host(), request('vda:local', 'live', shared_storage=True)
        p = plan(source=stack, req=req)
        dom = sim.virDomain(stack, {URI: stack}, disks=req.disks)
        exc = self.assertRaises(act.MigrationUnsafe, act.migrate, dom, p)
        self.assertIn('Unsafe migration', str(exc))
        self.assertIn('shared storage', exc.hint)

    def test_missing_destination_disk_says_what_to_do(self):
        err = sim.libvirtError(sim.VIR_ERR_OPERATION_UNSUPPORTED,
                               'Operation not supported: pre-creation of '
                               'storage targets for incremental storage '
                               'migration is not supported')
        exc = act.translate_error(err, URI, 'migrateToURI3')
        self.assertIsInstance(exc, act.MigrationUnsupported)
        self.assertIn('Pre-create the destination disk', str(exc))

    def test_tls_failures_are_named_whatever_their_code(self):
        # Messages real libvirt 9.0 / QEMU 7.2 gave on the lab's
        # certificate faults (migtests/lab/tests/test_tls_faults).
        for code, message in (
                (sim.VIR_ERR_AUTH_FAILED, 'authentication failed: Failed '
                 'to verify peer\'s certificate'),
                (sim.VIR_ERR_SYSTEM_ERROR, 'Unable to read TLS '
                 'confirmation: Input/output error'),
                (sim.VIR_ERR_OPERATION_FAILED, 'operation failed: job '
                 '\'migration out\' failed: Cannot write to TLS channel: '
                 'Input/output error')):
            exc = act.translate_error(sim.libvirtError(code, message), URI,
                                      'migrateToURI3')
            self.assertIsInstance(exc, act.TlsFailed, message)
            self.assertIn('certificate', exc.hint)
        # A connection refused is not a TLS failure.
        exc = act.translate_error(sim.libvirtError(
            sim.VIR_ERR_SYSTEM_ERROR, 'unable to connect to server at '
            '\'192.0.2.12:16514\': Connection refused'), URI, 'migrateToURI3')
        self.assertIs(act.DestinationUnreachable, type(exc))

    def test_an_error_without_message_takes_the_jobs_own(self):
        # libvirt 9.0 now and then raises no message when QEMU's native
        # TLS handshake fails; the completed job's errmsg names it.
        err = sim.libvirtError(sim.VIR_ERR_OPERATION_FAILED, None)
        exc = act.translate_error(
            err, URI, 'migrateToURI3', 'operation failed: job \'migration '
            'out\' failed: TLS handshake failed: Error in the pull function.')
        self.assertIsInstance(exc, act.TlsFailed)
        self.assertIn('TLS handshake failed', str(exc))

    def test_an_error_without_any_message_still_translates(self):
        exc = act.translate_error(sim.libvirtError(None, None), URI,
                                  'migrateToURI3')
        self.assertIsInstance(exc, act.MigrationFailed)
        self.assertIn('libvirt reported no error message', str(exc))

    def test_job_error_reads_the_connection_then_the_job(self):
        class Connection:
            error = (9, 10, 'operation failed: TLS handshake failed', 2,
                     None, None, None, 0, 0)

            def virConnGetLastError(self):
                return self.error

        class Domain:
            conn = Connection()

            def connect(self):
                return self.conn

            def jobStats(self, flags):
                self.flags = flags
                return {'type': 3, 'errmsg': 'job: TLS handshake failed'}
        domain = Domain()
        self.assertEqual('operation failed: TLS handshake failed',
                         act.job_error(domain))
        Connection.error = None
        self.assertEqual('job: TLS handshake failed', act.job_error(domain))
        self.assertEqual(act._libvirt().VIR_DOMAIN_JOB_STATS_COMPLETED,
                         domain.flags)

    def test_every_libvirt_code_is_named(self):
        err = sim.libvirtError(sim.VIR_ERR_OPERATION_FAILED,
                               'operation failed: job failed')
        exc = act.translate_error(err, URI, 'migrateToURI3')
        self.assertEqual('VIR_ERR_OPERATION_FAILED', exc.error)
        self.assertNotIn('libvirt error 9', str(exc))

    def test_unknown_code_keeps_libvirt_message(self):
        err = sim.libvirtError(999, 'something odd')
        exc = act.translate_error(err, URI, 'migrateToURI3')
        self.assertIsInstance(exc, act.MigrationFailed)
        self.assertIn('something odd', str(exc))
        self.assertIn('libvirt error 999', str(exc))


class _SlowDomain(sim.virDomain):
    """A migration that runs until aborted, on a fake clock."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.aborted = threading.Event()
        self.actions = []

    def migrateToURI3(self, dconnuri, params, flags):
        if not self.aborted.wait(5):
            raise AssertionError('the monitor never took its action')
        raise sim.libvirtError(sim.VIR_ERR_OPERATION_ABORTED,
                               'operation aborted: job canceled by client')

    def abortJob(self):
        self.actions.append('abort')
        self.aborted.set()

    def migrateStartPostCopy(self, flags=0):
        self.actions.append('post-copy')
        self.aborted.set()

    def suspend(self):
        self.actions.append('suspend')
        self.aborted.set()

    def resume(self):
        self.actions.append('resume')


class TestMonitor(ActTestCase):
    def _run(self, options, req=None):
        req = req or request('vda:volume', 'live')
        p = plan(options, req=req)
        dom = _SlowDomain(host(), {URI: host()}, disks=req.disks)
        ticks = itertools.count(0, 100)   # 100 s per poll
        exc = self.assertRaises(act.MigrationAborted, act.migrate, dom, p,
                                poll_interval=0.01,
                                clock=lambda: next(ticks))
        return p, dom, exc

    def test_downtime_steps_then_abort_after_the_timeout(self):
        p, dom, exc = self._run({'live_migration_completion_timeout': 10})
        self.assertEqual(['abort'], dom.actions)
        # 2 GiB minimum -> a step every 150 s, timeout after 20 s; a TCG
        # guest on QEMU 7.2 starts at QEMU's default 300 ms.
        self.assertEqual([300], dom.max_downtime[:1])
        self.assertIn('guest keeps running on its source', str(exc))

    def test_force_complete_switches_to_post_copy_when_planned(self):
        _, dom, _ = self._run({'live_migration_completion_timeout': 10,
                               'live_migration_timeout_action':
                               'force_complete',
                               'live_migration_permit_post_copy': True})
        self.assertEqual(['post-copy'], dom.actions)

    def test_force_complete_pauses_and_a_failure_resumes_the_guest(self):
        # Nova unpauses a guest it paused for force_complete when the
        # migration fails: it must not stay paused on its source.
        _, dom, exc = self._run({'live_migration_completion_timeout': 10,
                                 'live_migration_timeout_action':
                                 'force_complete'})
        self.assertEqual(['suspend', 'resume'], dom.actions)
        self.assertIn('resumed on its source', str(exc))
        self.assertIsInstance(exc, act.MigrationAborted)

    def test_abort_never_resumes(self):
        _, dom, exc = self._run({'live_migration_completion_timeout': 10})
        self.assertNotIn('resume', dom.actions)


class TestCapabilities(ActTestCase):
    def test_read_from_a_connection(self):
        caps = act.read_capabilities(sim.virConnect(host('1.3.1', '2.5')),
                                     tls_ready=True)
        self.assertEqual(host('1.3.1', '2.5', tls_ready=True), caps)

    def test_kvm_seen_in_the_capabilities(self):
        caps = act.read_capabilities(sim.virConnect(host(), kvm=True))
        self.assertEqual('kvm', caps.hypervisor)

    def test_machine_types_from_the_capabilities(self):
        conn = sim.virConnect(host())
        conn.getCapabilities = lambda: (
            "<capabilities><guest><arch name='x86_64'>"
            "<machine maxCpus='255'>pc-i440fx-7.2</machine>"
            "<machine canonical='pc-i440fx-7.2'>pc</machine>"
            "<domain type='qemu'/></arch></guest></capabilities>")
        caps = act.read_capabilities(conn)
        self.assertEqual(frozenset({'pc-i440fx-7.2', 'pc'}),
                         caps.machine_types)

    def test_the_running_machine_type_is_read_from_the_domain_xml(self):
        self.assertEqual('pc-q35-8.2', act.running_machine_type(
            "<domain><os><type machine='pc-q35-8.2'>hvm</type></os>"
            "</domain>"))
        self.assertIsNone(act.running_machine_type('<domain><os/></domain>'))


class TestTlsReady(base.TestCase):
    """TLS ready: every file QEMU reads, in the directory libvirt names."""

    def setUp(self):
        super().setUp()
        self.root = self.useFixture(fixtures.TempDir()).path
        self.conf = os.path.join(self.root, 'qemu.conf')

    def write_conf(self, text):
        with open(self.conf, 'w') as f:
            f.write(text)

    def certificates(self, directory, names=act.TLS_FILES):
        os.makedirs(directory, exist_ok=True)
        for name in names:
            with open(os.path.join(directory, name), 'w') as f:
                f.write('pem')

    def test_the_migration_directory_wins_over_the_default_one(self):
        self.write_conf('# migrate_tls_x509_cert_dir = "/nowhere"\n'
                        'default_tls_x509_cert_dir = "/etc/pki/all"\n'
                        'migrate_tls_x509_cert_dir = "%s/mig"\n' % self.root)
        self.assertEqual(self.root + '/mig', act.migration_tls_dir(self.conf))
        self.write_conf('default_tls_x509_cert_dir = "/etc/pki/all"\n')
        self.assertEqual('/etc/pki/all', act.migration_tls_dir(self.conf))
        self.write_conf('')
        self.assertEqual('/etc/pki/qemu', act.migration_tls_dir(self.conf))
        self.assertEqual('/etc/pki/qemu', act.migration_tls_dir(
            os.path.join(self.root, 'absent.conf')))

    def test_ready_only_with_every_file(self):
        self.write_conf('migrate_tls_x509_cert_dir = "%s/mig"\n' % self.root)
        self.certificates(self.root + '/mig', act.TLS_FILES[:-1])
        ready, directory, missing = act.tls_ready(self.conf)
        self.assertEqual((False, self.root + '/mig', ['client-key.pem']),
                         (ready, directory, missing))
        self.certificates(self.root + '/mig')
        self.assertEqual((True, []), act.tls_ready(self.conf)[::2])
