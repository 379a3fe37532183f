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

"""Every plan over versions x settings x operations, on simulated libvirt.

Shared by the unit test (test_sweep) and the benchmark (bench).
"""

import dataclasses
import itertools

from reference import conf
from reference.model import ConfigError
from reference.model import DiskKind
from reference.model import MigrationRefused
from reference.planner import plan_migration
from reference.tests import base
from reference.tests import simulated_libvirt as sim
from reference import versions

# Each tri-state and transport, and each combination of permits.
_PERMITS = (
    {},
    {'live_migration_permit_post_copy': True},
    {'live_migration_permit_post_copy': True,
     'live_migration_permit_auto_converge': True},
    {'live_migration_permit_auto_converge': True},
    {'live_migration_parallel_connections': 4},
    {'live_migration_parallel_connections': 4,
     'live_migration_permit_post_copy': True},
)

# The libvirtd connection: plain, TLS, and the deprecated URI over SSH.
_TRANSPORTS = (
    {'live_migration_scheme': 'tcp'},
    {'live_migration_scheme': 'tls'},
    {'live_migration_uri': 'qemu+libssh://%s/system'},
)

# (request spec, operation, shared storage, paused[, more request fields])
REQUESTS = (
    ('vda:local', 'live', True, False),
    ('vda:local', 'auto', False, False),
    ('vda:local vdb:volume', 'block', False, False),   # the 2016 case
    ('vda:local vdb:volume', 'block', False, True),    # ... paused
    ('vda:local vdb:volume', 'block', False, False,    # ... to the
     {'destination_inbound_addr': '192.0.2.2'}),       # destination's address
    ('vda:volume', 'live', False, False, {'machine_type': 'pc'}),  # an alias
    ('vda:volume', 'live', False, False,               # a type QEMU 10.0
     {'machine_type': 'pc-i440fx-2.3'}),               # deleted
    ('vda:volume', 'live', False, False,               # the lab's pinned
     {'machine_type': 'pc-i440fx-5.2'}),               # type
    ('vda:local hdd:config', 'auto', False, False),    # a config drive
    ('vda:local', 'auto', False, False,                # consoles on the
     {'graphics_listen': '192.0.2.1', 'serial_listen': '192.0.2.1',
      'destination_graphics_listen': '192.0.2.2',      # source's address,
      'destination_serial_listen': '192.0.2.2',
      'vtpm': 'host'}),                                # and a vTPM
    ('vda:local vdb:local hdc:readonly vdc:shareable', 'block', False, False),
    ('vda:volume', 'live', False, False),              # volume-backed
    ('vda:volume vdb:volume', 'auto', False, False),
)

# Refusals that only explicit settings can cause; shipped defaults and
# "false" settings must never be refused on hosts from libvirt 1.2.17 on.
EXPLICIT_REFUSALS = frozenset({'tunnelled-storage-copy',
                               'tunnelled-selective-disks',
                               'tunnelled-storage-hazard',
                               'machine-type-too-new',
                               'machine-type-removed',
                               'vtpm-too-old',
                               'native-tls-unsupported'})


# Refusals with any settings, of a request real libvirt would mangle:
# justified only where the simulated libvirt finds a hazard in the storage
# copy the planner would otherwise have sent (its local disks, listed).
HAZARD_REFUSALS = frozenset({'storage-copy-broken'})


def _refusal_justified(source, destination, req):
    outcome = sim.evaluate(sim.Call(
        source, destination, frozenset({
            'VIR_MIGRATE_LIVE', 'VIR_MIGRATE_PEER2PEER',
            'VIR_MIGRATE_NON_SHARED_INC'}),
        {'migrate_disks': list(req.targets(DiskKind.LOCAL))}, req.disks,
        req.shared_storage, req.paused, req.guest_hypervisor))
    return outcome.hazard is not None


def _machine_type_exists(name, destination):
    """Whether the destination's QEMU has the type, by its release and
    the floors (an alias is never refused)."""
    resolved = versions.machine_type_version(name)
    if resolved is None:
        return True
    floor = versions.machine_type_floor(destination.qemu)
    return (resolved[1] <= destination.qemu[:2] + (0,)
            and (floor is None or floor.oldest_kept <= resolved[1]))


def option_sets():
    """(options, settings) for every combination; contradictions dropped."""
    for tunnelled, tls, transport, permits in itertools.product(
            (None, True, False), (None, True, False), _TRANSPORTS,
            _PERMITS):
        options = dict(permits, **transport)
        if tunnelled is not None:
            options['live_migration_tunnelled'] = tunnelled
        if tls is not None:
            options['live_migration_with_native_tls'] = tls
        try:
            yield options, conf.settings(**options)
        except ConfigError:
            continue


def stack_pairs():
    """Same-version pairs, and each upgrade step in both directions."""
    hosts = list(base.STACKS)
    pairs = [(h, h) for h in hosts]
    pairs += [(a, b) for a, b in zip(hosts, hosts[1:])]
    pairs += [(b, a) for a, b in zip(hosts, hosts[1:])]
    return pairs


@dataclasses.dataclass
class Result:
    combinations: int = 0
    plans: int = 0
    refusals: int = 0
    # Refusals of what the simulated libvirt mangles whatever the settings
    # (HAZARD_REFUSALS), each checked against it.
    justified: int = 0
    problems: list = dataclasses.field(default_factory=list)


def check_pair(pair, settings_list, result):
    """Plan and simulate every configuration and request for one pair."""
    for tls_ready in (False, True):
        source = base.host(*pair[0], tls_ready=tls_ready)
        destination = base.host(*pair[1], tls_ready=tls_ready)
        for options, settings in settings_list:
            for spec, operation, shared, paused, *more in REQUESTS:
                req = base.request(spec, operation, shared_storage=shared,
                                   paused=paused, **(more[0] if more else {}))
                result.combinations += 1
                _check_one(options, settings, source, destination, req,
                           result)
    return result


def _check_one(options, settings, source, destination, req, result):
    label = '%s -> %s %s %r' % (source, destination, req.disks, options)
    try:
        plan = plan_migration(settings, source, destination, req)
    except MigrationRefused as refusal:
        result.refusals += 1
        explicit = (options.get('live_migration_tunnelled') is True
                    or options.get('live_migration_with_native_tls') is True
                    or req.machine_type is not None
                    or req.vtpm is not None)
        if refusal.error in HAZARD_REFUSALS:
            result.justified += 1
            if not _refusal_justified(source, destination, req):
                result.problems.append('%s: refused what the simulated '
                                       'libvirt does safely: %s'
                                       % (label, refusal.message))
        elif refusal.error not in EXPLICIT_REFUSALS or not explicit:
            result.problems.append('%s: refused %s' % (label, refusal.message))
        elif refusal.error.startswith('machine-type-') and \
                _machine_type_exists(req.machine_type, destination):
            result.problems.append('%s: refused a machine type the '
                                   'destination has: %s'
                                   % (label, refusal.message))
        return
    result.plans += 1
    if plan.destination_changes and 'migrateToURI' in (
            (plan.api,) + plan.fallbacks):
        result.problems.append('%s: destination XML changes %s, but '
                               'migrateToURI cannot carry a destination XML'
                               % (label, plan.destination_changes))
    outcome = sim.evaluate(sim.Call(
        source, destination, frozenset(plan.flags), plan.params, req.disks,
        req.shared_storage, req.paused, req.guest_hypervisor, plan.api))
    if not outcome.ok:
        result.problems.append('%s: %s %s %s' % (
            label, outcome.rule, outcome.error or outcome.hazard,
            outcome.message))
        return
    expected = set()
    if not req.shared_storage and req.operation.value != 'live':
        expected = set(req.targets(DiskKind.LOCAL))
    if set(outcome.copied) != expected:
        result.problems.append('%s: copied %s, expected %s' % (
            label, sorted(outcome.copied), sorted(expected)))
