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

"""Certificate faults on both TLS transports: the migration fails closed.

Each case of the catalogue tagged ``tls-fault`` puts one faulty
certificate on one host (pki.FAULTS) and migrates a guest with a local
disk and a volume over libvirtd's TLS connection (qemu+tls) or QEMU's
native TLS stream: act raises TlsFailed, the host that refused logged the
cause, the guest keeps running on its source with both disks intact, and
nothing of it runs on the destination.
"""

import time

import ddt
from tempest.lib import decorators

from migtests.lab import cases
from migtests.lab.tests import base
from reference import act

# What the refusing side logs for each fault (libvirt 9.0 / GnuTLS, QEMU
# 7.2, measured on the lab) -- in libvirt's error itself or in a host's
# libvirtd or QEMU log: the returned error may be the other side's
# ("Cannot read from TLS channel").
CAUSE = {
    'foreign-ca': "hasn't got a known issuer",
    'other-host-name': 'does not match the hostname',
    'expired': 'has expired',
    'client-missing': 'No certificate was found',
}
# Issue "operator actions and TLS faults": each fault within 30 s.
LIMIT_SECONDS = 30


@ddt.ddt
class TestTlsFaults(base.FaultTestCase):
    LAB_NAME = 'tls'

    @ddt.data(*cases.select(cases.TLS_FAULT))
    @decorators.idempotent_id('7b4c3d2e-1f0a-4b8c-9d7e-6f5a4b3c2d1e')
    def test_fault(self, case):
        started = time.monotonic()
        guest, source, destination, error, logged = \
            self.runner.migrate_with_certificate_fault(case)
        self.assertIsInstance(error, act.TlsFailed, error)
        self.assertIn('certificate', error.hint)
        cause = CAUSE[case.certificate]
        self.assertTrue(cause in str(error) or cause in logged,
                        'neither the error nor a host\'s log says %r: %s'
                        % (cause, error))
        self.assertStayed(guest, source, destination)
        self.assertLess(time.monotonic() - started, LIMIT_SECONDS)
