"""The local cloud: a real two-compute OpenStack on one machine.

Built on a lab (migtests.lab) of two hosts named compute1 and compute2, each
with its own libvirtd, /etc, /var and UTS namespace; every nova-compute runs
beside its host's libvirtd.  The controller runs in the lab's service
namespace (192.0.2.100): MariaDB on a unix socket only (no TCP at all),
RabbitMQ, and keystone, placement, glance, neutron (API only) and nova-api
under uwsgi, nova-conductor and nova-scheduler.  Nothing listens outside
the lab's namespaces; every process is recorded and ``down`` (the lab's)
stops them by PID, SIGKILL after a grace period, even after a crash.
Service logs go to the results directory, which outlives the cloud.
"""

import concurrent.futures
import json
import os
import secrets
import shutil
import subprocess
import sys
import time

from migtests.cloud import ceph
from migtests.cloud import configs
from migtests.cloud import diskimage
from migtests.lab import lab as lab_module
from migtests.lab.lab import Lab
from migtests.lab import system
from migtests.lab.system import LabError

COMPUTES = ('compute1', 'compute2')
APIS = {           # service -> (uwsgi module, config dir env variable)
    'keystone': ('keystone.wsgi.api', 'OS_KEYSTONE_CONFIG_DIR'),
    'placement': ('placement.wsgi.api', 'OS_PLACEMENT_CONFIG_DIR'),
    'glance': ('glance.wsgi.api', 'OS_GLANCE_CONFIG_DIR'),
    'neutron': ('neutron.wsgi.api', 'OS_NEUTRON_CONFIG_DIR'),
    'nova': ('nova.wsgi.osapi_compute', 'OS_NOVA_CONFIG_DIR'),
    # cinder reads its config file from the command line (--pyargv).
    'cinder': ('cinder.wsgi.api', None),
}
# Paste files the APIs load from their config directory, as installed by
# the packages under <venv>/etc.
PASTE = {'glance': 'glance/glance-api-paste.ini',
         'neutron': 'neutron/api-paste.ini', 'nova': 'nova/api-paste.ini',
         'cinder': 'cinder/api-paste.ini'}


class CloudError(LabError):
    """A step of the cloud failed; one line naming it (and its log)."""


class Cloud:
    def __init__(self, name='cloud', root=lab_module.DEFAULT_ROOT,
                 results=None, volumes=True):
        """``volumes``: run Ceph and Cinder (RBD) as the volume service."""
        self.volumes = volumes
        self.services = [s for s in APIS if volumes or s != 'cinder']
        self.ceph = self.ceph_daemons = None
        self.lab = Lab(name, hosts=len(COMPUTES), root=root,
                       hostnames=COMPUTES)
        self.dir = os.path.join(self.lab.dir, 'cloud')
        self.results = results or os.path.join(root, 'results', name)
        self.logs = os.path.join(self.results, 'logs')
        self.venv = sys.prefix
        self.timings = {}
        self.facts = {}
        self.site = None

    # --- life cycle ------------------------------------------------------
    def up(self):
        """Bring everything up; on failure tear down and raise CloudError
        naming the step and the tail of its log."""
        started = time.monotonic()
        self.down()
        shutil.rmtree(self.results, ignore_errors=True)
        os.makedirs(self.logs)
        try:
            self._step('lab', self.lab.up)
            self.site = configs.Site(
                address=lab_module.STORAGE_ADDRESS, dir=self.dir,
                mysql_socket=os.path.join(self.dir, 'mysql', 'mysqld.sock'),
                password=secrets.token_hex(12), venv=self.venv,
                computes=tuple(configs.Compute(h.hostname, h.address)
                               for h in self.lab.hosts))
            # RabbitMQ boots (slowly) while the databases are made.
            rabbit = self._rabbitmq()
            disk = self._step('image', diskimage.build, self.lab.cache)
            self._step('mariadb', self._mariadb)
            self._step('configs', self._configs)
            jobs = {'keystone': self._keystone_db,
                    'placement': self._placement_db,
                    'glance': self._glance_db, 'neutron': self._neutron_db,
                    'nova': self._nova_db}
            if self.volumes:
                jobs.update(ceph=self._ceph, cinder=self._cinder_db)
            self._step('databases', self._parallel, jobs)
            self._step('apis', self._apis)
            self._step('catalog', self._catalog, 'keystone')
            self._step('rabbitmq', self._wait_rabbitmq, rabbit)
            nova = self._step('nova', self._nova_services)
            if self.volumes:
                nova.update(self._step('cinder', self._cinder_services))
            self._step('computes', self._await, 'nova-compute services',
                       lambda: self._catalog('computes')['pending'], nova)
            self._step('discover', self._manage, 'nova-discover', [
                'nova-manage', '--config-file', self._conf('nova'),
                'cell_v2', 'discover_hosts'])
            self._step('hypervisors', self._await, 'hypervisors',
                       lambda: self._catalog('hypervisors')['pending'], nova)
            if self.volumes:
                self._step('volume-service', self._await, 'cinder-volume',
                           lambda: self._catalog('volumes')['pending'],
                           dict(nova, **self.ceph_daemons))
            self.facts = self._step('resources', self._catalog, 'resources',
                                    disk_image=disk)
        except BaseException as exc:
            self.down()
            if isinstance(exc, LabError) and not isinstance(exc,
                                                            CloudError):
                raise CloudError(str(exc)) from None
            raise
        self.timings['up'] = round(time.monotonic() - started, 1)
        return self

    def down(self):
        """Keep the logs worth keeping, then stop everything by PID; what
        went wrong on the way is reported by ``leftovers()``."""
        problem = None
        if os.path.isdir(self.lab.dir):
            try:
                self._collect_logs()
            except (OSError, shutil.Error) as exc:
                problem = 'collecting the logs: %s' % ' '.join(
                    str(exc).split())
        self.lab.down()
        if problem:
            self.lab.residue.append(problem)

    def leftovers(self):
        return self.lab.leftovers()

    def _step(self, name, function, *args, **kwargs):
        started = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            self.timings[name] = round(time.monotonic() - started, 1)

    def _parallel(self, jobs):
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
        for name, future in futures.items():
            future.result()     # the first failure, named by its message

    # --- processes ---------------------------------------------------------
    def _log(self, name):
        return os.path.join(self.logs, name + '.log')

    def _tail(self, name, lines=3):
        """The log's first error line (if any) and its last lines."""
        try:
            with open(self._log(name), errors='replace') as f:
                text = [line.strip() for line in f.read().splitlines()
                        if line.strip()]
        except FileNotFoundError:
            text = []
        errors = [line for line in text if ' ERROR ' in line]
        # The exception itself says more than the traceback's first line.
        raised = [line for line in errors
                  if 'Error:' in line or 'Exception:' in line]
        errors = raised[-1:] or errors[:1]
        return ' | '.join(errors + text[-lines:]) or '(empty log)'

    def _manage(self, name, argv, timeout=600):
        """A one-shot command in the controller's namespace."""
        argv = [self.bin(argv[0])] + list(argv[1:])
        with open(self._log(name), 'a') as log:
            log.write('$ %s\n' % ' '.join(argv))
            log.flush()
            try:
                proc = subprocess.run(
                    ['ip', 'netns', 'exec', self.lab.storage_ns] + argv,
                    stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT, timeout=timeout,
                    env=self._env())
            except subprocess.TimeoutExpired:
                raise CloudError('%s: no end after %d s (log %s)' % (
                    name, timeout, self._log(name))) from None
        if proc.returncode != 0:
            raise CloudError('%s failed (exit %d): %s [log %s]' % (
                name, proc.returncode, self._tail(name), self._log(name)))

    def bin(self, program):
        """A program of the cloud's venv (else from PATH)."""
        path = os.path.join(self.venv, 'bin', program)
        return path if os.path.exists(path) else program

    def _env(self, **extra):
        env = dict(os.environ, **extra)
        env.pop('OS_CLOUD', None)
        return env

    def _service(self, name, argv, host=None, env=None):
        """Start a long-running service, recorded; readiness: _await."""
        return self.lab.spawn(name, argv, self._log(name), host=host,
                              env=env or self._env(), cwd=self.dir)

    def _await(self, what, pending, processes, timeout=120):
        """Poll ``pending()`` (what is not there yet) until it is empty;
        a process of ``processes`` that dies meanwhile is named at once,
        with its log's first error and last lines."""
        last = {'pending': None}

        def done():
            for name, process in processes.items():
                if not process.alive():
                    raise CloudError('%s exited: %s [log %s]' % (
                        name, self._tail(name), self._log(name)))
            last['pending'] = pending()
            return not last['pending']
        try:
            system.wait_for(done, timeout, interval=0.5, what=what)
        except CloudError:
            raise
        except LabError:
            raise CloudError('%s: still waiting after %d s for %s' % (
                what, timeout, ', '.join(map(str, last['pending'])))) \
                from None

    def _port_pending(self, port):
        return [] if self.lab.listening(port) else ['port %d' % port]

    # --- MariaDB and RabbitMQ -------------------------------------------
    def _mariadb(self):
        data = os.path.join(self.dir, 'mysql')
        os.makedirs(data)
        # --force: skip the script's check that this host's name (or
        # 'localhost') resolves.  That check only serves grants by host name
        # for TCP clients, and this server has no TCP listener; a machine
        # without /etc/hosts (a minimal root, some containers) would
        # otherwise stop here asking for exactly this option.
        self._manage('mariadb-install', [
            'mariadb-install-db', '--no-defaults', '--force',
            '--datadir=' + data, '--user=root',
            '--auth-root-authentication-method=normal',
            '--skip-test-db'], timeout=120)
        socket = self.site.mysql_socket
        # No TCP listener at all: every service reaches it by its socket.
        mariadb = self._service('mariadb', [
            'mariadbd', '--no-defaults', '--datadir=' + data,
            '--socket=' + socket, '--pid-file=' + data + '/mysqld.pid',
            '--skip-networking', '--user=root', '--skip-log-bin',
            '--innodb-buffer-pool-size=128M', '--max-connections=500',
            '--innodb-flush-log-at-trx-commit=0', '--innodb-doublewrite=0',
            '--character-set-server=utf8mb4'])
        self._await('mariadb', lambda: [] if os.path.exists(socket)
                    else [socket], {'mariadb': mariadb}, 60)
        statements = ''.join('CREATE DATABASE %s CHARACTER SET utf8mb4;' % d
                             for d in configs.DATABASES)
        self._manage('mariadb-databases', [
            'mariadb', '--no-defaults', '-S', socket, '-u', 'root',
            '-e', statements])

    def _rabbitmq(self):
        base = os.path.join(self.dir, 'rabbitmq')
        os.makedirs(os.path.join(base, 'home'))
        with open(os.path.join(base, 'rabbitmq.conf'), 'w') as f:
            f.write('listeners.tcp.default = %s:%d\n'
                    'loopback_users = none\n'
                    'log.console = true\nlog.file = false\n'
                    % (self.site.address, configs.PORTS['rabbitmq']))
        with open(os.path.join(base, 'enabled_plugins'), 'w') as f:
            f.write('[].\n')
        open(os.path.join(base, 'env.conf'), 'w').close()
        env = self._env(
            HOME=os.path.join(base, 'home'),
            RABBITMQ_CONF_ENV_FILE=os.path.join(base, 'env.conf'),
            RABBITMQ_CONFIG_FILE=os.path.join(base, 'rabbitmq.conf'),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(base,
                                                       'enabled_plugins'),
            RABBITMQ_MNESIA_BASE=os.path.join(base, 'mnesia'),
            RABBITMQ_LOG_BASE=os.path.join(base, 'log'),
            RABBITMQ_PID_FILE=os.path.join(base, 'rabbit.pid'),
            RABBITMQ_NODENAME='rabbit@localhost',
            # epmd and Erlang distribution: the namespace's loopback only.
            ERL_EPMD_ADDRESS='127.0.0.1',
            RABBITMQ_DIST_PORT='25672')
        started = time.monotonic()
        recorded = self._service(
            'rabbitmq', ['/usr/lib/rabbitmq/bin/rabbitmq-server'], env=env)
        return recorded, started

    def _wait_rabbitmq(self, rabbit):
        recorded, started = rabbit
        self._await('rabbitmq', lambda: self._port_pending(
            configs.PORTS['rabbitmq']), {'rabbitmq': recorded}, 120)
        self.timings['rabbitmq-ready-after'] = round(
            time.monotonic() - started, 1)

    # --- configuration ---------------------------------------------------
    def _conf(self, service):
        return os.path.join(self.site.etc(service), '%s.conf' % service)

    def _configs(self):
        site = self.site
        for path in ('keystone/fernet', 'keystone/receipts',
                     'keystone/credential', 'glance/images',
                     'glance/staging', 'glance/tasks', 'glance/locks',
                     'neutron/locks', 'nova/tmp'):
            os.makedirs(site.data(path), exist_ok=True)
        configs.write(configs.keystone(site), self._conf('keystone'))
        configs.write(configs.placement(site), self._conf('placement'))
        configs.write(configs.glance(site),
                      os.path.join(site.etc('glance'), 'glance-api.conf'))
        configs.write(configs.neutron(site), self._conf('neutron'))
        configs.write(configs.ml2(), os.path.join(
            site.etc('neutron'), 'plugins', 'ml2', 'ml2_conf.ini'))
        configs.write(configs.nova_controller(site), self._conf('nova'))
        for compute in site.computes:
            configs.write(configs.nova_compute(site, compute),
                          os.path.join(site.etc('nova'),
                                       '%s.conf' % compute.name))
        if self.volumes:
            self.ceph = ceph.Ceph(self)
            os.makedirs(self.site.data('cinder', 'locks'), exist_ok=True)
            configs.write(configs.cinder(site, self.ceph.client_settings()),
                          self._conf('cinder'))
        for service, relative in PASTE.items():
            if service not in self.services:
                continue
            source = os.path.join(self.venv, 'etc', relative)
            if not os.path.exists(source):
                raise CloudError('%s not installed with %s: reinstall the '
                                 'cloud environment (tox -e job -r)'
                                 % (source, service))
            shutil.copy(source, site.etc(service))

    def _site_json(self, **extra):
        site = self.site
        return dict(address=site.address, auth_url=site.auth_url,
                    password=site.password, services=self.services,
                    computes=[c.name for c in site.computes], **extra)

    # --- databases -------------------------------------------------------
    def _keystone_db(self):
        manage = ['keystone-manage', '--config-file', self._conf('keystone')]
        self._manage('keystone-manage', manage + ['db_sync'])
        for repository in ('fernet_setup', 'credential_setup'):
            self._manage('keystone-manage', manage + [
                repository, '--keystone-user', 'root',
                '--keystone-group', 'root'])
        url = self.site.url('keystone', '/v3/')
        self._manage('keystone-manage', manage + [
            'bootstrap', '--bootstrap-password', self.site.password,
            '--bootstrap-admin-url', url, '--bootstrap-internal-url', url,
            '--bootstrap-public-url', url,
            '--bootstrap-region-id', configs.REGION])

    def _placement_db(self):
        self._manage('placement-manage', [
            'placement-manage', '--config-file', self._conf('placement'),
            'db', 'sync'])

    def _glance_db(self):
        self._manage('glance-manage', [
            'glance-manage', '--config-file', os.path.join(
                self.site.etc('glance'), 'glance-api.conf'), 'db_sync'])

    def _neutron_db(self):
        self._manage('neutron-db-manage', [
            'neutron-db-manage', '--config-file', self._conf('neutron'),
            '--config-file', os.path.join(self.site.etc('neutron'), 'plugins',
                                          'ml2', 'ml2_conf.ini'),
            'upgrade', 'heads'])

    def _nova_db(self):
        manage = ['nova-manage', '--config-file', self._conf('nova')]
        self._manage('nova-manage', manage + ['api_db', 'sync'])
        self._manage('nova-manage', manage + ['cell_v2', 'map_cell0'])
        self._manage('nova-manage', manage + [
            'cell_v2', 'create_cell', '--name', 'cell1'])
        self._manage('nova-manage', manage + ['db', 'sync'])

    def _cinder_db(self):
        self._manage('cinder-manage', [
            'cinder-manage', '--config-file', self._conf('cinder'), 'db',
            'sync'])

    def _ceph(self):
        missing = ceph.link_bindings()
        if missing:
            raise CloudError('Python bindings %s not found: install '
                             'python3-rados python3-rbd (bindep -b cloud)'
                             % ', '.join(missing))
        self.ceph_daemons = self.ceph.up()

    # --- services ----------------------------------------------------------
    def _apis(self):
        recorded = {}
        for service in self.services:
            module, variable = APIS[service]
            port = configs.PORTS[service]
            if variable:
                env, extra = self._env(**{
                    variable: self.site.etc(service)}), []
            else:
                env, extra = self._env(), ['--pyargv', '--config-file %s'
                                           % self._conf(service)]
            recorded[service] = self._service(
                service + '-api', [
                    self.bin('uwsgi'), '--master', '--need-app',
                    '--die-on-term', '--lazy-apps', '--enable-threads',
                    '--processes', '1', '--threads', '4',
                    '--buffer-size', '65535',
                    # One request per connection: a client reusing one
                    # that uwsgi's plain http-socket dropped gets a reset.
                    '--add-header', 'Connection: close',
                    '--http-socket', '%s:%d' % (self.site.address, port),
                    '--module', module] + extra, env=env)
        # uwsgi listens first and loads its app after: wait for answers.
        self._await('the APIs', lambda: self._catalog('apis')['pending'],
                    {s + '-api': r for s, r in recorded.items()})

    def _nova_services(self):
        conf = self._conf('nova')
        started = {}
        for binary in ('nova-conductor', 'nova-scheduler'):
            started[binary] = self._service(
                binary, [self.bin(binary), '--config-file', conf])
        for host, compute in zip(self.lab.hosts, self.site.computes):
            # Its state path, in the host's own /var (same path on both).
            system.run(host.enter(self.lab.daemon(host)) + [
                'mkdir', '-p', '/var/lib/nova/instances',
                '/var/lib/nova/tmp'])
            name = 'nova-compute-' + compute.name
            started[name] = self._service(name, [
                self.bin('nova-compute'), '--config-file',
                os.path.join(self.site.etc('nova'),
                             '%s.conf' % compute.name)], host=host)
        return started

    def _cinder_services(self):
        started = {}
        for binary in ('cinder-scheduler', 'cinder-volume'):
            started[binary] = self._service(binary, [
                self.bin(binary), '--config-file', self._conf('cinder')])
        return started

    def _catalog(self, step, **extra):
        """A step through the APIs, run in the controller's namespace."""
        name = 'catalog-' + step
        with open(self._log(name), 'a') as log:
            proc = subprocess.run(
                ['ip', 'netns', 'exec', self.lab.storage_ns,
                 sys.executable, '-m', 'migtests.cloud.catalog', step],
                input=json.dumps(self._site_json(**extra)),
                stdout=subprocess.PIPE,
                stderr=log, text=True, timeout=300, env=self._env())
        if proc.returncode != 0:
            raise CloudError('%s failed: %s [log %s]' % (
                name, self._tail(name, 2), self._log(name)))
        return json.loads(proc.stdout)

    # --- logs ----------------------------------------------------------------
    def _collect_logs(self):
        """libvirtd logs and guest consoles of both hosts, into results."""
        for host in self.lab.hosts:
            target = os.path.join(self.logs, 'libvirt-' + host.name)
            source = os.path.join(host.dir, 'log')
            if os.path.isdir(source) and os.path.isdir(self.logs):
                shutil.copytree(source, target, dirs_exist_ok=True,
                                ignore_dangling_symlinks=True)


def tempest_values(cloud):
    """What only this cloud knows, as tempest.conf sections."""
    site, facts = cloud.site, cloud.facts
    values = {
        'auth': {'admin_username': 'admin',
                 'admin_password': site.password,
                 'admin_project_name': 'admin',
                 'admin_domain_name': 'Default',
                 'use_dynamic_credentials': True,
                 'create_isolated_networks': False},
        'identity': {'uri_v3': site.auth_url, 'auth_version': 'v3',
                     'region': configs.REGION},
        'identity-feature-enabled': {'api_v2': False},
        'compute': {'image_ref': facts['image'],
                    'image_ref_alt': facts['image'],
                    'flavor_ref': facts['flavor'],
                    'flavor_ref_alt': facts['flavor_alt'],
                    'region': configs.REGION,
                    # As devstack writes it: the cloud's newest microversion.
                    'min_microversion': '2.1',
                    'max_microversion': 'latest'},
        'placement': {'min_microversion': '1.0',
                      'max_microversion': 'latest'},
        'compute-feature-enabled': {'console_output': True,
                                    'vnc_console': False,
                                    'spice_console': False,
                                    'serial_console': False},
        'image': {'region': configs.REGION},
        'network': {'region': configs.REGION},
        'validation': {'run_validation': False},
        'migtests': {'counter_image_ref': facts['image']},
    }
    if cloud.volumes:
        values['compute-feature-enabled'].update(
            block_migrate_cinder_iscsi=True,
            volume_backed_live_migration=True)
        values['volume'] = {'region': configs.REGION}
    return values


# The services the Zuul job may turn on that this cloud does not run, with
# the reason their tests skip.
MISSING_SERVICES = {
    'swift': 'the local cloud runs no object store',
}
RUNNING_SERVICES = ('nova', 'glance', 'neutron', 'keystone')


def services(volumes=True):
    found = {s: None for s in RUNNING_SERVICES}
    found.update(MISSING_SERVICES)
    found['cinder'] = None if volumes else (
        'the volume service is off (migtests-job --no-volumes)')
    return found
