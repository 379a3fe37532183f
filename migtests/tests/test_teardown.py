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

"""Stopping is total: real processes exit at each point of the lab's stop
sequence, and nothing is left (no root, no namespaces: the namespace
listing and ``ip`` are stand-ins; the processes and /proc are real)."""

import json
import os
import signal
import subprocess
from unittest import mock

import ddt
import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import lab as lab_module
from migtests.lab import system
from migtests.lab.system import Recorded


_KILL = os.kill     # the real one: tests patch os.kill


def _child(seconds=60):
    return subprocess.Popen(['sleep', str(seconds)])


def _gone(pid):
    """Kill and reap a child now: its /proc entry disappears."""
    try:
        _KILL(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _wait_exec(pid, program):
    """Wait until the child runs ``program`` (its shell set a trap first)."""
    def running():
        try:
            with open('/proc/%d/cmdline' % pid) as f:
                return f.read().startswith(program)
        except OSError:
            return False
    system.wait_for(running, 5, interval=0.01)


def _running(pid):
    return Recorded.of('check', pid).alive()


class TestRecorded(testtools.TestCase):

    @decorators.idempotent_id('0b0a0a6e-31f4-4a33-a1d5-3a8f2b7c0d11')
    def test_a_process_gone_before_it_was_recorded_is_never_signalled(self):
        child = _child()
        _gone(child.pid)
        recorded = Recorded.of('gone', child.pid)
        self.assertIsNone(recorded.start)
        self.assertFalse(recorded.alive())
        with mock.patch('os.kill') as kill:
            recorded.signal(signal.SIGKILL)
            recorded.stop(grace=0.1)
        kill.assert_not_called()

    @decorators.idempotent_id('2c5a8a8f-5d3b-4d4e-9f0e-6b1e6b0c2a22')
    def test_stat_entry_vanishing_while_read(self):
        child = _child()
        recorded = Recorded.of('child', child.pid)
        self.addCleanup(_gone, child.pid)
        real_open = open

        def vanishing(path, *args, **kwargs):
            if path == '/proc/%d/stat' % child.pid:
                raise ProcessLookupError(3, 'No such process')
            return real_open(path, *args, **kwargs)
        with mock.patch('builtins.open', vanishing):
            self.assertFalse(recorded.alive())
            self.assertIsNone(system.start_time(child.pid))

    @decorators.idempotent_id('4e7b1c0d-8a9f-4b6e-a2d3-7c8e9f0a1b33')
    def test_exit_between_check_and_signal(self):
        child = _child()
        recorded = Recorded.of('child', child.pid)
        real_kill = os.kill

        def late_kill(pid, signum):
            _gone(pid)          # it exits just before the signal lands
            real_kill(pid, signum)
        with mock.patch('os.kill', late_kill):
            recorded.stop(grace=0.5)
        self.assertFalse(recorded.alive())

    @decorators.idempotent_id('6a8c2d1e-9b0a-4c7f-b3e4-8d9f0a1b2c44')
    def test_exit_on_its_own_during_the_grace_period(self):
        child = subprocess.Popen(['sh', '-c', 'trap "" TERM; exec sleep 1'])
        recorded = Recorded.of('child', child.pid)
        _wait_exec(child.pid, 'sleep')      # SIGTERM is ignored from here
        recorded.stop(grace=5)
        self.assertFalse(recorded.alive())

    @decorators.idempotent_id('8c0e4f3a-1d2c-4e9b-85f6-0f1b2c3d4e55')
    def test_sigterm_ignored_gets_sigkill(self):
        child = subprocess.Popen(['sh', '-c', 'trap "" TERM; exec sleep 60'])
        recorded = Recorded.of('child', child.pid)
        _wait_exec(child.pid, 'sleep')
        recorded.stop(grace=0.3)
        self.assertFalse(recorded.alive())


class TestReaping(testtools.TestCase):

    @decorators.idempotent_id('e5f6a7b8-c9d0-4e1f-8a2b-3c4d5e6f7a80')
    def test_teardown_waits_until_a_killed_orphan_is_reaped(self):
        # A daemon that double-forked (epmd, a uwsgi worker whose master
        # died) is the machine's init's child: killed, it is a zombie in
        # /proc until init reaps it -- a leftover for anyone who looks in
        # that moment -- so teardown waits for it to be gone.
        # (stderr too: an inherited pipe would hold run() for the 60 s)
        shell = subprocess.run(['sh', '-c',
                                'sleep 60 >/dev/null 2>&1 & echo $!'],
                               capture_output=True, text=True, check=True)
        orphan = Recorded.of('orphan', int(shell.stdout))
        self.addCleanup(_gone, orphan.pid)
        _KILL(orphan.pid, signal.SIGKILL)
        self.assertEqual([], system.wait_gone([orphan], timeout=10))
        self.assertFalse(system.present(orphan))

    @decorators.idempotent_id('f6a7b8c9-d0e1-4f2a-9b3c-4d5e6f7a8b91')
    def test_our_own_killed_child_is_reaped(self):
        child = _child()
        recorded = Recorded.of('child', child.pid)
        _KILL(child.pid, signal.SIGKILL)
        system.wait_for(lambda: not recorded.alive(), 5)
        self.assertTrue(system.present(recorded))   # a zombie of ours
        self.assertEqual([], system.wait_gone([recorded], timeout=5))


# Points of Lab.down at which a process exits by itself.
def _exit_when_listed(harness, pid):
    """Listed by ``ip netns pids``, gone before it is looked at."""
    harness.on_list.append(pid)


def _exit_before_signal(harness, pid):
    harness.on_kill.append(pid)


def _exit_while_stat_is_read(harness, pid):
    harness.on_stat.append(pid)


def _exit_before_down(harness, pid):
    _gone(pid)


POINTS = {
    'listed-then-gone': _exit_when_listed,
    'gone-before-signal': _exit_before_signal,
    'gone-while-stat-read': _exit_while_stat_is_read,
    'gone-before-down': _exit_before_down,
}


class Harness:
    """A lab state with real processes 'inside' stand-in namespaces."""

    def __init__(self, test):
        root = test.useFixture(fixtures.TempDir()).path
        self.lab = lab_module.Lab('ut', root=root)
        os.makedirs(self.lab.dir)
        self.namespaces = {'mtut-net': [], 'mtut-h1': [], 'mtut-h2': []}
        self.on_list, self.on_kill, self.on_stat = [], [], []
        self.children = []
        self.state = {'netns': list(self.namespaces), 'processes': []}
        self.fail_delete = set()

    def process(self, netns, recorded=True, seconds=60):
        child = _child(seconds)
        self.children.append(child.pid)
        self.namespaces[netns].append(child.pid)
        if recorded:
            self.state['processes'].append(
                vars(Recorded.of('role-%d' % child.pid, child.pid)))
        return child.pid

    def save(self):
        with open(self.lab.state_file, 'w') as f:
            json.dump(self.state, f)

    def netns_pids(self, netns):
        pids = [p for p in self.namespaces.get(netns, []) if _running(p)]
        for pid in pids:
            if pid in self.on_list:
                _gone(pid)
        return pids

    def run(self, cmd, check=True, **kw):
        if cmd[:3] == ['ip', 'netns', 'list']:
            return subprocess.CompletedProcess(
                cmd, 0, '\n'.join(self.namespaces), '')
        if cmd[:3] == ['ip', 'netns', 'delete']:
            if cmd[3] in self.fail_delete:
                raise system.LabError('ip netns delete %s failed (exit 1): '
                                      'Device or resource busy' % cmd[3])
            self.namespaces.pop(cmd[3])
            return subprocess.CompletedProcess(cmd, 0, '', '')
        raise AssertionError('unexpected command %s' % cmd)

    def patches(self, test):
        real_kill, real_open = os.kill, open

        def kill(pid, signum):
            if pid in self.on_kill:
                _gone(pid)
            return real_kill(pid, signum)

        def opener(path, *args, **kwargs):
            for pid in self.on_stat:
                if path == '/proc/%d/stat' % pid:
                    _gone(pid)
            return real_open(path, *args, **kwargs)
        for target, new in (('migtests.lab.system.netns_pids',
                             self.netns_pids),
                            ('migtests.lab.lab.run', self.run),
                            ('os.kill', kill), ('builtins.open', opener)):
            patcher = mock.patch(target, new)
            patcher.start()
            test.addCleanup(patcher.stop)


@ddt.ddt
class TestLabDown(testtools.TestCase):

    def harness(self):
        harness = Harness(self)
        self.addCleanup(lambda: [_gone(p) for p in harness.children])
        return harness

    @ddt.data(*sorted(POINTS))
    @decorators.idempotent_id('a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c66')
    def test_a_process_exits_at_each_point(self, point):
        harness = self.harness()
        victims = [harness.process('mtut-h1'),                   # recorded
                   harness.process('mtut-h2', recorded=False)]   # a guest
        bystanders = [harness.process('mtut-net'),
                      harness.process('mtut-h1', recorded=False)]
        harness.save()
        for pid in victims:
            POINTS[point](harness, pid)
        harness.patches(self)
        harness.lab.down()
        self.assertEqual([], harness.lab.leftovers())
        self.assertEqual([], [p for p in victims + bystanders
                              if _running(p)])
        self.assertEqual({}, harness.namespaces)
        self.assertFalse(os.path.exists(harness.lab.dir))

    @decorators.idempotent_id('b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d77')
    def test_every_process_exits_at_a_different_point(self):
        harness = self.harness()
        for point in sorted(POINTS):
            POINTS[point](harness, harness.process('mtut-h1'))
            POINTS[point](harness, harness.process('mtut-h2',
                                                   recorded=False))
        harness.save()
        harness.patches(self)
        harness.lab.down()
        self.assertEqual([], harness.lab.leftovers())
        self.assertEqual([], [p for p in harness.children if _running(p)])

    @decorators.idempotent_id('c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e88')
    def test_a_failing_step_does_not_stop_the_others(self):
        harness = self.harness()
        pids = [harness.process('mtut-h1'), harness.process('mtut-h2')]
        harness.save()
        harness.fail_delete.add('mtut-h1')
        harness.patches(self)
        harness.lab.down()
        left = harness.lab.leftovers()
        # Reported, not raised; and every later step ran all the same.
        self.assertIn('namespace mtut-h1: ip netns delete mtut-h1 failed '
                      '(exit 1): Device or resource busy', left)
        self.assertIn('netns mtut-h1', left)
        self.assertEqual(['mtut-h1'], list(harness.namespaces))
        self.assertEqual([], [p for p in pids if _running(p)])
        self.assertFalse(os.path.exists(harness.lab.dir))

    @decorators.idempotent_id('d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f99')
    def test_a_process_that_will_not_die_is_reported(self):
        harness = self.harness()
        pid = harness.process('mtut-h2', recorded=False)
        harness.save()
        harness.patches(self)
        with mock.patch.object(Recorded, 'signal'):   # signals never land
            harness.lab.down()
        self.assertIn('process %d in mtut-h2' % pid,
                      harness.lab.leftovers())
