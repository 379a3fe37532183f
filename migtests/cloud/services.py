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

"""The controller's services: MariaDB, RabbitMQ, each service's database,
the APIs under uwsgi, and the Nova and Cinder services.

Each is started through the controller (controller.py) and described by
the site (configs.Site); the order they come up in is the cloud's
(cloud.py).
"""

import os
import time

from migtests.cloud import configs

APIS = {           # service -> (uwsgi module, config dir env variable)
    'keystone': ('keystone.wsgi.api', 'OS_KEYSTONE_CONFIG_DIR'),
    'placement': ('placement.wsgi.api', 'OS_PLACEMENT_CONFIG_DIR'),
    'glance': ('glance.wsgi.api', 'OS_GLANCE_CONFIG_DIR'),
    'neutron': ('neutron.wsgi.api', 'OS_NEUTRON_CONFIG_DIR'),
    'nova': ('nova.wsgi.osapi_compute', 'OS_NOVA_CONFIG_DIR'),
    # cinder reads its config file from the command line (--pyargv).
    'cinder': ('cinder.wsgi.api', None),
}


# --- MariaDB and RabbitMQ ---------------------------------------------------
def mariadb(ctl, site):
    data = os.path.join(ctl.workdir, 'mysql')
    os.makedirs(data)
    # --force: skip the script's check that this host's name (or
    # 'localhost') resolves.  That check only serves grants by host name
    # for TCP clients, and this server has no TCP listener; a machine
    # without /etc/hosts (a minimal root, some containers) would
    # otherwise stop here asking for exactly this option.
    ctl.manage('mariadb-install', [
        'mariadb-install-db', '--no-defaults', '--force',
        '--datadir=' + data, '--user=root',
        '--auth-root-authentication-method=normal',
        '--skip-test-db'], timeout=120)
    socket = site.mysql_socket
    # No TCP listener at all: every service reaches it by its socket.
    server = ctl.service('mariadb', [
        'mariadbd', '--no-defaults', '--datadir=' + data,
        '--socket=' + socket, '--pid-file=' + data + '/mysqld.pid',
        '--skip-networking', '--user=root', '--skip-log-bin',
        '--innodb-buffer-pool-size=128M', '--max-connections=500',
        '--innodb-flush-log-at-trx-commit=0', '--innodb-doublewrite=0',
        '--character-set-server=utf8mb4'])
    ctl.await_ready('mariadb', lambda: [] if os.path.exists(socket)
                    else [socket], {'mariadb': server}, 60)
    statements = ''.join('CREATE DATABASE %s CHARACTER SET utf8mb4;' % d
                         for d in configs.DATABASES)
    ctl.manage('mariadb-databases', [
        'mariadb', '--no-defaults', '-S', socket, '-u', 'root',
        '-e', statements])


def start_rabbitmq(ctl, site):
    """Start RabbitMQ (it boots slowly: wait_rabbitmq later); returns
    (its Recorded process, when it started)."""
    base = os.path.join(ctl.workdir, 'rabbitmq')
    os.makedirs(os.path.join(base, 'home'))
    with open(os.path.join(base, 'rabbitmq.conf'), 'w') as f:
        f.write('listeners.tcp.default = %s:%d\n'
                'loopback_users = none\n'
                'log.console = true\nlog.file = false\n'
                % (site.address, configs.PORTS['rabbitmq']))
    with open(os.path.join(base, 'enabled_plugins'), 'w') as f:
        f.write('[].\n')
    open(os.path.join(base, 'env.conf'), 'w').close()
    env = ctl.env(
        HOME=os.path.join(base, 'home'),
        RABBITMQ_CONF_ENV_FILE=os.path.join(base, 'env.conf'),
        RABBITMQ_CONFIG_FILE=os.path.join(base, 'rabbitmq.conf'),
        RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(base, 'enabled_plugins'),
        RABBITMQ_MNESIA_BASE=os.path.join(base, 'mnesia'),
        RABBITMQ_LOG_BASE=os.path.join(base, 'log'),
        RABBITMQ_PID_FILE=os.path.join(base, 'rabbit.pid'),
        RABBITMQ_NODENAME='rabbit@localhost',
        # epmd and Erlang distribution: the namespace's loopback only.
        ERL_EPMD_ADDRESS='127.0.0.1',
        RABBITMQ_DIST_PORT='25672')
    started = time.monotonic()
    recorded = ctl.service(
        'rabbitmq', ['/usr/lib/rabbitmq/bin/rabbitmq-server'], env=env)
    return recorded, started


def wait_rabbitmq(ctl, rabbit):
    """Until RabbitMQ listens; returns the seconds since it started."""
    recorded, started = rabbit
    ctl.await_ready('rabbitmq', lambda: ctl.port_pending(
        configs.PORTS['rabbitmq']), {'rabbitmq': recorded}, 120)
    return round(time.monotonic() - started, 1)


# --- databases --------------------------------------------------------------
def keystone_db(ctl, site):
    manage = ['keystone-manage', '--config-file', site.conf('keystone')]
    ctl.manage('keystone-manage', manage + ['db_sync'])
    for repository in ('fernet_setup', 'credential_setup'):
        ctl.manage('keystone-manage', manage + [
            repository, '--keystone-user', 'root',
            '--keystone-group', 'root'])
    url = site.url('keystone', '/v3/')
    ctl.manage('keystone-manage', manage + [
        'bootstrap', '--bootstrap-password', site.password,
        '--bootstrap-admin-url', url, '--bootstrap-internal-url', url,
        '--bootstrap-public-url', url,
        '--bootstrap-region-id', configs.REGION])


def placement_db(ctl, site):
    ctl.manage('placement-manage', [
        'placement-manage', '--config-file', site.conf('placement'), 'db',
        'sync'])


def glance_db(ctl, site):
    ctl.manage('glance-manage', [
        'glance-manage', '--config-file', os.path.join(
            site.etc('glance'), 'glance-api.conf'), 'db_sync'])


def neutron_db(ctl, site):
    ctl.manage('neutron-db-manage', [
        'neutron-db-manage', '--config-file', site.conf('neutron'),
        '--config-file', os.path.join(site.etc('neutron'), 'plugins', 'ml2',
                                      'ml2_conf.ini'),
        'upgrade', 'heads'])


def nova_db(ctl, site):
    manage = ['nova-manage', '--config-file', site.conf('nova')]
    ctl.manage('nova-manage', manage + ['api_db', 'sync'])
    ctl.manage('nova-manage', manage + ['cell_v2', 'map_cell0'])
    ctl.manage('nova-manage', manage + [
        'cell_v2', 'create_cell', '--name', 'cell1'])
    ctl.manage('nova-manage', manage + ['db', 'sync'])


def cinder_db(ctl, site):
    ctl.manage('cinder-manage', [
        'cinder-manage', '--config-file', site.conf('cinder'), 'db', 'sync'])


DATABASES = {'keystone': keystone_db, 'placement': placement_db,
             'glance': glance_db, 'neutron': neutron_db, 'nova': nova_db,
             'cinder': cinder_db}


# --- services ---------------------------------------------------------------
def apis(ctl, site, services, ready):
    """Every API of ``services`` under uwsgi; returns once ``ready()``
    (what is not answering yet) is empty."""
    recorded = {}
    for service in services:
        module, variable = APIS[service]
        port = configs.PORTS[service]
        if variable:
            env, extra = ctl.env(**{variable: site.etc(service)}), []
        else:
            env, extra = ctl.env(), ['--pyargv', '--config-file %s'
                                     % site.conf(service)]
        recorded[service] = ctl.service(
            service + '-api', [
                ctl.bin('uwsgi'), '--master', '--need-app',
                '--die-on-term', '--lazy-apps', '--enable-threads',
                '--processes', '1', '--threads', '4',
                '--buffer-size', '65535',
                # One request per connection: a client reusing one
                # that uwsgi's plain http-socket dropped gets a reset.
                '--add-header', 'Connection: close',
                '--http-socket', '%s:%d' % (site.address, port),
                '--module', module] + extra, env=env)
    # uwsgi listens first and loads its app after: wait for answers.
    ctl.await_ready('the APIs', ready,
                    {s + '-api': r for s, r in recorded.items()})


def nova(ctl, site, lab, driver='upstream', compute_env=None):
    """nova-conductor and nova-scheduler here, a nova-compute beside each
    lab host's libvirtd, with ``driver`` (configs.DRIVERS); returns the
    recorded processes by name."""
    conf = site.conf('nova')
    started = {}
    for binary in ('nova-conductor', 'nova-scheduler'):
        started[binary] = ctl.service(
            binary, [ctl.bin(binary), '--config-file', conf])
    started.update(computes(ctl, site, lab, driver, env=compute_env))
    return started


def compute_name(compute, driver):
    """A nova-compute's process and log name: one per compute and driver
    (a run with both drivers restarts the computes)."""
    return 'nova-compute-%s-%s' % (driver, compute.name)


def computes(ctl, site, lab, driver, only=None, env=None):
    """A nova-compute beside each lab host's libvirtd (``only``: that
    compute's), with ``driver``; each records the migration calls it makes
    (migrations.py); ``env``: their environment (Nova patched, see
    cloud.Cloud.nova_patches), else the controller's."""
    started = {}
    for host, compute in zip(lab.hosts, site.computes):
        if only is not None and compute.name != only:
            continue
        # Its state path, in the host's own /var (same path on both).
        lab.run_beside(host, ['mkdir', '-p', '/var/lib/nova/instances',
                              '/var/lib/nova/tmp'])
        name = compute_name(compute, driver)
        started[name] = ctl.service(name, configs.compute_command(
            ctl.bin('python3'), driver, os.path.join(
                ctl.logs, 'migrations-%s-%s.jsonl' % (driver, compute.name)),
            os.path.join(site.etc('nova'), '%s.conf' % compute.name)),
            host=host, env=env)
    return started


def cinder(ctl, site):
    started = {}
    for binary in ('cinder-scheduler', 'cinder-volume'):
        started[binary] = ctl.service(binary, [
            ctl.bin(binary), '--config-file', site.conf('cinder')])
    return started
