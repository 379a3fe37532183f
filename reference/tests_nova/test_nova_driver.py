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

"""The reference driver inside nova-compute: every Nova hook it overrides
or relies on is where this module was written for, with the same
signature (a Nova upgrade that moves one fails here, loudly), and each
override does what it says, on Nova's own objects with libvirt mocked.

Needs Nova installed: `tox -e nova` (the cloud's pinned Nova series).
"""

import dataclasses
import functools
import inspect
import subprocess
import sys
from unittest import mock

import fixtures
from nova import objects
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt import migration as libvirt_migrate
from tempest.lib import decorators
import testtools

from reference import conf as reference_conf
from reference.model import Decision
from reference.model import HostCapabilities
from reference.model import MigrationPlan
from reference.model import MigrationRefused
from reference.model import MonitorPlan
from reference import nova_driver
from reference.versions import Version

objects.register_all()   # as nova-compute does at start

# Nova's methods the driver overrides or calls, by their parameters in the
# series it is pinned to (nova_driver.NOVA_SERIES).
HOOKS = {
    (libvirt_driver.LibvirtDriver, '__init__'): [
        'self', 'virtapi', 'read_only'],
    (libvirt_driver.LibvirtDriver, '_live_migration'): [
        'self', 'context', 'instance', 'dest', 'post_method',
        'recover_method', 'block_migration', 'migrate_data'],
    (libvirt_driver.LibvirtDriver, '_live_migration_operation'): [
        'self', 'context', 'instance', 'dest', 'block_migration',
        'migrate_data', 'guest', 'device_names'],
    (libvirt_driver.LibvirtDriver, '_get_migration_flags'): [
        'self', 'is_block_migration'],
    (libvirt_driver.LibvirtDriver, '_live_migration_copy_disk_paths'): [
        'self', 'context', 'instance', 'guest'],
    (libvirt_driver.LibvirtDriver, '_live_migration_uri'): ['dest'],
    (libvirt_guest.Guest, 'migrate'): [
        'self', 'destination', 'migrate_uri', 'migrate_disks',
        'destination_xml', 'flags', 'bandwidth', 'parallel'],
    # Wrapped (not overridden): the monitor's downtime steps.
    (libvirt_migrate, 'downtime_steps'): ['data_gb'],
}


def _plan(**changes):
    fields = dict(
        api='migrateToURI3', uri='qemu+tcp://compute2/system',
        flags=('VIR_MIGRATE_LIVE', 'VIR_MIGRATE_PEER2PEER',
               'VIR_MIGRATE_PERSIST_DEST', 'VIR_MIGRATE_UNDEFINE_SOURCE',
               'VIR_MIGRATE_NON_SHARED_INC'),
        params={'migrate_disks': ['vda']},
        decisions=(Decision('migrate_disks = vda', 'the local disk'),),
        fallbacks=('migrateToURI2',),
        monitor=MonitorPlan((), None, 'abort'))
    fields.update(changes)
    return MigrationPlan(**fields)


def _disk(target, source_type='file', path='/x/disk', readonly=False,
          shareable=False):
    return mock.Mock(target_dev=target, source_type=source_type,
                     source_path=path, readonly=readonly, shareable=shareable)


class TestHooks(testtools.TestCase):

    @decorators.idempotent_id('0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b')
    def test_every_hook_has_the_signature_it_was_written_for(self):
        moved = {}
        for (cls, name), expected in HOOKS.items():
            function = getattr(cls, name, None)
            # Once the driver has wrapped it: Nova's own, underneath.
            function = getattr(function, 'novas', function)
            found = (None if function is None else
                     list(inspect.signature(function).parameters))
            if found != expected:
                moved['%s.%s' % (cls.__name__, name)] = found
        self.assertEqual({}, moved, 'Nova moved a hook of '
                         'reference.nova_driver (written for nova %s)'
                         % nova_driver.NOVA_SERIES)

    @decorators.idempotent_id('1f2a3b4c-5d6e-4f7a-9b8c-0d1e2f3a4b5c')
    def test_the_driver_overrides_only_these_hooks(self):
        own = {name for name, value in
               vars(nova_driver.ReferenceLibvirtDriver).items()
               if callable(value) and hasattr(
                   libvirt_driver.LibvirtDriver, name)}
        self.assertEqual(
            {'__init__', '_live_migration', '_live_migration_operation',
             '_get_migration_flags', '_live_migration_copy_disk_paths'},
            own)


class TestOverrides(testtools.TestCase):
    def setUp(self):
        super().setUp()
        # Nova's driver without its __init__ (no host, no libvirt).
        self.driver = nova_driver.ReferenceLibvirtDriver.__new__(
            nova_driver.ReferenceLibvirtDriver)
        self.driver._plans = {}
        nova_driver._install_downtime_steps()
        self.driver._host = mock.Mock()
        self.context = mock.Mock()
        self.instance = mock.Mock(uuid='u1')
        self.disks = [_disk('vda'), _disk('vdb', source_type='block'),
                      _disk('hdd', path='/x/disk.config', readonly=True)]
        self.guest = mock.Mock()
        self.guest.get_all_disks.return_value = self.disks
        self._volumes(['vdb'])

    def _volumes(self, targets):
        patcher = mock.patch.object(
            nova_driver.virt_driver, 'block_device_info_get_mapping',
            return_value=[{'mount_device': '/dev/' + t} for t in targets])
        patcher.start()
        self.addCleanup(patcher.stop)
        for name in ('get_block_device_info',):
            p = mock.patch.object(nova_driver.virt_driver, name)
            p.start()
            self.addCleanup(p.stop)
        p = mock.patch.object(nova_driver.objects, 'BlockDeviceMappingList')
        p.start()
        self.addCleanup(p.stop)

    @decorators.idempotent_id('2a3b4c5d-6e7f-4a8b-8c9d-1e2f3a4b5c6d')
    def test_disks_a_mapped_volume_is_never_local(self):
        kinds = {d.target: d.kind.value for d in self.driver._disks(
            self.context, self.instance, self.guest)}
        self.assertEqual({'vda': 'local', 'vdb': 'volume', 'hdd': 'config'},
                         kinds)
        paths, names = self.driver._live_migration_copy_disk_paths(
            self.context, self.instance, self.guest)
        self.assertEqual(['vda'], names)
        self.assertEqual(['/x/disk'], paths)

    @decorators.idempotent_id('b33571a2-1632-4698-b24b-fcb2a3c166c9')
    def test_the_request_has_the_running_guests_machine_type(self):
        # libvirt records the versioned type at the guest's start; the
        # alias in Nova's definition is not what runs.
        self.guest.get_xml_desc.return_value = (
            "<domain><os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm"
            "</type></os></domain>")
        migrate_data = mock.Mock(block_migration=True)
        migrate_data.obj_attr_is_set.return_value = False
        self.instance.flavor.memory_mb = 512
        request = self.driver._request(self.context, self.instance,
                                       'compute2', migrate_data, self.guest)
        self.assertEqual('pc-i440fx-7.2', request.machine_type)
        self.guest.get_xml_desc.assert_called_once_with()

    @decorators.idempotent_id('8b9c0d1e-2f3a-4b4c-8d5e-7f8a9b0c1d2e')
    def test_disks_to_copy_are_the_plans_while_it_runs(self):
        # The disks were classified once, for the plan: no second look at
        # the block device mappings.
        self.driver._plans['u1'] = _plan()
        with mock.patch.object(self.driver, '_disks') as disks:
            paths, names = self.driver._live_migration_copy_disk_paths(
                self.context, self.instance, self.guest)
        disks.assert_not_called()
        self.assertEqual((['/x/disk'], ['vda']), (paths, names))

    def refused_reason(self, patch):
        """Run the hook with ``patch`` in place; it must roll back without
        calling libvirt; returns the instance fault's text."""
        recover = mock.Mock()
        with patch, mock.patch.object(
                nova_driver.compute_utils,
                'add_instance_fault_from_exc') as fault, \
                mock.patch.object(libvirt_driver.LibvirtDriver,
                                  '_live_migration') as upstream:
            self.driver._live_migration(self.context, self.instance,
                                        'compute2', mock.Mock(), recover,
                                        True, mock.Mock())
        upstream.assert_not_called()
        recover.assert_called_once()
        return str(fault.call_args[0][2])

    @decorators.idempotent_id('3b4c5d6e-7f8a-4b9c-9d0e-2f3a4b5c6d7e')
    def test_a_refusal_rolls_back_and_never_calls_libvirt(self):
        refusal = MigrationRefused('tunnelled-selective-disks', 'no')
        self.assertIn('tunnelled-selective-disks', self.refused_reason(
            mock.patch.object(self.driver, '_plan', side_effect=refusal)))

    @decorators.idempotent_id('29a4d7c9-a716-4b3a-9f22-1f077a0d4bb7')
    def test_a_configuration_it_cannot_use_is_a_refusal(self):
        # A scheme Nova takes (it has no choices) that reaches no other
        # host, or a malformed deprecated URI: a refusal, never a traceback.
        options = {'live_migration_uri': 'qemu+unix://%s/system'}
        reason = self.refused_reason(mock.patch.object(
            self.driver, '_settings',
            side_effect=lambda: reference_conf.settings(**options)))
        self.assertIn('configuration-unusable', reason)
        self.assertIn("transport 'unix'", reason)

    @decorators.idempotent_id('432f302b-0218-4ac1-8743-99470c7f0391')
    def test_tls_readiness_is_read_from_this_hosts_certificates(self):
        # The source's from the directory libvirt names; the destination,
        # which cannot be read from here, taken to match it.
        caps = HostCapabilities(Version(9, 0, 0), Version(7, 2, 0))
        seen = []
        for found in ((True, '/etc/pki/qemu', []),
                      (False, '/etc/pki/qemu', ['client-key.pem'])):
            with mock.patch.object(self.driver, '_settings',
                                   return_value=reference_conf.settings()), \
                    mock.patch.object(self.driver, '_request'), \
                    mock.patch.object(self.driver, '_live_migration_uri'), \
                    mock.patch.object(
                        self.driver, '_destination_capabilities',
                        return_value=(caps, None)), \
                    mock.patch.object(nova_driver.act, 'tls_ready',
                                      return_value=found), \
                    mock.patch.object(nova_driver.act, 'read_capabilities',
                                      side_effect=lambda conn, tls_ready: (
                                          dataclasses.replace(
                                              caps, tls_ready=tls_ready))), \
                    mock.patch.object(nova_driver, 'plan_migration',
                                      return_value=_plan()) as plan:
                self.driver._plan(self.context, self.instance, 'compute2',
                                  mock.Mock(), self.guest)
            source, destination = plan.call_args[0][1:3]
            seen.append((source.tls_ready, destination.tls_ready))
        self.assertEqual([(True, True), (False, False)], seen)

    def _config_drive(self):
        """A config drive file behind the guest's hdd; its bytes."""
        path = self.useFixture(fixtures.TempDir()).join('disk.config')
        data = b'CD001 config-2' * 100
        with open(path, 'wb') as f:
            f.write(data)
        self.disks[2].source_path = path
        self.driver._host.get_guest.return_value = self.guest
        return path, data

    def _fake_libvirt(self):
        lv = mock.Mock(libvirtError=type('libvirtError', (Exception,), {}))
        return lv, mock.patch.object(nova_driver.act, '_libvirt',
                                     return_value=lv)

    @decorators.idempotent_id('f86e8dcb-52b2-400d-846a-5c6d6f5cd882')
    def test_the_config_drive_is_copied_before_libvirt_migrates(self):
        # Nova 34 leaves an empty disk.config on the destination: the plan's
        # copy_before is written there, through its libvirtd, first.
        path, data = self._config_drive()
        lv, patch = self._fake_libvirt()
        order = []
        plan = _plan(copy_before=('hdd',))
        with patch, mock.patch.object(self.driver, '_plan',
                                      return_value=plan), \
                mock.patch.object(nova_driver.act, 'copy_file',
                                  side_effect=lambda *a: order.append(
                                      ('copy',) + a)), \
                mock.patch.object(libvirt_driver.LibvirtDriver,
                                  '_live_migration',
                                  side_effect=lambda *a: order.append(
                                      ('migrate',))), \
                mock.patch.object(nova_driver.act, 'flags_value',
                                  return_value=1):
            self.driver._live_migration(self.context, self.instance,
                                        'compute2', None, None, True,
                                        mock.Mock())
        lv.open.assert_called_once_with(plan.uri)
        self.assertEqual([('copy', lv.open.return_value, path, data),
                          ('migrate',)], order)
        lv.open.return_value.close.assert_called_once_with()

    @decorators.idempotent_id('72af2e80-c11a-4724-bc42-faf3607e2679')
    def test_a_copy_that_fails_is_a_refusal(self):
        self._config_drive()
        for failure in (nova_driver.act.CopyFailed('read back differs'),
                        'unreachable'):
            lv, patch = self._fake_libvirt()
            if failure == 'unreachable':
                lv.open.side_effect = lv.libvirtError('no route to host')
            with patch, mock.patch.object(nova_driver.act, 'copy_file',
                                          side_effect=failure
                                          if failure != 'unreachable'
                                          else None):
                reason = self.refused_reason(mock.patch.object(
                    self.driver, '_plan',
                    return_value=_plan(copy_before=('hdd',))))
            self.assertIn('copy-before-failed', reason)
            self.assertIn('read back differs' if failure != 'unreachable'
                          else 'no route to host', reason)

    @decorators.idempotent_id('4c5d6e7f-8a9b-4c0d-8e1f-3a4b5c6d7e8f')
    def test_the_monitor_reads_the_plans_flags_while_it_runs(self):
        seen = []

        def upstream(*args):
            seen.append(self.driver._get_migration_flags(True))
        plan = _plan(flags=_plan().flags + ('VIR_MIGRATE_POSTCOPY',))
        with mock.patch.object(self.driver, '_plan', return_value=plan), \
                mock.patch.object(libvirt_driver.LibvirtDriver,
                                  '_live_migration', upstream), \
                mock.patch.object(nova_driver.act, 'flags_value',
                                  return_value=12345):
            self.driver._live_migration(self.context, self.instance,
                                        'compute2', None, None, True,
                                        mock.Mock())
        self.assertEqual([12345], seen)
        self.assertIsNone(nova_driver._PLANNED.flags)

    @decorators.idempotent_id('6e7f8a9b-0c1d-4e2f-9a3b-5c6d7e8f9a0b')
    def test_a_cancelled_migration_rolled_back_by_nova_stays_active(self):
        # Nova 34's monitor rolls a cancelled job back (migration
        # 'cancelled', instance ACTIVE), then raises the operation thread's
        # error, which the compute manager turns into ERROR.
        def upstream(driver, context, instance, dest, post, recover,
                     block, migrate_data):
            migrate_data.migration.status = status
            raise RuntimeError('operation aborted: job \'migration out\' '
                               'canceled by client')
        for status, passed_on in (('cancelled', False), ('running', True),
                                  ('error', True)):
            migrate_data = mock.Mock()
            with mock.patch.object(self.driver, '_plan',
                                   return_value=_plan()), \
                    mock.patch.object(libvirt_driver.LibvirtDriver,
                                      '_live_migration', upstream), \
                    mock.patch.object(nova_driver.act, 'flags_value',
                                      return_value=1):
                call = functools.partial(
                    self.driver._live_migration, self.context,
                    self.instance, 'compute2', None, None, True,
                    migrate_data)
                if passed_on:
                    self.assertRaises(RuntimeError, call)
                else:
                    call()
            self.assertEqual({}, self.driver._plans)

    @decorators.idempotent_id('5d6e7f8a-9b0c-4d1e-8f2a-4b5c6d7e8f9a')
    def test_the_monitor_takes_the_plans_downtime_steps(self):
        # As Nova's monitor asks for them, in the thread that called
        # _live_migration; Nova's own anywhere else.
        steps = ((0, 300), (150, 320), (300, 340))
        seen = []

        def upstream(*args):
            seen.append(list(libvirt_migrate.downtime_steps(4)))
        plan = _plan(monitor=MonitorPlan(steps, 3200, 'abort'))
        with mock.patch.object(self.driver, '_plan', return_value=plan), \
                mock.patch.object(libvirt_driver.LibvirtDriver,
                                  '_live_migration', upstream), \
                mock.patch.object(nova_driver.act, 'flags_value',
                                  return_value=1):
            self.driver._live_migration(self.context, self.instance,
                                        'compute2', None, None, True,
                                        mock.Mock())
        self.assertEqual([list(steps)], seen)
        novas = list(libvirt_migrate.downtime_steps.novas(4))
        self.assertEqual(novas, list(libvirt_migrate.downtime_steps(4)))
        self.assertNotEqual(list(steps), novas)
        # Wrapped once, however many drivers are made.
        nova_driver._install_downtime_steps()
        self.assertIs(libvirt_migrate.downtime_steps.novas.__module__,
                      libvirt_migrate.__name__)

    @decorators.idempotent_id('7f8a9b0c-1d2e-4f3a-9b4c-6d7e8f9a0b1c')
    def test_the_operation_in_novas_pool_thread_gets_the_plan(self):
        # Nova runs the operation in a thread of its pool, the monitor in
        # the caller's (found by the first real run: a thread-local plan).
        plan = _plan()
        got = []

        def upstream(driver, context, instance, *args):
            def operation():
                with mock.patch.object(
                        libvirt_driver.LibvirtDriver,
                        '_live_migration_operation',
                        lambda self, *a: got.append(a[5]._plan)):
                    self.driver._live_migration_operation(
                        context, instance, 'compute2', True, None,
                        self.guest, ['vda'])
            thread = nova_driver.threading.Thread(target=operation)
            thread.start()
            thread.join()
        with mock.patch.object(self.driver, '_plan', return_value=plan), \
                mock.patch.object(libvirt_driver.LibvirtDriver,
                                  '_live_migration', upstream):
            self.driver._live_migration(self.context, self.instance,
                                        'compute2', None, None, True,
                                        mock.Mock())
        self.assertEqual([plan], got)
        self.assertEqual({}, self.driver._plans)

    @decorators.idempotent_id('5d6e7f8a-9b0c-4d1e-9f2a-4b5c6d7e8f9a')
    def test_the_call_is_the_plans_with_novas_destination_xml(self):
        plan = _plan()
        guest = nova_driver._PlannedGuest(self.guest, plan)
        with mock.patch.object(nova_driver.act, 'start',
                               return_value='migrateToURI3') as start:
            # Nova's own flags and disk list are not what is sent.
            guest.migrate('qemu+tcp://compute2/system', migrate_disks=[
                'vda', 'vdb'], destination_xml='<domain/>', flags=1,
                bandwidth=0)
        domain, sent = start.call_args[0]
        self.assertIs(self.guest._domain, domain)
        self.assertEqual(plan.flags, sent.flags)
        self.assertEqual({'migrate_disks': ['vda'],
                          'destination_xml': '<domain/>',
                          'persistent_xml': '<domain/>'}, sent.params)
        self.assertEqual(plan.fallbacks, sent.fallbacks)


class TestEntryPoint(testtools.TestCase):
    # In a process of its own: Nova's starter must come before any other
    # import of Nova (it refuses to start once eventlet is imported).
    SCRIPT = """
import sys
from unittest import mock
from nova.cmd import compute
from oslo_utils import importutils
from reference import nova_compute
with mock.patch.object(compute, 'main', return_value=0) as main:
    assert nova_compute.main() == 0 and main.called
driver = importutils.import_class('nova.virt.' + nova_compute.COMPUTE_DRIVER)
print(driver.__module__, driver.__name__)
"""

    @decorators.idempotent_id('6e7f8a9b-0c1d-4e2f-8a3b-5c6d7e8f9a0b')
    def test_novas_loader_finds_the_driver_by_its_alias(self):
        # Nova 34 loads compute_driver from inside nova.virt only.
        from nova.virt import driver as virt_driver
        self.assertIn("'nova.virt.%s' % compute_driver", inspect.getsource(
            virt_driver.load_compute_driver))
        proc = subprocess.run([sys.executable, '-c', self.SCRIPT],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(0, proc.returncode, proc.stderr[-2000:])
        self.assertEqual('reference.nova_driver ReferenceLibvirtDriver',
                         proc.stdout.strip().splitlines()[-1])
