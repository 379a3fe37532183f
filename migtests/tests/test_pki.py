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

"""The lab's certificate faults (pki.break_certificate): each certificate
has exactly the fault it is named for, and the original comes back."""

import datetime
import os

from cryptography import x509
import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import cases
from migtests.lab import pki

HOST = ('h2', '192.0.2.12')


class TestCertificateFaults(testtools.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ca = pki.CertificateAuthority()

    def setUp(self):
        super().setUp()
        self.pki = self.useFixture(fixtures.TempDir()).path
        self.ca.install(self.pki, *HOST)
        self.before = {r: self.read(r) for r in pki.CERTIFICATES.values()}

    def read(self, relative):
        with open(os.path.join(self.pki, relative), 'rb') as f:
            return f.read()

    def certificate(self, relative):
        return x509.load_pem_x509_certificate(self.read(relative))

    def broken(self, fault, transport):
        return pki.break_certificate(self.ca, self.pki, pki.FAULTS[fault],
                                     transport, *HOST)

    def assertRestored(self):
        self.assertEqual(self.before, {r: self.read(r)
                                       for r in pki.CERTIFICATES.values()})

    @decorators.idempotent_id('2c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f')
    def test_foreign_ca_is_a_host_of_another_pki(self):
        with self.broken('foreign-ca', 'qemu'):
            cert = self.certificate('qemu/server-cert.pem')
            ca = self.certificate('qemu/ca-cert.pem')
            self.assertEqual(ca.subject, cert.issuer)
            self.assertNotEqual(self.ca.cert.subject, cert.issuer)
            # libvirtd's own certificates are untouched.
            self.assertEqual(self.before['libvirt/servercert.pem'],
                             self.read('libvirt/servercert.pem'))
        self.assertRestored()

    @decorators.idempotent_id('3d0e9f8a-7b6c-4d4e-8f3a-2b1c0d9e8f7a')
    def test_other_host_name(self):
        with self.broken('other-host-name', 'libvirtd'):
            names = self.certificate('libvirt/servercert.pem').extensions \
                .get_extension_for_class(x509.SubjectAlternativeName).value
            self.assertEqual(['h9'], names.get_values_for_type(x509.DNSName))
            self.assertNotIn('h2', names.get_values_for_type(x509.DNSName))
        self.assertRestored()

    @decorators.idempotent_id('4e1f0a9b-8c7d-4e5f-9a4b-3c2d1e0f9a8b')
    def test_expired_client_certificate(self):
        with self.broken('expired', 'libvirtd'):
            cert = self.certificate('libvirt/clientcert.pem')
            self.assertLess(cert.not_valid_after_utc,
                            datetime.datetime.now(datetime.timezone.utc))
            self.assertEqual(self.ca.cert.subject, cert.issuer)
        self.assertRestored()

    @decorators.idempotent_id('5f2a1b0c-9d8e-4f6a-8b5c-4d3e2f1a0b9c')
    def test_missing_client_certificate_comes_back_after_a_failure(self):
        def fail():
            with self.broken('client-missing', 'qemu'):
                self.assertFalse(os.path.exists(
                    os.path.join(self.pki, 'qemu/client-cert.pem')))
                raise RuntimeError('the migration test failed')
        self.assertRaises(RuntimeError, fail)
        self.assertRestored()

    @decorators.idempotent_id('6a3b2c1d-0e9f-4a7b-9c6d-5e4f3a2b1c0d')
    def test_every_tls_fault_case_names_a_fault(self):
        faulty = cases.select(cases.TLS_FAULT)
        self.assertEqual(2 * len(pki.FAULTS), len(faulty))
        self.assertEqual(set(pki.FAULTS),
                         {case.certificate for case in faulty})
