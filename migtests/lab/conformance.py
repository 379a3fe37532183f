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

"""The catalogue's forced calls (cases.FORCED) on real libvirt, compared
with the simulated libvirt of the unit tests (reference/behaviour.py).

Shared by the lab's conformance tests and the upgrade matrix: each call
bypasses the reference driver, and what real libvirt does must be what the
simulation says -- an error with the same code, or a "success" copying the
same disks.
"""

from migtests.lab import cases
from migtests.lab import checks
from reference import behaviour
from reference import model
from reference.model import DiskKind
from reference.planner import BASE_FLAGS


def flags_of(forced):
    """The call's full flag names: the planner's base flags and its own."""
    return BASE_FLAGS + tuple(model.flag(f) for f in forced.flags)


def check(runner, forced):
    """Force the call; return (real Forced, simulated Outcome, both hosts'
    capabilities)."""
    guest, source = runner.guest(forced.layout)
    destination = runner.other(source)
    hosts = [runner.capabilities(h) for h in (source, destination)]
    real = runner.force(forced.layout, flags_of(forced), forced.params)
    if real.error is None:
        runner.discard(forced.layout)
    if checks.LEGACY in real.copied:
        # QEMU's in-stream block migration ran: its progress names no
        # disk, and it copies every writable one (QEMU's block-migration
        # code walks all writable block devices).
        real.copied = sorted(
            set(real.copied) - {checks.LEGACY}
            | {d.target for d in cases.LAYOUTS[forced.layout].disks()
               if d.kind not in (DiskKind.READONLY, DiskKind.CONFIG)})
    return real, _model(hosts, forced), hosts


def simulate(runner, forced):
    """What the simulated libvirt says of the call between the lab's two
    hosts (as placed now)."""
    return _model([runner.capabilities(h) for h in runner.lab.hosts], forced)


def _model(hosts, forced):
    return behaviour.evaluate(behaviour.Call(
        hosts[0], hosts[1], frozenset(flags_of(forced)),
        dict(forced.params), cases.LAYOUTS[forced.layout].disks()))


def agrees(real, model):
    return model.matches(real.error) and (
        real.error is not None or sorted(model.copied) == real.copied)
