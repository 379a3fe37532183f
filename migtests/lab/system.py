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

"""Commands and processes of the lab: run, record, stop by recorded PID.

A process is recorded as (pid, start time in clock ticks since boot); it is
signalled only while /proc still shows that pid with that start time, so a
recycled PID is never hit.  Nothing here looks processes up by name.
"""

import contextlib
import dataclasses
import fcntl
import os
import signal
import subprocess
import time


class LabError(Exception):
    """A lab step failed; the message is one line saying what and why."""


def run(cmd, check=True, timeout=120, **kw):
    """Run a command; on failure raise LabError with its last stderr line."""
    kw.setdefault('text', True)
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout,
                              **kw)
    except FileNotFoundError:
        raise LabError('%s: command not found (install the lab packages: '
                       'bindep -b functional)' % cmd[0]) from None
    except subprocess.TimeoutExpired:
        raise LabError('%s: no answer after %d s'
                       % (' '.join(cmd), timeout)) from None
    if check and proc.returncode != 0:
        stderr = proc.stderr if kw['text'] else proc.stderr.decode(
            errors='replace')
        last = (stderr.strip().splitlines() or ['(no output)'])[-1]
        raise LabError('%s failed (exit %d): %s'
                       % (' '.join(cmd[:4]), proc.returncode, last))
    return proc


def in_netns(netns, argv):
    """``argv`` as run inside the network namespace ``netns``."""
    return ['ip', 'netns', 'exec', netns] + list(argv)


def _stat(pid):
    """The fields of /proc/PID/stat after the command name, or None once
    the process is gone (its entry may vanish between any two reads)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:     # ENOENT, or ESRCH while the entry is torn down
        return None
    # The command name (field 2) may hold spaces and parentheses.
    fields = stat.rsplit(')', 1)[-1].split()
    return fields if len(fields) > 19 else None


def start_time(pid):
    """The process's start time (clock ticks since boot), or None."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


@dataclasses.dataclass(frozen=True)
class Recorded:
    """A process as recorded; ``start`` None: it was gone when recorded,
    and it is never signalled (its PID may already be another's)."""

    role: str
    pid: int
    start: int | None

    @classmethod
    def of(cls, role, pid):
        return cls(role, pid, start_time(pid))

    def alive(self):
        if self.start is None:
            return False
        fields = _stat(self.pid)
        if fields is None or int(fields[19]) != self.start:
            return False
        if fields[0] != 'Z':
            return True
        # A killed multi-threaded process's leader is a zombie before its
        # other threads have exited, and they still hold its files: a
        # libvirtd restarted in that window found its port in use
        # ("Address already in use", test_hung_daemon_is_replaced under
        # load).  It is gone once the leader is its only task left.
        try:
            return len(os.listdir('/proc/%d/task' % self.pid)) > 1
        except OSError:
            return False

    def signal(self, signum):
        if self.alive():
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass    # it ended between the check and the signal

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after the grace period; reap if our child.
        A process that ends at any point of this is simply done."""
        for signum in (signal.SIGTERM, signal.SIGKILL):
            self.signal(signum)
            deadline = time.monotonic() + grace
            while self.alive() and time.monotonic() < deadline:
                _reap(self.pid)
                time.sleep(0.05)
            if not self.alive():
                break
        _reap(self.pid)


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass    # not our child, or already reaped


def netns_pids(netns):
    """PIDs of every process inside a network namespace the lab made."""
    proc = run(['ip', 'netns', 'pids', netns], check=False)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 \
        else []


def kill_netns(netns, rounds=20, interval=0.1, killed=None):
    """SIGKILL whatever runs inside a lab namespace until nothing does
    (a supervisor may start a child while its siblings die); returns the
    PIDs still there after ``rounds`` rounds.  ``killed`` (a list) gets
    every process signalled, to wait for its end (``wait_gone``)."""
    for _ in range(rounds):
        pids = netns_pids(netns)
        if not pids:
            return []
        for pid in pids:
            recorded = Recorded.of('in-' + netns, pid)
            recorded.signal(signal.SIGKILL)
            _reap(pid)
            if killed is not None and recorded.start is not None:
                killed.append(recorded)
        time.sleep(interval)
    return netns_pids(netns)


def present(recorded):
    """Whether the process is still in /proc at all, a zombie included."""
    return recorded.start is not None and start_time(recorded.pid) == \
        recorded.start


def wait_gone(processes, timeout=10.0):
    """Wait until every process has ended and been reaped (a process that
    left its namespace is not yet gone: it may still be exiting, or a
    zombie); returns those still present.  Our own children are reaped
    here; orphans by the machine's init (about a second here).  The lab
    does not make itself a subreaper: the orphaned QEMUs of a running lab
    would then stay unreaped zombies, which libvirtd waits for in vain
    when it stops a guest (measured: Tempest tests 10x slower)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [r for r in processes if present(r)]
        for recorded in left:
            _reap(recorded.pid)
        left = [r for r in left if present(r)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def wait_for(predicate, timeout, interval=0.05, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise LabError('timed out after %.0f s waiting for %s'
                           % (timeout, what))
        time.sleep(interval)


@contextlib.contextmanager
def cache_lock(path):
    """Hold the lock of one cache entry (``path``.lock) while it is built
    or extended: one builder at a time, the others wait and then find it
    built.  The kernel drops the lock with its holder, even one killed."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.lock', 'w') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def in_chroot(root, command, timeout=900, check=True):
    """Run a shell command inside the chroot, in a private mount namespace."""
    script = ('set -e; mount -t proc proc {r}/proc; '
              'mount -t sysfs sysfs {r}/sys; '
              'mount --rbind /dev {r}/dev; mount --make-rslave {r}/dev; '
              'mount -t tmpfs tmpfs {r}/run; '
              'exec chroot {r} sh -c "$0"').format(r=root)
    return run(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                script, command], timeout=timeout, check=check)


# Should anything else hold the chroot's dpkg lock, apt waits for it
# (apt >= 1.9.11: every suite here) rather than failing at once.
APT_LOCK_WAIT = '-o DPkg::Lock::Timeout=600'


def apt_install(packages, optional=()):
    """apt-get's command line; ``optional``: packages installed only where
    the chroot's apt knows them."""
    found = ''.join(
        '$(apt-cache show --no-all-versions %s >/dev/null 2>&1 && echo %s) '
        % (name, name) for name in optional)
    return ('apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get '
            '%s install -y -q --no-install-recommends %s%s && apt-get clean'
            % (APT_LOCK_WAIT, ' '.join(packages),
               ' ' + found.strip() if found else ''))
