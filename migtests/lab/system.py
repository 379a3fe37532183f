"""Commands and processes of the lab: run, record, stop by recorded PID.

A process is recorded as (pid, start time in clock ticks since boot); it is
signalled only while /proc still shows that pid with that start time, so a
recycled PID is never hit.  Nothing here looks processes up by name.
"""

import dataclasses
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


def start_time(pid):
    """The process's start time (clock ticks since boot), or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses.
    return int(stat.rsplit(')', 1)[1].split()[19])


@dataclasses.dataclass(frozen=True)
class Recorded:
    role: str
    pid: int
    start: int

    @classmethod
    def of(cls, role, pid):
        return cls(role, pid, start_time(pid))

    def alive(self):
        if start_time(self.pid) != self.start:
            return False
        with open('/proc/%d/stat' % self.pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'

    def signal(self, signum):
        if self.alive():
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after the grace period; reap if our child."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            _reap(self.pid)
            time.sleep(0.05)
        if self.alive():
            self.signal(signal.SIGKILL)
            deadline = time.monotonic() + grace
            while self.alive() and time.monotonic() < deadline:
                _reap(self.pid)
                time.sleep(0.05)
        _reap(self.pid)


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def netns_pids(netns):
    """PIDs of every process inside a network namespace the lab made."""
    proc = run(['ip', 'netns', 'pids', netns], check=False)
    return [int(p) for p in proc.stdout.split()] if proc.returncode == 0 \
        else []


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
