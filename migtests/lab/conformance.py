"""Combinations the reference never sends, to force on real libvirt.

Shared by the lab's conformance tests and the upgrade matrix: each row is
called with raw flags, bypassing the reference driver, and what real
libvirt does is compared with what the simulated libvirt of the unit tests
(reference/behaviour.py, the table the unit tests' simulated libvirt
uses) says it does.
"""

from migtests.lab.scenario import LAYOUTS
from reference import behaviour
from reference.model import Disk
from reference.model import DiskKind

BASE = ('LIVE', 'PEER2PEER', 'PERSIST_DEST', 'UNDEFINE_SOURCE')

FORCED = (
    # name, layout, extra flags, params, configuration the reference refuses.
    # Each is harmful: libvirt refuses it, or it copies the wrong disks.
    ('tunnelled-block', 'local', ('TUNNELLED', 'NON_SHARED_INC'), {},
     {'live_migration_tunnelled': True}),
    ('tunnelled-selective-disks', 'local+volume',
     ('TUNNELLED', 'NON_SHARED_INC'), {'migrate_disks': ['vda']},
     {'live_migration_tunnelled': True}),
    ('tunnelled-full-copy', 'local', ('TUNNELLED', 'NON_SHARED_DISK'),
     {'migrate_disks': ['vda']}, {'live_migration_tunnelled': True}),
    ('tunnelled-with-native-tls', 'volume', ('TUNNELLED', 'TLS'), {},
     {'live_migration_tunnelled': True,
      'live_migration_with_native_tls': True}),
    ('tunnelled-post-copy', 'volume', ('TUNNELLED', 'POSTCOPY'), {},
     {'live_migration_tunnelled': True,
      'live_migration_permit_post_copy': True}),
    ('unsafe-tunnel-ignores-disk-list', 'local', ('TUNNELLED', 'UNSAFE'),
     {'migrate_disks': ['vda']},
     {'live_migration_flag': 'VIR_MIGRATE_TUNNELLED,VIR_MIGRATE_UNSAFE'}),
    ('full-copy-without-disk-list', 'local+volume', ('NON_SHARED_DISK',), {},
     None),
    ('incremental-copy-without-disk-list', 'local+volume',
     ('NON_SHARED_INC',), {}, None),
    ('disk-list-without-copy-flag', 'local', (), {'migrate_disks': ['vda']},
     None),
    ('local-disk-without-copy', 'local', (), {}, None),
    ('unknown-disk-target', 'local', ('NON_SHARED_DISK',),
     {'migrate_disks': ['nope']}, None),
    ('unknown-disk-target-beside-local', 'local', ('NON_SHARED_DISK',),
     {'migrate_disks': ['vda', 'nope']}, None),
    ('zerocopy-without-parallel', 'volume', ('ZEROCOPY',), {}, None),
)
# Harmless on libvirt 9.0: the list is ignored and there is nothing to copy.
HARMLESS = (
    ('disk-list-of-volume-without-copy-flag', 'volume', (),
     {'migrate_disks': ['vdb']}, None),
)


def layout_disks(layout):
    spec = LAYOUTS[layout]
    return tuple(([Disk('vda', DiskKind.LOCAL)] if spec['local'] else [])
                 + ([Disk('vdb', DiskKind.VOLUME)] if spec['volume'] else []))


def check(runner, layout, extra, params):
    """Force the call; return (real Forced, simulated Outcome, both hosts'
    capabilities)."""
    flags = tuple('VIR_MIGRATE_' + f for f in BASE + tuple(extra))
    guest, source = runner.guest(layout)
    destination = runner.other(source)
    hosts = [runner.capabilities(h) for h in (source, destination)]
    real = runner.force(layout, flags, params)
    if real.error is None:
        runner.discard(layout)
    return real, _model(hosts, flags, params, layout), hosts


def simulate(runner, layout, extra, params):
    """What the simulated libvirt says of the call between the lab's two
    hosts (as placed now)."""
    flags = tuple('VIR_MIGRATE_' + f for f in BASE + tuple(extra))
    hosts = [runner.capabilities(h) for h in runner.lab.hosts]
    return _model(hosts, flags, params, layout)


def _model(hosts, flags, params, layout):
    return behaviour.evaluate(behaviour.Call(
        hosts[0], hosts[1], frozenset(flags), params, layout_disks(layout)))


def agrees(real, model):
    return model.matches(real.error) and (
        real.error is not None or sorted(model.copied) == real.copied)
