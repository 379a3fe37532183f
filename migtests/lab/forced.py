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

"""Beyond the reference: calls it never makes, and migrations under faults.

``FaultRunner.force`` calls migrateToURI3 with raw flags and parameters and
observes what real libvirt does (conformance.py compares that with the
simulated libvirt); ``FaultRunner.migrate_with_fault`` runs a case whose
hook is a fault and returns what ``act`` raised.
"""

import dataclasses

from migtests.lab import checks
from migtests.lab import pki
from migtests.lab.runner import Runner
from migtests.lab import virt
from reference import act


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
        libvirt = virt.libvirt()
        guest, source = self.guest(layout)
        destination = self.other(source)
        domain = self.conn(source).lookupByName(guest.name)
        aliases = checks.disk_aliases(domain)
        if guest.local and prepare:
            guest.prepare_root(destination, pattern=False)
        log = checks.DaemonLog(source)
        uri = 'qemu+tcp://%s/system' % destination.address
        try:
            domain.migrateToURI3(uri, dict(params), act.flags_value(flags))
        except libvirt.libvirtError as exc:
            self.assert_on_source(guest, source)
            return Forced(act.error_name(exc.get_error_code()),
                          exc.get_error_message(), [])
        return Forced(None, '', log.copied(aliases))

    def assert_on_source(self, guest, source, root_intact=True):
        """The guest still runs on its source, counting, its disks intact."""
        checks.stayed(self, guest, source, root_intact)

    def migrate_with_certificate_fault(self, case):
        """Run the case's plan with its certificate fault (pki.FAULTS) in
        place on the host it concerns -- on the transport the plan uses:
        QEMU's native TLS where it carries VIR_MIGRATE_TLS, else libvirtd's
        connection -- and the certificate put back afterwards.  A libvirtd
        whose own server certificate is replaced is restarted, before and
        after (it reads it when it starts).  Returns (guest, source,
        destination, the exception act raised or None, what both hosts'
        libvirtd and the guest's QEMU logged meanwhile)."""
        guest, source, destination, plan, domain = self.start(case)
        fault = pki.FAULTS[case.certificate]
        host = destination if fault.side == 'destination' else source
        transport = 'qemu' if 'VIR_MIGRATE_TLS' in plan.flags \
            else 'libvirtd'
        restart = transport == 'libvirtd' and fault.purpose == 'server'
        logs = [checks.DaemonLog(h, path) for h in (source, destination)
                for path in ('/var/log/libvirt/libvirtd.log',
                             '/var/log/libvirt/qemu/%s.log' % guest.name)]
        try:
            with pki.break_certificate(self.lab.ca, host.path('/etc/pki'),
                                       fault, transport, host.name,
                                       host.address):
                if restart:
                    self.lab.start_daemon(host)
                    self.reconnect(host)
                _, error = self.migrate(case, guest, source, destination,
                                        domain, plan)
        finally:
            if restart:
                self.lab.start_daemon(host)
                self.reconnect(host)
        return (guest, source, destination, error,
                ''.join(log.since() for log in logs))

    def migrate_with_fault(self, case, destination_address=None):
        """Run the case's plan, its hook (the fault) once the job is in the
        hook's phase; return (guest, source, destination, the exception
        act raised or None)."""
        guest, source, destination, plan, domain = self.start(
            case, destination_address)
        _, error = self.migrate(case, guest, source, destination, domain,
                                plan)
        return guest, source, destination, error
