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

"""Soak: the lab brought up and down again and again while its processes
are killed, or end by themselves, at random points; every round counts
what was left behind.

Each round (seeded: the same seed gives the same rounds) starts a lab with
a guest on a local disk and a shared volume; a chaos thread then acts at
random moments on a random process of the lab — SIGKILL (killed) or
SIGTERM (it ends by itself, cleanly) — during the bring-up, while the lab
runs, or while it is torn down, in turn from round to round.  Then the
round looks for anything that survived ``down``: the lab's own leftovers
(namespaces, recorded processes, mounts, its directory) and every process
seen inside the lab's namespaces during the round, by PID and start time.
Bounded: ``rounds`` rounds, ``actions`` actions a round, ``seconds`` at
most for each round's chaos.
"""

import dataclasses
import os
import random
import signal
import threading
import time

from migtests.lab.guest import Guest
from migtests.lab.lab import Lab
from migtests.lab import system
from migtests.lab.system import LabError
from migtests.lab.system import Recorded

# When the chaos acts: while ``up`` runs, once the lab is up, or while
# ``down`` runs.
PHASES = ('up', 'running', 'down')


@dataclasses.dataclass
class Round:
    index: int
    phase: str
    actions: list
    up_error: str
    seen: int           # processes seen inside the lab's namespaces
    leftovers: list
    seconds: float


def _lab_processes(lab):
    """Every process inside the lab's namespaces now, as Recorded."""
    found = []
    for netns in list(lab.state.get('netns', [])):
        for pid in system.netns_pids(netns):
            recorded = Recorded.of('in-' + netns, pid)
            if recorded.start is not None:
                found.append(recorded)
    return found


class Chaos:
    """Acts on random processes of ``lab`` at random moments until told
    to stop, ``actions`` times at most; remembers every process it saw."""

    def __init__(self, lab, rng, actions, seconds, pause=(0.05, 0.8)):
        """``pause``: the range of seconds between two actions."""
        self.lab, self.rng, self.pause = lab, rng, pause
        self.budget, self.seconds = actions, seconds
        self.done, self.seen = [], {}
        self.stop = threading.Event()
        self.lock = threading.Lock()    # look() runs in both threads
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(self.seconds + 10)
        # What still runs at the end is seen too (down must stop it).
        self.look()

    def look(self):
        try:
            found = _lab_processes(self.lab)
        except LabError:
            return      # namespaces going away under us
        with self.lock:
            for recorded in found:
                self.seen[recorded.pid, recorded.start] = recorded
            return list(self.seen.values())

    def _run(self):
        deadline = time.monotonic() + self.seconds
        while len(self.done) < self.budget and not self.stop.is_set():
            if self.stop.wait(self.rng.uniform(*self.pause)):
                return
            if time.monotonic() > deadline:
                return
            victims = sorted(self.look() or [], key=lambda r: r.pid)
            victims = [v for v in victims if v.alive()]
            if not victims:
                continue
            victim = self.rng.choice(victims)
            how = self.rng.choice(('SIGKILL', 'SIGTERM'))
            victim.signal(getattr(signal, how))
            self.done.append('%s pid %d' % (how, victim.pid))


def run_round(index, rng, phase, name='soak', actions=3, seconds=20):
    """One round; returns its Round.  Never raises for what the chaos
    broke: that is the point of the round.  The leftovers are counted
    after the one ``down`` that ran (the bring-up's own, when it failed),
    never after a second that could hide what the first missed."""
    lab = Lab(name)
    started = time.monotonic()
    up_error = ''
    chaos = Chaos(lab, rng, actions if phase == 'up' else 0, seconds)
    with chaos:
        try:
            lab.up()        # on failure it tears itself down
            _guest(lab)
        except Exception as exc:    # LabError, libvirt's: the chaos's doing
            up_error = ' '.join(str(exc).split())
    done, seen = list(chaos.done), dict(chaos.seen)
    if os.path.isdir(lab.dir):
        # A teardown takes about a second: act within it.
        chaos = Chaos(lab, rng, actions if phase != 'up' else 0, seconds,
                      pause=(0, 0.3) if phase == 'down' else (0.05, 0.8))
        with chaos:
            if phase == 'running':
                chaos.stop.wait(rng.uniform(0.5, 3))
                chaos.stop.set()
                chaos.thread.join()
            else:       # the first kills land just before or within down
                chaos.look()
                chaos.stop.wait(rng.uniform(0, 0.3))
            lab.down()
        done += chaos.done
        seen.update(chaos.seen)
    left = lab.leftovers()
    left += ['process %d (seen in the lab) still runs' % r.pid
             for r in seen.values() if r.alive()]
    return Round(index, phase, done, up_error, len(seen), left,
                 round(time.monotonic() - started, 1))


def _guest(lab):
    host = lab.hosts[0]
    conn = host.connect()
    try:
        Guest(lab, 'g-soak', local=True, volume='vsoak').create(host, conn)
    finally:
        conn.close()


def run(rounds=10, seed=1, progress=print, **kwargs):
    """``rounds`` rounds from ``seed``; returns the list of Round."""
    rng = random.Random(seed)
    done = []
    for index in range(rounds):
        result = run_round(index, rng, PHASES[index % len(PHASES)],
                           **kwargs)
        progress('round %d (%s): %d action(s) [%s], %d process(es) seen, '
                 '%s; left: %s; %.1f s' % (
                     index + 1, result.phase, len(result.actions),
                     ', '.join(result.actions), result.seen,
                     'up failed: ' + result.up_error if result.up_error
                     else 'up ok', '; '.join(result.leftovers) or 'nothing',
                     result.seconds))
        done.append(result)
    return done
