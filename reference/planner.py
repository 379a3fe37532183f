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

"""Decide how to migrate: settings + both hosts + the request -> a plan.

Pure: no libvirt, no I/O.  ``plan_migration`` reads top to bottom as the
policy (doc/source/policy.md); each step records a Decision with its reason or
raises MigrationRefused with a message an operator can act on.
"""

import dataclasses
import ipaddress

from reference.model import Decision
from reference.model import DiskKind
from reference.model import MigrationPlan
from reference.model import MigrationRefused
from reference.model import MonitorPlan
from reference.model import Operation
from reference.versions import API_ORDER
from reference.versions import API_PARAMS
from reference.versions import FEATURES
from reference.versions import MACHINE_TYPE_ALIASES
from reference.versions import machine_type_floor
from reference.versions import machine_type_version
from reference.versions import supports
from reference.versions import usable
from reference.versions import Version

BASE_FLAGS = ('VIR_MIGRATE_LIVE', 'VIR_MIGRATE_PEER2PEER',
              'VIR_MIGRATE_PERSIST_DEST', 'VIR_MIGRATE_UNDEFINE_SOURCE')
HYPERVISORS = ('qemu', 'kvm')


@dataclasses.dataclass(frozen=True)
class StorageCopy:
    flag: str | None = None     # VIR_MIGRATE_NON_SHARED_INC / _DISK, or None
    disks: tuple | None = None  # the migrate_disks list; None: libvirt's set


def plan_migration(settings, source, destination, request):
    """Return a MigrationPlan, or raise MigrationRefused."""
    hosts = (source, destination)
    decisions = []
    _check_hypervisors(request, hosts)
    _check_machine_type(request, hosts, decisions)
    operation = _resolve_operation(request, decisions)
    tunnel_setting = settings.tunnelled_for(operation)
    copy = _storage_copy(operation, request, hosts, decisions)
    tls = _choose_native_tls(settings, tunnel_setting, hosts, copy,
                             decisions)
    parallel = _choose_parallel(settings, hosts, tls, decisions)
    post_copy = _choose_post_copy(settings, request, hosts, parallel,
                                  decisions)
    tunnel, copy = _choose_tunnel(settings, operation, request, hosts, copy,
                                  tls, post_copy, parallel, decisions)
    auto_converge = _choose_auto_converge(settings, hosts, post_copy,
                                          decisions)
    flags = BASE_FLAGS + tuple(name for name, wanted in (
        ('VIR_MIGRATE_TUNNELLED', tunnel),
        ('VIR_MIGRATE_TLS', tls),
        (copy.flag, copy.flag is not None),
        ('VIR_MIGRATE_AUTO_CONVERGE', auto_converge),
        ('VIR_MIGRATE_POSTCOPY', post_copy),
        ('VIR_MIGRATE_PARALLEL', parallel > 1),
    ) if wanted)
    uri, params = _uri_and_params(settings, request, hosts, copy, tunnel, tls,
                                  parallel, decisions)
    changes = _destination_changes(request, decisions)
    define_before = _vtpm(request, hosts, decisions)
    # The caller writes the destination XML with the changes: only an API
    # that carries one may be used.
    api, fallbacks = _choose_api(
        set(params) | ({'destination_xml'} if changes else set()), hosts,
        decisions)
    monitor = _monitor(settings, request, hosts, copy, post_copy, decisions)
    return MigrationPlan(api=api, uri=uri, flags=flags, params=params,
                         decisions=tuple(decisions), fallbacks=fallbacks,
                         monitor=monitor,
                         copy_before=_config_drives(request, decisions),
                         destination_changes=changes,
                         define_before=define_before)


# Listen addresses that mean the same on every host: a guest listening
# there needs no change on the destination (Nova's rule, libvirt driver,
# since the destination XML could not always be rewritten).
_ANY_HOST = frozenset({'0.0.0.0', '::', '127.0.0.1', '::1'})


def _destination_changes(request, decisions):
    """What the destination's XML must change: listen addresses of the
    guest's graphics and TCP serial consoles that exist only on the
    source.  Refused where the destination gives no address to use."""
    changes = []
    source, target = request.graphics_listen, \
        request.destination_graphics_listen
    if source is not None and source not in _ANY_HOST and source != target:
        if target is None:
            raise MigrationRefused(
                'graphics-listen-unmovable',
                'the guest\'s graphics listen on %s, an address of the '
                'source only, and the destination reported no listen address '
                'of its own: set [vnc]/[spice] server_listen to 0.0.0.0 (or '
                '::, or a loopback address) on both hosts' % source)
        changes.append('graphics listen %s -> %s' % (source, target))
        decisions.append(Decision(
            'destination XML: graphics listen %s' % target,
            '%s exists only on the source; the destination listens on its '
            'own address' % source))
    if request.serial_listen is not None:
        target = request.destination_serial_listen
        if target is None:
            raise MigrationRefused(
                'serial-console-unmovable',
                'the guest has TCP serial consoles (listening on %s) and the '
                'destination reported no serial listen address (its serial '
                'console is disabled): enable [serial_console] on the '
                'destination, or disable it on both hosts'
                % request.serial_listen)
        # Nova 34's _update_serial_xml gives every console the port the
        # destination acquired for it, whatever the address: the ports
        # change even where the address does not.
        changes.append('serial listen %s -> %s (ports from the destination)'
                       % (request.serial_listen, target))
        decisions.append(Decision(
            'destination XML: serial consoles listen on %s' % target,
            'the destination\'s serial console address and the ports it '
            'acquired (a port of the source may be taken there)'))
    if changes:
        decisions.append(Decision(
            'destination_xml required',
            'the caller writes the changes into the destination XML; the '
            'chosen API and its fallbacks carry it'))
    return tuple(changes)


def _vtpm(request, hosts, decisions):
    """A vTPM's state migrates with the guest, encrypted with a secret the
    destination must hold first."""
    if request.vtpm is None:
        return ()
    if request.vtpm != 'host':
        raise MigrationRefused(
            'vtpm-secret-not-movable',
            'the vTPM secret has security %r: only a host-held secret '
            '(hw:tpm_secret_security=host) can be given to the destination '
            '(Nova refuses the others at its API): cold-migrate, or use a '
            'flavor with host security' % request.vtpm)
    if not supports('vtpm_migration', *hosts):
        raise MigrationRefused(
            'vtpm-too-old',
            'moving a vTPM guest needs %s on both hosts (%s)'
            % (_requirement('vtpm_migration'), _pair(hosts)))
    decisions.append(Decision(
        'define the vTPM secret on the destination first',
        'the TPM state moves with the guest, encrypted with the secret the '
        'source holds; the destination needs the same secret to read it'))
    return ('vtpm-secret',)


def _config_drives(request, decisions):
    """Config drives reach the destination before the migration: libvirt
    never copies a read-only disk, and the destination cannot start the
    guest without it (Nova copies disk.config first)."""
    drives = tuple(request.targets(DiskKind.CONFIG))
    if drives and request.shared_storage:
        decisions.append(Decision(
            'config drive %s not copied' % ', '.join(drives),
            'the instance storage is shared: the destination sees it'))
        return ()
    if drives:
        decisions.append(Decision(
            'copy %s to the destination first' % ', '.join(drives),
            'a config drive is local and read-only: libvirt never copies '
            'it, and the destination cannot start the guest without it'))
    return drives


def _pair(hosts):
    source, destination = hosts
    return 'source %s, destination %s' % (source, destination)


def _requirement(feature):
    return FEATURES[feature].requirement()


def _check_hypervisors(request, hosts):
    for role, host in zip(('source', 'destination'), hosts):
        if host.hypervisor not in HYPERVISORS:
            raise MigrationRefused(
                'unsupported-hypervisor',
                'the %s host runs hypervisor %r; this driver migrates only '
                'QEMU/KVM guests (%s)' % (role, host.hypervisor, _pair(hosts)))
    if request.guest_hypervisor == 'kvm' and hosts[1].hypervisor != 'kvm':
        raise MigrationRefused(
            'destination-lacks-kvm',
            'the guest runs under KVM but the destination offers only QEMU '
            'emulation (%s): migrate to a host with KVM' % _pair(hosts))


def _qemu_release(version):
    """A QEMU release as machine types name it: MAJOR.MINOR."""
    return Version(version.major, version.minor)


def _release_text(version):
    return '%d.%d' % (version.major, version.minor)


def _check_machine_type(request, hosts, decisions):
    """The running guest's machine type must exist on the destination's
    QEMU: no newer than its release, and not one it deleted.  Nova's
    conductor refuses any older destination hypervisor; this refuses only
    what cannot start there."""
    source, destination = (_qemu_release(h.qemu) for h in hosts)
    name = request.machine_type
    if name is None:
        if source > destination:
            decisions.append(Decision(
                'machine type must be at most pc-*-%s'
                % _release_text(destination),
                'the destination QEMU %s is older than the source\'s (%s): '
                'the guest moves only if its machine type is versioned and '
                'no newer than %s (pin [libvirt] hw_machine_type)'
                % (hosts[1].qemu, hosts[0].qemu, _release_text(destination))))
        return
    if name in MACHINE_TYPE_ALIASES:
        # libvirt recorded the versioned type when the guest started; the
        # source's QEMU may have been upgraded under the guest since.
        decisions.append(Decision(
            'machine type %s not checked' % name,
            'an alias is what a definition says, not what runs: the guest '
            'runs the %s type its QEMU had when it started (at most %s-%s); '
            'the running domain\'s XML names it'
            % (MACHINE_TYPE_ALIASES[name], MACHINE_TYPE_ALIASES[name],
               _release_text(source))))
        return
    resolved = machine_type_version(name)
    if resolved is None:
        decisions.append(Decision(
            'machine type %s not checked' % name,
            'only the versioned pc-i440fx-X.Y and pc-q35-X.Y types are '
            'known to this driver'))
        return
    family, version = resolved
    if version > destination:
        raise MigrationRefused(
            'machine-type-too-new',
            'the guest\'s machine type %s does not exist on the destination '
            'QEMU %s (it has types up to %s-%s): migrate to a host with '
            'QEMU >= %s, or give the guest an older machine type (pin '
            '[libvirt] hw_machine_type)' % (
                name, hosts[1].qemu, family, _release_text(destination),
                _release_text(version)))
    _check_machine_type_kept(name, family, version, hosts[1], decisions)


def _check_machine_type_kept(name, family, version, destination, decisions):
    """QEMU deletes versioned machine types six years after their
    release: the destination's own list decides, else the floors."""
    fix = ('migrate to a host whose QEMU still has it, or move the guest to '
           'a newer machine type on its source (nova-manage libvirt '
           'update_machine_type, then a hard reboot)')
    offered = destination.machine_types
    if offered is not None:
        if name in offered:
            return
        kept = sorted(v for v in map(machine_type_version, offered)
                      if v is not None and v[0] == family)
        raise MigrationRefused(
            'machine-type-removed',
            'the guest\'s machine type %s no longer exists on the '
            'destination QEMU %s (its libvirt lists %s): %s' % (
                name, destination.qemu,
                '%s-%s to %s-%s' % (family, _release_text(kept[0][1]), family,
                                    _release_text(kept[-1][1]))
                if kept else 'no %s type' % family, fix))
    floor = machine_type_floor(destination.qemu)
    if floor is not None and version < floor.oldest_kept:
        raise MigrationRefused(
            'machine-type-removed',
            'the guest\'s machine type %s no longer exists on the '
            'destination QEMU %s (it keeps versioned types from %s on: %s): '
            '%s' % (name, destination.qemu,
                    _release_text(floor.oldest_kept), floor.source, fix))
    if floor is not None:
        decisions.append(Decision(
            'machine type %s kept by the destination' % name,
            'the destination did not list its machine types; its QEMU %s '
            'keeps versioned types from %s on (%s)'
            % (destination.qemu, _release_text(floor.oldest_kept),
               floor.source)))


def _resolve_operation(request, decisions):
    if request.operation is not Operation.AUTO:
        return request.operation
    if request.shared_storage:
        decisions.append(Decision(
            'live migration (auto)',
            'the instance storage is shared: no disk needs copying'))
        return Operation.LIVE
    decisions.append(Decision(
        'block migration (auto)',
        'the instance storage is not shared: local disks must be copied'))
    return Operation.BLOCK


# libvirt releases whose storage copy loses disks, whichever host runs
# them (versions.FEATURES): the feature, what libvirt does, where fixed.
_BROKEN_STORAGE_COPY = (
    ('nbd_storage_copy_broken', 'copies them over NBD, which it does not do '
     'correctly (how it fails is not established)', '6.0.0'),
    ('storage_copy_broken', 'copies no disk and starts the guest on the '
     'empty images the destination pre-created', '8.8.0'),
)


def _storage_copy(operation, request, hosts, decisions):
    local = tuple(request.targets(DiskKind.LOCAL))
    others = ['%s (%s)' % (d.target, d.kind.value) for d in request.disks
              if d.kind is not DiskKind.LOCAL]
    if operation is Operation.LIVE:
        if local and not request.shared_storage:
            raise MigrationRefused(
                'live-migration-leaves-local-disks',
                'live migration without storage copy would leave the local '
                'disks %s behind (the instance storage is not shared): use a '
                'block migration, or shared instance storage'
                % ', '.join(local))
        return StorageCopy()
    if request.shared_storage:
        raise MigrationRefused(
            'block-migration-on-shared-storage',
            'block migration on shared instance storage would copy each disk '
            'onto itself: use a live migration without storage copy')
    if not local:
        decisions.append(Decision(
            'no storage copy flag',
            'the guest has no local disk: nothing to copy (NON_SHARED_INC is '
            'not sent)'))
        return StorageCopy()
    for feature, what, fixed in _BROKEN_STORAGE_COPY:
        broken = sorted({str(h.libvirt) for h in hosts
                         if supports(feature, h)})
        if broken:
            raise MigrationRefused(
                'storage-copy-broken',
                'a block migration with %s would lose the local disks %s: '
                'libvirt %s %s (%s; fixed in %s): upgrade libvirt to %s or '
                'later, or use shared instance storage' % (
                    _pair(hosts), ', '.join(local), ', '.join(broken), what,
                    _requirement(feature), fixed, fixed))
    flag = 'VIR_MIGRATE_NON_SHARED_INC'
    if any(supports('non_shared_inc_broken', host) for host in hosts):
        flag = 'VIR_MIGRATE_NON_SHARED_DISK'
        decisions.append(Decision(
            'VIR_MIGRATE_NON_SHARED_DISK instead of NON_SHARED_INC',
            'libvirt 7.3.0 to 7.5.x copies no disk with NON_SHARED_INC '
            '(%s): a full copy is the safe one' % _pair(hosts)))
    else:
        decisions.append(Decision(
            'VIR_MIGRATE_NON_SHARED_INC',
            'copy the local disks onto the images the destination '
            'pre-created over the same backing files'))
    if supports('migrate_disks', *hosts):
        decisions.append(Decision(
            'migrate_disks = %s' % ', '.join(local),
            'only the local disks are copied; '
            + ('never copied: %s' % ', '.join(others) if others else
               'an explicit list never lets libvirt pick disks itself')))
        return StorageCopy(flag, local)
    # Without a list libvirt copies every writable, non-shareable disk:
    # read-only and shareable disks are skipped, attached volumes are not.
    volumes = request.targets(DiskKind.VOLUME)
    if volumes:
        raise MigrationRefused(
            'block-migration-cannot-select-disks',
            'block migration of a guest with the volume(s) %s attached needs '
            'a selective disk list (migrate_disks, %s on both hosts; %s): '
            'without it libvirt copies every writable, non-shareable disk, '
            'the volumes included. Detach them, or upgrade libvirt'
            % (', '.join(volumes), _requirement('migrate_disks'),
               _pair(hosts)))
    decisions.append(Decision(
        'no migrate_disks list',
        'the hosts cannot select disks (%s needs %s); libvirt\'s default '
        'copy set is the writable, non-shareable disks, which here are '
        'exactly the local ones%s' % (
            _pair(hosts), _requirement('migrate_disks'),
            ' (skipped: %s)' % ', '.join(others) if others else '')))
    return StorageCopy(flag, None)


def _choose_native_tls(settings, tunnel_setting, hosts, copy, decisions):
    """Native TLS: the memory stream from libvirt 3.2.0, a storage copy's
    NBD stream too from 4.4.0 (before 4.2.0 it went unencrypted)."""
    feature = 'native_tls_storage' if copy.flag is not None else 'native_tls'
    what = ('a storage copy over native TLS' if copy.flag is not None
            else 'native TLS')
    supported = supports(feature, *hosts)
    if settings.native_tls is False:
        decisions.append(Decision(
            'no native TLS', 'live_migration_with_native_tls = false'))
        return False
    if settings.native_tls is True:
        if not supported:
            raise MigrationRefused(
                'native-tls-unsupported',
                'live_migration_with_native_tls = true, but %s needs %s on '
                'both hosts (%s): upgrade the hosts, or set [libvirt] '
                'live_migration_with_native_tls = false'
                % (what, _requirement(feature), _pair(hosts)))
        decisions.append(Decision(
            'VIR_MIGRATE_TLS', 'live_migration_with_native_tls = true'))
        return True
    if tunnel_setting is True:
        decisions.append(Decision(
            'no native TLS', 'live_migration_tunnelled = true asks for the '
            'tunnel, which cannot be combined with native TLS'))
        return False
    if not supported:
        decisions.append(Decision(
            'no native TLS (auto)', '%s needs %s on both hosts (%s)'
            % (what, _requirement(feature), _pair(hosts))))
        return False
    if not all(h.tls_ready for h in hosts):
        decisions.append(Decision(
            'no native TLS (auto)', 'the hosts support it but are not both '
            'TLS ready (certificates in migrate_tls_x509_cert_dir)'))
        return False
    decisions.append(Decision(
        'VIR_MIGRATE_TLS (auto)', 'both hosts support %s and are TLS ready: '
        'QEMU encrypts the %s itself' % (
            what, 'memory and disk streams' if copy.flag is not None
            else 'memory stream')))
    return True


def _choose_parallel(settings, hosts, tls, decisions):
    wanted = settings.parallel_connections
    if wanted <= 1:
        return 1
    if not supports('parallel', *hosts):
        decisions.append(Decision(
            'no parallel connections', 'VIR_MIGRATE_PARALLEL needs %s on '
            'both hosts (%s)' % (_requirement('parallel'), _pair(hosts))))
        return 1
    if tls and not supports('parallel_with_tls', *hosts):
        decisions.append(Decision(
            'no parallel connections, native TLS kept',
            'parallel connections carry TLS only with %s on both hosts '
            '(%s): the encryption matters more than the speed'
            % (_requirement('parallel_with_tls'), _pair(hosts))))
        return 1
    decisions.append(Decision(
        'VIR_MIGRATE_PARALLEL, %d connections' % wanted,
        'live_migration_parallel_connections = %d' % wanted))
    return wanted


def _choose_post_copy(settings, request, hosts, parallel, decisions):
    if not settings.permit_post_copy:
        return False
    if request.paused:
        decisions.append(Decision(
            'no post-copy', 'the guest is paused: libvirt refuses post-copy '
            'for it, and a paused guest converges anyway'))
        return False
    if not supports('post_copy', *hosts):
        decisions.append(Decision(
            'no post-copy', 'VIR_MIGRATE_POSTCOPY needs %s on both hosts (%s)'
            % (_requirement('post_copy'), _pair(hosts))))
        return False
    if parallel > 1 and not supports('parallel_with_post_copy', *hosts):
        decisions.append(Decision(
            'no post-copy, parallel connections kept',
            'post-copy with parallel connections needs %s on both hosts '
            '(%s); before it the guest can end shut off'
            % (_requirement('parallel_with_post_copy'), _pair(hosts))))
        return False
    decisions.append(Decision(
        'VIR_MIGRATE_POSTCOPY', 'live_migration_permit_post_copy = true: '
        'the switch to post-copy is possible if the copy does not converge'))
    return True


def _choose_tunnel(settings, operation, request, hosts, copy, tls,
                   post_copy, parallel, decisions):
    """Return (tunnelled, storage copy), refusing what cannot be tunnelled;
    a refusal names the option that asked for the tunnel."""
    tunnel_setting = settings.tunnelled_for(operation)
    if tunnel_setting is False:
        decisions.append(Decision(
            'not tunnelled', 'live_migration_tunnelled = false'))
        return False, copy
    hazard = [h for h in hosts if supports('tunnel_may_copy_storage', h)]
    if tunnel_setting is True:
        if hazard:
            raise MigrationRefused(
                'tunnelled-storage-hazard',
                'tunnelled migration is unsafe with %s: with %s, libvirt '
                'may copy storage through the tunnel although none is asked '
                'for (fixed in 7.6.0), shared volumes included: %s, or '
                'upgrade libvirt' % (_pair(hosts), _requirement(
                    'tunnel_may_copy_storage'), settings.tunnel_fix(
                        operation)))
        if copy.flag is not None:
            copy = _tunnelled_storage_copy(
                request, hosts, copy, settings.tunnel_fix(operation),
                decisions)
        decisions.append(Decision(
            'VIR_MIGRATE_TUNNELLED', '%s asks for the tunnel' % (
                settings.tunnel_source.get(operation)
                or 'live_migration_tunnelled = true')))
        return True, copy
    if tls:
        return False, copy
    why_not = [reason for reason, applies in (
        ('the migration copies storage, which the tunnel cannot select',
         copy.flag is not None),
        ('over qemu+%s a tunnel encrypts nothing' % settings.scheme,
         not settings.encrypted_connection),
        ('post-copy is in use', post_copy),
        ('parallel connections are in use', parallel > 1),
        ('with %s, libvirt may copy storage through a tunnel (fixed in '
         '7.6.0)' % _requirement('tunnel_may_copy_storage'), bool(hazard)),
    ) if applies]
    if why_not:
        decisions.append(Decision(
            'not tunnelled (auto)', '; '.join(why_not)
            + ': the migration stream is not encrypted'))
        return False, copy
    decisions.append(Decision(
        'VIR_MIGRATE_TUNNELLED (auto)', 'no native TLS; the stream is '
        'encrypted by the qemu+%s connection' % settings.scheme))
    return True, copy


def _tunnelled_storage_copy(request, hosts, copy, change, decisions):
    """A tunnel can copy storage only the legacy way: all writable disks.
    ``change``: what the operator changes to stop asking for the tunnel."""
    fix = change + ' to copy the storage natively over NBD'
    if any(supports('blockdev', host) for host in hosts):
        raise MigrationRefused(
            'tunnelled-storage-copy',
            'tunnelled block migration is impossible with %s: with %s '
            'libvirt drives QEMU with -blockdev and refuses storage copies '
            'through the tunnel: %s'
            % (_pair(hosts), _requirement('blockdev'), fix))
    if not supports('qemu_legacy_block_migration', *hosts):
        raise MigrationRefused(
            'tunnelled-storage-copy',
            'tunnelled block migration is impossible with %s: QEMU removed '
            'the in-stream block migration a tunnel needs (it needs %s): %s'
            % (_pair(hosts), _requirement('qemu_legacy_block_migration'),
               fix))
    # QEMU's in-stream copy takes every writable disk: shareable ones and
    # volumes too; only read-only disks are left alone.
    others = request.targets(DiskKind.VOLUME, DiskKind.SHAREABLE)
    if others:
        raise MigrationRefused(
            'tunnelled-selective-disks',
            'tunnelled block migration cannot select disks (%s): it would '
            'copy %s too, or libvirt refuses the disk list ("Selecting disks '
            'to migrate is not implemented for tunnelled migration"): %s'
            % (_pair(hosts), ', '.join(others), fix))
    if copy.disks is not None:
        decisions.append(Decision(
            'no migrate_disks list (tunnelled)',
            'the tunnel cannot carry a disk list; QEMU\'s in-stream copy '
            'takes every writable disk, which here are exactly the local '
            'ones'))
    return StorageCopy(copy.flag, None)


def _choose_auto_converge(settings, hosts, post_copy, decisions):
    if not settings.permit_auto_converge:
        return False
    if post_copy:
        decisions.append(Decision(
            'no auto-converge', 'post-copy is in use and finishes the '
            'migration without throttling the guest'))
        return False
    if not supports('auto_converge', *hosts):
        decisions.append(Decision(
            'no auto-converge', 'VIR_MIGRATE_AUTO_CONVERGE needs %s on both '
            'hosts (%s)' % (_requirement('auto_converge'), _pair(hosts))))
        return False
    decisions.append(Decision(
        'VIR_MIGRATE_AUTO_CONVERGE',
        'live_migration_permit_auto_converge = true'))
    return True


def uri_host(address):
    """An address as it stands in a URI: IPv6 literals get brackets."""
    if ':' not in address:
        return address   # a host name or IPv4 address
    try:
        return '[%s]' % ipaddress.IPv6Address(address)
    except ValueError:
        return address


def _uri_and_params(settings, request, hosts, copy, tunnel, tls, parallel,
                    decisions):
    # live_migration_inbound_addr is where a host *receives* migrations:
    # the destination's counts, and reaches the source with the request
    # (Nova: migrate_data.target_connect_addr); the source's own is not
    # used for an outgoing migration.
    inbound = request.destination_inbound_addr
    if settings.inbound_addr and settings.inbound_addr != inbound:
        decisions.append(Decision(
            'this host\'s live_migration_inbound_addr not used',
            '%s is where this host receives migrations; an outgoing one '
            'goes to the destination\'s own inbound address, or its name'
            % settings.inbound_addr))
    target = inbound or request.destination
    if settings.uri_template:
        # Nova 34 still honours the deprecated option (_live_migration_uri).
        uri = settings.uri_template % uri_host(target)
        decisions.append(Decision(
            'URI %s' % uri, 'the deprecated [libvirt] live_migration_uri is '
            'set and wins over live_migration_scheme, as in Nova'))
    else:
        uri = 'qemu+%s://%s/system' % (settings.scheme, uri_host(target))
    params = {}
    if copy.disks is not None:
        params['migrate_disks'] = list(copy.disks)
    if settings.bandwidth:
        params['bandwidth'] = settings.bandwidth
    if inbound and not tunnel:
        params['migrate_uri'] = 'tcp://%s' % uri_host(inbound)
        decisions.append(Decision(
            'migrate_uri = %s' % params['migrate_uri'],
            'the destination\'s live_migration_inbound_addr: the stream goes '
            'to that address'))
        if tls:
            _tls_names(request, hosts, copy, inbound, params, decisions)
    if parallel > 1:
        params['parallel.connections'] = parallel
    if request.destination_xml is not None:
        params['destination_xml'] = request.destination_xml
    persistent = request.persistent_xml or request.destination_xml
    if persistent is not None:
        if supports('persistent_xml', *hosts):
            params['persistent_xml'] = persistent
        elif request.persistent_xml is not None:
            raise MigrationRefused(
                'persistent-xml-unsupported',
                'a persistent definition for the destination needs %s on '
                'both hosts (%s): migrate without it, or upgrade libvirt'
                % (_requirement('persistent_xml'), _pair(hosts)))
        else:
            decisions.append(Decision(
                'no persistent_xml', 'it needs %s on both hosts: the '
                'destination keeps the source\'s persistent definition'
                % _requirement('persistent_xml')))
    return uri, params


def _tls_names(request, hosts, copy, inbound, params, decisions):
    """Which name the destination's certificate is checked against when
    the streams go to its inbound address (the source's QEMU checks it:
    only the source's libvirt matters)."""
    source = hosts[0]
    if not usable('tls_destination', *hosts):
        decisions.append(Decision(
            'the destination certificate must carry %s' % inbound,
            'tls.destination needs %s on the source (%s): both streams are '
            'checked against the inbound address'
            % (_requirement('tls_destination'), source)))
        return
    params['tls.destination'] = request.destination
    decisions.append(Decision(
        'tls.destination = %s' % request.destination,
        'the certificate is checked against the host name, not the '
        'inbound address (the source\'s libvirt sets it; the destination '
        'never reads it)'))
    if copy.flag is not None and not usable('tls_destination_nbd', *hosts):
        decisions.append(Decision(
            'the destination certificate must also carry %s' % inbound,
            'tls.destination names the host for the disk (NBD) connection '
            'only with %s on the source (%s): before, that connection is '
            'checked against the inbound address'
            % (_requirement('tls_destination_nbd'), source)))


def _choose_api(needed, hosts, decisions):
    """``needed``: the parameters the API must carry."""
    needed = set(needed)
    if supports('migrate_to_uri3', *hosts) and hosts[0].has_migrate_to_uri3:
        api = 'migrateToURI3'
    else:
        usable = [a for a in API_ORDER[1:] if needed <= API_PARAMS[a]]
        if not usable:
            raise MigrationRefused(
                'api-cannot-carry-params',
                'migrateToURI3 is unavailable (%s on both hosts and in the '
                'Python binding; %s) and the older APIs cannot carry %s: '
                'upgrade libvirt or libvirt-python'
                % (_requirement('migrate_to_uri3'), _pair(hosts),
                   ', '.join(sorted(needed - API_PARAMS['migrateToURI2']))))
        api = usable[0]
        decisions.append(Decision(
            api, 'migrateToURI3 is unavailable; %s carries every parameter'
            % api))
    later = API_ORDER[API_ORDER.index(api) + 1:]
    fallbacks = tuple(a for a in later if needed <= API_PARAMS[a])
    return api, fallbacks


def data_gib(request, copy):
    """Nova's estimate of what a migration moves: RAM and copied disks."""
    memory = max(request.memory_mib / 1024.0, 2.0)
    copied = [d for d in request.disks
              if copy.flag is not None and d.kind is DiskKind.LOCAL]
    return memory + sum(max(d.size_gib, 2.0) for d in copied)


# QEMU's own default downtime-limit (ms).
QEMU_DEFAULT_DOWNTIME_MS = 300


def downtime_steps(settings, gib, floor=0):
    """(seconds after start, max downtime ms): raised linearly to the max,
    never below ``floor``."""
    delay = settings.downtime_delay * gib
    first = max(settings.downtime / settings.downtime_steps,
                min(floor, settings.downtime))
    rise = (settings.downtime - first) / settings.downtime_steps
    return tuple((int(delay * i), int(first + rise * i))
                 for i in range(settings.downtime_steps + 1))


def _monitor(settings, request, hosts, copy, post_copy, decisions):
    gib = data_gib(request, copy)
    floor = 0
    if request.guest_hypervisor == 'qemu' and not supports(
            'tcg_dirty_tracking_reliable', *hosts):
        floor = QEMU_DEFAULT_DOWNTIME_MS
        decisions.append(Decision(
            'downtime never below %d ms' % floor,
            'TCG guest on %s: QEMU before %s can lose pages the guest '
            'dirties during the migration, and more often the more copy '
            'rounds a lower downtime limit forces; use KVM for guests whose '
            'memory matters' % (_pair(hosts), FEATURES[
                'tcg_dirty_tracking_reliable'].qemu_since)))
    steps = downtime_steps(settings, gib, floor)
    timeout = (int(settings.completion_timeout * gib)
               if settings.completion_timeout else None)
    action = settings.timeout_action
    if action == 'force_complete':
        action_text = 'switch to post-copy' if post_copy else 'pause the guest'
    else:
        action_text = 'abort, the guest stays on the source'
    decisions.append(Decision(
        'downtime %d ms raised to %d ms in %d steps, one every %d s'
        % (steps[0][1], steps[-1][1], len(steps) - 1, steps[1][0]),
        '%.1f GiB to move; live_migration_downtime* options' % gib))
    decisions.append(Decision(
        'completion timeout: %s' % (
            'none' if timeout is None else '%d s, then %s' % (timeout,
                                                              action_text)),
        'live_migration_completion_timeout = %d s/GiB'
        % settings.completion_timeout))
    return MonitorPlan(downtime_steps=steps, completion_timeout_s=timeout,
                       timeout_action=action)
