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

"""The one runner that executes the catalogue's cases on the lab.

plan (reference, with the capabilities read from the live hosts) -> act
(reference.act on real libvirt, with the case's mid-migration hook) ->
verify (checks.arrived).  The runner keeps one guest per disk layout alive
and moves it between the lab's hosts.
"""

import dataclasses
import time

from migtests.lab import actions
from migtests.lab import cases
from migtests.lab import checks
from migtests.lab.guest import Guest
from migtests.lab import system
from migtests.lab import virt
from reference import act
from reference import conf
from reference.model import MigrationRequest
from reference.model import Operation
from reference.planner import plan_migration
from reference.versions import supports

# MiB of RAM a guest rewrites in a loop, where QEMU's TCG dirty tracking is
# reliable (reference.versions: tcg_dirty_tracking_reliable); elsewhere the
# guest only counts, else QEMU itself would corrupt it.
DIRTY_MIB = 16


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
            if virt.answers(self.conn(host)):
                continue
            daemon = self.lab.daemon(host)
            try:
                system.wait_for(lambda: not daemon.alive(), grace,
                                what='a dying libvirtd to end')
            except system.LabError:
                if virt.connects(host, grace):
                    self.reconnect(host)
                    if virt.answers(self.conn(host)):
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

    def other(self, host):
        return next(h for h in self.lab.hosts if h is not host)

    # --- the guests, one per layout ----------------------------------------
    def dirty_mib(self, layout):
        if not cases.LAYOUTS[layout].dirty:
            return 0
        if cases.LAYOUTS[layout].dirty == 'always':
            return DIRTY_MIB
        if self._reliable_dirty_tracking is None:   # the hosts never change
            caps = [self.capabilities(h) for h in self.lab.hosts]
            self._reliable_dirty_tracking = supports(
                'tcg_dirty_tracking_reliable', *caps)
        return DIRTY_MIB if self._reliable_dirty_tracking else 0

    def guest(self, layout, on=None):
        """The layout's guest and the host it runs on, created if needed
        (on ``on``, or the first host; a guest found elsewhere than ``on``
        is discarded and made anew there)."""
        spec = cases.LAYOUTS[layout]
        guest = Guest(self.lab, spec.guest_name, local=spec.local,
                      volume=spec.volume, config=spec.config,
                      machine=spec.machine, dirty_mib=self.dirty_mib(layout))
        for host in self.lab.hosts:
            try:
                domain = self.conn(host).lookupByName(guest.name)
            except Exception:
                continue
            if domain.isActive() and guest.counters(host) and \
                    on in (None, host):
                return guest, host
            persistent = domain.isPersistent()
            if domain.isActive():   # broken, or not where it is wanted
                domain.destroy()
            if persistent:
                domain.undefine()
        host = on or self.lab.hosts[0]
        guest.create(host, self.conn(host))
        return guest, host

    def discard(self, layout):
        """Destroy the layout's guest wherever it is; the next use makes a
        fresh one."""
        name = cases.LAYOUTS[layout].guest_name
        for host in self.lab.hosts:
            for domain in self.conn(host).listAllDomains():
                if domain.name() == name:
                    if domain.isActive():
                        domain.destroy()
                    if domain.isPersistent():
                        domain.undefine()

    # --- plan, act, verify -------------------------------------------------
    def plan(self, case, guest, source, destination):
        settings = conf.settings(**case.options)
        caps = [self.capabilities(h, tls_ready=case.tls_ready)
                for h in (source, destination)]
        request = MigrationRequest(
            destination=destination.address,
            operation=Operation(case.operation),
            disks=cases.LAYOUTS[case.layout].disks(), paused=case.paused,
            shared_storage=False,
            machine_type=self.machine_type(guest, source))
        return plan_migration(settings, caps[0], caps[1], request)

    def machine_type(self, guest, host):
        """The machine type the running guest has (its live XML)."""
        return act.running_machine_type(
            self.conn(host).lookupByName(guest.name).XMLDesc())

    def start(self, case, destination_address=None):
        """The case's guest, hosts, plan and domain, ready to migrate: a
        local disk pre-created on the destination where storage is copied,
        no migration job left from the guest's arrival."""
        guest, source = self.guest(case.layout)
        destination = self.other(source)
        plan = self.plan(case, guest, source, destination)
        if destination_address:
            plan = dataclasses.replace(plan, uri=plan.uri.replace(
                destination.address, destination_address))
        domain = self.conn(source).lookupByName(guest.name)
        if guest.local and plan.copies_storage:
            guest.prepare_root(destination, pattern=False)
        # What the plan says reaches the destination first: config drives,
        # through the destination's libvirtd as the reference does inside
        # nova-compute (act.copy_file).
        for target in plan.copy_before:
            if target != cases.CONFIG_DISK:
                raise AssertionError('the plan copies %s first; the lab '
                                     'guest has no such disk' % target)
            with open(guest.config_path(source), 'rb') as f:
                act.copy_file(self.conn(destination), guest.config_ns_path,
                              f.read())
        actions.wait_no_job(domain)
        return guest, source, destination, plan, domain

    def migrate(self, case, guest, source, destination, domain, plan):
        """Carry the plan out, with the case's hook once the job is in its
        phase; returns (api, MigrationFailed or None)."""
        hook = case.during
        if hook is None:
            try:
                return act.migrate(domain, plan), None
            except act.MigrationFailed as error:
                return None, error
        return actions.migrate_while(
            domain, plan,
            lambda: hook.act(self, guest, source, destination),
            phase=hook.phase)

    def run(self, case):
        """Migrate the layout's guest to the other host and verify it."""
        started = time.monotonic()
        guest, source, destination, plan, domain = self.start(case)
        if case.paused:
            domain.suspend()
        log = checks.DaemonLog(source)
        aliases = checks.disk_aliases(domain)
        before = guest.counters(source)[-1]
        migrate_started = time.monotonic()
        api, error = self.migrate(case, guest, source, destination, domain,
                                  plan)
        if error is not None:
            raise error
        migration_seconds = time.monotonic() - migrate_started
        text = log.since()      # read once: the copies and the hook's trace
        copied = log.copied(aliases, text)
        job = checks.job_stats(
            self.conn(destination).lookupByName(guest.name))
        checks.arrived(self, case, guest, source, destination, before,
                       copied)
        hook = case.during
        if hook is not None and hook.shows and hook.shows not in text:
            raise AssertionError(hook.missing)
        total = time.monotonic() - started
        return Result(case.id, source.name, destination.name, api,
                      plan.flags, plan.params, copied, round(total, 3),
                      round(migration_seconds, 3),
                      round(total - migration_seconds, 3), job)
