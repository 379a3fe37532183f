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

"""Faults during real migrations: the guest always stays on its source."""

import os
import signal
import time

from tempest.lib import decorators

from migtests.lab import cases
from migtests.lab import system
from migtests.lab.tests import base
from reference import act


class TestFaults(base.FaultTestCase):
    LAB_NAME = 'flt'

    def migrate(self, case_id, **kwargs):
        """The catalogue's case under its fault: act raised the error the
        case names."""
        case = cases.get(case_id)
        guest, source, destination, error = self.runner.migrate_with_fault(
            case, **kwargs)
        self.assertIsInstance(error, getattr(act, case.error))
        return guest, source, destination, error

    @decorators.idempotent_id('a0741db0-b591-445f-9d85-25aaf9a77f50')
    def test_abort_job(self):
        guest, source, destination, error = self.migrate('abort-job')
        self.assertIn('canceled', str(error))
        self.assertIn('keeps running on its source', str(error))
        self.assertStayed(guest, source, destination)

    @decorators.idempotent_id('0b2d71ea-2d8b-4845-a573-5cf05630d56b')
    def test_completion_timeout_aborts(self):
        guest, source, destination, error = self.migrate(
            'completion-timeout-aborts')
        self.assertStayed(guest, source, destination)

    @decorators.idempotent_id('d70ad38a-de7c-45b9-86d0-3ca2489cc058')
    def test_destination_libvirtd_killed(self):
        guest, source, destination, error = self.migrate(
            'destination-libvirtd-killed')
        self.runner.lab.start_daemon(destination)
        self.runner.reconnect(destination)
        self.assertStayed(guest, source, destination)

    @decorators.idempotent_id('5e0a2c4b-7d1f-4e3a-9b6c-2f8e1d4a7c95')
    def test_guest_paused_to_force_completion_is_resumed_on_failure(self):
        guest, source, destination, error = self.migrate(
            'force-complete-pause-then-failure')
        self.runner.lab.start_daemon(destination)
        self.runner.reconnect(destination)
        self.assertIn('resumed on its source', str(error))
        # Running again, not paused: its counter carries on.
        self.assertStayed(guest, source, destination)

    @decorators.idempotent_id('827e765d-3c7f-45ed-b659-ad129a002f36')
    def test_network_cut(self):
        try:
            guest, source, destination, error = self.migrate('network-cut')
        finally:
            for host in self.lab.hosts:
                self.lab.link(host, up=True)
        self.assertStayed(guest, source, destination)

    @decorators.idempotent_id('25452073-aa53-41b1-ad06-6902d92037b3')
    def test_destination_disk_not_precreated(self):
        guest, source = self.runner.guest('local')
        destination = self.runner.other(source)
        guest.remove_root(destination)
        case = cases.get('destination-disk-not-precreated')
        plan = self.runner.plan(case, guest, source, destination)
        domain = self.runner.conn(source).lookupByName(guest.name)
        error = self.assertRaises(getattr(act, case.error), act.migrate,
                                  domain, plan)
        # NON_SHARED_INC: libvirt 9.0 will not create the target itself.
        self.assertEqual('VIR_ERR_OPERATION_UNSUPPORTED', error.error)
        self.assertIn('pre-creation of storage targets', str(error))
        self.assertIn('Pre-create the destination disk', str(error))
        self.assertFalse(os.path.exists(guest.root_path(destination)))
        self.assertStayed(guest, source, destination)

    @decorators.idempotent_id('9c178def-625e-45d0-a434-459fba90a645')
    def test_unreachable_destination(self):
        started = time.monotonic()
        guest, source, destination, error = self.migrate(
            'unreachable-destination', destination_address='192.0.2.99')
        self.assertIn('192.0.2.99', str(error))
        self.assertIn('destination libvirtd', str(error))
        self.assertLess(time.monotonic() - started, 60)
        self.assertStayed(guest, source, destination)


class TestDaemonRevival(base.LabTestCase):
    """A libvirtd that died, or hangs, is replaced wherever the lab talks
    to it (the matrix and the conformance rows call this after any error),
    and the guests it ran keep running."""
    LAB_NAME = 'rev'
    RUNNER = base.FaultTestCase.RUNNER

    def _revived(self, host, before):
        self.assertNotEqual(before.pid, self.lab.daemon(host).pid)
        self.assertTrue(self.lab.daemon(host).alive())
        self.assertEqual(self.runner.capabilities(host),
                         act.read_capabilities(self.runner.conn(host)))

    @decorators.idempotent_id('3f4e5d6c-7b8a-4c9d-8e0f-1a2b3c4d5e61')
    def test_dead_daemon_is_restarted(self):
        guest, source = self.runner.guest('volume')
        self.runner.capabilities(source)
        daemon = self.lab.daemon(source)
        daemon.signal(signal.SIGKILL)
        system.wait_for(lambda: not daemon.alive(), 10)
        self.assertEqual([source.name], self.runner.revive_daemons())
        self._revived(source, daemon)
        self.runner.assert_on_source(guest, source)
        self.assertEqual([], self.runner.revive_daemons())

    @decorators.idempotent_id('4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c72')
    def test_hung_daemon_is_replaced(self):
        guest, source = self.runner.guest('volume')
        daemon = self.lab.daemon(source)
        daemon.signal(signal.SIGSTOP)
        self.addCleanup(daemon.signal, signal.SIGCONT)
        # A call on a hung daemon never returns (libvirt's keepalive needs
        # a client event loop): revival must neither hang on the old
        # connection nor on a new one.
        started = time.monotonic()
        self.assertEqual([source.name], self.runner.revive_daemons())
        self.assertLess(time.monotonic() - started, 40)
        self._revived(source, daemon)
        self.runner.assert_on_source(guest, source)
