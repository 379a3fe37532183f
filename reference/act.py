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

"""Carry out a MigrationPlan on libvirt, and read host capabilities.

The only module of the reference driver that talks to libvirt.  ``libvirt``
is imported when first needed, so the decision core works without it.
"""

import functools
import importlib
import os
import re
import threading
import time
import xml.etree.ElementTree as ElementTree

from reference.model import HostCapabilities
from reference.versions import Version


def _libvirt():
    return importlib.import_module('libvirt')


class MigrationFailed(Exception):
    """libvirt refused or failed the migration; the guest is on its source."""

    def __init__(self, error, libvirt_message, uri, api, hint):
        self.error = error                  # the VIR_ERR_* name
        self.libvirt_message = libvirt_message
        self.uri = uri
        self.api = api
        self.hint = hint
        super().__init__('migration to %s failed (%s, %s): %s. %s'
                         % (uri, error, api, libvirt_message, hint))


class MigrationUnsupported(MigrationFailed):
    pass


class MigrationUnsafe(MigrationFailed):
    pass


class MigrationAborted(MigrationFailed):
    pass


class DestinationUnreachable(MigrationFailed):
    pass


class TlsFailed(MigrationFailed):
    """A TLS handshake or certificate check failed: libvirtd's connection
    to the destination or QEMU's migration stream (measured on the lab:
    tests/test_tls_faults)."""


class CopyFailed(Exception):
    """A file the plan copies first did not reach the destination intact;
    nothing was migrated: the guest is on its source."""


# libvirt error -> (exception class, what the user should do).
_ERRORS = {
    'VIR_ERR_OPERATION_UNSUPPORTED': (
        MigrationUnsupported, 'These hosts cannot migrate with this '
        'combination of flags and parameters; the plan should have refused '
        'it: report it with the plan (migtests-plan --json)'),
    'VIR_ERR_ARGUMENT_UNSUPPORTED': (
        MigrationUnsupported, 'A flag or parameter is not supported for this '
        'guest or these hosts: report it with the plan'),
    'VIR_ERR_NO_SUPPORT': (
        MigrationUnsupported, 'The source libvirt lacks this migration API'),
    'VIR_ERR_CONFIG_UNSUPPORTED': (
        MigrationUnsupported, 'The destination cannot run this guest\'s '
        'configuration'),
    'VIR_ERR_MIGRATE_UNSAFE': (
        MigrationUnsafe, 'A disk would be left behind or is unsafe to move: '
        'block-migrate it, or put it on shared storage'),
    'VIR_ERR_OPERATION_ABORTED': (
        MigrationAborted, 'The migration was cancelled; the guest keeps '
        'running on its source'),
    'VIR_ERR_SYSTEM_ERROR': (
        DestinationUnreachable, 'Check that the destination libvirtd runs '
        'and is reachable at that address'),
    'VIR_ERR_NO_STORAGE_POOL': (
        MigrationFailed, 'Pre-create the destination disk images (same path '
        'and size) before a block migration'),
    'VIR_ERR_OPERATION_INVALID': (
        MigrationFailed, 'The guest or a host is not in a state that allows '
        'this migration'),
}
_DEFAULT_ERROR = (MigrationFailed, 'See the libvirtd logs of both hosts')


def error_name(code):
    """libvirt's own name for an error code (VIR_ERR_OPERATION_FAILED, not
    "libvirt error 9"), read from the binding."""
    lv = _libvirt()
    names = sorted(n for n in dir(lv) if n.startswith('VIR_ERR_')
                   and getattr(lv, n) == code)
    # Some codes have two names; the one this module knows wins.
    known = [n for n in names if n in _ERRORS]
    return (known or names or ['libvirt error %s' % code])[0]


# libvirt names a TLS failure by its message only: its code is the
# connection's (VIR_ERR_SYSTEM_ERROR, VIR_ERR_AUTH_FAILED) or QEMU's
# (VIR_ERR_OPERATION_FAILED, VIR_ERR_INTERNAL_ERROR), and the side that
# refused may be the other one ("Cannot read from TLS channel").
_TLS_HINT = (
    'A TLS handshake or certificate check failed, so nothing was sent: '
    'check that each host trusts the CA that signed the other\'s '
    'certificate, that the destination\'s certificate names the address '
    'migrated to, that no certificate has expired, and that the source '
    'has its client certificate (libvirtd: /etc/pki/libvirt, native TLS: '
    'the migrate_tls_x509_cert_dir of qemu.conf); the host that refused '
    'says which in its libvirtd log (native TLS: the guest\'s QEMU log)')

# Messages whose cause is known better than their code says: (pattern,
# exception class or None to keep the code's, hint); the first match wins.
_MESSAGES = (
    (re.compile('pre-creation of storage targets'), None,
     'Pre-create the destination disk images (same path and size) before '
     'a block migration'),
    (re.compile(r'\bTLS\b|certificate', re.IGNORECASE), TlsFailed,
     _TLS_HINT),
)


def translate_error(exc, uri, api, job_error=None):
    """The MigrationFailed for a libvirtError.  ``job_error``: the failed
    job's own message (job_error()), for an exception that carries none --
    seen on libvirt 9.0 when QEMU's native TLS handshake fails (the lab's
    tls-native-client-missing fault, now and then)."""
    name = error_name(exc.get_error_code())
    cls, hint = _ERRORS.get(name, _DEFAULT_ERROR)
    message = (exc.get_error_message() or job_error
               or 'libvirt reported no error message')
    for pattern, known_cls, known_hint in _MESSAGES:
        if pattern.search(message):
            cls, hint = known_cls or cls, known_hint
            break
    return cls(name, message, uri, api, hint)


def job_error(domain):
    """What libvirt recorded of the failure when the exception carries no
    message: the connection's last error (reset before the call, so it is
    this call's), else the domain's completed job's VIR_DOMAIN_JOB_ERRMSG
    (libvirt >= 6.3.0); None when neither says anything."""
    lv = _libvirt()
    try:
        error = domain.connect().virConnGetLastError()
    except lv.libvirtError:
        error = None
    if error and error[2]:
        return error[2]
    try:
        stats = domain.jobStats(lv.VIR_DOMAIN_JOB_STATS_COMPLETED)
    except lv.libvirtError:
        return None
    return stats.get('errmsg')


def _reset_errors(domain):
    """Forget the connection's last error, so that job_error reads only
    what the next call leaves there."""
    lv = _libvirt()
    try:
        domain.connect().virConnResetLastError()
    except lv.libvirtError:
        pass


def flags_value(names):
    """The flags as one number; a flag the binding does not know is
    MigrationUnsupported (never mistaken for a missing API)."""
    lv = _libvirt()
    missing = [name for name in names if not hasattr(lv, name)]
    if missing:
        raise MigrationUnsupported(
            'missing-flag', 'the libvirt binding has no %s'
            % ', '.join(missing), None, None, 'Install a libvirt-python as '
            'new as the source libvirt')
    return functools.reduce(lambda acc, name: acc | getattr(lv, name),
                            names, 0)


# The C function behind each API: libvirt names it when the daemon lacks it
# ("this function is not supported by the connection driver: <name>").
_API_FUNCTIONS = {'migrateToURI3': 'virDomainMigrateToURI3',
                  'migrateToURI2': 'virDomainMigrateToURI2',
                  'migrateToURI': 'virDomainMigrateToURI'}


def _api_missing(lv, exc, api):
    """VIR_ERR_NO_SUPPORT about the API itself, not the same code for
    another reason (a flag, a parameter, a guest's configuration)."""
    return (exc.get_error_code() == lv.VIR_ERR_NO_SUPPORT
            and _API_FUNCTIONS[api] in (exc.get_error_message() or ''))


def _call(domain, api, plan, flags):
    params = plan.params
    if api == 'migrateToURI3':
        return domain.migrateToURI3(plan.uri, dict(params), flags)
    if api == 'migrateToURI2':
        return domain.migrateToURI2(
            plan.uri, params.get('migrate_uri'), params.get('destination_xml'),
            flags, params.get('destination_name'), params.get('bandwidth', 0))
    return domain.migrateToURI(plan.uri, flags,
                               params.get('destination_name'),
                               params.get('bandwidth', 0))


def start(domain, plan):
    """Call the planned API; fall back only to the plan's safe fallbacks.

    A fallback is taken only when the API itself is missing (the binding
    lacks it, or libvirt answers VIR_ERR_NO_SUPPORT): never on an error about
    the combination, which an older API would only hide.  Returns the API
    that carried the migration.
    """
    lv = _libvirt()
    flags = flags_value(plan.flags)     # before any API is tried
    apis = (plan.api,) + tuple(plan.fallbacks)
    for position, api in enumerate(apis):
        last = position == len(apis) - 1
        if not hasattr(domain, api):
            if last:
                raise MigrationUnsupported(
                    'missing-api', 'the libvirt binding has no %s' % api,
                    plan.uri, api, 'Install a newer libvirt-python')
            continue
        try:
            _reset_errors(domain)
            _call(domain, api, plan, flags)
            return api
        except lv.libvirtError as exc:
            if last or not _api_missing(lv, exc, api):
                raise translate_error(
                    exc, plan.uri, api, None if exc.get_error_message()
                    else job_error(domain)) from None


class _Runner(threading.Thread):
    def __init__(self, domain, plan):
        super().__init__(daemon=True)
        self.domain, self.plan = domain, plan
        self.api = self.error = None

    def run(self):
        try:
            self.api = start(self.domain, self.plan)
        except MigrationFailed as exc:
            self.error = exc


def migrate(domain, plan, poll_interval=0.2, clock=time.monotonic):
    """Run the plan and watch it as Nova's monitor does.

    Raises the downtime limit step by step and takes the timeout action;
    returns the API used, or raises MigrationFailed.  A guest paused to
    force the migration to complete is resumed on its source if the
    migration then fails (as Nova does), and the error says so.
    """
    lv = _libvirt()
    runner = _Runner(domain, plan)
    started = clock()
    runner.start()
    steps = list(plan.monitor.downtime_steps)
    timeout = plan.monitor.completion_timeout_s
    acted = paused = False
    while runner.is_alive():
        runner.join(poll_interval)
        elapsed = clock() - started
        while steps and steps[0][0] <= elapsed and runner.is_alive():
            try:
                domain.migrateSetMaxDowntime(steps.pop(0)[1], 0)
            except lv.libvirtError:
                pass  # the job may not have started, or just finished
        if (timeout is not None and elapsed > timeout and not acted
                and runner.is_alive()):
            acted = True
            paused = _timeout_action(domain, plan, lv)
    error = runner.error
    if error is not None and paused:
        error = type(error)(error.error, error.libvirt_message, error.uri,
                            error.api, error.hint + ' ' + _resume(domain, lv))
    if error is not None:
        raise error
    return runner.api


def _timeout_action(domain, plan, lv):
    """Take the timeout action; True when it paused the guest."""
    try:
        if plan.monitor.timeout_action == 'abort':
            domain.abortJob()
        elif 'VIR_MIGRATE_POSTCOPY' in plan.flags:
            domain.migrateStartPostCopy(0)
        else:
            domain.suspend()
            return True
    except lv.libvirtError:
        pass  # the migration ended meanwhile; its own result is reported
    return False


def _resume(domain, lv):
    """Resume the guest paused for force_complete on its source."""
    try:
        domain.resume()
        return ('The guest, paused to force the migration to complete, was '
                'resumed on its source.')
    except lv.libvirtError as exc:
        return ('The guest was paused to force the migration to complete and '
                'could not be resumed on its source (%s): resume it.'
                % exc.get_error_message())


# Where libvirt tells QEMU to find the migration TLS certificates
# (libvirt's qemu.conf: migrate_tls_x509_cert_dir, else
# default_tls_x509_cert_dir, else /etc/pki/qemu), and what QEMU reads
# there: the CA, the server pair (incoming) and the client pair (outgoing).
QEMU_CONF = '/etc/libvirt/qemu.conf'
DEFAULT_TLS_DIR = '/etc/pki/qemu'
TLS_FILES = ('ca-cert.pem', 'server-cert.pem', 'server-key.pem',
             'client-cert.pem', 'client-key.pem')


def migration_tls_dir(qemu_conf=QEMU_CONF):
    """The directory this host's libvirt gives QEMU for migration TLS."""
    try:
        with open(qemu_conf) as f:
            text = f.read()
    except FileNotFoundError:
        return DEFAULT_TLS_DIR
    values = dict(re.findall(
        r'^\s*(migrate_tls_x509_cert_dir|default_tls_x509_cert_dir)\s*=\s*'
        r'"([^"]*)"', text, re.M))
    return (values.get('migrate_tls_x509_cert_dir')
            or values.get('default_tls_x509_cert_dir') or DEFAULT_TLS_DIR)


def tls_ready(qemu_conf=QEMU_CONF):
    """Whether this host's QEMU can migrate over native TLS, both ways:
    every certificate and key it reads is in the directory libvirt names.
    Returns (ready, the directory, the files missing)."""
    directory = migration_tls_dir(qemu_conf)
    missing = [name for name in TLS_FILES
               if not os.path.isfile(os.path.join(directory, name))]
    return not missing, directory, missing


def running_machine_type(domain_xml):
    """The machine type of a running domain's XML: the versioned name
    libvirt recorded when the guest started; None if it has none."""
    node = ElementTree.fromstring(domain_xml).find('./os/type')
    return node.get('machine') if node is not None else None


def read_capabilities(conn, tls_ready=False):
    """HostCapabilities of a live connection."""
    lv = _libvirt()
    driver = conn.getType()
    hypervisor = driver.lower()
    machine_types = None
    if driver == 'QEMU':
        tree = ElementTree.fromstring(conn.getCapabilities())
        types = {d.get('type') for d in tree.iter('domain')}
        hypervisor = 'kvm' if 'kvm' in types else 'qemu'
        # Every machine type of every guest architecture QEMU offers
        # (none listed: not known).
        machine_types = frozenset(
            m.text for m in tree.iter('machine')) or None
    return HostCapabilities(
        machine_types=machine_types,
        libvirt=Version.from_libvirt_int(conn.getLibVersion()),
        qemu=Version.from_libvirt_int(conn.getVersion()),
        hypervisor=hypervisor,
        tls_ready=tls_ready,
        has_migrate_to_uri3=hasattr(lv.virDomain, 'migrateToURI3'))


# Bytes per stream call of a copy: libvirt's own virsh vol-upload moves
# files in chunks of this order; a config drive is well under a MiB.
_CHUNK = 256 * 1024


def copy_file(conn, path, data):
    """Write ``data`` to the file ``path`` on the host of ``conn`` (a
    read-write connection to its libvirtd) and read it back: the plan's
    copy_before, through the connection the migration itself uses, so
    that the hosts need nothing else between them (Nova copied config
    drives over SSH until Nova 31).  libvirt's storage driver does it: a
    transient directory pool over the file's directory (an existing pool
    there is used and left alone), the volume created raw if it is
    missing or of another size (Nova 34's pre_live_migration creates it
    empty, of the source's size), uploaded,
    downloaded and compared; the transient pool is then stopped, which
    leaves its files.  Raises CopyFailed."""
    lv = _libvirt()
    directory, name = os.path.split(path)
    pool, transient = None, False
    try:
        try:
            pool = conn.storagePoolLookupByTargetPath(directory)
            if not pool.isActive():
                pool = None
        except lv.libvirtError:
            pool = None
        if pool is None:
            pool = conn.storagePoolCreateXML(
                "<pool type='dir'><name>migtests-copy-%s</name><target>"
                "<path>%s</path></target></pool>"
                % (os.urandom(6).hex(), _xml_text(directory)), 0)
            transient = True
        else:
            pool.refresh(0)
        try:
            volume = pool.storageVolLookupByName(name)
            if volume.info()[1] != len(data):   # capacity: made anew
                volume.delete(0)
                volume = None
        except lv.libvirtError:
            volume = None
        if volume is None:
            volume = pool.createXML(
                "<volume><name>%s</name><capacity unit='bytes'>%d</capacity>"
                "<target><format type='raw'/></target></volume>"
                % (_xml_text(name), len(data)), 0)
        _send(conn, volume, data)
        back = _receive(conn, volume, len(data))
    except lv.libvirtError as exc:
        raise CopyFailed('copying %s to the destination through its '
                         'libvirtd failed: %s' % (path, exc)) from None
    finally:
        if transient:
            try:
                pool.destroy()
            except lv.libvirtError:
                pass
    if back != data:
        raise CopyFailed('%s on the destination differs from the source\'s '
                         'after the copy (%d bytes sent, %d read back)'
                         % (path, len(data), len(back)))


def _xml_text(value):
    return (value.replace('&', '&amp;').replace('<', '&lt;')
            .replace("'", '&apos;'))


def _send(conn, volume, data):
    stream = conn.newStream(0)
    volume.upload(stream, 0, len(data), 0)
    try:
        sent = 0
        while sent < len(data):
            sent += stream.send(data[sent:sent + _CHUNK])
        stream.finish()
    except BaseException:
        stream.abort()
        raise


def _receive(conn, volume, length):
    stream = conn.newStream(0)
    volume.download(stream, 0, length, 0)
    chunks, got = [], 0
    try:
        while got < length:
            chunk = stream.recv(_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        stream.finish()
    except BaseException:
        stream.abort()
        raise
    return b''.join(chunks)
