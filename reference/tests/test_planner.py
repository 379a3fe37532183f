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

"""The reference driver's policy, rule by rule (doc/source/policy.md)."""

import ddt

from reference.planner import BASE_FLAGS
from reference.planner import downtime_steps
from reference.tests import base
from reference.tests.base import host
from reference.tests.base import plan
from reference.tests.base import request
from reference import versions
from reference.versions import V

TUNNELLED = 'VIR_MIGRATE_TUNNELLED'
TLS = 'VIR_MIGRATE_TLS'
INC = 'VIR_MIGRATE_NON_SHARED_INC'
FULL = 'VIR_MIGRATE_NON_SHARED_DISK'
POSTCOPY = 'VIR_MIGRATE_POSTCOPY'
AUTO_CONVERGE = 'VIR_MIGRATE_AUTO_CONVERGE'
PARALLEL = 'VIR_MIGRATE_PARALLEL'

XENIAL_1217 = host('1.2.17', '2.5')
XENIAL_131 = host('1.3.1', '2.5')
TRUSTY = host('1.2.2', '2.0')
BIONIC = host('4.0.0', '2.11')
BOOKWORM = host('9.0.0', '7.2')
BOOKWORM_TLS = host('9.0.0', '7.2', tls_ready=True)


class TestSeedCase(base.TestCase):
    """The 2016 CI failure, with shipped defaults: it must now plan cleanly."""

    def _assert_2016_plan(self, stack):
        result = plan(source=stack, req=request('vda:local vdb:volume',
                                                operation='block'))
        self.assertEqual('migrateToURI3', result.api)
        self.assertNotIn(TUNNELLED, result.flags)
        self.assertIn(INC, result.flags)
        self.assertEqual(['vda'], result.params['migrate_disks'])

    def test_2016_block_migration_with_volume_libvirt_1_2_17(self):
        self._assert_2016_plan(XENIAL_1217)

    def test_2016_block_migration_with_volume_libvirt_1_3_1(self):
        self._assert_2016_plan(XENIAL_131)

    def test_2016_flags_as_then_shipped_are_refused_not_sent(self):
        # Nova 13's default block_migration_flag, as an operator had it.
        exc = self.assertRefused(
            'tunnelled-selective-disks', plan,
            {'block_migration_flag': 'VIR_MIGRATE_UNDEFINE_SOURCE, '
             'VIR_MIGRATE_PEER2PEER, VIR_MIGRATE_LIVE, VIR_MIGRATE_TUNNELLED,'
             ' VIR_MIGRATE_NON_SHARED_INC'},
            XENIAL_1217, None, request('vda:local vdb:volume', 'block'))
        self.assertIn('libvirt 1.2.17', exc.message)
        # The operator never set live_migration_tunnelled: the refusal
        # names the option and flag that asked for the tunnel.
        self.assertIn('remove VIR_MIGRATE_TUNNELLED from [libvirt] '
                      'block_migration_flag', exc.message)


@ddt.ddt
class TestBaseFlags(base.TestCase):
    @ddt.data(*base.STACKS)
    @ddt.unpack
    def test_base_flags_always_and_unsafe_never(self, libvirt, qemu):
        for operation, spec, shared in (('live', 'vda:local', True),
                                        ('block', 'vda:local vdb:volume',
                                         False),
                                        ('live', 'vdb:volume', False)):
            req = request(spec, operation, shared_storage=shared)
            if operation == 'block' and any(
                    versions.supports(f, host(libvirt, qemu)) for f in (
                        'storage_copy_broken', 'nbd_storage_copy_broken')):
                # libvirt 5.10.x or 8.7.x would lose the disks: no plan.
                self.assertRefused('storage-copy-broken', plan,
                                   source=host(libvirt, qemu), req=req)
                continue
            result = plan(source=host(libvirt, qemu), req=req)
            self.assertEqual(BASE_FLAGS, result.flags[:4])
            self.assertNotIn('VIR_MIGRATE_UNSAFE', result.flags)


@ddt.ddt
class TestOperation(base.TestCase):
    @ddt.data(
        # shared storage, request spec, resulting copy flag, migrate_disks
        (False, 'vda:local', INC, ['vda']),
        (True, 'vda:local', None, None),
        (False, 'vda:local vdb:local vdc:volume', INC, ['vda', 'vdb']),
        (False, 'vda:local hdc:readonly vdc:shareable', INC, ['vda']),
        (False, 'vdb:volume', None, None),
        (False, '', None, None),
    )
    @ddt.unpack
    def test_auto(self, shared, spec, copy_flag, migrate_disks):
        result = plan(req=request(spec, 'auto', shared_storage=shared))
        self.assertEqual(copy_flag is not None, copy_flag in result.flags)
        self.assertNotIn(FULL, result.flags)
        self.assertEqual(migrate_disks, result.params.get('migrate_disks'))

    def test_live_without_shared_storage_leaving_local_disks_is_refused(self):
        exc = self.assertRefused('live-migration-leaves-local-disks', plan,
                                 req=request('vda:local vdb:volume', 'live'))
        self.assertIn('vda', exc.message)

    def test_live_with_only_volumes_needs_no_shared_storage(self):
        result = plan(req=request('vda:volume', 'live'))
        self.assertNotIn(INC, result.flags)

    def test_block_on_shared_storage_is_refused(self):
        self.assertRefused('block-migration-on-shared-storage', plan,
                           req=request('vda:local', 'block',
                                       shared_storage=True))

    def test_block_with_nothing_local_sends_no_copy_flag(self):
        result = plan(req=request('vda:volume', 'block'))
        self.assertNotIn(INC, result.flags)
        self.assertNotIn('migrate_disks', result.params)


@ddt.ddt
class TestDiskSelection(base.TestCase):
    @ddt.data('1.2.17', '1.3.1', '4.0.0', '9.0.0', '12.8.0')
    def test_from_1_2_17_the_local_list_is_always_sent(self, libvirt):
        result = plan(source=host(libvirt, '2.5'),
                      req=request('vda:local vdb:local', 'block'))
        self.assertEqual(['vda', 'vdb'], result.params['migrate_disks'])

    def test_below_1_2_17_an_attached_volume_is_refused(self):
        exc = self.assertRefused(
            'block-migration-cannot-select-disks', plan, source=TRUSTY,
            req=request('vda:local vdb:volume', 'block'))
        self.assertIn('1.2.17', exc.message)
        self.assertIn('vdb', exc.message)

    @ddt.data('hdc:readonly', 'vdc:shareable')
    def test_below_1_2_17_readonly_and_shareable_disks_are_skipped(self,
                                                                   other):
        # libvirt's default selection copies writable, non-shareable disks
        # only: these are never copied, so no list is needed.
        result = plan(source=TRUSTY, req=request('vda:local ' + other,
                                                 'block'))
        self.assertIn(INC, result.flags)
        self.assertNotIn('migrate_disks', result.params)
        why = [d.why for d in result.decisions
               if d.what == 'no migrate_disks list']
        self.assertIn('skipped: %s' % other.split(':')[0], why[0])

    def test_below_1_2_17_all_local_copies_without_a_list(self):
        result = plan(source=TRUSTY, req=request('vda:local vdb:local'))
        self.assertIn(INC, result.flags)
        self.assertNotIn('migrate_disks', result.params)

    def test_mixed_pair_uses_the_older_host(self):
        self.assertRefused('block-migration-cannot-select-disks', plan,
                           source=BOOKWORM, destination=TRUSTY,
                           req=request('vda:local vdb:volume'))

    @ddt.data(('7.2.0', INC), ('7.3.0', FULL), ('7.5.0', FULL),
              ('7.6.0', INC))
    @ddt.unpack
    def test_non_shared_inc_regression_window(self, libvirt, flag):
        result = plan(source=host(libvirt, '5.2'), req=request('vda:local'))
        self.assertIn(flag, result.flags)
        self.assertEqual(['vda'], result.params['migrate_disks'])

    @ddt.data(
        # source, destination, their QEMU, the broken release, its fix
        ('8.7.0', '9.0.0', '7.1', '8.7.0', '8.8.0'),
        ('9.0.0', '8.7.2', '7.1', '8.7.2', '8.8.0'),
        ('8.7.0', '8.7.0', '7.1', '8.7.0', '8.8.0'),
        ('5.10.0', '6.0.0', '4.2', '5.10.0', '6.0.0'),
        ('6.0.0', '5.10.0', '4.2', '5.10.0', '6.0.0'))
    @ddt.unpack
    def test_a_broken_storage_copy_is_refused(self, src, dst, qemu, broken,
                                              fixed):
        exc = self.assertRefused('storage-copy-broken', plan,
                                 source=host(src, qemu),
                                 destination=host(dst, qemu),
                                 req=request('vda:local'))
        self.assertIn('would lose the local disks vda: libvirt %s' % broken,
                      exc.message)
        self.assertIn('upgrade libvirt to %s' % fixed, exc.message)

    @ddt.data('5.9.0', '6.0.0')
    def test_just_outside_5_10_the_disks_are_copied(self, libvirt):
        result = plan(source=host(libvirt, '4.1'),
                      destination=host(libvirt, '4.1'),
                      req=request('vda:local'))
        self.assertIn(INC, result.flags)

    @ddt.data('8.6.0', '8.8.0')
    def test_just_outside_8_7_the_disks_are_copied(self, libvirt):
        result = plan(source=host(libvirt, '7.1'), req=request('vda:local'))
        self.assertIn(INC, result.flags)

    def test_live_migration_on_8_7_is_not_refused(self):
        result = plan(source=host('8.7.0', '7.1'),
                      req=request('vda:local', shared_storage=True))
        self.assertNotIn(INC, result.flags)


@ddt.ddt
class TestTunnelledTrue(base.TestCase):
    OPTS = {'live_migration_tunnelled': True}

    @ddt.data(XENIAL_131, BIONIC, BOOKWORM)
    def test_live_without_storage_is_tunnelled(self, stack):
        result = plan(self.OPTS, stack,
                      req=request('vda:local', shared_storage=True))
        self.assertIn(TUNNELLED, result.flags)
        self.assertNotIn(TLS, result.flags)

    def test_storage_copy_of_local_disks_pre_blockdev_omits_the_list(self):
        result = plan(self.OPTS, XENIAL_131,
                      req=request('vda:local vdb:local'))
        self.assertIn(TUNNELLED, result.flags)
        self.assertIn(INC, result.flags)
        self.assertNotIn('migrate_disks', result.params)

    @ddt.data('vdb:volume', 'vdc:shareable')
    def test_selective_disks_through_the_tunnel_are_refused(self, other):
        # QEMU's in-stream copy takes every writable disk.
        self.assertRefused('tunnelled-selective-disks', plan, self.OPTS,
                           XENIAL_1217, req=request('vda:local ' + other))

    def test_a_readonly_disk_beside_the_tunnel_is_left_alone(self):
        result = plan(self.OPTS, XENIAL_131,
                      req=request('vda:local hdc:readonly'))
        self.assertIn(TUNNELLED, result.flags)
        self.assertNotIn('migrate_disks', result.params)

    @ddt.data(('6.0.0', '4.2'), ('9.0.0', '7.2'), ('12.8.0', '11.1'))
    @ddt.unpack
    def test_storage_copy_on_blockdev_stacks_is_refused(self, libvirt, qemu):
        exc = self.assertRefused('tunnelled-storage-copy', plan, self.OPTS,
                                 host(libvirt, qemu), req=request('vda:local'))
        self.assertIn('libvirt %s' % libvirt, exc.message)
        self.assertIn('-blockdev', exc.message)

    def test_storage_copy_on_qemu_9_1_is_refused(self):
        exc = self.assertRefused('tunnelled-storage-copy', plan, self.OPTS,
                                 host('5.4.0', '9.1'),
                                 req=request('vda:local'))
        self.assertIn('QEMU removed', exc.message)

    def test_mixed_pair_blockdev_on_one_side_is_refused(self):
        self.assertRefused('tunnelled-storage-copy', plan, self.OPTS,
                           XENIAL_131, BOOKWORM, request('vda:local'))

    @ddt.data(('7.3.0', '7.4.0'), ('7.5.0', '7.0.0'), ('9.0.0', '7.4.0'))
    @ddt.unpack
    def test_any_tunnel_on_libvirt_7_3_to_7_5_is_refused(self, src, dst):
        # libvirt 7.6.0 NEWS: the tunnel could copy storage nobody asked
        # for, shared volumes included, even for a live migration.
        exc = self.assertRefused(
            'tunnelled-storage-hazard', plan, self.OPTS, host(src, '6.0'),
            host(dst, '6.0'), request('vda:volume', shared_storage=True))
        self.assertIn('fixed in 7.6.0', exc.message)
        self.assertIn('live_migration_tunnelled = false', exc.message)

    @ddt.data('7.2.0', '7.6.0')
    def test_tunnel_just_outside_the_7_3_window_is_used(self, libvirt):
        result = plan(self.OPTS, host(libvirt, '6.0'),
                      req=request('vda:volume', shared_storage=True))
        self.assertIn(TUNNELLED, result.flags)


class TestTunnelledFalse(base.TestCase):
    def test_never_tunnelled(self):
        result = plan({'live_migration_tunnelled': False,
                       'live_migration_scheme': 'tls'},
                      req=request('vda:local', shared_storage=True))
        self.assertNotIn(TUNNELLED, result.flags)


@ddt.ddt
class TestAutoTransport(base.TestCase):
    """live_migration_tunnelled unset: the seed's tri-state."""

    @ddt.data(
        # scheme, tls_ready, spec, shared, options, expect TLS, TUNNELLED
        ('tcp', True, 'vda:local', False, {}, True, False),
        ('tcp', True, 'vda:local', True, {}, True, False),
        ('tls', False, 'vda:local', True, {}, False, True),
        ('ssh', False, 'vda:local', True, {}, False, True),
        ('tcp', False, 'vda:local', True, {}, False, False),
        ('tls', False, 'vda:local', False, {}, False, False),
        ('tls', False, 'vda:local', True,
         {'live_migration_permit_post_copy': True}, False, False),
        ('tls', False, 'vda:local', True,
         {'live_migration_parallel_connections': 4}, False, False),
        ('tls', False, 'vda:local', True,
         {'live_migration_permit_auto_converge': True}, False, True),
        ('tls', True, 'vda:local', True,
         {'live_migration_with_native_tls': False}, False, True),
    )
    @ddt.unpack
    def test_transport(self, scheme, ready, spec, shared, options, tls,
                       tunnelled):
        options = dict(options, live_migration_scheme=scheme)
        stack = host(tls_ready=ready)
        result = plan(options, stack, req=request(spec,
                                                  shared_storage=shared))
        self.assertEqual(tls, TLS in result.flags)
        self.assertEqual(tunnelled, TUNNELLED in result.flags)
        self.assertTrue(result.uri.startswith('qemu+%s://' % scheme))

    def test_auto_never_tunnels_on_libvirt_7_3_to_7_5(self):
        result = plan({'live_migration_scheme': 'tls'}, host('7.4.0', '6.0'),
                      req=request('vda:volume', shared_storage=True))
        self.assertNotIn(TUNNELLED, result.flags)
        why = [d.why for d in result.decisions if 'not tunnelled' in d.what]
        self.assertIn('libvirt may copy storage through a tunnel', why[0])

    def test_plain_native_says_the_stream_is_not_encrypted(self):
        result = plan(req=request('vda:local'))
        why = [d.why for d in result.decisions if 'not tunnelled' in d.what]
        self.assertIn('not encrypted', why[0])

    def test_live_migration_uri_is_honoured_as_nova_does(self):
        result = plan({'live_migration_uri': 'qemu+ssh://nova@%s/system'},
                      req=request('vda:volume', 'live',
                                  destination='compute2'))
        self.assertEqual('qemu+ssh://nova@compute2/system', result.uri)
        # Over SSH, with nothing to copy, the tunnel encrypts the stream.
        self.assertIn(TUNNELLED, result.flags)
        result = plan({'live_migration_uri': 'qemu+tcp://%s/system'},
                      req=request('vda:volume', 'live',
                                  destination_inbound_addr='2001:db8::2'))
        self.assertEqual('qemu+tcp://[2001:db8::2]/system', result.uri)
        self.assertNotIn(TUNNELLED, result.flags)

    @ddt.data(('4.3.0', '2.11'), ('4.4.0', '2.10'))
    @ddt.unpack
    def test_tls_needs_libvirt_4_4_and_qemu_2_11(self, libvirt, qemu):
        result = plan(source=host(libvirt, qemu, tls_ready=True))
        self.assertNotIn(TLS, result.flags)

    def test_tls_only_when_both_hosts_are_ready(self):
        result = plan(source=BOOKWORM_TLS, destination=BOOKWORM)
        self.assertNotIn(TLS, result.flags)


@ddt.ddt
class TestNativeTls(base.TestCase):
    def test_true_does_not_need_tls_ready(self):
        result = plan({'live_migration_with_native_tls': True})
        self.assertIn(TLS, result.flags)

    @ddt.data(XENIAL_131, host('4.0.0', '2.11'), host('5.4.0', '2.10'))
    def test_true_on_hosts_that_cannot_is_refused(self, stack):
        exc = self.assertRefused('native-tls-unsupported', plan,
                                 {'live_migration_with_native_tls': True},
                                 stack)
        self.assertIn('live_migration_with_native_tls = false', exc.message)

    @ddt.data(
        # libvirt, QEMU, refused: the memory stream alone (libvirt 3.2.0
        # release notes: QEMU >= 2.9); Ubuntu 18.04's 4.0 / 2.11 has it
        ('3.2.0', '2.9', False),
        ('4.0.0', '2.11', False),
        ('3.1.0', '2.9', True),
        ('3.2.0', '2.8', True),
    )
    @ddt.unpack
    def test_memory_only_tls_from_libvirt_3_2(self, libvirt, qemu, refused):
        args = ({'live_migration_with_native_tls': True},
                host(libvirt, qemu), None, request('vda:volume', 'live'))
        if refused:
            exc = self.assertRefused('native-tls-unsupported', plan, *args)
            self.assertIn('libvirt >= 3.2.0 and QEMU >= 2.9.0', exc.message)
        else:
            self.assertIn(TLS, plan(*args).flags)

    def test_memory_only_tls_is_chosen_on_bionic_when_ready(self):
        bionic = host('4.0.0', '2.11', tls_ready=True)
        self.assertIn(TLS, plan({}, bionic, None,
                                request('vda:volume', 'live')).flags)
        # A storage copy there would send the disks unencrypted.
        result = plan({}, bionic, None, request('vda:local', 'block'))
        self.assertNotIn(TLS, result.flags)
        why = [d.why for d in result.decisions
               if d.what == 'no native TLS (auto)']
        self.assertIn('a storage copy over native TLS needs libvirt >= 4.4.0',
                      why[0])

    def test_true_with_a_storage_copy_before_4_4_is_refused(self):
        exc = self.assertRefused(
            'native-tls-unsupported', plan,
            {'live_migration_with_native_tls': True}, host('4.0.0', '2.11'),
            None, request('vda:local', 'block'))
        self.assertIn('a storage copy over native TLS', exc.message)

    def test_true_with_block_copy_uses_nbd_over_tls(self):
        result = plan({'live_migration_with_native_tls': True},
                      req=request('vda:local vdb:volume'))
        self.assertIn(TLS, result.flags)
        self.assertIn(INC, result.flags)
        self.assertEqual(['vda'], result.params['migrate_disks'])


@ddt.ddt
class TestPermits(base.TestCase):
    @ddt.data(
        # stack, options, paused, expected flags present, absent
        (BOOKWORM, {'live_migration_permit_post_copy': True}, False,
         {POSTCOPY}, {AUTO_CONVERGE}),
        (BOOKWORM, {'live_migration_permit_post_copy': True}, True,
         set(), {POSTCOPY}),
        (XENIAL_131, {'live_migration_permit_post_copy': True}, False,
         set(), {POSTCOPY}),
        (BOOKWORM, {'live_migration_permit_post_copy': True,
                    'live_migration_permit_auto_converge': True}, False,
         {POSTCOPY}, {AUTO_CONVERGE}),
        (XENIAL_131, {'live_migration_permit_post_copy': True,
                      'live_migration_permit_auto_converge': True}, False,
         {AUTO_CONVERGE}, {POSTCOPY}),
        (host('1.2.2', '2.0'), {'live_migration_permit_auto_converge': True},
         False, set(), {AUTO_CONVERGE}),
        (BOOKWORM, {'live_migration_parallel_connections': 4}, False,
         {PARALLEL}, set()),
        (host('5.2.0', '3.1'), {'live_migration_parallel_connections': 4},
         False, set(), {PARALLEL}),
        (BOOKWORM, {'live_migration_parallel_connections': 4,
                    'live_migration_permit_post_copy': True}, False,
         {PARALLEL}, {POSTCOPY}),
        (BOOKWORM, {'live_migration_parallel_connections': 4,
                    'live_migration_permit_post_copy': True,
                    'live_migration_permit_auto_converge': True}, False,
         {PARALLEL, AUTO_CONVERGE}, {POSTCOPY}),
        (host('12.8.0', '11.1'), {'live_migration_parallel_connections': 4,
                                  'live_migration_permit_post_copy': True},
         False, {PARALLEL, POSTCOPY}, set()),
        # postcopy-ram since QEMU 2.6; 2.5 has only x-postcopy-ram.
        (host('1.3.3', '2.5'), {'live_migration_permit_post_copy': True},
         False, set(), {POSTCOPY}),
        (host('1.3.3', '2.6'), {'live_migration_permit_post_copy': True},
         False, {POSTCOPY}, set()),
        # auto-converge since QEMU 1.6.
        (host('1.2.3', '1.5'), {'live_migration_permit_auto_converge': True},
         False, set(), {AUTO_CONVERGE}),
        (host('1.2.3', '1.6'), {'live_migration_permit_auto_converge': True},
         False, {AUTO_CONVERGE}, set()),
        # Parallel connections carry TLS from QEMU 5.2: before it the
        # encryption is kept and the parallel connections dropped.
        (host('6.0.0', '5.1'), {'live_migration_parallel_connections': 4,
                                'live_migration_with_native_tls': True},
         False, {TLS}, {PARALLEL}),
        (host('6.0.0', '5.2'), {'live_migration_parallel_connections': 4,
                                'live_migration_with_native_tls': True},
         False, {TLS, PARALLEL}, set()),
    )
    @ddt.unpack
    def test_permit(self, stack, options, paused, present, absent):
        result = plan(options, stack, req=request('vda:local', paused=paused))
        self.assertTrue(present <= set(result.flags), result.flags)
        self.assertFalse(absent & set(result.flags), result.flags)
        if PARALLEL in present:
            self.assertEqual(4, result.params['parallel.connections'])
        else:
            self.assertNotIn('parallel.connections', result.params)

    def test_parallel_dropped_for_tls_says_why(self):
        result = plan({'live_migration_parallel_connections': 4,
                       'live_migration_with_native_tls': True},
                      host('6.0.0', '5.1'))
        why = {d.what: d.why for d in result.decisions}
        self.assertIn('QEMU >= 5.2.0',
                      why['no parallel connections, native TLS kept'])

    def test_every_permit_left_out_is_explained(self):
        result = plan({'live_migration_permit_post_copy': True,
                       'live_migration_parallel_connections': 4},
                      host('1.2.17', '2.5'))
        whats = [d.what for d in result.decisions]
        self.assertIn('no post-copy', whats)
        self.assertIn('no parallel connections', whats)


@ddt.ddt
class TestApi(base.TestCase):
    def test_uri3_from_1_1_0(self):
        self.assertEqual('migrateToURI3', plan(source=host('1.1.0', '1.5'),
                                               req=request('')).api)

    def test_uri2_when_the_binding_lacks_uri3_and_nothing_needs_it(self):
        stack = host(has_migrate_to_uri3=False)
        result = plan({'live_migration_bandwidth': 100}, stack,
                      req=request('vdb:volume', 'live'))
        self.assertEqual('migrateToURI2', result.api)
        self.assertEqual(('migrateToURI',), result.fallbacks)

    def test_uri2_cannot_carry_migrate_disks(self):
        exc = self.assertRefused('api-cannot-carry-params', plan,
                                 source=host(has_migrate_to_uri3=False),
                                 req=request('vda:local vdb:volume'))
        self.assertIn('migrate_disks', exc.message)

    @ddt.data(({}, ('migrateToURI2', 'migrateToURI')),
              ({'inbound': '192.0.2.2'}, ('migrateToURI2',)),
              ({'live_migration_parallel_connections': 2}, ()))
    @ddt.unpack
    def test_fallbacks_only_where_every_param_is_carried(self, options,
                                                         fallbacks):
        options = dict(options)
        inbound = options.pop('inbound', None)
        result = plan(options, req=request(
            'vda:volume', 'live', destination_inbound_addr=inbound))
        self.assertEqual(fallbacks, result.fallbacks)

    def test_no_fallback_once_a_disk_list_is_needed(self):
        self.assertEqual((), plan(req=request('vda:local')).fallbacks)


@ddt.ddt
class TestUriAndParams(base.TestCase):
    @ddt.data(
        # options, destination, its inbound address, URI, migrate_uri
        ({}, 'dest', None, 'qemu+tcp://dest/system', None),
        ({'live_migration_scheme': 'ssh'}, 'dest', None,
         'qemu+ssh://dest/system', None),
        ({}, 'dest', '192.0.2.2', 'qemu+tcp://192.0.2.2/system',
         'tcp://192.0.2.2'),
        ({}, 'dest', '2001:db8::2', 'qemu+tcp://[2001:db8::2]/system',
         'tcp://[2001:db8::2]'),
        ({}, '2001:db8::3', None, 'qemu+tcp://[2001:db8::3]/system', None),
        # The source's own inbound address is where *it* receives
        # migrations: it never redirects an outgoing one.
        ({'live_migration_inbound_addr': '192.0.2.1'}, 'dest', None,
         'qemu+tcp://dest/system', None),
        ({'live_migration_inbound_addr': '192.0.2.1'}, 'dest', '192.0.2.2',
         'qemu+tcp://192.0.2.2/system', 'tcp://192.0.2.2'),
    )
    @ddt.unpack
    def test_uri(self, options, destination, inbound, uri, migrate_uri):
        result = plan(options, req=request(
            destination=destination, destination_inbound_addr=inbound))
        self.assertEqual(uri, result.uri)
        self.assertEqual(migrate_uri, result.params.get('migrate_uri'))

    def test_the_sources_inbound_address_is_said_to_be_unused(self):
        result = plan({'live_migration_inbound_addr': '192.0.2.1'})
        whats = [d.what for d in result.decisions]
        self.assertIn("this host's live_migration_inbound_addr not used",
                      whats)

    def test_no_migrate_uri_when_tunnelled(self):
        result = plan({'live_migration_tunnelled': True},
                      req=request('vda:volume', 'live',
                                  destination_inbound_addr='192.0.2.2'))
        self.assertIn(TUNNELLED, result.flags)
        self.assertNotIn('migrate_uri', result.params)

    @ddt.data((BOOKWORM_TLS, 'compute2'), (host('5.4.0', '4.0',
                                                tls_ready=True), None))
    @ddt.unpack
    def test_tls_destination_names_the_host(self, stack, expected):
        result = plan({}, stack, req=request(
            destination='compute2', destination_inbound_addr='192.0.2.2'))
        self.assertIn(TLS, result.flags)
        self.assertEqual(expected, result.params.get('tls.destination'))

    @ddt.data(
        # source libvirt, destination libvirt, tls.destination sent
        ('6.0.0', '5.4.0', True),     # only the source's libvirt reads it
        ('5.4.0', '6.0.0', False),
    )
    @ddt.unpack
    def test_tls_destination_needs_only_the_source(self, source, destination,
                                                   sent):
        result = plan({}, host(source, '4.2', tls_ready=True),
                      host(destination, '4.2', tls_ready=True),
                      request('vda:volume', 'live', destination='compute2',
                              destination_inbound_addr='192.0.2.2'))
        self.assertIn(TLS, result.flags)
        self.assertEqual(sent, 'tls.destination' in result.params)

    @ddt.data(
        # stack, operation, what the plan must say
        (host('7.0.0', '5.2', tls_ready=True), 'block',
         'the destination certificate must also carry 192.0.2.2'),
        (host('9.0.0', '7.2', tls_ready=True), 'block', None),
        (host('7.0.0', '5.2', tls_ready=True), 'live', None),
        (host('5.4.0', '4.0', tls_ready=True), 'live',
         'the destination certificate must carry 192.0.2.2'),
    )
    @ddt.unpack
    def test_tls_to_an_inbound_address_names_the_certificate(
            self, stack, operation, said):
        spec = 'vda:local' if operation == 'block' else 'vda:volume'
        result = plan({}, stack, req=request(
            spec, operation, destination='compute2',
            destination_inbound_addr='192.0.2.2'))
        self.assertIn(TLS, result.flags)
        musts = [d.what for d in result.decisions if 'must' in d.what
                 and 'certificate' in d.what]
        self.assertEqual([said] if said else [], musts)

    @ddt.data((0, None), (250, 250))
    @ddt.unpack
    def test_bandwidth(self, value, expected):
        result = plan({'live_migration_bandwidth': value})
        self.assertEqual(expected, result.params.get('bandwidth'))

    def test_destination_xml_is_also_the_persistent_definition(self):
        result = plan(req=request(destination_xml='<domain/>'))
        self.assertEqual('<domain/>', result.params['destination_xml'])
        self.assertEqual('<domain/>', result.params['persistent_xml'])

    def test_persistent_xml_on_old_libvirt_is_refused(self):
        self.assertRefused('persistent-xml-unsupported', plan,
                           source=XENIAL_1217,
                           req=request(persistent_xml='<domain/>'))

    def test_destination_xml_on_old_libvirt_explains_persistence(self):
        result = plan(source=XENIAL_1217,
                      req=request(destination_xml='<domain/>'))
        self.assertNotIn('persistent_xml', result.params)
        self.assertIn('no persistent_xml', [d.what for d in result.decisions])


class TestHypervisor(base.TestCase):
    def test_kvm_guest_needs_kvm_on_the_destination(self):
        self.assertRefused('destination-lacks-kvm', plan,
                           source=host(hypervisor='kvm'),
                           destination=host(hypervisor='qemu'),
                           req=request(guest_hypervisor='kvm'))

    def test_qemu_guest_may_go_to_a_kvm_host(self):
        plan(source=host(), destination=host(hypervisor='kvm'))

    def test_other_hypervisors_are_refused(self):
        self.assertRefused('unsupported-hypervisor', plan,
                           source=host(hypervisor='xen'))


class TestRefusalMessages(base.TestCase):
    def test_names_both_hosts_and_the_setting(self):
        exc = self.assertRefused(
            'tunnelled-storage-copy', plan,
            {'live_migration_tunnelled': True}, host('8.0.0', '6.2'),
            host('9.0.0', '7.2'), request('vda:local'))
        self.assertIn('source libvirt 8.0.0 / QEMU 6.2.0', exc.message)
        self.assertIn('destination libvirt 9.0.0 / QEMU 7.2.0', exc.message)
        self.assertIn('[libvirt] live_migration_tunnelled', exc.message)


class TestMonitor(base.TestCase):
    def test_downtime_rises_linearly_to_the_maximum(self):
        settings = base.conf.settings()
        steps = downtime_steps(settings, 2.0)
        self.assertEqual((0, 50), steps[0])
        self.assertEqual((1500, 500), steps[-1])
        self.assertEqual(11, len(steps))
        self.assertEqual(sorted(steps), list(steps))

    def test_tcg_guest_on_old_qemu_keeps_the_default_downtime(self):
        result = plan(source=BOOKWORM, req=request('vda:volume'))
        self.assertEqual(300, result.monitor.downtime_steps[0][1])
        self.assertEqual(500, result.monitor.downtime_steps[-1][1])
        self.assertIn('downtime never below 300 ms',
                      [d.what for d in result.decisions])

    def test_kvm_guest_or_new_qemu_starts_low(self):
        kvm = host(hypervisor='kvm')
        for source, guest in ((kvm, 'kvm'), (host('11.3.0', '10.0'),
                                             'qemu')):
            result = plan(source=source, req=request(
                'vda:volume', guest_hypervisor=guest))
            self.assertEqual(50, result.monitor.downtime_steps[0][1])

    def test_completion_timeout_scales_with_data(self):
        result = plan(req=request('vda:local'))
        # 2 GiB of RAM (minimum) + 2 GiB for the copied disk (minimum).
        self.assertEqual(3200, result.monitor.completion_timeout_s)
        self.assertEqual('abort', result.monitor.timeout_action)

    def test_no_timeout_when_disabled(self):
        result = plan({'live_migration_completion_timeout': 0})
        self.assertIsNone(result.monitor.completion_timeout_s)


@ddt.ddt
class TestMachineType(base.TestCase):
    """The running guest's machine type must exist on the destination QEMU:
    no newer than its release, not one it deleted."""

    @ddt.data(
        # source QEMU, destination QEMU, machine type, refusal
        ('8.2', '7.2', 'pc-q35-8.2', 'machine-type-too-new'),
        ('8.2', '7.2', 'pc-i440fx-7.2', None),
        ('11.1', '5.2', 'pc-i440fx-5.2', None),      # measured: 12.8 -> 7.0
        ('11.1', '5.2', 'pc-i440fx-5.3', 'machine-type-too-new'),
        ('7.2', '7.2', 'q35', None),
        # An alias names no type: the guest may have started on an older
        # QEMU than the source runs now.
        ('8.2', '7.2', 'q35', None),
        ('7.2', '8.2', 'pc', None),
        ('8.2', '7.2', 'microvm', None),             # unversioned: unchecked
        # QEMU deletes versioned types (versions.MACHINE_TYPE_FLOORS).
        ('5.2', '11.1', 'pc-i440fx-2.3', 'machine-type-removed'),
        ('5.2', '11.1', 'pc-i440fx-5.1', 'machine-type-removed'),
        ('5.2', '11.1', 'pc-i440fx-5.2', None),
        ('7.2', '10.0', 'pc-i440fx-2.3', 'machine-type-removed'),
        ('7.2', '10.0', 'pc-q35-2.4', None),
        ('7.2', '9.0', 'pc-i440fx-2.3', None),       # no floor known there
        ('5.2', '7.2', 'pc-i440fx-2.3', None),
    )
    @ddt.unpack
    def test_machine_type(self, source, destination, machine, refusal):
        args = ({}, host('10.0.0', source), host('10.0.0', destination),
                request('vda:volume', 'live', machine_type=machine))
        if refusal:
            exc = self.assertRefused(refusal, plan, *args)
            self.assertIn('destination QEMU %s' % (V(destination),),
                          exc.message)
            self.assertIn(machine, exc.message)
        else:
            self.assertTrue(plan(*args).flags)

    @ddt.data(
        # refusal, source QEMU, destination QEMU, type, what it must say
        ('machine-type-too-new', '8.2', '7.2', 'pc-q35-8.2',
         ('hw_machine_type',)),
        ('machine-type-removed', '5.2', '11.1', 'pc-i440fx-2.3',
         ('update_machine_type', 'from 5.2 on')),
    )
    @ddt.unpack
    def test_a_refusal_says_what_to_change(self, error, source, destination,
                                           machine, said):
        exc = self.assertRefused(
            error, plan, {}, host('10.0.0', source),
            host('12.8.0', destination),
            request('vda:volume', 'live', machine_type=machine))
        for text in said:
            self.assertIn(text, exc.message)

    @ddt.data(
        # the destination's list, machine type, refused
        ({'pc-i440fx-2.3', 'pc-i440fx-7.2', 'pc'}, 'pc-i440fx-2.3', False),
        ({'pc-i440fx-5.2', 'pc-i440fx-11.1', 'pc-q35-11.1'}, 'pc-i440fx-5.1',
         True),
        ({'pc-q35-11.1'}, 'pc-i440fx-7.2', True),
    )
    @ddt.unpack
    def test_the_destinations_own_list_decides(self, offered, machine,
                                               refused):
        # The floors would refuse pc-i440fx-2.3 on QEMU 11.1: the list wins.
        args = ({}, host('10.0.0', '7.2'),
                host('12.8.0', '11.1', machine_types=frozenset(offered)),
                request('vda:volume', 'live', machine_type=machine))
        if refused:
            exc = self.assertRefused('machine-type-removed', plan, *args)
            self.assertIn('its libvirt lists', exc.message)
        else:
            self.assertTrue(plan(*args).flags)

    def test_an_alias_says_the_running_type_decides(self):
        result = plan({}, host('10.0.0', '11.1'), host('9.0.0', '7.2'),
                      request('vda:volume', 'live', machine_type='pc'))
        decision = next(d for d in result.decisions
                        if d.what == 'machine type pc not checked')
        self.assertIn('at most pc-i440fx-11.1', decision.why)

    def test_floors_are_ordered_and_cite_a_source(self):
        floors = versions.MACHINE_TYPE_FLOORS
        self.assertEqual(sorted(floors, key=lambda f: f.qemu_since),
                         list(floors))
        self.assertEqual(sorted(f.oldest_kept for f in floors),
                         [f.oldest_kept for f in floors])
        for floor in floors:
            self.assertTrue(floor.source)

    def test_unknown_type_and_older_destination_says_what_it_must_be(self):
        result = plan({}, host('10.0.0', '8.2'), host('9.0.0', '7.2'),
                      request('vda:volume', 'live'))
        whats = [d.what for d in result.decisions]
        self.assertIn('machine type must be at most pc-*-7.2', whats)

    def test_same_or_newer_destination_needs_no_word(self):
        result = plan({}, host('9.0.0', '7.2'), host('10.0.0', '8.2'),
                      request('vda:volume', 'live'))
        self.assertFalse([d for d in result.decisions
                          if 'machine type' in d.what])


@ddt.ddt
class TestConfigDrive(base.TestCase):
    """A config drive is local and read-only: libvirt never copies it, the
    destination needs it; Nova copies it first, and the plan says so."""

    @ddt.data(
        # spec, operation, shared storage, expected copy_before
        ('vda:local hdd:config', 'block', False, ('hdd',)),
        ('vda:volume hdd:config', 'live', False, ('hdd',)),
        ('vda:local hdd:config', 'live', True, ()),
    )
    @ddt.unpack
    def test_config_drive(self, spec, operation, shared, copy_before):
        result = plan(req=request(spec, operation, shared_storage=shared))
        self.assertEqual(copy_before, result.copy_before)
        self.assertNotIn('hdd', result.params.get('migrate_disks', []))

    def test_below_1_2_17_a_config_drive_needs_no_disk_list(self):
        result = plan(source=TRUSTY, req=request('vda:local hdd:config',
                                                 'block'))
        self.assertEqual(('hdd',), result.copy_before)
        self.assertNotIn('migrate_disks', result.params)

    def test_through_the_tunnel_a_config_drive_is_left_alone(self):
        result = plan({'live_migration_tunnelled': True}, XENIAL_131,
                      req=request('vda:local hdd:config'))
        self.assertIn(TUNNELLED, result.flags)
        self.assertEqual(('hdd',), result.copy_before)


@ddt.ddt
class TestDestinationXml(base.TestCase):
    """Listen addresses of graphics and TCP serial consoles that exist
    only on the source are rewritten in the destination XML (only an API
    that carries one is used), or refused where the destination gives no
    address; a vTPM's secret is defined on the destination first."""

    @ddt.data(
        # source listen, destination listen, refused, change
        ('0.0.0.0', None, None, None),              # every host's
        ('::', '192.0.2.2', None, None),
        ('127.0.0.1', None, None, None),            # loopback: the same
        ('192.0.2.1', '192.0.2.1', None, None),     # already the same
        ('192.0.2.1', '192.0.2.2', None,
         'graphics listen 192.0.2.1 -> 192.0.2.2'),
        ('192.0.2.1', None, 'graphics-listen-unmovable', None),
    )
    @ddt.unpack
    def test_graphics(self, source, destination, refused, change):
        req = request('vda:volume', 'live', graphics_listen=source,
                      destination_graphics_listen=destination)
        if refused:
            exc = self.assertRefused(refused, plan, req=req)
            self.assertIn('server_listen', exc.message)
            return
        result = plan(req=req)
        self.assertEqual((change,) if change else (),
                         result.destination_changes)

    def test_a_change_keeps_only_apis_that_carry_the_destination_xml(self):
        req = request('vda:volume', 'live', graphics_listen='192.0.2.1',
                      destination_graphics_listen='192.0.2.2')
        self.assertEqual(('migrateToURI2',), plan(req=req).fallbacks)
        self.assertEqual(('migrateToURI2', 'migrateToURI'),
                         plan(req=request('vda:volume', 'live')).fallbacks)
        # Without migrateToURI3, the older API must carry it, or refuse.
        no_uri3 = host(has_migrate_to_uri3=False)
        self.assertEqual('migrateToURI2', plan(source=no_uri3, req=req).api)

    @ddt.data(
        # source, destination, refused, changed
        ('192.0.2.1', None, 'serial-console-unmovable', False),
        # Nova 34's _update_serial_xml gives the consoles the destination's
        # own ports even where the address is the same.
        ('192.0.2.1', '192.0.2.1', None, True),
        ('192.0.2.1', '192.0.2.2', None, True),
    )
    @ddt.unpack
    def test_serial_console(self, source, destination, refused, changed):
        req = request('vda:volume', 'live', serial_listen=source,
                      destination_serial_listen=destination)
        if refused:
            exc = self.assertRefused(refused, plan, req=req)
            self.assertIn('[serial_console]', exc.message)
            return
        result = plan(req=req)
        self.assertEqual(changed, bool(result.destination_changes))
        # The API and every fallback carry the destination XML.
        self.assertNotIn('migrateToURI', (result.api,) + result.fallbacks)

    @ddt.data(
        # security, source stack, refused
        ('host', ('9.0.0', '7.2'), None),
        ('host', ('8.0.0', '6.2'), None),
        ('host', ('7.0.0', '5.2'), 'vtpm-too-old'),
        ('user', ('9.0.0', '7.2'), 'vtpm-secret-not-movable'),
        ('deployment', ('9.0.0', '7.2'), 'vtpm-secret-not-movable'),
    )
    @ddt.unpack
    def test_vtpm(self, security, stack, refused):
        req = request('vda:local', 'block', vtpm=security)
        if refused:
            self.assertRefused(refused, plan, source=host(*stack), req=req)
            return
        result = plan(source=host(*stack), req=req)
        self.assertEqual(('vtpm-secret',), result.define_before)
        self.assertIn('define the vTPM secret on the destination first',
                      [d.what for d in result.decisions])

    def test_no_vtpm_no_console_no_change(self):
        result = plan()
        self.assertEqual((), result.destination_changes)
        self.assertEqual((), result.define_before)
