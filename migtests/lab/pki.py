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

"""A lab certificate authority, made with ``cryptography``.

Each host gets one key with a server certificate (SAN: its host name and
address) and a client certificate, laid out where libvirtd (TLS listener
and peer-to-peer client) and QEMU (native TLS migration, with
verification) look for them under /etc/pki.

``break_certificate`` puts a faulty certificate in place of one of a
host's (another CA's, another host's name, expired, or none at all) and
gives the original back afterwards: the lab's TLS faults.
"""

import contextlib
import dataclasses
import datetime
import ipaddress
import os

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.oid import NameOID

_VALID = datetime.timedelta(days=30)


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                         'migtests lab'),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _usage(cert_sign):
    return x509.KeyUsage(
        digital_signature=True, key_encipherment=not cert_sign,
        key_cert_sign=cert_sign, crl_sign=cert_sign, content_commitment=False,
        data_encipherment=False, key_agreement=False, encipher_only=False,
        decipher_only=False)


def _builder(subject, issuer, public_key, ca, expired=False):
    """A certificate valid from an hour ago for _VALID (``expired``: one
    that ended yesterday), CA or end entity."""
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - (_VALID if expired else datetime.timedelta(hours=1))
    end = now - datetime.timedelta(days=1) if expired else now + _VALID
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                       critical=True)
        .add_extension(_usage(cert_sign=ca), critical=True))


class CertificateAuthority:
    def __init__(self, common_name='migtests lab CA'):
        self.key = _key()
        name = _name(common_name)
        self.cert = _builder(name, name, self.key.public_key(), ca=True).sign(
            self.key, hashes.SHA256())

    def issue(self, key, host_name, address, purpose, expired=False):
        builder = (
            _builder(_name(host_name), self.cert.subject, key.public_key(),
                     ca=False, expired=expired)
            .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(host_name),
                x509.IPAddress(ipaddress.ip_address(address))]),
                critical=False))
        return builder.sign(self.key, hashes.SHA256())

    def install(self, pki_dir, host_name, address):
        """Write the CA and the host's certificates under ``pki_dir``."""
        key = _key()
        server = _pem_cert(self.issue(key, host_name, address,
                                      ExtendedKeyUsageOID.SERVER_AUTH))
        client = _pem_cert(self.issue(key, host_name, address,
                                      ExtendedKeyUsageOID.CLIENT_AUTH))
        ca, private = _pem_cert(self.cert), _pem_key(key)
        files = {
            'CA/cacert.pem': ca,
            'libvirt/servercert.pem': server,
            'libvirt/private/serverkey.pem': private,
            'libvirt/clientcert.pem': client,
            'libvirt/private/clientkey.pem': private,
            'qemu/ca-cert.pem': ca,
            'qemu/server-cert.pem': server,
            'qemu/server-key.pem': private,
            'qemu/client-cert.pem': client,
            'qemu/client-key.pem': private,
        }
        for relative, data in files.items():
            path = os.path.join(pki_dir, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write(data)
            os.chmod(path, 0o600 if 'key' in relative else 0o644)


# Where each transport's certificates are, under a host's /etc/pki:
# libvirtd's (its TLS listener, and its peer-to-peer client connection)
# and QEMU's (the native TLS migration stream).
CERTIFICATES = {
    ('libvirtd', 'server'): 'libvirt/servercert.pem',
    ('libvirtd', 'client'): 'libvirt/clientcert.pem',
    ('libvirtd', 'ca'): 'CA/cacert.pem',
    ('qemu', 'server'): 'qemu/server-cert.pem',
    ('qemu', 'client'): 'qemu/client-cert.pem',
    ('qemu', 'ca'): 'qemu/ca-cert.pem',
}
_PURPOSE = {'server': ExtendedKeyUsageOID.SERVER_AUTH,
            'client': ExtendedKeyUsageOID.CLIENT_AUTH}
# A name and address no lab host has.
OTHER_HOST = ('h9', '192.0.2.99')


@dataclasses.dataclass(frozen=True)
class CertificateFault:
    """What is wrong with one certificate of one of the two hosts.

    Where it can be: libvirtd (9.0) checks its own server certificate
    against its CA and its validity when it starts, and will not start
    otherwise; QEMU checks its own when the migration creates its TLS
    object.  So a destination of another CA is one whose CA certificate
    is that CA's too (it starts; the source does not trust it), and an
    expired certificate is met where it is used, not served: the source's
    client certificate."""
    name: str
    side: str           # 'source' or 'destination'
    purpose: str        # 'server' or 'client'
    foreign: bool = False   # issued by another CA, which the host trusts
    other_name: bool = False
    expired: bool = False
    missing: bool = False

    def files(self, transport):
        return [CERTIFICATES[(transport, self.purpose)]] + (
            [CERTIFICATES[(transport, 'ca')]] if self.foreign else [])


FAULTS = {fault.name: fault for fault in (
    CertificateFault('foreign-ca', 'destination', 'server', foreign=True),
    CertificateFault('other-host-name', 'destination', 'server',
                     other_name=True),
    CertificateFault('expired', 'source', 'client', expired=True),
    CertificateFault('client-missing', 'source', 'client', missing=True),
)}


def _load_key(pki_dir):
    with open(os.path.join(pki_dir, 'libvirt/private/serverkey.pem'),
              'rb') as f:
        return serialization.load_pem_private_key(f.read(), None)


def _replace(path, data, mode=0o644):
    with open(path + '.tmp', 'wb') as f:
        f.write(data)
    os.chmod(path + '.tmp', mode)
    os.replace(path + '.tmp', path)


@contextlib.contextmanager
def break_certificate(ca, pki_dir, fault, transport, host_name, address):
    """Within the block, the host's ``transport`` certificate has
    ``fault`` (a certificate of the host's own key, so only the fault is
    wrong); the originals are put back afterwards, whatever happened."""
    paths = [os.path.join(pki_dir, f) for f in fault.files(transport)]
    originals = {}
    for path in paths:
        with open(path, 'rb') as f:
            originals[path] = f.read()
    try:
        if fault.missing:
            os.unlink(paths[0])
        else:
            issuer = CertificateAuthority('migtests foreign CA') \
                if fault.foreign else ca
            name, addr = OTHER_HOST if fault.other_name else (host_name,
                                                              address)
            _replace(paths[0], _pem_cert(issuer.issue(
                _load_key(pki_dir), name, addr, _PURPOSE[fault.purpose],
                expired=fault.expired)))
            if fault.foreign:
                _replace(paths[1], _pem_cert(issuer.cert))
        yield paths
    finally:
        for path, data in originals.items():
            _replace(path, data)
