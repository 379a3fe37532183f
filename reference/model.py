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

"""The plain inputs and outputs of the reference driver's decision."""

import dataclasses
import enum

from reference.versions import Version


class Operation(enum.Enum):
    LIVE = 'live'          # memory only: storage is shared or all volumes
    BLOCK = 'block'        # memory and the guest's local disks
    AUTO = 'auto'          # block unless the instance storage is shared


class DiskKind(enum.Enum):
    LOCAL = 'local'          # on the host's disk: copied by a block migration
    VOLUME = 'volume'        # attached shared volume (Cinder): never copied
    READONLY = 'readonly'    # e.g. an ISO image: never copied
    SHAREABLE = 'shareable'  # <shareable/>, in use by other guests: not copied
    CONFIG = 'config'        # config drive (disk.config): local, read-only;
    #                          libvirt never copies it, it is copied before


@dataclasses.dataclass(frozen=True)
class Disk:
    target: str
    kind: DiskKind
    size_gib: float = 0.0


@dataclasses.dataclass(frozen=True)
class HostCapabilities:
    libvirt: Version
    qemu: Version
    hypervisor: str = 'qemu'        # 'qemu' (TCG only) or 'kvm'
    tls_ready: bool = False         # native TLS certificates configured
    has_migrate_to_uri3: bool = True  # the Python binding has the method
    # The versioned machine types the host's QEMU offers, as its libvirt
    # capabilities list them; None: not known (versions.MACHINE_TYPE_FLOORS
    # stands in).
    machine_types: frozenset | None = None

    def __str__(self):
        return 'libvirt %s / QEMU %s' % (self.libvirt, self.qemu)


@dataclasses.dataclass(frozen=True)
class MigrationRequest:
    destination: str
    operation: Operation = Operation.AUTO
    disks: tuple = ()
    shared_storage: bool = False
    paused: bool = False
    guest_hypervisor: str = 'qemu'   # the domain type: 'qemu' or 'kvm'
    memory_mib: int = 0
    destination_xml: str | None = None
    persistent_xml: str | None = None
    # The destination's own [libvirt] live_migration_inbound_addr, as Nova
    # carries it (migrate_data.target_connect_addr); None when unset.
    destination_inbound_addr: str | None = None
    # The guest's machine type as its running domain's XML has it: the
    # versioned name libvirt recorded when the guest started (e.g.
    # pc-i440fx-5.2).  An alias (pc, q35) is what a definition says, not
    # what runs; None when unknown.
    machine_type: str | None = None
    # The guest's graphics (VNC/SPICE) listen address on the source, and
    # the destination's own (Nova: migrate_data.graphics_listen_addr_*);
    # None: the guest has no graphics / the destination reported none.
    graphics_listen: str | None = None
    destination_graphics_listen: str | None = None
    # The address the guest's TCP serial consoles listen on, and the
    # destination's (migrate_data.serial_listen_addr; None when its serial
    # console is disabled or it reported none).
    serial_listen: str | None = None
    destination_serial_listen: str | None = None
    # The guest's vTPM, by the security of its secret (Nova's flavor
    # extra spec hw:tpm_secret_security: 'host', 'user', 'deployment');
    # None: no vTPM.
    vtpm: str | None = None

    def targets(self, *kinds):
        return [d.target for d in self.disks if d.kind in kinds]


@dataclasses.dataclass(frozen=True)
class Decision:
    what: str
    why: str


@dataclasses.dataclass(frozen=True)
class MonitorPlan:
    """What the act layer does while the migration runs (Nova's monitor)."""

    downtime_steps: tuple   # ((seconds after start, max downtime ms), ...)
    completion_timeout_s: int | None   # None: wait forever
    timeout_action: str     # 'abort' or 'force_complete'


# Migration flags have one spelling everywhere data crosses a module or a
# process: libvirt's constant names (VIR_MIGRATE_TUNNELLED).  Reports and
# case tables may show and write the short form (TUNNELLED); these two
# convert, and nothing else adds or strips the prefix.
FLAG_PREFIX = 'VIR_MIGRATE_'
STORAGE_COPY_FLAGS = frozenset({'VIR_MIGRATE_NON_SHARED_INC',
                                'VIR_MIGRATE_NON_SHARED_DISK'})


def flag(name):
    """The flag's name, from its name or its short form."""
    return name if name.startswith(FLAG_PREFIX) else FLAG_PREFIX + name


def short_flag(name):
    """The flag's short form, for display ('TUNNELLED')."""
    return name[len(FLAG_PREFIX):] if name.startswith(FLAG_PREFIX) \
        else name


def copies_storage(flags):
    """Whether libvirt copies storage with these flags (names or short
    forms): a NON_SHARED_* flag is set."""
    return any(flag(f) in STORAGE_COPY_FLAGS for f in flags)


@dataclasses.dataclass(frozen=True)
class MigrationPlan:
    api: str
    uri: str
    flags: tuple
    params: dict
    decisions: tuple
    fallbacks: tuple        # older APIs that can carry every param
    monitor: MonitorPlan
    copy_before: tuple = ()  # disks the caller copies to the destination
    #                          before migrating (config drives)
    destination_changes: tuple = ()  # what the destination XML must
    #                          change (the caller writes it: destination_xml)
    define_before: tuple = ()  # what the caller defines on the destination
    #                          before migrating (the vTPM secret)

    @property
    def copies_storage(self):
        return copies_storage(self.flags)

    def as_dict(self):
        return {
            'api': self.api,
            'uri': self.uri,
            'flags': list(self.flags),
            'params': dict(self.params),
            'decisions': [dataclasses.asdict(d) for d in self.decisions],
            'copy_before': list(self.copy_before),
            'destination_changes': list(self.destination_changes),
            'define_before': list(self.define_before),
            'refused': None,
        }


# The marker of the JSON line nova_driver logs per migration (the plan's
# or refusal's as_dict()), which migtests.cloud.migrations reads back.
PLAN_RECORD = 'migration plan record: '


class MigrationRefused(Exception):
    """The driver will not migrate: the message says why and what to change."""

    def __init__(self, error, message):
        super().__init__(message)
        self.error = error
        self.message = message

    def as_dict(self):
        return {'api': None, 'uri': None, 'flags': None, 'params': None,
                'decisions': None, 'copy_before': None,
                'destination_changes': None, 'define_before': None,
                'refused': {'error': self.error, 'message': self.message}}


class ConfigError(ValueError):
    """The [libvirt] migration configuration is unusable as written."""
