"""A lab certificate authority, made with ``cryptography``.

Each host gets one key with a server certificate (SAN: its host name and
address) and a client certificate, laid out where libvirtd (TLS listener
and peer-to-peer client) and QEMU (native TLS migration, with
verification) look for them under /etc/pki.
"""

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


def _builder(subject, issuer, public_key, ca):
    """A certificate valid from an hour ago for _VALID, CA or end entity."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                       critical=True)
        .add_extension(_usage(cert_sign=ca), critical=True))


class CertificateAuthority:
    def __init__(self, common_name='migtests lab CA'):
        self.key = _key()
        name = _name(common_name)
        self.cert = _builder(name, name, self.key.public_key(), ca=True).sign(
            self.key, hashes.SHA256())

    def issue(self, key, host_name, address, purpose):
        builder = (
            _builder(_name(host_name), self.cert.subject, key.public_key(),
                     ca=False)
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
