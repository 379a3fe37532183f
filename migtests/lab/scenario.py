"""Migration cases as data, and the one runner that executes them on the lab.

plan (reference, with the capabilities read from the live hosts) -> act
(reference.act on real libvirt) -> verify: the destination runs the guest
persistently and the source no longer has it; the guest was not rebooted
(its serial counter carries on); a block migration copied exactly the local
disks (read from QEMU's mirror jobs in the source's libvirtd log),
byte-identical, and the shared volume is untouched and still attached.
"""

import dataclasses
import json
import re
import threading
import time
import xml.etree.ElementTree as ElementTree

from migtests import console
from migtests.lab.guest import Guest
from migtests.lab import system
from reference import act
from reference import conf
from reference.model import Disk
from reference.model import DiskKind
from reference.model import MigrationRequest
from reference.model import Operation
from reference.planner import plan_migration
from reference.versions import supports

_MIRROR_RE = re.compile(r'"event": "BLOCK_JOB_(?:READY|COMPLETED)", "data": '
                        r'\{"device": "drive-([\w-]+)".*?"type": "mirror"')
# QEMU's legacy (tunnelled) block migration reports its progress this way.
_LEGACY_RE = re.compile(r'"disk": \{"transferred": [1-9]')

# MiB of RAM a guest rewrites in a loop, where QEMU's TCG dirty tracking is
# reliable (reference.versions: tcg_dirty_tracking_reliable); elsewhere the
# guest only counts, else QEMU itself would corrupt it.
DIRTY_MIB = 16
LAYOUTS = {
    'none': dict(local=False, volume=None),
    'idle': dict(local=False, volume=None, dirty=False),
    'local': dict(local=True, volume=None),
    'volume': dict(local=False, volume='vol1'),
    'local+volume': dict(local=True, volume='vol2'),
}


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    layout: str = 'local'
    options: dict = dataclasses.field(default_factory=dict)
    operation: str = 'auto'
    paused: bool = False
    tls_ready: bool = False
    during: str | None = None      # 'post-copy' while the job runs
    flags_present: tuple = ()
    flags_absent: tuple = ()


@dataclasses.dataclass
class Result:
    case: str
    source: str
    destination: str
    api: str
    flags: tuple
    params: dict
    copied: list
    seconds: float          # wall time of the whole case
    migration_seconds: float
    overhead_seconds: float
    job: dict

    def as_dict(self):
        return dataclasses.asdict(self)


class Runner:
    """Keeps one guest per disk layout alive and moves it between hosts."""

    def __init__(self, lab):
        self.lab = lab
        self.conns = {h.name: h.connect() for h in lab.hosts}
        self._reliable_dirty_tracking = None
        self._capabilities = {}

    def reconnect(self, host):
        """A new connection to a host whose daemon was restarted."""
        self.conns[host.name] = host.connect()

    def capabilities(self, host, tls_ready=False):
        """The host's capabilities, read once: a host's versions never
        change, and asking again after a fault would need a live daemon."""
        if host.name not in self._capabilities:
            self._capabilities[host.name] = act.read_capabilities(
                self.conn(host))
        return dataclasses.replace(self._capabilities[host.name],
                                   tls_ready=tls_ready)

    def revive_daemons(self, grace=5.0):
        """Give every host a libvirtd that answers; return the names of the
        hosts whose daemon had died (or was dying) and was restarted.

        A connection that no longer answers is first given ``grace``
        seconds for a dying daemon to end; a daemon still running then is
        asked for a new connection, and restarted when it gives none."""
        died = []
        for host in self.lab.hosts:
            if _answers(self.conn(host)):
                continue
            daemon = self.lab.daemon(host)
            try:
                system.wait_for(lambda: not daemon.alive(), grace,
                                what='a dying libvirtd to end')
            except system.LabError:
                if _connects(host, grace):
                    self.reconnect(host)
                    if _answers(self.conn(host)):
                        continue
            died.append(host.name)
            self.lab.start_daemon(host)
            self.reconnect(host)
        return died

    def close(self):
        for conn in self.conns.values():
            try:
                conn.close()
            except Exception:
                pass

    def conn(self, host):
        return self.conns[host.name]

    def dirty_mib(self, layout):
        if not LAYOUTS[layout].get('dirty', True):
            return 0
        if self._reliable_dirty_tracking is None:   # the hosts never change
            caps = [self.capabilities(h) for h in self.lab.hosts]
            self._reliable_dirty_tracking = supports(
                'tcg_dirty_tracking_reliable', *caps)
        return DIRTY_MIB if self._reliable_dirty_tracking else 0

    def guest(self, layout, on=None):
        """The layout's guest and the host it runs on, created if needed
        (on ``on``: a guest elsewhere is discarded and made anew there)."""
        spec = {k: v for k, v in LAYOUTS[layout].items() if k != 'dirty'}
        guest = Guest(self.lab, 'g-%s' % layout.replace('+', '-'),
                      dirty_mib=self.dirty_mib(layout), **spec)
        if on is not None and self.guest(layout)[1] is not on:
            self.discard(layout)
            guest.create(on, self.conn(on))
            return guest, on
        for host in self.lab.hosts:
            try:
                domain = self.conn(host).lookupByName(guest.name)
            except Exception:
                continue
            if domain.isActive() and guest.counters(host):
                return guest, host
            if domain.isActive():   # broken: running but not counting
                domain.destroy()
            domain.undefine()
        host = self.lab.hosts[0]
        guest.create(host, self.conn(host))
        return guest, host

    def discard(self, layout):
        """Destroy the layout's guest wherever it is; the next use makes a
        fresh one."""
        name = 'g-%s' % layout.replace('+', '-')
        for host in self.lab.hosts:
            for domain in self.conn(host).listAllDomains():
                if domain.name() == name:
                    if domain.isActive():
                        domain.destroy()
                    if domain.isPersistent():
                        domain.undefine()

    def other(self, host):
        return next(h for h in self.lab.hosts if h is not host)

    def request(self, guest, destination, case):
        disks = []
        if guest.local:
            disks.append(Disk('vda', DiskKind.LOCAL))
        if guest.volume:
            disks.append(Disk('vdb', DiskKind.VOLUME))
        return MigrationRequest(destination=destination.address,
                                operation=Operation(case.operation),
                                disks=tuple(disks), paused=case.paused,
                                shared_storage=False)

    def plan(self, case, guest, source, destination):
        settings = conf.settings(**case.options)
        caps = [self.capabilities(h, tls_ready=case.tls_ready)
                for h in (source, destination)]
        return plan_migration(settings, caps[0], caps[1],
                              self.request(guest, destination, case))

    def run(self, case):
        """Migrate the layout's guest to the other host and verify it."""
        started = time.monotonic()
        guest, source = self.guest(case.layout)
        destination = self.other(source)
        plan = self.plan(case, guest, source, destination)
        domain = self.conn(source).lookupByName(guest.name)
        if case.paused:
            domain.suspend()
        log_offset = self._log_size(source)
        aliases = disk_aliases(domain)
        if guest.local and copies_storage(plan.flags):
            guest.prepare_root(destination, pattern=False)
        before = guest.counters(source)[-1]
        wait_no_job(domain)
        migrate_started = time.monotonic()
        api = self.migrate(domain, plan, case.during)
        migration_seconds = time.monotonic() - migrate_started
        copied = sorted(aliases[a] for a in self.copied_aliases(
            source, log_offset))
        job = self._job_stats(guest, destination)
        self.verify(case, guest, source, destination, before, copied)
        if case.during == 'post-copy' and not self.log_since(
                source, log_offset).count('"status": "postcopy-active"'):
            raise AssertionError('the migration never switched to post-copy')
        total = time.monotonic() - started
        return Result(case.name, source.name, destination.name, api,
                      plan.flags, plan.params, copied, round(total, 3),
                      round(migration_seconds, 3),
                      round(total - migration_seconds, 3), job)

    def migrate(self, domain, plan, during=None):
        if during is None:
            return act.migrate(domain, plan)
        # As soon as the job runs: the switch is retried until QEMU takes
        # it (libvirt 11.3 reported no RAM progress until the end, so
        # waiting for it let a migration finish in pre-copy).
        api, error = migrate_while(domain, plan,
                                   lambda: switch_to_post_copy(domain))
        if error is not None:
            raise error
        return api

    # --- verification ------------------------------------------------------
    def verify(self, case, guest, source, destination, before, copied):
        import libvirt
        names = [d.name() for d in self.conn(source).listAllDomains()]
        if guest.name in names:
            raise AssertionError('%s still defined on the source %s'
                                 % (guest.name, source.name))
        domain = self.conn(destination).lookupByName(guest.name)
        if not (domain.isActive() and domain.isPersistent()):
            raise AssertionError('%s not active and persistent on %s'
                                 % (guest.name, destination.name))
        if case.paused:
            state = domain.state()[0]
            if state != libvirt.VIR_DOMAIN_PAUSED:
                raise AssertionError('paused guest arrived in state %d'
                                     % state)
            domain.resume()
        after = guest.wait_counter(destination, before, timeout=30)
        problem = console.not_continued(before, guest.serial(destination))
        if problem:
            raise AssertionError('%s on %s: %s' % (guest.name,
                                                   destination.name, problem))
        expected = ['vda'] if guest.local else []
        if copied != expected:
            raise AssertionError('copied disks %s, expected %s'
                                 % (copied, expected))
        if guest.local:
            if not guest.root_intact(destination):
                raise AssertionError('root disk pattern lost on %s'
                                     % destination.name)
            if not guest.roots_identical(source, destination):
                raise AssertionError('root disks differ between hosts')
        if guest.volume:
            if not guest.volume_intact():
                raise AssertionError('shared volume data changed')
            if 'vdb' not in disk_aliases(domain).values():
                raise AssertionError('volume no longer attached')
        return after

    def _log_size(self, host):
        try:
            with open(host.path('/var/log/libvirt/libvirtd.log'), 'rb') as f:
                return f.seek(0, 2)
        except FileNotFoundError:
            return 0

    def log_since(self, host, offset):
        with open(host.path('/var/log/libvirt/libvirtd.log'), 'rb') as f:
            f.seek(offset)
            return f.read().decode(errors='replace')

    def copied_aliases(self, host, offset):
        """Disk aliases whose storage the source copied since ``offset``."""
        text = self.log_since(host, offset)
        copied = set(_MIRROR_RE.findall(text))
        if _LEGACY_RE.search(text):
            copied.add('legacy-block-migration')
        return copied

    def _job_stats(self, guest, destination):
        import libvirt
        domain = self.conn(destination).lookupByName(guest.name)
        try:
            stats = domain.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        except libvirt.libvirtError:
            return {}
        keep = ('time_elapsed', 'downtime', 'memory_total',
                'memory_processed', 'memory_bps', 'memory_dirty_rate',
                'setup_time')
        return {k: stats[k] for k in keep if k in stats}


def _answers(conn, timeout=5.0):
    """Whether a libvirt connection still reaches a working daemon.  A
    hung daemon never answers, and without a client event loop libvirt's
    keepalive does not end the call: it is bounded here."""
    import libvirt

    def ask():
        try:
            conn.getLibVersion()
            return True
        except libvirt.libvirtError:
            return False
    return _within(timeout, ask)


def _connects(host, timeout):
    """Whether the host's daemon accepts a new connection within
    ``timeout`` seconds (a hung daemon would block the caller for ever)."""
    def attempt():
        try:
            host.connect().close()
            return True
        except Exception:
            return False
    return _within(timeout, attempt)


def _within(timeout, call):
    """``call()``'s result if it returns within ``timeout`` seconds, else
    False; the call is left to end in its own (daemon) thread."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(call()),
                              daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def copies_storage(flags):
    return bool({'VIR_MIGRATE_NON_SHARED_INC',
                 'VIR_MIGRATE_NON_SHARED_DISK'} & set(flags))


def disk_aliases(domain):
    """alias (without 'drive-') -> target dev, from the live XML."""
    tree = ElementTree.fromstring(domain.XMLDesc(0))
    result = {}
    for disk in tree.iter('disk'):
        alias, target = disk.find('alias'), disk.find('target')
        if alias is not None and target is not None:
            result[alias.get('name')] = target.get('dev')
    result['legacy-block-migration'] = 'legacy-block-migration'
    return result


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
    import libvirt
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
    import libvirt

    def idle():
        try:
            kind = domain.jobStats().get('type', libvirt.VIR_DOMAIN_JOB_NONE)
        except libvirt.libvirtError:
            return False
        return kind in (libvirt.VIR_DOMAIN_JOB_NONE,
                        libvirt.VIR_DOMAIN_JOB_COMPLETED)
    system.wait_for(idle, timeout, interval=0.05,
                    what='the guest\'s previous migration job to end')


def wait_job_running(domain, phase='any', timeout=30):
    """Wait until the migration job runs: ``any`` phase (a storage copy
    included: a fault may land there), or ``ram``, once QEMU's migration
    reports RAM (its capabilities are set: a switch to post-copy is then
    accepted)."""
    import libvirt
    refusals = []

    def running():
        try:
            stats = domain.jobStats()
        except libvirt.libvirtError as exc:
            refusals[:] = [exc.get_error_message()]
            return False
        if phase == 'ram':
            return stats.get('memory_total', 0) > 0
        return stats.get('type', libvirt.VIR_DOMAIN_JOB_NONE) not in (
            libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED)
    try:
        system.wait_for(running, timeout, interval=0.02,
                        what='the migration job to start')
    except system.LabError as exc:
        raise system.LabError('%s (last jobStats error: %s)' % (
            exc, refusals[0] if refusals else 'none')) from None


def dump(results, path):
    with open(path, 'w') as f:
        json.dump([r.as_dict() for r in results], f, indent=1)


# --- beyond the reference: forced calls and faults ---

@dataclasses.dataclass
class Forced:
    """What real libvirt did with a call the reference would never make."""

    error: str | None       # VIR_ERR_* name, or None when it "succeeded"
    message: str
    copied: list


class FaultRunner(Runner):
    """Runs calls that bypass the reference, and migrations under faults."""

    def force(self, layout, flags, params, prepare=True):
        """Call migrateToURI3 with raw flag names and params; observe."""
        import libvirt
        guest, source = self.guest(layout)
        destination = self.other(source)
        domain = self.conn(source).lookupByName(guest.name)
        aliases = disk_aliases(domain)
        if guest.local and prepare:
            guest.prepare_root(destination, pattern=False)
        offset = self._log_size(source)
        uri = 'qemu+tcp://%s/system' % destination.address
        try:
            domain.migrateToURI3(uri, dict(params), act.flags_value(flags))
        except libvirt.libvirtError as exc:
            self.assert_on_source(guest, source)
            return Forced(act.error_name(exc.get_error_code()),
                          exc.get_error_message(), [])
        copied = sorted(aliases[a] for a in self.copied_aliases(
            source, offset))
        return Forced(None, '', copied)

    def assert_on_source(self, guest, source, root_intact=True):
        """The guest still runs on its source, counting, its disks intact."""
        domain = self.conn(source).lookupByName(guest.name)
        if not domain.isActive():
            raise AssertionError('%s is not running on its source %s'
                                 % (guest.name, source.name))
        last = guest.counters(source)[-1]
        guest.wait_counter(source, last, timeout=15)
        if guest.local and root_intact and not guest.root_intact(source):
            raise AssertionError('root disk of %s damaged on %s'
                                 % (guest.name, source.name))
        if guest.volume and not guest.volume_intact():
            raise AssertionError('shared volume of %s damaged' % guest.name)

    def migrate_with_fault(self, case, fault, destination_address=None,
                           phase='ram'):
        """Run the case's plan and inject ``fault(runner, guest, source,
        destination)`` once the job is in ``phase`` (wait_job_running);
        return the exception act raised."""
        guest, source = self.guest(case.layout)
        destination = self.other(source)
        plan = self.plan(case, guest, source, destination)
        if destination_address:
            plan = dataclasses.replace(plan, uri=plan.uri.replace(
                destination.address, destination_address))
        domain = self.conn(source).lookupByName(guest.name)
        if guest.local and copies_storage(plan.flags):
            guest.prepare_root(destination, pattern=False)
        wait_no_job(domain)
        _, error = migrate_while(
            domain, plan,
            fault and (lambda: fault(self, guest, source, destination)),
            phase=phase)
        return guest, source, destination, error
