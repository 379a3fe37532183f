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

"""Findings in libvirt and QEMU, each reproduced from nothing on this
machine: ``migtests lab repro NAME``.

A lab of two hosts on the finding's Debian suites, a running guest on the
source, then one libvirt call written out with libvirt-python's own
constants -- nothing of the reference's planner or act layer -- and the
evidence printed: libvirt's answer, whether each libvirtd still runs, what
the daemons logged.  The command exits 0 when the defect showed (and says
so), 1 when it did not (an upstream fix is news, not a failure to hide),
2 on bad input.  Each finding's page is doc/source/findings/NAME.md.
"""

import dataclasses
import os
import threading
import time

from migtests import console
from migtests.lab import cases
from migtests.lab import checks
from migtests.lab.lab import Lab
from migtests.lab.runner import Runner
from migtests.lab import virt
from reference import act
from reference.versions import Version


@dataclasses.dataclass(frozen=True)
class Repro:
    name: str
    title: str
    suites: tuple       # (source, destination)
    layout: str         # the lab guest (migtests.lab.cases.LAYOUTS)
    call: object        # (libvirt, context) -> (reproduced, evidence)


@dataclasses.dataclass
class Context:
    runner: Runner
    guest: object
    source: object
    destination: object
    domain: object

    @property
    def uri(self):
        return 'qemu+tcp://%s/system' % self.destination.address

    def daemons_alive(self):
        return {host.name: self.runner.lab.daemon(host).alive()
                for host in (self.source, self.destination)}


def _error(exc):
    return '%s (code %d): %s' % (type(exc).__name__, exc.get_error_code(),
                                 exc.get_error_message())


def _tunnelled_tls(libvirt, ctx):
    """LIVE | PEER2PEER | TUNNELLED | TLS: libvirt has no TLS inside its
    tunnel; a daemon dies instead of refusing the call."""
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
             | libvirt.VIR_MIGRATE_TUNNELLED | libvirt.VIR_MIGRATE_TLS)
    evidence = ['domain.migrateToURI3(%r, {}, %d)  # LIVE|PEER2PEER|'
                'TUNNELLED|TLS' % (ctx.uri, flags)]
    try:
        ctx.domain.migrateToURI3(ctx.uri, {}, flags)
        evidence.append('libvirt answered: success')
    except libvirt.libvirtError as exc:
        evidence.append('libvirt answered: %s' % _error(exc))
    time.sleep(1)
    alive = ctx.daemons_alive()
    evidence += ['libvirtd on %s: %s' % (name, 'running' if up else 'DEAD')
                 for name, up in alive.items()]
    return not all(alive.values()), evidence


def _volume_copied_onto_itself(libvirt, ctx):
    """NON_SHARED_INC without a disk list, a shared volume attached: the
    volume is mirrored onto itself (the destination opens the same
    storage)."""
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
             | libvirt.VIR_MIGRATE_PERSIST_DEST
             | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
             | libvirt.VIR_MIGRATE_NON_SHARED_INC)
    aliases = checks.disk_aliases(ctx.domain)
    ctx.guest.prepare_root(ctx.destination, pattern=False)
    log = checks.DaemonLog(ctx.source)
    evidence = ['domain.migrateToURI3(%r, {}, %d)  # LIVE|PEER2PEER|'
                'PERSIST_DEST|UNDEFINE_SOURCE|NON_SHARED_INC, no '
                'migrate_disks; disks %s' % (ctx.uri, flags, aliases)]
    try:
        ctx.domain.migrateToURI3(ctx.uri, {}, flags)
    except libvirt.libvirtError as exc:
        evidence.append('libvirt answered: %s' % _error(exc))
        return False, evidence
    copied = log.copied(aliases)
    evidence.append('libvirt answered: success; the source mirrored %s '
                    '(its libvirtd log: drive-mirror / blockdev-mirror)'
                    % (sorted(copied) or 'nothing'))
    return cases.VOLUME_DISK in copied, evidence


def _virtio_blk_state(libvirt, ctx):
    """A guest booted on QEMU 10.0 (machine type pc-i440fx-5.2, its disk
    a shared volume: no storage copy), moved live to QEMU 11.1: the
    destination cannot load its virtio-blk state."""
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
             | libvirt.VIR_MIGRATE_PERSIST_DEST
             | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    evidence = ['domain.migrateToURI3(%r, {}, %d)  # LIVE|PEER2PEER|'
                'PERSIST_DEST|UNDEFINE_SOURCE; machine %s' % (
                    ctx.uri, flags,
                    act.running_machine_type(ctx.domain.XMLDesc(0)))]
    try:
        ctx.domain.migrateToURI3(ctx.uri, {}, flags)
        evidence.append('libvirt answered: success')
        return False, evidence
    except libvirt.libvirtError as exc:
        evidence.append('libvirt answered: %s' % _error(exc))
        # libvirt passes the destination QEMU's own words on.
        return 'Failed to load' in exc.get_error_message(), evidence


# The seed's message, as libvirt 1.2.17 words it (src/qemu/
# qemu_migration.c, qemuMigrationBeginPhase: selective disks through the
# tunnel).
SEED_MESSAGE = ('Selecting disks to migrate is not implemented for '
                'tunnelled migration')


def _seed_2016(libvirt, ctx):
    """Mitaka's shipped block_migration_flag (UNDEFINE_SOURCE|PEER2PEER|
    LIVE|TUNNELLED|NON_SHARED_INC) with the local disk chosen by
    migrate_disks, as Nova 13 sent it through migrateToURI3."""
    flags = (libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
             | libvirt.VIR_MIGRATE_PEER2PEER | libvirt.VIR_MIGRATE_LIVE
             | libvirt.VIR_MIGRATE_TUNNELLED
             | libvirt.VIR_MIGRATE_NON_SHARED_INC)
    disks = sorted(set(checks.disk_aliases(ctx.domain).values())
                   - {checks.LEGACY})
    params = {libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS: disks}
    evidence = ['domain.migrateToURI3(%r, %r, %d)  # UNDEFINE_SOURCE|'
                'PEER2PEER|LIVE|TUNNELLED|NON_SHARED_INC' % (
                    ctx.uri, params, flags)]
    try:
        ctx.domain.migrateToURI3(ctx.uri, params, flags)
    except libvirt.libvirtError as exc:
        evidence.append('libvirt answered: %s' % _error(exc))
        return (exc.get_error_code() == libvirt.VIR_ERR_OPERATION_UNSUPPORTED
                and SEED_MESSAGE in exc.get_error_message()), evidence
    evidence.append('libvirt answered: success')
    return False, evidence


# Nova's downtime steps start at 50 ms (its libvirt driver's
# migration.downtime_steps); the hand measurement raised the downtime the
# same way.  Crashes came about one migration in four: twelve round trips
# miss a 1-in-4 defect with a probability of 3 %.
DOWNTIME_STEPS_MS = (50, 100, 200, 300, 500)
DOWNTIME_STEP_SECONDS = 2
TCG_ATTEMPTS = 12
# What the guest's kernel prints when it meets the lost pages (a soft
# lockup is not among them: it does not show corruption by itself).
CRASH_MARKS = ('unable to handle page fault', 'general protection fault',
               'Oops', 'Kernel panic', 'Fatal exception')


def _migrate_stepping_downtime(libvirt, domain, uri, flags):
    """migrateToURI3 in a thread while this one raises the allowed
    downtime through DOWNTIME_STEPS_MS, as Nova's monitor does; libvirt's
    error, or None."""
    outcome = {}

    def migrate():
        try:
            domain.migrateToURI3(uri, {}, flags)
        except libvirt.libvirtError as exc:
            outcome['error'] = exc
    thread = threading.Thread(target=migrate)
    thread.start()
    for downtime in DOWNTIME_STEPS_MS:
        deadline = time.monotonic() + DOWNTIME_STEP_SECONDS
        while thread.is_alive():
            try:
                if domain.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE:
                    domain.migrateSetMaxDowntime(downtime, 0)
                    break
            except libvirt.libvirtError:
                pass            # the job ended meanwhile
            time.sleep(0.05)
        thread.join(max(0.0, deadline - time.monotonic()))
        if not thread.is_alive():
            break
    thread.join()
    return outcome.get('error')


def _tcg_lost_pages(libvirt, ctx):
    """A guest rewriting 16 MiB of RAM, migrated back and forth under TCG
    with Nova's downtime steps from 50 ms: after one switch its kernel
    meets pages that were never copied."""
    flags = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
             | libvirt.VIR_MIGRATE_PERSIST_DEST
             | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE)
    evidence = ['domain.migrateToURI3(uri, {}, %d)  # LIVE|PEER2PEER|'
                'PERSIST_DEST|UNDEFINE_SOURCE; migrateSetMaxDowntime %s ms, '
                'one step every %d s; back and forth, %d migrations at most'
                % (flags, '/'.join(map(str, DOWNTIME_STEPS_MS)),
                   DOWNTIME_STEP_SECONDS, TCG_ATTEMPTS)]
    here, there = ctx.source, ctx.destination
    for attempt in range(1, TCG_ATTEMPTS + 1):
        last = ctx.guest.counters(here)[-1]
        serial = there.path(ctx.guest.serial_ns_path)
        if os.path.exists(serial):      # its earlier stay there
            os.unlink(serial)
        domain = ctx.runner.conn(here).lookupByName(ctx.guest.name)
        error = _migrate_stepping_downtime(
            libvirt, domain, 'qemu+tcp://%s/system' % there.address, flags)
        if error is not None:
            evidence.append('migration %d: libvirt answered: %s'
                            % (attempt, _error(error)))
            return False, evidence
        try:
            ctx.guest.wait_counter(there, last, timeout=20)
        except Exception:
            pass                # judged from its console below
        time.sleep(2)           # a crash comes within a moment
        text = ctx.guest.serial(there)
        crashed = [mark for mark in CRASH_MARKS if mark in text]
        problem = console.not_continued(last, text)
        if crashed or problem:
            lines = [line for line in text.splitlines()
                     if any(mark in line for mark in CRASH_MARKS)]
            evidence.append('migration %d (%s -> %s): %s' % (
                attempt, here.name, there.name,
                'the guest\'s kernel: %s' % ' | '.join(lines[:3])
                if crashed else problem))
            return True, evidence
        here, there = there, here
    evidence.append('%d migrations: the guest carried on every time'
                    % TCG_ATTEMPTS)
    return False, evidence


REPROS = {r.name: r for r in (
    # libvirt 1.2.17 built from its release commit (lab.sourcebuild).
    Repro('tunnelled-selective-disks-2016', 'the 2016 failure: TUNNELLED '
          'with a migrate_disks list on libvirt 1.2.17',
          ('libvirt-1.2.17', 'libvirt-1.2.17'), 'local', _seed_2016),
    Repro('tunnelled-tls-kills-libvirtd', 'libvirtd dies on '
          'VIR_MIGRATE_TUNNELLED | VIR_MIGRATE_TLS', ('trixie', 'trixie'),
          'volume', _tunnelled_tls),
    Repro('volume-copied-onto-itself', 'NON_SHARED_INC without a disk list '
          'copies an attached shared volume onto itself',
          ('trixie', 'trixie'), 'local+volume', _volume_copied_onto_itself),
    Repro('virtio-blk-state-10-to-11', 'QEMU 10.0 -> 11.1: the destination '
          'cannot load the virtio-blk state', ('trixie', 'sid'), 'volume',
          _virtio_blk_state),
    # bookworm: QEMU 7.2; QEMU 10.0 (trixie) did not lose pages in 12.
    Repro('tcg-lost-pages', 'QEMU 7.2 TCG loses guest pages at a 50 ms '
          'downtime', ('bookworm', 'bookworm'), 'dirty-always',
          _tcg_lost_pages),
)}


def run(name, suites=None, out=print):
    """Reproduce finding ``name`` on a lab of its suites (or ``suites``);
    returns whether the defect showed.  The lab is always torn down."""
    repro = REPROS[name]
    suites = tuple(suites or repro.suites)
    out('%s: %s' % (repro.name, repro.title))
    out('lab: source %s, destination %s' % suites)
    lab = Lab('repro', hosts=2, suites=list(suites))
    runner = None
    try:
        lab.up()
        runner = Runner(lab)
        source, destination = lab.hosts
        for host in lab.hosts:
            conn = runner.conn(host)
            out('%s (%s): libvirt %s, QEMU %s' % (
                host.name, host.suite or 'this machine',
                Version.from_libvirt_int(conn.getLibVersion()),
                Version.from_libvirt_int(conn.getVersion())))
        guest, source = runner.guest(repro.layout, on=source)
        guest.wait_counter(source, 0)
        domain = runner.conn(source).lookupByName(guest.name)
        reproduced, evidence = repro.call(virt.libvirt(), Context(
            runner, guest, source, destination, domain))
        for line in evidence:
            out('  ' + line)
        out('REPRODUCED' if reproduced else
            'NOT REPRODUCED: the defect did not show on these versions')
        return reproduced
    finally:
        if runner is not None:
            runner.close()
        lab.down()
