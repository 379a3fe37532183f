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

"""The simulated libvirt reproduces the facts it was written from.

Each row is a fact of shared/facts/libvirt-migration.md (sections 2 and 3):
versions, flags, params and disks -> what real libvirt did.  The lab checks
the same table against real libvirt for the versions it runs.
"""

import importlib.util
import unittest

import ddt

from reference import model
from reference.tests import base
from reference.tests.base import disks
from reference.tests.base import host
from reference.tests import simulated_libvirt as sim

B = ('LIVE', 'PEER2PEER', 'PERSIST_DEST', 'UNDEFINE_SOURCE')


def call(stack, extra=(), params=None, spec='vda:local', **kw):
    flags = frozenset(model.flag(f) for f in B + tuple(extra))
    return sim.Call(stack, kw.pop('destination', stack), flags,
                    params or {}, disks(spec), **kw)


BOOKWORM = host('9.0.0', '7.2')
XENIAL = host('1.2.17', '2.5')

FACTS = (
    # (stack, extra flags, params, disks, error, hazard, copied)
    (XENIAL, ('TUNNELLED', 'NON_SHARED_INC'), {'migrate_disks': ['vda']},
     'vda:local vdb:volume', 'VIR_ERR_OPERATION_UNSUPPORTED', None, None),
    (XENIAL, ('TUNNELLED', 'NON_SHARED_INC'), {}, 'vda:local vdb:volume',
     None, 'shared-disk-copied', {'vda', 'vdb'}),
    (XENIAL, ('NON_SHARED_INC',), {'migrate_disks': ['vda']},
     'vda:local vdb:volume', None, None, {'vda'}),
    # libvirt 1.2.17 built from source (lab conformance rows
    # local-disk-without-copy, unknown-disk-target): no refusal of a local
    # disk left behind; an unknown target is refused.
    (XENIAL, (), {}, 'vda:local', None, 'local-disk-left-behind-silently',
     set()),
    (XENIAL, ('NON_SHARED_DISK',), {'migrate_disks': ['nope']}, 'vda:local',
     'VIR_ERR_INVALID_ARG', None, None),
    (BOOKWORM, (), {}, '', None, None, set()),
    (BOOKWORM, (), {}, 'vda:local', 'VIR_ERR_MIGRATE_UNSAFE', None, None),
    (BOOKWORM, ('TUNNELLED',), {}, '', None, None, set()),
    (BOOKWORM, ('NON_SHARED_INC',), {}, 'vda:local', None, None, {'vda'}),
    (BOOKWORM, ('NON_SHARED_DISK',), {}, 'vda:local', None, None, {'vda'}),
    (BOOKWORM, ('NON_SHARED_DISK',), {'migrate_disks': ['vda']},
     'vda:local vdb:local', 'VIR_ERR_MIGRATE_UNSAFE', None, None),
    (BOOKWORM, ('NON_SHARED_DISK',), {'migrate_disks': ['nope']},
     'vda:local', 'VIR_ERR_MIGRATE_UNSAFE', None, None),
    (BOOKWORM, ('NON_SHARED_DISK',), {'migrate_disks': ['vda', 'nope']},
     'vda:local', 'VIR_ERR_INVALID_ARG', None, None),
    (BOOKWORM, ('TUNNELLED', 'NON_SHARED_INC'), {}, 'vda:local',
     'VIR_ERR_INTERNAL_ERROR', None, None),
    (BOOKWORM, ('TUNNELLED', 'UNSAFE'), {'migrate_disks': ['vda']},
     'vda:local', None, 'unsafe-ignores-disk-list', set()),
    (BOOKWORM, ('TLS',), {}, '', None, None, set()),
    (BOOKWORM, ('TUNNELLED', 'TLS'), {}, '', 'VIR_ERR_OPERATION_FAILED',
     None, None),
    (BOOKWORM, ('TUNNELLED', 'NON_SHARED_INC'), {'migrate_disks': ['vda']},
     'vda:local vdb:volume', 'VIR_ERR_OPERATION_UNSUPPORTED', None, None),
    (BOOKWORM, ('TLS', 'NON_SHARED_DISK'), {}, 'vda:local', None, None,
     {'vda'}),
    (BOOKWORM, ('POSTCOPY',), {}, '', None, None, set()),
    (BOOKWORM, ('AUTO_CONVERGE',), {}, '', None, None, set()),
    (BOOKWORM, ('COMPRESSED',), {}, '', None, None, set()),
    (BOOKWORM, ('PARALLEL',), {'parallel.connections': 2}, '', None, None,
     set()),
    (BOOKWORM, ('NON_SHARED_INC',), {'migrate_disks': ['vda']},
     'vda:local vdb:volume', None, None, {'vda'}),
    (BOOKWORM, ('NON_SHARED_INC',), {}, 'vda:local vdb:volume',
     'VIR_ERR_OPERATION_UNSUPPORTED', None, None),
    (BOOKWORM, ('NON_SHARED_DISK',), {}, 'vda:local vdb:volume', None,
     'shared-disk-copied', {'vda', 'vdb'}),
    (BOOKWORM, ('NON_SHARED_INC',), {}, 'vda:local vdb:shareable', None,
     None, {'vda'}),
    (BOOKWORM, ('TUNNELLED', 'NON_SHARED_DISK'), {'migrate_disks': ['vda']},
     'vda:local vdb:volume', 'VIR_ERR_INTERNAL_ERROR', None, None),
    (host('12.8.0', '11.1'), ('TUNNELLED', 'NON_SHARED_INC'), {},
     'vda:local', 'VIR_ERR_OPERATION_UNSUPPORTED', None, None),
    (BOOKWORM, ('POSTCOPY', 'TUNNELLED'), {}, '',
     'VIR_ERR_ARGUMENT_UNSUPPORTED', None, None),
    (BOOKWORM, ('ZEROCOPY',), {}, '', 'VIR_ERR_OPERATION_INVALID', None,
     None),
    (host('7.4.0', '6.0'), ('NON_SHARED_INC',), {'migrate_disks': ['vda']},
     'vda:local', None, 'incremental-copy-broken', set()),
    (host('7.4.0', '6.0'), ('TUNNELLED',), {}, 'vda:volume', None,
     'tunnel-copies-storage', None),
    (host('8.7.0', '7.1'), ('NON_SHARED_DISK',), {'migrate_disks': ['vda']},
     'vda:local', None, 'storage-copy-broken', set()),
    (host('5.10.0', '4.2'), ('NON_SHARED_INC',), {'migrate_disks': ['vda']},
     'vda:local', None, 'nbd-storage-copy-broken', {'vda'}),
    (host('1.3.1', '2.5'), ('POSTCOPY',), {}, '', 'VIR_ERR_INVALID_ARG',
     None, None),
    (host('1.2.17', '2.5'), ('TLS',), {}, '', 'VIR_ERR_INVALID_ARG', None,
     None),
    (host('4.0.0', '2.11'), ('TLS', 'NON_SHARED_INC'),
     {'migrate_disks': ['vda']}, 'vda:local', None, 'tls-nbd-unencrypted',
     {'vda'}),
    (host('1.2.17', '2.5'), ('PARALLEL',), {}, '', 'VIR_ERR_INVALID_ARG',
     None, None),
    (host('1.3.1', '2.5'), (), {'persistent_xml': '<domain/>'}, '',
     'VIR_ERR_ARGUMENT_UNSUPPORTED', None, None),
    (host('10.0.0', '8.2'), ('POSTCOPY', 'PARALLEL'), {}, '', None,
     'postcopy-parallel-old-qemu', set()),
    (host('1.0.5', '1.4'), (), {}, '', 'VIR_ERR_NO_SUPPORT', None, None),
    # Measured by the lab's upgrade matrix on libvirt 7.0, 11.3 and 12.8.
    (host('7.0.0', '5.2'), ('NON_SHARED_INC',), {}, 'vda:local vdb:volume',
     'VIR_ERR_OPERATION_UNSUPPORTED', None, None),
    (host('12.8.0', '11.1'), ('NON_SHARED_INC',), {}, 'vda:local vdb:volume',
     None, 'shared-disk-copied', {'vda', 'vdb'}),
    (host('7.0.0', '5.2'), ('TUNNELLED', 'UNSAFE'), {'migrate_disks': ['vda']},
     'vda:local', None, 'unsafe-ignores-disk-list', set()),
    (host('11.3.0', '10.0'), ('TUNNELLED', 'UNSAFE'),
     {'migrate_disks': ['vda']}, 'vda:local', 'VIR_ERR_OPERATION_UNSUPPORTED',
     None, None),
    (host('1.0.5', '1.4'), (), {}, '', None, None, set(),
     {'api': 'migrateToURI2'}),
    (BOOKWORM, (), {}, '', 'VIR_ERR_CONFIG_UNSUPPORTED', None, None,
     {'guest_hypervisor': 'kvm'}),
    (BOOKWORM, (), {}, '', None, None, set(),
     {'guest_hypervisor': 'kvm', 'destination': host(hypervisor='kvm')}),
    (BOOKWORM, ('TUNNELLED',), {'migrate_uri': 'tcp://192.0.2.2'}, '',
     'VIR_ERR_ARGUMENT_UNSUPPORTED', None, None),
    # libvirt 3.2.0 release notes: native TLS needs QEMU >= 2.9 (the memory
    # stream; Ubuntu 18.04's libvirt 4.0 / QEMU 2.11 has it).
    (host('4.4.0', '2.8'), ('TLS',), {}, '', 'VIR_ERR_OPERATION_UNSUPPORTED',
     None, None),
    (host('4.0.0', '2.11'), ('TLS',), {}, '', None, None, set()),
    # tls.destination is read by the source's libvirt only (it is not
    # forwarded to the destination's Prepare phase).
    (host('6.0.0', '4.2'), ('TLS',), {'tls.destination': 'dest'}, '', None,
     None, set(), {'destination': host('5.4.0', '4.0')}),
    (host('5.4.0', '4.0'), ('TLS',), {'tls.destination': 'dest'}, '',
     'VIR_ERR_ARGUMENT_UNSUPPORTED', None, None,
     {'destination': host('6.0.0', '4.2')}),
    (host('4.3.0', '2.11'), ('TLS', 'NON_SHARED_INC'),
     {'migrate_disks': ['vda']}, 'vda:local', 'VIR_ERR_OPERATION_UNSUPPORTED',
     None, None),
    (host('5.2.0', '3.1'), ('PARALLEL',), {}, '',
     'VIR_ERR_OPERATION_UNSUPPORTED', None, None),
    (BOOKWORM, (), {'migrate_disks': ['vda']}, 'vda:local',
     'VIR_ERR_MIGRATE_UNSAFE', None, None),
    (BOOKWORM, (), {'migrate_disks': ['vdb']}, 'vdb:volume', None, None,
     set()),
    (host('12.8.0', '11.1'), (), {'migrate_disks': ['vdb']}, 'vdb:volume',
     'VIR_ERR_OPERATION_UNSUPPORTED', None, None),
    (BOOKWORM, ('POSTCOPY',), {}, '', 'VIR_ERR_ARGUMENT_UNSUPPORTED', None,
     None, {'paused': True}),
)


@ddt.ddt
class TestBehaviourTable(base.TestCase):
    @ddt.data(*FACTS)
    @ddt.unpack
    def test_fact(self, stack, extra, params, spec, error, hazard, copied,
                  kw=None):
        outcome = sim.evaluate(call(stack, extra, params, spec, **(kw or {})))
        self.assertEqual(error, outcome.error, outcome)
        self.assertEqual(hazard, outcome.rule if outcome.hazard else None,
                         outcome)
        if copied is not None:
            self.assertEqual(copied, set(outcome.copied))

    def test_every_row_names_a_source(self):
        for row in sim.BEHAVIOUR:
            self.assertTrue(row.source, row.name)

    def test_every_row_is_reached_by_some_fact(self):
        reached = {sim.evaluate(call(*f[:4], **(f[7] if len(f) > 7 else {})))
                   .rule for f in FACTS}
        self.assertEqual(set(), {r.name for r in sim.BEHAVIOUR} - reached)


class TestFakeModule(base.TestCase):
    @unittest.skipUnless(importlib.util.find_spec('libvirt'),
                         'libvirt-python is not installed in this '
                         'environment; tox -e functional checks it')
    def test_constants_equal_real_libvirt(self):
        import libvirt
        for name in [n for n in dir(sim) if n.startswith('VIR_')]:
            self.assertEqual(getattr(libvirt, name), getattr(sim, name), name)
