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
import importlib.util
import os
import re
import secrets
import shutil
import sys
import time

from migtests.cloud import ceph
from migtests.cloud import configs
from migtests.cloud.controller import CloudError
from migtests.cloud.controller import Controller
from migtests.cloud import diskimage
from migtests.cloud import services as control
from migtests.cloud import upgrade
from migtests.lab import lab as lab_module
from migtests.lab.lab import Lab
from migtests.lab import system
from migtests.lab.system import LabError

COMPUTES = ('compute1', 'compute2')
# Paste files the APIs load from their config directory, as installed by
# the packages under <venv>/etc.
PASTE = {'glance': 'glance/glance-api-paste.ini',
         'neutron': 'neutron/api-paste.ini', 'nova': 'nova/api-paste.ini',
         'cinder': 'cinder/api-paste.ini'}


class Cloud:
    def __init__(self, name='cloud', root=lab_module.DEFAULT_ROOT,
                 results=None, volumes=True, driver='upstream',
                 profile='shipped', suites=None, nova_patches=()):
        """``volumes``: run Ceph and Cinder (RBD) as the volume service;
        ``driver``: the computes' driver (configs.DRIVERS), until
        ``switch_driver``; ``profile``: what the computes' nova.conf adds
        (configs.PROFILES); ``suites``: the Debian suite of each compute's
        libvirt and QEMU (the lab's chroots; default: the machine's own)."""
        if profile not in configs.PROFILES:
            raise LabError('profile %r: one of %s' % (
                profile, ', '.join(sorted(configs.PROFILES))))
        self.volumes = volumes
        self.driver = driver
        self.profile = profile
        self.suites = tuple(suites or ())
        # Patches of Nova (unified diffs, -p1 from Nova's tree) that the
        # nova-computes run with: an overlay of the installed package,
        # patched, first on their PYTHONPATH; nothing installed changes.
        self.nova_patches = tuple(nova_patches)
        self.compute_env = None
        self.services = [s for s in control.APIS
                         if volumes or s != 'cinder']
        self.ceph = self.ceph_daemons = None
        self.lab = Lab(name, hosts=len(COMPUTES), root=root, suites=suites,
                       hostnames=COMPUTES)
        self.dir = os.path.join(self.lab.dir, 'cloud')
        self.results = results or os.path.join(root, 'results', name)
        self.logs = os.path.join(self.results, 'logs')
        self.venv = sys.prefix
        self.controller = Controller(self.lab, self.dir, self.logs,
                                     self.venv)
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
            ctl, site = self.controller, self.site
            # RabbitMQ boots (slowly) while the databases are made.
            rabbit = control.start_rabbitmq(ctl, site)
            disk = self._step('image', diskimage.build, self.lab.cache)
            self._step('mariadb', control.mariadb, ctl, site)
            self._step('configs', self._configs)
            jobs = {service: (lambda make=make: make(ctl, site))
                    for service, make in control.DATABASES.items()
                    if service in self.services}
            if self.volumes:
                jobs['ceph'] = self._ceph
            self._step('databases', self._parallel, jobs)
            self._step('apis', control.apis, ctl, site, self.services,
                       lambda: self._catalog('apis')['pending'])
            self._step('catalog', self._catalog, 'keystone')
            self.timings['rabbitmq-ready-after'] = self._step(
                'rabbitmq', control.wait_rabbitmq, ctl, rabbit)
            if self.nova_patches:
                self.compute_env = self._step('nova-patches',
                                              self._patched_nova)
            nova = self._step('nova', control.nova, ctl, site, self.lab,
                              self.driver, self.compute_env)
            if self.volumes:
                nova.update(self._step('cinder', control.cinder, ctl, site))
            self._step('computes', ctl.await_ready, 'nova-compute services',
                       lambda: self._catalog('computes')['pending'], nova)
            self._step('discover', ctl.manage, 'nova-discover', [
                'nova-manage', '--config-file', site.conf('nova'),
                'cell_v2', 'discover_hosts'])
            self._step('hypervisors', ctl.await_ready, 'hypervisors',
                       lambda: self._catalog('hypervisors')['pending'], nova)
            if self.volumes:
                self._step('volume-service', ctl.await_ready,
                           'cinder-volume',
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

    def _patched_nova(self):
        """The environment of nova-computes running Nova with the
        patches: a copy of the installed nova package, patched."""
        overlay = os.path.join(self.dir, 'nova-patched')
        shutil.rmtree(overlay, ignore_errors=True)
        os.makedirs(overlay)
        shutil.copytree(nova_package(), os.path.join(overlay, 'nova'),
                        ignore=shutil.ignore_patterns('__pycache__'))
        for path in self.nova_patches:
            with open(path) as f:
                system.run(['patch', '-p1', '--forward', '--batch', '-d',
                            overlay], stdin=f)
        return self.controller.env(PYTHONPATH=overlay)

    def switch_driver(self, driver):
        """Restart both nova-computes with ``driver``: stopped by PID, their
        nova.conf rewritten, started again; returns once each has reported
        to Nova after the restart (its heartbeat, which follows its RPC
        server's start), so the next request reaches the new driver."""
        started = time.monotonic()
        for compute in self.site.computes:
            self.lab.stop(control.compute_name(compute, self.driver))
        self.driver = driver
        self._compute_configs()
        # The services' heartbeat is stored to the second.
        since = int(time.time()) + 1
        time.sleep(max(0.0, since - time.time()))
        computes = control.computes(self.controller, self.site, self.lab,
                                    driver, env=self.compute_env)
        self.controller.await_ready(
            'nova-compute services on the %s driver' % driver,
            lambda: self._catalog('computes', since=since)['pending'],
            computes)
        self.timings['switch-%s' % driver] = round(
            time.monotonic() - started, 1)

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

    def bin(self, program):
        """A program of the cloud's venv (else from PATH)."""
        return self.controller.bin(program)

    # --- configuration ---------------------------------------------------
    def _configs(self):
        site = self.site
        for path in ('keystone/fernet', 'keystone/receipts',
                     'keystone/credential', 'glance/images',
                     'glance/staging', 'glance/tasks', 'glance/locks',
                     'neutron/locks', 'nova/tmp'):
            os.makedirs(site.data(path), exist_ok=True)
        configs.write(configs.keystone(site), site.conf('keystone'))
        configs.write(configs.placement(site), site.conf('placement'))
        configs.write(configs.glance(site),
                      os.path.join(site.etc('glance'), 'glance-api.conf'))
        configs.write(configs.neutron(site), site.conf('neutron'))
        configs.write(configs.ml2(), os.path.join(
            site.etc('neutron'), 'plugins', 'ml2', 'ml2_conf.ini'))
        configs.write(configs.nova_controller(site), site.conf('nova'))
        self._compute_configs()
        if self.volumes:
            self.ceph = ceph.Ceph(self.controller, site.address,
                                  os.path.join(self.dir, 'ceph'))
            os.makedirs(self.site.data('cinder', 'locks'), exist_ok=True)
            configs.write(configs.cinder(site, self.ceph.client_settings()),
                          site.conf('cinder'))
        for service, relative in PASTE.items():
            if service not in self.services:
                continue
            source = os.path.join(self.venv, 'etc', relative)
            if not os.path.exists(source):
                raise CloudError('%s not installed with %s: reinstall the '
                                 'cloud environment (tox -e job -r)'
                                 % (source, service))
            shutil.copy(source, site.etc(service))

    def _compute_configs(self):
        site = self.site
        for compute in site.computes:
            configs.write(configs.nova_compute(site, compute, self.driver,
                                               self.profile),
                          os.path.join(site.etc('nova'),
                                       '%s.conf' % compute.name))

    def _site_json(self, **extra):
        site = self.site
        return dict(address=site.address, auth_url=site.auth_url,
                    password=site.password, services=self.services,
                    computes=[c.name for c in site.computes], **extra)

    # --- Ceph, the APIs' catalogue, logs -----------------------------------
    def _ceph(self):
        missing = ceph.link_bindings()
        if missing:
            raise CloudError('Python bindings %s not found: install '
                             'python3-rados python3-rbd (bindep -b cloud)'
                             % ', '.join(missing))
        self.ceph_daemons = self.ceph.up()

    def _catalog(self, step, **extra):
        """A step through the APIs, run in the controller's namespace."""
        return self.controller.catalog(step, self._site_json(**extra))

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
        'migtests': dict(configs.PROFILES[cloud.profile].tempest,
                         counter_image_ref=facts['image'],
                         # Computes on different suites: a rolling
                         # upgrade under way.
                         mixed_computes=upgrade.mixed(cloud.suites)),
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


def nova_package():
    """The directory of the nova package this venv has installed."""
    spec = importlib.util.find_spec('nova')
    if spec is None or not spec.submodule_search_locations:
        raise LabError('nova is not installed here (the cloud extra)')
    return list(spec.submodule_search_locations)[0]


def check_nova_patch(path):
    """That ``path`` patches Nova's tree only (nova/, its release notes)
    and applies to the installed Nova (-p1); LabError."""
    try:
        with open(path) as f:
            text = f.read()
        touched = re.findall(r'^\+\+\+ b/(\S+)', text, re.M)
        other = [t for t in touched
                 if not t.startswith(('nova/', 'releasenotes/'))]
        if not touched or other:
            raise LabError('patches %s, not Nova\'s tree'
                           % (', '.join(other) or 'no file'))
        system.run(['patch', '-p1', '--dry-run', '--forward', '--batch',
                    '-d', os.path.dirname(nova_package())], input=text)
    except (OSError, LabError) as exc:
        raise LabError('--nova-patch %s does not apply to the installed '
                       'Nova: %s' % (path, ' '.join(str(exc).split())[:200])
                       ) from None
