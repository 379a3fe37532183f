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

"""A real Zuul on this machine's loopback, for freezing jobs.

ZooKeeper (Debian's, with TLS and client certificates, as Zuul requires),
MariaDB (a private server on a Unix socket, no TCP listener) and Zuul's
scheduler, merger and web server (the release pinned in
zuul-requirements.txt) over the local git repositories of a tenant
(tenant.py).  Everything listens on 127.0.0.1 only; ZooKeeper's admin
server and four-letter words are off.

Life cycle: ``up`` (stops a stale site in the same directory first, from
its state file), ``down`` (idempotent; stops every recorded process by
its recorded PID and start time, then removes the directory).  The state
file lists each process as it starts, so a crash at any point leaves
what the next ``up`` or ``down`` needs.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
import yaml

from migtests.lab import pki
from migtests.lab import system
from migtests.lab.system import Recorded

DEFAULT_DIR = os.path.join(tempfile.gettempdir(),
                           'migtests-zuul-%d' % os.getuid())
# Debian's zookeeper package: its jar names its dependencies in its
# manifest except Netty's codec, resolver and native common parts, which
# the TLS (Netty) connection factory needs.
ZOOKEEPER_CLASSPATH = ':'.join(
    '/usr/share/java/%s.jar' % jar for jar in (
        'zookeeper', 'netty-codec', 'netty-resolver',
        'netty-transport-native-unix-common', 'slf4j-simple'))
TENANT_TIMEOUT = 180


class SiteError(Exception):
    """The Zuul site could not come up; one line saying which part."""


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _listening(port):
    with socket.socket() as s:
        return s.connect_ex(('127.0.0.1', port)) == 0


class ZuulSite:
    def __init__(self, directory=DEFAULT_DIR):
        self.dir = directory
        self.state_file = os.path.join(directory, 'state.json')
        self.processes = []
        self.web_port = None

    # --- state on disk ---
    def _record(self, recorded):
        self.processes.append(recorded)
        with open(self.state_file + '.tmp', 'w') as f:
            json.dump([vars(p) for p in self.processes], f)
        os.replace(self.state_file + '.tmp', self.state_file)
        return recorded

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def log(self, name):
        return self.path('logs', name + '.log')

    def _tail(self, name, lines=2):
        try:
            with open(self.log(name), errors='replace') as f:
                text = [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return '(no log)'
        errors = [line for line in text if 'ERROR' in line or 'rror:' in line]
        return ' | '.join(errors[-1:] + text[-lines:])

    def _spawn(self, name, argv, env=None):
        with open(self.log(name), 'a') as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.dir, env=env)
        return self._record(Recorded.of(name, proc.pid))

    def _wait(self, what, ready, process, timeout):
        def done():
            if not process.alive():
                raise SiteError('%s exited: %s [log %s]' % (
                    process.role, self._tail(process.role),
                    self.log(process.role)))
            return ready()
        try:
            system.wait_for(done, timeout, interval=0.2, what=what)
        except system.LabError as exc:
            raise SiteError('%s [log %s]' % (exc, self.log(process.role))) \
                from None

    # --- the parts ---
    def _pki(self):
        """A CA, ZooKeeper's server certificate and Zuul's client
        certificate (cryptography, through the lab's PKI)."""
        ca = pki.CertificateAuthority('migtests zuul CA')
        files = {'ca.pem': pki._pem_cert(ca.cert)}
        for name, purpose in (('zookeeper', ExtendedKeyUsageOID.SERVER_AUTH),
                              ('zuul', ExtendedKeyUsageOID.CLIENT_AUTH)):
            key = pki._key()
            cert = pki._pem_cert(ca.issue(key, 'localhost', '127.0.0.1',
                                          purpose))
            # ZooKeeper's PEM key store reads PKCS#8 keys.
            pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            files.update({name + '.key': pem, name + '.crt': cert,
                          name + '.keystore.pem': pem + cert})
        for name, data in files.items():
            with open(self.path('pki', name), 'wb') as f:
                f.write(data)
            os.chmod(self.path('pki', name), 0o600)

    def _zookeeper(self):
        port = _free_port()
        conf = {
            'dataDir': self.path('zookeeper'),
            'tickTime': 2000,
            'secureClientPort': port,
            'secureClientPortAddress': '127.0.0.1',
            'ssl.keyStore.location': self.path('pki',
                                               'zookeeper.keystore.pem'),
            'ssl.keyStore.type': 'PEM',
            'ssl.trustStore.location': self.path('pki', 'ca.pem'),
            'ssl.trustStore.type': 'PEM',
            'admin.enableServer': 'false',
            '4lw.commands.whitelist': '',
        }
        with open(self.path('zoo.cfg'), 'w') as f:
            f.write(''.join('%s=%s\n' % item for item in conf.items()))
        process = self._spawn('zookeeper', [
            'java', '-Xmx256m', '-cp', ZOOKEEPER_CLASSPATH,
            '-Dzookeeper.serverCnxnFactory='
            'org.apache.zookeeper.server.NettyServerCnxnFactory',
            'org.apache.zookeeper.server.quorum.QuorumPeerMain',
            self.path('zoo.cfg')])
        self._wait('ZooKeeper on port %d' % port, lambda: _listening(port),
                   process, 60)
        return port

    def _mariadb(self):
        data, sock = self.path('mysql'), self.path('mysql.sock')
        user = ['--user=root'] if os.getuid() == 0 else []
        install = subprocess.run(
            ['mariadb-install-db', '--no-defaults', '--force',
             '--datadir=' + data, '--auth-root-authentication-method=normal',
             '--skip-test-db'] + user, capture_output=True, text=True)
        if install.returncode != 0:
            raise SiteError('mariadb-install-db failed: %s' % (
                install.stderr.strip().splitlines() or ['?'])[-1])
        process = self._spawn('mariadb', [
            'mariadbd', '--no-defaults', '--datadir=' + data,
            '--socket=' + sock, '--pid-file=' + data + '/mysqld.pid',
            '--skip-networking', '--skip-log-bin',
            '--innodb-buffer-pool-size=64M'] + user)
        self._wait('MariaDB', lambda: os.path.exists(sock), process, 60)
        login = subprocess.run(
            ['mariadb', '--no-defaults', '-S', sock, '-u', 'root',
             '-e', 'CREATE DATABASE zuul'], capture_output=True, text=True)
        if login.returncode != 0:
            raise SiteError('MariaDB: %s' % login.stderr.strip())
        return sock

    def _zuul_conf(self, zk_port, db_socket, connections):
        pkidir = self.path('pki')
        sections = {
            'zookeeper': {
                'hosts': '127.0.0.1:%d' % zk_port,
                'tls_ca': os.path.join(pkidir, 'ca.pem'),
                'tls_cert': os.path.join(pkidir, 'zuul.crt'),
                'tls_key': os.path.join(pkidir, 'zuul.key')},
            'database': {
                'dburi': 'mysql+pymysql://root@localhost/zuul?unix_socket=%s'
                         % db_socket},
            # Secrets of this tenant are none: the key store only has to
            # exist.
            'keystore': {'password': 'migtests-local-only'},
            'scheduler': {
                'tenant_config': self.path('main.yaml'),
                'state_dir': self.path('state'),
                'command_socket': self.path('scheduler.socket')},
            'merger': {
                'git_dir': self.path('merger'),
                'git_user_email': 'zuul@localhost',
                'git_user_name': 'zuul',
                'command_socket': self.path('merger.socket')},
            'web': {
                'listen_address': '127.0.0.1',
                'port': str(self.web_port),
                'command_socket': self.path('web.socket')},
        }
        for name, values in connections.items():
            sections['connection ' + name] = dict(values, driver='git')
        with open(self.path('zuul.conf'), 'w') as f:
            for name, values in sections.items():
                f.write('[%s]\n' % name)
                f.write(''.join('%s=%s\n' % item for item in values.items()))

    def _zuul(self, component):
        program = os.path.join(os.path.dirname(sys.executable),
                               'zuul-' + component)
        return self._spawn('zuul-' + component, [
            program, '-f', '-c', self.path('zuul.conf')])

    # --- life cycle ---
    def up(self, build_tenant):
        """Start everything; ``build_tenant(directory)`` lays the
        tenants' git repositories out under ``directory`` first and returns
        (the tenants' configuration, the git connections {name: options}).
        Up once every tenant's layout is there."""
        self.down()
        for sub in ('pki', 'zookeeper', 'state', 'merger', 'logs', 'git'):
            os.makedirs(self.path(sub))
        try:
            tenant_config, connections = build_tenant(self.dir)
            with open(self.path('main.yaml'), 'w') as f:
                yaml.safe_dump(tenant_config, f)
            self._pki()
            zk_port = self._zookeeper()
            db_socket = self._mariadb()
            self.web_port = _free_port()
            self._zuul_conf(zk_port, db_socket, connections)
            scheduler = self._zuul('scheduler')
            self._zuul('merger')
            web = self._zuul('web')
            self._wait('zuul-web', lambda: _listening(self.web_port), web,
                       120)
            names = [t['tenant']['name'] for t in tenant_config]
            self._wait('the tenants\' layouts', lambda: all(
                self._loaded(name) for name in names), scheduler,
                TENANT_TIMEOUT)
        except BaseException:
            self.down(keep_logs=True)
            raise

    def _loaded(self, tenant):
        try:
            return any(job['name'] == 'base'
                       for job in self.api('tenant/%s/jobs' % tenant))
        except SiteError:
            return False

    def api(self, path):
        """The JSON answer of zuul-web's REST API; SiteError on a
        failure (its status and message)."""
        url = 'http://127.0.0.1:%d/api/%s' % (self.web_port, path)
        try:
            with urllib.request.urlopen(url, timeout=60) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as exc:
            raise SiteError('GET /api/%s: %d %s' % (
                path, exc.code, exc.read().decode(errors='replace')[:200]))
        except (urllib.error.URLError, OSError) as exc:
            raise SiteError('GET /api/%s: %s' % (path, exc))

    def down(self, keep_logs=False):
        """Stop every recorded process (from the state file: after a
        crash too) and remove the directory (its logs kept beside it
        when asked)."""
        recorded = list(self.processes)
        try:
            with open(self.state_file) as f:
                recorded += [Recorded(**p) for p in json.load(f)]
        except (OSError, ValueError):
            pass
        # Zuul's components first, then what they use.
        for process in reversed(list(dict.fromkeys(recorded))):
            process.stop(grace=10.0)
        self.processes = []
        if keep_logs and os.path.isdir(self.path('logs')):
            target = self.dir + '-logs'
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(self.path('logs'), target)
        shutil.rmtree(self.dir, ignore_errors=True)

    def leftovers(self):
        """Recorded processes still alive, and the directory if left."""
        found = ['process %s (%d)' % (p.role, p.pid)
                 for p in self.processes if p.alive()]
        return found + ([self.dir] if os.path.exists(self.dir) else [])
