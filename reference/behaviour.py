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

"""What libvirt does with a migration call, per version, as data.

``BEHAVIOUR`` is an ordered table: the first row whose condition holds for a
migration call decides its outcome -- an error (its VIR_ERR_* name and the
message real libvirt returns), a silent hazard (the call "succeeds" but does
the wrong thing), or success with the set of disks copied.  Each row names
its source: ``measured`` rows were seen on real libvirt in the lab; the lab's
conformance rows and the upgrade matrix check every row they can reach
against real libvirt 7.0, 9.0, 11.3 and 12.8.  The thresholds it depends on
are spelled once, in reference.versions.

The unit tests' simulated ``libvirt`` module (reference/tests/
simulated_libvirt.py) decides its migrations with this table.
"""

import dataclasses

from reference import model
from reference.model import DiskKind
from reference.model import HostCapabilities
from reference.versions import FLAG_SINCE
from reference.versions import PARAM_SINCE
from reference.versions import SOURCE_ONLY_PARAMS
from reference.versions import supports
from reference.versions import V

# Not a libvirt error: a daemon crashed on the call (seen in the lab).
DAEMON_DIED = 'libvirtd-died'


@dataclasses.dataclass(frozen=True)
class Call:
    """One migration call as libvirt sees it."""

    source: HostCapabilities
    destination: HostCapabilities
    flags: frozenset           # VIR_MIGRATE_* names
    params: dict
    disks: tuple               # reference.model.Disk
    shared_storage: bool = False
    paused: bool = False
    guest_hypervisor: str = 'qemu'
    api: str = 'migrateToURI3'

    def has(self, *names):
        return all(model.flag(n) in self.flags for n in names)

    @property
    def copies_storage(self):
        return model.copies_storage(self.flags)

    @property
    def lowest_libvirt(self):
        return min(self.source.libvirt, self.destination.libvirt)

    def either(self, feature):
        return (supports(feature, self.source)
                or supports(feature, self.destination))


@dataclasses.dataclass(frozen=True)
class Outcome:
    rule: str
    error: str | None = None      # VIR_ERR_* name
    message: str = ''
    hazard: str | None = None     # "succeeds" but does the wrong thing
    copied: frozenset = frozenset()
    also: tuple = ()              # other errors real libvirt gave for it

    def matches(self, error):
        """Whether a real outcome (VIR_ERR_* name or None) is this one."""
        return error == self.error or error in self.also

    @property
    def ok(self):
        return self.error is None and self.hazard is None


def _nbd_default_set(call):
    """Disks libvirt copies over NBD when no migrate_disks list is given."""
    return frozenset(d.target for d in call.disks
                     if d.kind in (DiskKind.LOCAL, DiskKind.VOLUME))


def _legacy_default_set(call):
    """QEMU's in-stream block migration copies every writable disk."""
    return frozenset(d.target for d in call.disks
                     if d.kind not in (DiskKind.READONLY, DiskKind.CONFIG))


def _copy_set(call):
    """What the storage copy would cover, as libvirt computes it."""
    if not call.copies_storage:
        return frozenset()
    if 'migrate_disks' in call.params:
        return frozenset(call.params['migrate_disks'])
    if call.has('TUNNELLED'):
        return _legacy_default_set(call)
    return _nbd_default_set(call)


def _local_left_behind(call):
    if call.shared_storage or call.has('UNSAFE'):
        return False
    local = {d.target for d in call.disks if d.kind is DiskKind.LOCAL}
    return bool(local - _copy_set(call))


def _non_local_copied(call):
    others = {d.target for d in call.disks if d.kind is not DiskKind.LOCAL}
    return sorted(others & _copy_set(call))


@dataclasses.dataclass(frozen=True)
class Behaviour:
    name: str
    when: object        # Call -> bool
    error: str | None
    message: object     # text, or Call -> text
    source: str
    hazard: bool = False
    copies: object = _copy_set   # Call -> what a hazard really copies
    also: tuple = ()             # other errors seen for the same call

    def outcome(self, call):
        message = self.message(call) if callable(self.message) else \
            self.message
        if self.hazard:
            return Outcome(self.name, hazard=message, copied=self.copies(call))
        return Outcome(self.name, error=self.error, message=message,
                       also=self.also)


def _unknown_flags(call):
    return sorted(f for f in call.flags if FLAG_SINCE[f] > call.lowest_libvirt)


def _unknown_params(call):
    """Parameters a host's libvirt does not know: the source reads them
    all, the destination all but SOURCE_ONLY_PARAMS."""
    return sorted(p for p in call.params if PARAM_SINCE[p] > (
        call.source.libvirt if p in SOURCE_ONLY_PARAMS
        else call.lowest_libvirt))


def _in(call, low, high):
    return low <= call.source.libvirt < high


_MEASURED_9_0 = 'measured: libvirt 9.0.0 / QEMU 7.2 in the lab'

BEHAVIOUR = (
    Behaviour('api-missing',
              lambda c: c.api == 'migrateToURI3'
              and not supports('migrate_to_uri3', c.source),
              'VIR_ERR_NO_SUPPORT',
              'this function is not supported by the connection driver: '
              'virDomainMigrateToURI3',
              'virDomainMigrateToURI3 since 1.1.0'),
    Behaviour('flag-unknown', _unknown_flags, 'VIR_ERR_INVALID_ARG',
              lambda c: 'invalid argument: unsupported flags (%s) in '
              'function qemuMigrationSrcPerform' % ', '.join(
                  _unknown_flags(c)),
              'virCheckFlags; flag "Since" tags in libvirt-domain.h'),
    Behaviour('param-unknown', _unknown_params, 'VIR_ERR_ARGUMENT_UNSUPPORTED',
              lambda c: 'argument unsupported: parameter \'%s\' not '
              'supported' % _unknown_params(c)[0],
              'virTypedParamsValidate; parameter "Since" tags'),
    Behaviour('kvm-guest-without-kvm',
              lambda c: c.guest_hypervisor == 'kvm'
              and c.destination.hypervisor != 'kvm',
              'VIR_ERR_CONFIG_UNSUPPORTED',
              'unsupported configuration: Domain requires KVM, but it is not '
              'available', 'qemuProcessStartValidate'),
    Behaviour('tunnelled-migrate-uri',
              lambda c: c.has('TUNNELLED') and 'migrate_uri' in c.params,
              'VIR_ERR_ARGUMENT_UNSUPPORTED',
              'argument unsupported: migration URI is not supported by '
              'tunnelled migration', 'qemuMigrationSrcPerformPeer2Peer'),
    Behaviour('tunnelled-tls', lambda c: c.has('TUNNELLED', 'TLS'),
              'VIR_ERR_OPERATION_FAILED',
              'operation failed: job \'migration out\' failed: TLS handshake '
              'failed: Error in the pull function.',
              _MEASURED_9_0 + ': either error, from one run to the next; '
              'on 7.0 and 11.3 a libvirtd died (lab matrix)',
              also=('VIR_ERR_INTERNAL_ERROR', DAEMON_DIED)),
    Behaviour('postcopy-tunnelled', lambda c: c.has('POSTCOPY', 'TUNNELLED'),
              'VIR_ERR_ARGUMENT_UNSUPPORTED',
              'argument unsupported: post-copy is not supported with '
              'tunnelled migration', 'qemu_migration.c '
              'qemuMigrationSrcBeginPhase'),
    Behaviour('postcopy-not-live',
              lambda c: c.has('POSTCOPY') and (c.paused or not c.has('LIVE')),
              'VIR_ERR_ARGUMENT_UNSUPPORTED',
              'argument unsupported: post-copy migration is not supported '
              'with non-live or paused migration', 'qemu_migration.c '
              'qemuMigrationSrcBeginPhase'),
    Behaviour('zerocopy-without-parallel',
              lambda c: c.has('ZEROCOPY') and not c.has('PARALLEL'),
              'VIR_ERR_OPERATION_INVALID',
              'operation invalid: zero-copy is only available for parallel '
              'migration', 'qemuMigrationParamsFromFlags'),
    Behaviour('tls-old-qemu',
              lambda c: c.has('TLS')
              and min(c.source.qemu, c.destination.qemu) < V('2.9'),
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: Setting the migration parameter '
              'tls-creds is not supported by QEMU binary',
              'qemuMigrationParamsEnableTLS; libvirt 3.2.0 release notes: '
              'native TLS needs QEMU >= 2.9'),
    Behaviour('tls-nbd-unencrypted',
              lambda c: c.has('TLS') and c.copies_storage
              and c.lowest_libvirt < V('4.2'),
              None, 'TLS was asked for but the NBD disk stream is sent '
              'unencrypted', 'libvirt 4.2.0 release notes', hazard=True),
    Behaviour('tls-nbd-refused',
              lambda c: c.has('TLS') and c.copies_storage
              and c.lowest_libvirt < V('4.4'),
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: NBD migration with TLS is not '
              'supported', 'libvirt 4.2.0 / 4.4.0 release notes'),
    Behaviour('parallel-old-qemu',
              lambda c: c.has('PARALLEL')
              and min(c.source.qemu, c.destination.qemu) < V('4.0'),
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: Multiple connections are not '
              'supported by QEMU binary', 'qemuMigrationParamsCheck'),
    Behaviour('postcopy-parallel-old-qemu',
              lambda c: c.has('POSTCOPY', 'PARALLEL')
              and not supports('parallel_with_post_copy', c.source,
                               c.destination),
              None, 'post-copy with parallel connections: after the switch '
              'the guest can end SHUTOFF', 'QEMU 10.1 release notes; '
              'operator reports', hazard=True),
    Behaviour('unsafe-ignores-disk-list',
              lambda c: c.has('TUNNELLED', 'UNSAFE')
              and 'migrate_disks' in c.params and not c.copies_storage
              and c.source.libvirt < V('11.3'),
              None, 'the migrate_disks list is silently ignored: nothing is '
              'copied', _MEASURED_9_0 + '; 7.0 too (lab matrix); 11.3 and '
              '12.8 refuse the list (disk-list-without-copy)', hazard=True),
    Behaviour('tunnelled-incremental-with-volume-9.0',
              lambda c: c.has('TUNNELLED', 'NON_SHARED_INC')
              and _non_local_copied(dataclasses.replace(
                  c, params={k: v for k, v in c.params.items()
                             if k != 'migrate_disks'}))
              and V('9.0') <= c.source.libvirt < V('9.1'),
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: pre-creation of storage targets for '
              'incremental storage migration is not supported',
              _MEASURED_9_0 + ' (the tunnelled prepare passes no disk list, '
              'so the destination looks for the volume too)'),
    Behaviour('tunnelled-storage-blockdev-9.0',
              lambda c: c.has('TUNNELLED') and c.copies_storage
              and c.either('blockdev')
              and c.source.libvirt >= V('9.0') and c.source.libvirt < V('9.1'),
              'VIR_ERR_INTERNAL_ERROR',
              'internal error: argument key \'host\' must not have null '
              'value', _MEASURED_9_0 + ' (the intended error is only logged)'),
    Behaviour('tunnelled-storage-blockdev',
              lambda c: c.has('TUNNELLED') and c.copies_storage
              and (c.either('blockdev')
                   or not supports('qemu_legacy_block_migration', c.source,
                                   c.destination)),
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: migration of non-shared storage is '
              'not supported with tunnelled migration and this QEMU',
              'qemu_migration.c qemuMigrationSrcBeginPhase '
              '(QEMU_CAPS_BLOCKDEV: libvirt >= 5.10 with QEMU >= 4.2)'),
    Behaviour('tunnelled-selective-disks',
              lambda c: c.has('TUNNELLED') and c.copies_storage
              and 'migrate_disks' in c.params,
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: Selecting disks to migrate is not '
              'implemented for tunnelled migration',
              'qemu_migration.c qemuMigrationSrcBeginPhase; the 2016 CI '
              'failure on libvirt 1.2.17'),
    Behaviour('local-disk-left-behind',
              lambda c: _local_left_behind(c) and supports(
                  'refuses_local_disk_left_behind', c.source),
              'VIR_ERR_MIGRATE_UNSAFE',
              'Unsafe migration: Migration without shared storage is unsafe',
              _MEASURED_9_0),
    Behaviour('disk-list-without-copy',
              lambda c: 'migrate_disks' in c.params and not c.copies_storage
              and c.source.libvirt >= V('11.3'),
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: use of \'VIR_MIGRATE_PARAM_MIGRATE_'
              'DISKS\' requires use of \'VIR_MIGRATE_NON_SHARED_DISK\' or '
              '\'VIR_MIGRATE_NON_SHARED_INC\' flag',
              'measured: libvirt 11.3 and 12.8 (lab matrix); 7.0 and 9.0 '
              'ignore the list'),
    Behaviour('disk-list-unknown-target',
              lambda c: set(c.params.get('migrate_disks', ()))
              - {d.target for d in c.disks},
              'VIR_ERR_INVALID_ARG',
              lambda c: 'invalid argument: disk target %s not found' % sorted(
                  set(c.params['migrate_disks'])
                  - {d.target for d in c.disks})[0], _MEASURED_9_0),
    Behaviour('local-disk-left-behind-silently', _local_left_behind, None,
              'a local disk is neither copied nor shared: the guest runs on '
              'the destination over whatever that path holds there',
              'measured: libvirt 1.2.17 and 1.3.1 built from source (lab '
              'conformance, local-disk-without-copy)', hazard=True),
    Behaviour('incremental-copy-of-volume',
              lambda c: c.has('NON_SHARED_INC') and not c.has('TUNNELLED')
              and _non_local_copied(c)
              and V('1.2.19') <= c.destination.libvirt < V('11.3'),
              'VIR_ERR_OPERATION_UNSUPPORTED',
              'Operation not supported: pre-creation of storage targets for '
              'incremental storage migration is not supported',
              'libvirt commit 6da3b694c (first in 1.2.19), the destination\'s '
              'qemuMigrationPrecreateStorage; ' + _MEASURED_9_0 + ', 7.0 and '
              '1.3.1 built from source (volume attached, no migrate_disks); '
              '1.2.17 copies the volume; 11.3 and 12.8 accept it and copy '
              'the volume onto itself'),
    Behaviour('shared-disk-copied', _non_local_copied, None,
              lambda c: 'the shared disks %s are copied onto themselves '
              '(data loss, Nova bugs 1398999 / 1719362)'
              % ', '.join(_non_local_copied(c)),
              _MEASURED_9_0 + ' (NON_SHARED_DISK); legacy tunnelled copy',
              hazard=True),
    Behaviour('tunnel-copies-storage',
              lambda c: c.has('TUNNELLED')
              and c.either('tunnel_may_copy_storage'),
              None, 'libvirt 7.3.0 to 7.5.x may copy storage through the '
              'tunnel although none was asked for',
              'libvirt 7.6.0 release notes', hazard=True),
    Behaviour('nbd-storage-copy-broken',
              lambda c: c.copies_storage and not c.has('TUNNELLED')
              and c.either('nbd_storage_copy_broken'),
              None, 'libvirt 5.10.x does not copy storage over NBD correctly '
              '(how it fails is not established)',
              'libvirt 6.0.0 release notes, bug fixes', hazard=True),
    Behaviour('storage-copy-broken',
              lambda c: c.copies_storage and c.either('storage_copy_broken'),
              None, 'libvirt 8.7.x copies no disk: the destination starts '
              'on the empty images it pre-created',
              'libvirt issue 373 (cockpit-project/bots#3841); fixed in '
              '8.8.0', hazard=True, copies=lambda c: frozenset()),
    Behaviour('incremental-copy-broken',
              lambda c: c.has('NON_SHARED_INC')
              and c.either('non_shared_inc_broken'),
              None, 'NON_SHARED_INC copies no disk on libvirt 7.3.0 to 7.5.x',
              'libvirt 7.6.0 release notes', hazard=True,
              copies=lambda c: frozenset()),
)


def evaluate(call):
    """The outcome real libvirt gives for this call (first matching row)."""
    for row in BEHAVIOUR:
        if row.when(call):
            return row.outcome(call)
    return Outcome('accepted', copied=_copy_set(call))
