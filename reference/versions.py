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

"""What each libvirt / QEMU version can do, as data.

Every row names the first version that has a feature (and, for features that
went away or broke, the first version without it) and where that fact comes
from.  The planner asks ``supports(feature, source, destination)``; nothing
else in the reference driver compares version numbers.
"""

import dataclasses
import re
import typing

_VERSION_RE = re.compile(r'^(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?$')


class VersionError(ValueError):
    """A version string that is not MAJOR.MINOR[.MICRO]."""


class Version(typing.NamedTuple):
    """A comparable version; a tuple, so comparisons are cheap."""

    major: int
    minor: int
    micro: int = 0

    @classmethod
    def parse(cls, text):
        match = _VERSION_RE.match(str(text).strip())
        if not match:
            raise VersionError(
                'malformed version %r: expected MAJOR.MINOR[.MICRO], '
                'e.g. 9.0.0' % (text,))
        major, minor, micro = match.groups()
        return cls(int(major), int(minor), int(micro or 0))

    @classmethod
    def from_libvirt_int(cls, number):
        """libvirt encodes versions as major * 10**6 + minor * 1000 + micro"""
        return cls(number // 1000000, number // 1000 % 1000, number % 1000)

    def __str__(self):
        return '%d.%d.%d' % (self.major, self.minor, self.micro)


V = Version.parse


@dataclasses.dataclass(frozen=True)
class Feature:
    """A capability gated by libvirt and/or QEMU versions.

    ``*_until`` is the first version that no longer has it (exclusive bound).
    A feature is present on a host when every bound holds; it is usable for a
    migration when it is present on both hosts, or on the source for a
    feature of party 'source'.
    """

    name: str
    source: str
    libvirt_since: Version = V('0.0')
    qemu_since: Version = V('0.0')
    libvirt_until: Version | None = None
    qemu_until: Version | None = None
    # Who must have it for a migration to use it: 'both' hosts, or only
    # the 'source' (code that runs on the source alone).
    party: str = 'both'

    def present(self, libvirt, qemu):
        return (self.libvirt_since <= libvirt and self.qemu_since <= qemu
                and (self.libvirt_until is None
                     or libvirt < self.libvirt_until)
                and (self.qemu_until is None or qemu < self.qemu_until))

    def requirement(self):
        """Human text: what a host needs for this feature."""
        parts = []
        if self.libvirt_since > V('0.0'):
            parts.append('libvirt >= %s' % (self.libvirt_since,))
        if self.libvirt_until is not None:
            parts.append('libvirt < %s' % (self.libvirt_until,))
        if self.qemu_since > V('0.0'):
            parts.append('QEMU >= %s' % (self.qemu_since,))
        if self.qemu_until is not None:
            parts.append('QEMU < %s' % (self.qemu_until,))
        return ' and '.join(parts) or 'any version'


_DOMAIN_DOC = 'libvirt-domain.h / virDomainMigrate* API documentation'

FEATURES = {f.name: f for f in (
    Feature('migrate_to_uri3', _DOMAIN_DOC + ': virDomainMigrateToURI3 '
            'since 1.1.0', libvirt_since=V('1.1.0')),
    Feature('auto_converge', _DOMAIN_DOC + ': VIR_MIGRATE_AUTO_CONVERGE '
            'since 1.2.3; QEMU qapi/migration.json: auto-converge since 1.6 '
            '(Nova MIN_QEMU_AUTO_CONVERGE)',
            libvirt_since=V('1.2.3'), qemu_since=V('1.6.0')),
    Feature('migrate_disks', _DOMAIN_DOC + ': VIR_MIGRATE_PARAM_MIGRATE_DISKS '
            'since 1.2.17', libvirt_since=V('1.2.17')),
    Feature('post_copy', _DOMAIN_DOC + ': VIR_MIGRATE_POSTCOPY since 1.3.3; '
            'QEMU qapi/migration.json: postcopy-ram since 2.6 (2.5 has only '
            'x-postcopy-ram, which libvirt does not ask for)',
            libvirt_since=V('1.3.3'), qemu_since=V('2.6.0')),
    Feature('persistent_xml', _DOMAIN_DOC + ': VIR_MIGRATE_PARAM_PERSIST_XML '
            'since 1.3.4', libvirt_since=V('1.3.4')),
    Feature('native_tls', 'libvirt 3.2.0 release notes: migration over '
            'native TLS (VIR_MIGRATE_TLS), with QEMU >= 2.9; the memory '
            'stream only', libvirt_since=V('3.2.0'), qemu_since=V('2.9.0')),
    # Before 4.2.0 libvirt sent the NBD (disk) stream unencrypted beside a
    # TLS memory stream; 4.2.0 refuses the combination; 4.4.0 carries NBD
    # over TLS too.
    Feature('native_tls_storage', 'libvirt 4.2.0 and 4.4.0 release notes '
            '(NBD over TLS from 4.4.0); QEMU 2.11: Nova\'s '
            'live_migration_with_native_tls help, the bound Nova states',
            libvirt_since=V('4.4.0'), qemu_since=V('2.11.0')),
    Feature('parallel', _DOMAIN_DOC + ': VIR_MIGRATE_PARALLEL since 5.2.0; '
            'QEMU multifd since 4.0',
            libvirt_since=V('5.2.0'), qemu_since=V('4.0.0')),
    Feature('parallel_with_tls', 'QEMU 5.2: the multifd channels carry '
            'TLS (TLS handshake on every channel); before it parallel '
            'connections are plain', qemu_since=V('5.2.0')),
    Feature('parallel_with_post_copy', 'QEMU 10.1 release notes: multifd '
            'together with postcopy; before it the guest can end SHUTOFF',
            qemu_since=V('10.1.0')),
    # The source's QEMU checks the destination's certificate: libvirt
    # sets tls.destination as QEMU's tls-hostname on the source only
    # (qemu_migration_params.c: party QEMU_MIGRATION_SOURCE), and
    # qemuMigrationParamsDump forwards to the destination's Prepare phase
    # only parameters of party QEMU_MIGRATION_DESTINATION.
    Feature('tls_destination', _DOMAIN_DOC
            + ': VIR_MIGRATE_PARAM_TLS_DESTINATION since 6.0.0',
            libvirt_since=V('6.0.0'), party='source'),
    Feature('tls_destination_nbd', 'libvirt 8.2.0 release notes: '
            'tls.destination also names the host for the NBD (disk) '
            'connection; before, only the memory stream',
            libvirt_since=V('8.2.0'), party='source'),
    Feature('vtpm_migration', 'Nova 34 nova/objects/service.py: vTPM live '
            'migration since service version 72 (2026.1), whose driver.py '
            'needs libvirt >= 8.0.0 and QEMU >= 6.2.0 (MIN_LIBVIRT_VERSION, '
            'MIN_QEMU_VERSION): no Nova that moves a vTPM guest ran below',
            libvirt_since=V('8.0.0'), qemu_since=V('6.2.0')),
    # Storage copy through the tunnel relies on QEMU's legacy in-stream block
    # migration.  libvirt refuses it once it drives QEMU with -blockdev
    # (libvirt 5.10 with QEMU 4.2), and QEMU removed it in 9.1.  It can never
    # carry a selective disk list: libvirt's qemu_migration.c,
    # qemuMigrationSrcBeginPhase, refuses a tunnelled storage copy with
    # QEMU_CAPS_BLOCKDEV and any tunnelled migrate_disks list.
    Feature('blockdev', 'libvirt 5.10.0 release notes: -blockdev with '
            'QEMU >= 4.2', libvirt_since=V('5.10.0'), qemu_since=V('4.2.0')),
    # Measured at both ends, the upstream commit not located here (libvirt's
    # repository is more than this machine may fetch): 1.2.17 and 1.3.1
    # (built from their release commits) refuse only a disk whose cache
    # mode is not none on a shared file system (qemuMigrationIsSafe), and
    # migrate leaving a local disk behind; 7.0.0 refuses it.
    Feature('refuses_local_disk_left_behind', 'measured: lab conformance '
            'row local-disk-without-copy on libvirt-1.3.1 (accepted) and '
            'bullseye 7.0.0 (VIR_ERR_MIGRATE_UNSAFE); qemu_migration.c '
            'qemuMigrationIsSafe at 8fd68675e (1.3.1)',
            libvirt_since=V('7.0.0'), party='source'),
    Feature('qemu_legacy_block_migration', 'QEMU 9.1 removal notes: '
            '"block migration" (migrate -b / blk capability) removed',
            qemu_until=V('9.1.0')),
    # libvirt 7.3.0 .. 7.5.x: VIR_MIGRATE_NON_SHARED_INC copied no disk at
    # all; fixed in 7.6.0 (libvirt 7.6.0 release notes, bug fixes).
    # Under TCG, QEMU 7.2 loses pages a busy guest dirties during a live
    # migration (its kernel crashes after the switch): about one migration
    # in four with a 50 ms downtime limit, also seen at 300 ms over native
    # TLS, none in 30 at 300 ms over plain TCP.  QEMU 10.0 showed no fault.
    # The fix lies between the two; 10.0 is the first version seen to work.
    Feature('tcg_dirty_tracking_reliable', 'measured on the lab: '
            'migtests lab repro tcg-lost-pages (QEMU 7.2.22: the guest\'s '
            'kernel faulted within two migrations in six of seven runs; '
            '--suites trixie,trixie, QEMU 10.0.13: 12 migrations without '
            'fault; '
            'doc/source/findings/tcg-lost-pages.md); no primary source',
            qemu_since=V('10.0.0')),
    Feature('non_shared_inc_broken', 'libvirt 7.6.0 release notes: '
            'NON_SHARED_INC copied nothing since 7.3.0',
            libvirt_since=V('7.3.0'), libvirt_until=V('7.6.0')),
    # libvirt 8.7.x set a storage migration up as if the storage were
    # shared: the destination starts on the empty images it pre-created and
    # no disk is copied, whichever NON_SHARED_* flag is sent.  Fixed in 8.8.0
    # (libvirt issue 373).  Which side carries the bug is not established
    # here: either host on 8.7.x refuses a storage copy.
    Feature('storage_copy_broken', 'libvirt issue 373 (reported through '
            'cockpit-project/bots#3841: on 8.7.0 "the migration process '
            'forgets to copy the disk", 8.6.0 fine); fixed in 8.8.0',
            libvirt_since=V('8.7.0'), libvirt_until=V('8.8.0')),
    # libvirt 6.0.0's release notes list, among its bug fixes, "qemu: Fix
    # non-shared storage migration over NBD", with no further word; 5.10.0
    # had just switched QEMU >= 4.2 to -blockdev, whose NBD copy code is
    # new there.  How it failed is not established here (libvirt's history
    # is not reachable from this machine: issue 25, point 6), so the only
    # release shipped with it, 5.10.x, copies no storage on either side.
    Feature('nbd_storage_copy_broken', 'libvirt 6.0.0 release notes, bug '
            'fixes: "qemu: Fix non-shared storage migration over NBD" (the '
            'release after 5.10.0)',
            libvirt_since=V('5.10.0'), libvirt_until=V('6.0.0')),
    # The same libvirt bug "could trigger migration of storage when
    # VIR_MIGRATE_TUNNELLED is requested": a tunnel there may copy disks
    # nobody asked to copy, shared volumes included.
    Feature('tunnel_may_copy_storage', 'libvirt 7.6.0 release notes: the '
            'storage-migration bug of 7.3.0 could also trigger a storage '
            'copy when VIR_MIGRATE_TUNNELLED is requested',
            libvirt_since=V('7.3.0'), libvirt_until=V('7.6.0')),
)}


# When each migration flag appeared (libvirt-domain.h "Since:" tags).
FLAG_SINCE = {
    'VIR_MIGRATE_LIVE': V('0.3.2'),
    'VIR_MIGRATE_PEER2PEER': V('0.7.2'),
    'VIR_MIGRATE_TUNNELLED': V('0.7.2'),
    'VIR_MIGRATE_PERSIST_DEST': V('0.7.3'),
    'VIR_MIGRATE_UNDEFINE_SOURCE': V('0.7.3'),
    'VIR_MIGRATE_PAUSED': V('0.7.5'),
    'VIR_MIGRATE_NON_SHARED_DISK': V('0.8.2'),
    'VIR_MIGRATE_NON_SHARED_INC': V('0.8.2'),
    'VIR_MIGRATE_CHANGE_PROTECTION': V('0.9.4'),
    'VIR_MIGRATE_UNSAFE': V('0.9.11'),
    'VIR_MIGRATE_OFFLINE': V('1.0.1'),
    'VIR_MIGRATE_COMPRESSED': V('1.0.3'),
    'VIR_MIGRATE_ABORT_ON_ERROR': V('1.1.0'),
    'VIR_MIGRATE_AUTO_CONVERGE': V('1.2.3'),
    'VIR_MIGRATE_RDMA_PIN_ALL': V('1.2.9'),
    'VIR_MIGRATE_POSTCOPY': V('1.3.3'),
    'VIR_MIGRATE_TLS': V('3.2.0'),
    'VIR_MIGRATE_PARALLEL': V('5.2.0'),
    'VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES': V('8.0.0'),
    'VIR_MIGRATE_POSTCOPY_RESUME': V('8.5.0'),
    'VIR_MIGRATE_ZEROCOPY': V('8.5.0'),
}

# Typed parameters only the source's libvirt reads (see tls_destination):
# a destination that does not know them never receives them.
SOURCE_ONLY_PARAMS = frozenset({'tls.destination'})

# When each typed migration parameter appeared.
PARAM_SINCE = {
    'migrate_uri': V('1.1.0'),
    'destination_name': V('1.1.0'),
    'destination_xml': V('1.1.0'),
    'bandwidth': V('1.1.0'),
    'graphics_uri': V('1.1.0'),
    'listen_address': V('1.1.4'),
    'migrate_disks': V('1.2.17'),
    'disks_port': V('1.3.3'),
    'persistent_xml': V('1.3.4'),
    'bandwidth.postcopy': V('5.1.0'),
    'parallel.connections': V('5.2.0'),
    'tls.destination': V('6.0.0'),
    'disks_uri': V('6.8.0'),
}

# The legacy APIs and which parameters they can carry at all.
API_PARAMS = {
    'migrateToURI3': frozenset(PARAM_SINCE),
    'migrateToURI2': frozenset({'migrate_uri', 'destination_xml',
                                'destination_name', 'bandwidth'}),
    'migrateToURI': frozenset({'destination_name', 'bandwidth'}),
}
API_ORDER = ('migrateToURI3', 'migrateToURI2', 'migrateToURI')


# Versioned x86 machine types (pc-i440fx-X.Y, pc-q35-X.Y) exist from QEMU
# X.Y on; the aliases resolve to the newest type of the QEMU that starts the
# guest, and libvirt records that versioned name in the running domain's
# XML (QEMU docs, "machine types"; Nova's hw_machine_type help).
MACHINE_TYPE_ALIASES = {'pc': 'pc-i440fx', 'q35': 'pc-q35'}
_MACHINE_RE = re.compile(r'^(pc-i440fx|pc-q35)-(\d{1,3})\.(\d{1,3})$')


@dataclasses.dataclass(frozen=True)
class MachineTypeFloor:
    """From QEMU ``qemu_since`` on, no versioned x86 machine type older
    than ``oldest_kept`` exists (QEMU deletes them: docs/about/
    deprecated.rst, versioned machine types are kept six years)."""

    qemu_since: Version
    oldest_kept: Version
    source: str


# Only what a source or the lab shows; between two rows the older floor
# holds, so a type is refused only where it is certainly gone.  A host
# that reports its own list (HostCapabilities.machine_types) is asked
# instead of this table.
MACHINE_TYPE_FLOORS = (
    MachineTypeFloor(V('6.0'), V('1.4'), 'QEMU docs/about/removed-features'
                     '.rst: pc-0.10 up to pc-1.3 removed in 4.0 up to 6.0'),
    MachineTypeFloor(V('10.0'), V('2.4'), 'lab: libvirt capabilities of '
                     'trixie\'s QEMU 10.0.13 (test_machine_types) list '
                     'pc-i440fx and pc-q35 from 2.4 on'),
    MachineTypeFloor(V('11.1'), V('5.2'), 'lab: libvirt capabilities of '
                     'sid\'s QEMU 11.1.3 (test_machine_types) list them '
                     'from 5.2 on'),
)


def machine_type_version(name):
    """(family, Version) of a versioned machine type, or None."""
    match = _MACHINE_RE.match(name)
    if not match:
        return None
    return match.group(1), Version(int(match.group(2)), int(match.group(3)))


def machine_type_floor(qemu):
    """The newest floor row that applies to this QEMU, or None."""
    rows = [r for r in MACHINE_TYPE_FLOORS if r.qemu_since <= qemu]
    return rows[-1] if rows else None


def supports(feature, *hosts):
    """True when every host (HostCapabilities) has the feature."""
    row = FEATURES[feature]
    return all(row.present(h.libvirt, h.qemu) for h in hosts)


def usable(feature, source, destination):
    """True when a migration from source to destination can use the
    feature: on both hosts, or on the source for a source-side one."""
    if FEATURES[feature].party == 'source':
        return supports(feature, source)
    return supports(feature, source, destination)
