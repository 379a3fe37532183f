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

"""The catalogue: every migration case of the lab, written once, as data.

A ``Case`` is a guest's disk layout, the ``[libvirt]`` options as an
operator writes them, the request's other inputs (operation, a paused
guest, TLS ready on both hosts), an action taken while the migration runs
(``during``, a hook of ``actions``) and what must come of it: flags the
plan must carry or leave out, or the error ``act`` must raise (the
guest then stays on its source).  Every case succeeds with exactly the
local disks copied unless it names an error.

Its ``tags`` say where it runs:

  lab        the functional suite's case-by-case test (test_migrations)
  matrix     every ordered pair of suites of the upgrade matrix
  rate       the lab bench's migrations-a-minute figure
  transport  the lab bench's transport figures
  tls-fault  test_tls_faults: a certificate fault (``certificate``, a
             fault of pki.FAULTS) on one of the two hosts

A case without a tag is run by name by one test of its own, which says
what it checks beyond the common verification (test_migrations) or what
befalls the migration (test_faults).

``FORCED`` holds the calls the reference never makes -- raw flags and
parameters forced on real libvirt, to check the simulated libvirt of the
unit tests (reference/behaviour.py) -- as named records; the conformance
tests and the matrix's same-version pairs run every one.

Adding a case is adding one entry here.
"""

import dataclasses
import types

from migtests.lab import actions
from reference import model
from reference.model import Disk
from reference.model import DiskKind
from reference.versions import machine_type_version
from reference.versions import supports
from reference.versions import Version

LAB, MATRIX, RATE, TRANSPORT = 'lab', 'matrix', 'rate', 'transport'
TLS_FAULT = 'tls-fault'

# The guest's disks, as the lab's guests (guest.py) define them.
ROOT_DISK = 'vda'       # qcow2 on the host's own storage
VOLUME_DISK = 'vdb'     # the lab's shared volume (qemu-nbd), like Cinder's
CONFIG_DISK = 'hdd'     # a config drive: a read-only local CD-ROM, as Nova's


@dataclasses.dataclass(frozen=True)
class Layout:
    """A guest's disks: the local root disk, the shared volume, or both
    (or none: the guest runs from its initramfs alone)."""
    name: str
    local: bool
    volume: str | None = None   # the shared volume's export name
    # Rewrites RAM in a loop: True where QEMU tracks it reliably,
    # 'always' also where it does not (the finding's reproduction).
    dirty: bool | str = True
    config: bool = False        # a config drive (never copied by libvirt)
    machine: str | None = None  # the guest's machine type (None: guest.py's
    #                             pinned one, which every suite's QEMU has)

    def starts_on(self, capabilities):
        """Whether the host's QEMU can start this guest: it lists the
        guest's machine type (an unknown list: assumed)."""
        return (self.machine is None or capabilities.machine_types is None
                or self.machine in capabilities.machine_types)

    @property
    def guest_name(self):
        return 'g-' + self.name.replace('+', '-')

    def disks(self):
        """The disks as the reference's request lists them."""
        return tuple(([Disk(ROOT_DISK, DiskKind.LOCAL)] if self.local
                      else [])
                     + ([Disk(VOLUME_DISK, DiskKind.VOLUME)] if self.volume
                        else [])
                     + ([Disk(CONFIG_DISK, DiskKind.CONFIG)] if self.config
                        else []))

    def copied(self):
        """The disks a successful migration copies: the local ones."""
        return [ROOT_DISK] if self.local else []


LAYOUTS = {layout.name: layout for layout in (
    Layout('none', local=False),
    Layout('idle', local=False, dirty=False),
    Layout('dirty-always', local=False, dirty='always'),
    Layout('local', local=True),
    Layout('volume', local=False, volume='vol1'),
    Layout('local+volume', local=True, volume='vol2'),
    Layout('local+config', local=True, config=True),
    # 'pc': the source QEMU's newest i440fx type, as an unpinned guest has.
    Layout('alias-machine', local=False, machine='pc'),
    # A type QEMU deleted by 10.0 (versions.MACHINE_TYPE_FLOORS): bullseye's
    # and bookworm's QEMU start it, trixie's and sid's do not have it.
    Layout('old-machine', local=False, dirty=False, machine='pc-i440fx-2.3'),
)}


def _frozen(mapping):
    return types.MappingProxyType(dict(mapping))


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    layout: str = 'local'
    options: dict = dataclasses.field(default_factory=dict)
    operation: str = 'auto'
    paused: bool = False
    tls_ready: bool = False
    during: actions.Hook | None = None
    flags_present: tuple = ()
    flags_absent: tuple = ()
    error: str | None = None        # the act exception's class name
    # The planner must refuse where the destination's libvirt does not list
    # the machine type the running guest has (machine-type-too-new for a
    # type newer than its QEMU, else machine-type-removed); elsewhere the
    # guest must migrate.
    machine_refused: bool = False
    # Start the guest anew on the cell's source (else the guest of the
    # layout is used wherever it runs).
    fresh_guest: bool = False
    # After the expected refusal, send the call anyway (FaultRunner.force,
    # the base flags): real libvirt must fail, the guest stay on its source.
    send_anyway: bool = False
    tags: frozenset = frozenset()
    formerly: tuple = ()    # its names in results written before (--compare)
    certificate: str | None = None  # a certificate fault (pki.FAULTS)
    # Features (reference.versions) the case's point needs on both hosts.
    # Where the hosts lack one, the reference must answer instead: with
    # this refusal, or (None) with a plan that leaves flags_present out --
    # what a cell of such hosts checks (libvirt 1.2.17 and 1.3.1 in the
    # matrix: no native TLS before 3.2.0, no post-copy before 1.3.3).
    needs: tuple = ()
    refused_without: str | None = None

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError('case %s: unknown layout %r' % (self.id,
                                                             self.layout))
        object.__setattr__(self, 'options', _frozen(self.options))
        object.__setattr__(self, 'tags', frozenset(self.tags))
        # ddt names a test after its datum's __name__: test_case_03_<id>.
        object.__setattr__(self, '__name__', self.id)

    def expected_refusal(self, destination, machine_type):
        """The refusal this case expects toward a destination of these
        capabilities for a guest running this machine type, or None."""
        if not self.machine_refused or destination.machine_types is None \
                or machine_type in destination.machine_types:
            return None
        resolved = machine_type_version(machine_type)
        release = Version(destination.qemu.major, destination.qemu.minor)
        if resolved is not None and resolved[1] > release:
            return 'machine-type-too-new'
        return 'machine-type-removed'

    def lacking(self, *hosts):
        """The features of ``needs`` these hosts do not both have."""
        return [f for f in self.needs if not supports(f, *hosts)]

    def flag_problems(self, flags):
        """What the plan's flags break of the case's expectations."""
        return (['%s missing' % f for f in self.flags_present
                 if model.flag(f) not in flags]
                + ['%s present' % f for f in self.flags_absent
                   if model.flag(f) in flags])


# Slow enough (MiB/s) for a fault, injected once the job runs (abort) or
# copies RAM (the others), to land mid-migration (guests hold 32 MiB of
# ballast); at 1 MiB/s cancelling the throttled disk mirror took 300 s.
SLOW = {'live_migration_bandwidth': 4}
# The limit the bandwidth case checks libvirt's measured rate against.
BANDWIDTH_MIB = 40

CASES = (
    Case('defaults-diskless', layout='none', tags={LAB}),
    Case('defaults-volume-backed', layout='volume',
         tags={LAB, MATRIX, RATE, TRANSPORT}, formerly=('live',)),
    Case('defaults-block', layout='local',
         flags_present=('NON_SHARED_INC',), flags_absent=('TUNNELLED',),
         tags={LAB, MATRIX}, formerly=('block',)),
    Case('defaults-block-with-volume', layout='local+volume',
         flags_present=('NON_SHARED_INC',), flags_absent=('TUNNELLED',),
         tags={LAB, MATRIX}, formerly=('block-with-volume',)),
    Case('tunnelled-true-live', layout='volume',
         options={'live_migration_tunnelled': True},
         flags_present=('TUNNELLED',), tags={LAB}),
    Case('tunnelled-false-block-with-volume', layout='local+volume',
         options={'live_migration_tunnelled': False,
                  'live_migration_scheme': 'tls'},
         flags_absent=('TUNNELLED', 'TLS'), tags={LAB}),
    Case('tunnelled-auto-over-tls-connection', layout='volume',
         options={'live_migration_scheme': 'tls'},
         flags_present=('TUNNELLED',), tags={LAB, MATRIX, TRANSPORT},
         formerly=('defaults-tunnel-auto',)),
    Case('tunnelled-auto-block-stays-native', layout='local',
         options={'live_migration_scheme': 'tls'},
         flags_absent=('TUNNELLED',), tags={LAB}),
    Case('native-tls-auto-block-with-volume', layout='local+volume',
         tls_ready=True, flags_present=('TLS', 'NON_SHARED_INC'),
         tags={LAB}),
    Case('native-tls-true-live', layout='volume',
         options={'live_migration_with_native_tls': True},
         flags_present=('TLS',), tags={LAB, MATRIX, TRANSPORT},
         formerly=('native-tls',), needs=('native_tls',),
         refused_without='native-tls-unsupported'),
    Case('post-copy-switch-mid-migration', layout='volume',
         options={'live_migration_permit_post_copy': True,
                  'live_migration_bandwidth': 2},
         during=actions.POST_COPY, flags_present=('POSTCOPY',),
         tags={LAB, MATRIX}, formerly=('post-copy',), needs=('post_copy',)),
    Case('auto-converge', layout='local',
         options={'live_migration_permit_auto_converge': True},
         flags_present=('AUTO_CONVERGE',), tags={LAB}),
    Case('parallel-connections', layout='volume',
         options={'live_migration_parallel_connections': 4},
         flags_present=('PARALLEL',), tags={LAB, TRANSPORT}),
    Case('paused-guest', layout='local+volume', paused=True,
         options={'live_migration_permit_post_copy': True},
         flags_absent=('POSTCOPY',), tags={LAB}),
    # QEMU >= 5.2 carries TLS on every parallel channel (QEMU 5.2 in the
    # matrix's bullseye, 7.2 here); below it the plan drops the channels.
    Case('native-tls-with-parallel-connections', layout='volume',
         options={'live_migration_with_native_tls': True,
                  'live_migration_parallel_connections': 4},
         flags_present=('TLS', 'PARALLEL'), tags={LAB, MATRIX},
         needs=('native_tls',), refused_without='native-tls-unsupported'),
    # A guest defined with the alias and started on the cell's source:
    # libvirt records that QEMU's newest type, so to an older QEMU the plan
    # refuses, naming it (the matrix saw "unsupported machine type" there
    # before guests were pinned); else it moves.
    Case('machine-type-alias', layout='alias-machine', fresh_guest=True,
         machine_refused=True, tags={MATRIX}),
    # The same guest, started once and moved there and back: the type
    # recorded at its start travels with it, so it returns to the older
    # QEMU it started on; the alias, resolved against the source's QEMU
    # now, would have refused that (a QEMU upgraded under a running guest).
    Case('machine-type-alias-recorded', layout='alias-machine',
         machine_refused=True, tags={MATRIX}),
    # A guest on a machine type the destination's QEMU deleted: the plan
    # refuses naming it, and the call sent anyway fails on real libvirt
    # with the guest left running on its source.  From a source that lacks
    # the type, the cell checks that libvirt cannot start such a guest.
    Case('machine-type-removed', layout='old-machine', machine_refused=True,
         send_anyway=True, tags={MATRIX}),
    # The plan copies the config drive first (libvirt never copies it),
    # through the destination's libvirtd (act.copy_file, its storage
    # driver: on every suite); the destination starts the guest with it,
    # byte-identical.
    Case('block-with-config-drive', layout='local+config',
         flags_present=('NON_SHARED_INC',), tags={LAB, MATRIX}),
    # test_migrations: libvirt's measured rate stays at the limit.
    Case('bandwidth-limit', layout='idle',
         options={'live_migration_bandwidth': BANDWIDTH_MIB}),
    # test_migrations: the same guest there and back again.
    Case('there-and-back', layout='local+volume'),
    # test_faults: the guest stays on its source, whatever befalls the
    # migration.
    Case('abort-job', layout='local+volume', options=SLOW,
         during=actions.ABORT_JOB, error='MigrationAborted'),
    Case('completion-timeout-aborts', layout='volume',
         options=dict(SLOW, live_migration_completion_timeout=1),
         error='MigrationAborted'),
    Case('destination-libvirtd-killed', layout='local', options=SLOW,
         during=actions.KILL_DESTINATION_DAEMON, error='MigrationFailed'),
    Case('network-cut', layout='volume',
         options=dict(SLOW, live_migration_completion_timeout=3),
         during=actions.CUT_DESTINATION_LINK, error='MigrationFailed'),
    Case('destination-disk-not-precreated', layout='local',
         error='MigrationFailed'),
    Case('unreachable-destination', layout='volume',
         error='DestinationUnreachable'),
    # Paused by the timeout action (no post-copy), then failed: the guest is
    # resumed on its source, as Nova does.
    Case('force-complete-pause-then-failure', layout='volume',
         options=dict(SLOW, live_migration_completion_timeout=1,
                      live_migration_timeout_action='force_complete'),
         during=actions.KILL_DESTINATION_DAEMON_ONCE_PAUSED,
         error='MigrationFailed'),
) + tuple(
    # test_tls_faults: each certificate fault on each TLS transport --
    # libvirtd's connection (qemu+tls) and QEMU's native TLS stream --
    # fails the migration closed, as a TLS failure.
    Case('tls-%s-%s' % (transport, fault), layout='local+volume',
         options=options, tls_ready=ready, certificate=fault,
         error='TlsFailed', tags={TLS_FAULT})
    for transport, options, ready in (
        ('connection', {'live_migration_scheme': 'tls'}, False),
        ('native', {'live_migration_with_native_tls': True}, True))
    for fault in ('foreign-ca', 'other-host-name', 'expired',
                  'client-missing'))
BY_ID = {case.id: case for case in CASES}
# Names of cases in results written before the catalogue, by their id now.
RENAMED = {old: case.id for case in CASES for old in case.formerly}


def select(tag):
    """The catalogue's cases tagged ``tag``, in catalogue order."""
    return tuple(case for case in CASES if tag in case.tags)


def get(case_id):
    try:
        return BY_ID[case_id]
    except KeyError:
        raise KeyError('no case %r in the catalogue (migtests/lab/cases.py)'
                       % case_id) from None


@dataclasses.dataclass(frozen=True)
class Forced:
    """A call the reference never makes: the planner's base flags plus
    ``flags``, with ``params``.  ``harmful``: libvirt refuses it, or it
    copies the wrong disks; ``refused_config``: an operator's
    configuration asking for it, which the reference must refuse."""
    id: str
    layout: str
    flags: tuple = ()
    params: dict = dataclasses.field(default_factory=dict)
    refused_config: dict | None = None
    harmful: bool = True

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError('forced call %s: unknown layout %r'
                             % (self.id, self.layout))
        object.__setattr__(self, 'params', _frozen(self.params))
        object.__setattr__(self, '__name__', self.id)


_ROOT_ONLY = {'migrate_disks': [ROOT_DISK]}
_TUNNELLED = {'live_migration_tunnelled': True}

FORCED = (
    Forced('tunnelled-block', 'local', ('TUNNELLED', 'NON_SHARED_INC'),
           refused_config=_TUNNELLED),
    Forced('tunnelled-selective-disks', 'local+volume',
           ('TUNNELLED', 'NON_SHARED_INC'), _ROOT_ONLY,
           refused_config=_TUNNELLED),
    Forced('tunnelled-full-copy', 'local', ('TUNNELLED', 'NON_SHARED_DISK'),
           _ROOT_ONLY, refused_config=_TUNNELLED),
    Forced('tunnelled-with-native-tls', 'volume', ('TUNNELLED', 'TLS'),
           refused_config=dict(_TUNNELLED,
                               live_migration_with_native_tls=True)),
    Forced('tunnelled-post-copy', 'volume', ('TUNNELLED', 'POSTCOPY'),
           refused_config=dict(_TUNNELLED,
                               live_migration_permit_post_copy=True)),
    Forced('unsafe-tunnel-ignores-disk-list', 'local',
           ('TUNNELLED', 'UNSAFE'), _ROOT_ONLY,
           refused_config={'live_migration_flag':
                           'VIR_MIGRATE_TUNNELLED,VIR_MIGRATE_UNSAFE'}),
    Forced('full-copy-without-disk-list', 'local+volume',
           ('NON_SHARED_DISK',)),
    Forced('incremental-copy-without-disk-list', 'local+volume',
           ('NON_SHARED_INC',)),
    Forced('disk-list-without-copy-flag', 'local', (), _ROOT_ONLY),
    Forced('local-disk-without-copy', 'local'),
    Forced('unknown-disk-target', 'local', ('NON_SHARED_DISK',),
           {'migrate_disks': ['nope']}),
    Forced('unknown-disk-target-beside-local', 'local', ('NON_SHARED_DISK',),
           {'migrate_disks': [ROOT_DISK, 'nope']}),
    Forced('zerocopy-without-parallel', 'volume', ('ZEROCOPY',)),
    # Harmless on libvirt 9.0: the list is ignored, nothing to copy.
    Forced('disk-list-of-volume-without-copy-flag', 'volume', (),
           {'migrate_disks': [VOLUME_DISK]}, harmful=False),
)
