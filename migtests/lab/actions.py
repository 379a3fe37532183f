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

"""What is done to a migration while it runs, and waiting for its job.

A ``Hook`` is an action a case takes mid-migration: it runs once the job
is in its ``phase`` (see ``wait_job_running``), as
``act(runner, guest, source, destination)``.  Where the action must leave
a trace in the source's libvirtd log (a switch to post-copy), ``shows``
names it and ``missing`` says what it means when it is absent.
"""

import dataclasses
import signal
import threading
import time
import typing

from migtests.lab import system
from migtests.lab import virt
from reference import act


@dataclasses.dataclass(frozen=True)
class Hook:
    name: str
    act: typing.Callable
    phase: str = 'any'          # 'any' (a storage copy included) or 'ram'
    shows: str | None = None    # text the source's libvirtd log must show
    missing: str = ''           # what its absence means


def _domain(runner, guest, source):
    return runner.conn(source).lookupByName(guest.name)


# As soon as the job runs: the switch is retried until QEMU takes it
# (libvirt 11.3 reported no RAM progress until the end, so waiting for it
# let a migration finish in pre-copy).
POST_COPY = Hook(
    'switch to post-copy',
    lambda runner, guest, source, destination: switch_to_post_copy(
        _domain(runner, guest, source)),
    shows='"status": "postcopy-active"',
    missing='the migration never switched to post-copy')
# Cancelled in whatever phase it is, the disk copy included.
ABORT_JOB = Hook(
    'abort the job',
    lambda runner, guest, source, destination: _domain(
        runner, guest, source).abortJob())
KILL_DESTINATION_DAEMON = Hook(
    'kill the destination libvirtd',
    lambda runner, guest, source, destination: runner.lab.daemon(
        destination).signal(signal.SIGKILL),
    phase='ram')


def _kill_destination_once_paused(runner, guest, source, destination):
    """Wait until the source guest is paused (the timeout action
    force_complete without post-copy), then kill the destination's
    libvirtd: the migration fails after the pause."""
    domain = _domain(runner, guest, source)
    paused = virt.libvirt().VIR_DOMAIN_PAUSED
    system.wait_for(lambda: domain.state()[0] == paused, 60, interval=0.05,
                    what='the timeout action to pause the guest')
    runner.lab.daemon(destination).signal(signal.SIGKILL)


KILL_DESTINATION_DAEMON_ONCE_PAUSED = Hook(
    'kill the destination libvirtd once the guest is paused',
    _kill_destination_once_paused, phase='ram')
CUT_DESTINATION_LINK = Hook(
    'cut the destination\'s link',
    lambda runner, guest, source, destination: runner.lab.link(
        destination, up=False),
    phase='ram')


def migrate_while(domain, plan, action=None, timeout=180, phase='any'):
    """Run the plan in a thread; once the job runs (``phase``: see
    wait_job_running), call ``action``.

    Returns (api, MigrationFailed or None).
    """
    outcome = {}

    def target():
        try:
            outcome['api'] = act.migrate(domain, plan)
        except act.MigrationFailed as exc:
            outcome['error'] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    if action is not None:
        wait_job_running(domain, phase)
        action()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError('the migration did not end in %d s' % timeout)
    return outcome.get('api'), outcome.get('error')


def switch_to_post_copy(domain, timeout=30):
    """Ask for the switch until QEMU takes it (its capability is set a
    moment after the job starts); a guest that finished in pre-copy first
    is reported as such."""
    libvirt = virt.libvirt()
    deadline = time.monotonic() + timeout
    refusal = None
    while True:
        try:
            domain.migrateStartPostCopy(0)
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                raise AssertionError(
                    'the migration finished in pre-copy before the switch '
                    'to post-copy could be made (last refusal: %s)'
                    % refusal) from None
            refusal = exc.get_error_message()
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def wait_no_job(domain, timeout=30):
    """Wait until the guest has no migration job: a guest that has just
    arrived may still be finishing its incoming one (libvirt 12.8 took
    1.3 s after a post-copy arrival, under load), and an action meant for
    the next outgoing migration would land on it (matrix run: post-copy
    switches refused until the guest had gone, "finished in pre-copy")."""
    def idle():
        try:
            return virt.idle_job(virt.job_type(domain))
        except virt.libvirt().libvirtError:
            return False
    system.wait_for(idle, timeout, interval=0.05,
                    what='the guest\'s previous migration job to end')


def wait_job_running(domain, phase='any', timeout=30):
    """Wait until the migration job runs: ``any`` phase (a storage copy
    included: a fault may land there), or ``ram``, once QEMU's migration
    reports RAM (its capabilities are set: a switch to post-copy is then
    accepted)."""
    libvirt = virt.libvirt()
    refusals = []

    def running():
        try:
            stats = domain.jobStats()
        except libvirt.libvirtError as exc:
            refusals[:] = [exc.get_error_message()]
            return False
        if phase == 'ram':
            return stats.get('memory_total', 0) > 0
        return not virt.idle_job(
            stats.get('type', libvirt.VIR_DOMAIN_JOB_NONE))
    try:
        system.wait_for(running, timeout, interval=0.02,
                        what='the migration job to start')
    except system.LabError as exc:
        raise system.LabError('%s (last jobStats error: %s)' % (
            exc, refusals[0] if refusals else 'none')) from None
