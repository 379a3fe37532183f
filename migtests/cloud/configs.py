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

"""Configuration of the local cloud's services, as data.

Every service's configuration is a {section: {option: value}} built here
from one ``Site`` (addresses, directories, secrets); nothing is read from
or written to /etc.  Nova's ``[libvirt]`` section holds only what a
machine without KVM needs (``virt_type = qemu``): no ``live_migration_*``
option is ever set, so Nova migrates with its shipped defaults.
"""

import configparser
import dataclasses
import io
import os

REGION = 'RegionOne'
PORTS = {'keystone': 5000, 'placement': 8778, 'glance': 9292,
         'neutron': 9696, 'nova': 8774, 'cinder': 8776, 'rabbitmq': 5672}
DATABASES = ('keystone', 'placement', 'glance', 'neutron', 'nova_api',
             'nova', 'nova_cell0', 'cinder')
SERVICE_USERS = ('nova', 'placement', 'glance', 'neutron', 'cinder')
# Catalog: service name -> ((type, ...), path after host:port).  Cinder
# under both types: Nova looks up volumev3, Tempest block-storage.
CATALOG = {
    'nova': (('compute',), '/v2.1'),
    'placement': (('placement',), ''),
    'glance': (('image',), ''),
    'neutron': (('network',), ''),
    'cinder': (('volumev3', 'block-storage'), '/v3/%(project_id)s'),
}


@dataclasses.dataclass(frozen=True)
class Compute:
    name: str           # its hostname and Nova host name, e.g. compute1
    address: str


@dataclasses.dataclass(frozen=True)
class Site:
    address: str        # the controller: every API, MariaDB, RabbitMQ
    dir: str            # the controller's configuration and data
    mysql_socket: str
    password: str       # every service user's, and admin's
    venv: str           # sys.prefix of the cloud's Python
    computes: tuple

    def url(self, service, path=''):
        return 'http://%s:%d%s' % (self.address, PORTS[service], path)

    @property
    def auth_url(self):
        return self.url('keystone', '/v3')

    def db(self, name):
        return 'mysql+pymysql://root@localhost/%s?unix_socket=%s' % (
            name, self.mysql_socket)

    @property
    def transport_url(self):
        return 'rabbit://guest:guest@%s:%d/' % (
            self.address, PORTS['rabbitmq'])

    def etc(self, service):
        return os.path.join(self.dir, 'etc', service)

    def conf(self, service):
        """The service's main configuration file."""
        return os.path.join(self.etc(service), '%s.conf' % service)

    def data(self, *parts):
        return os.path.join(self.dir, 'data', *parts)


def _auth(site, username):
    """A service user's keystoneauth password plugin options."""
    return {'auth_type': 'password', 'auth_url': site.auth_url,
            'project_domain_name': 'Default', 'user_domain_name': 'Default',
            'project_name': 'service', 'username': username,
            'password': site.password, 'region_name': REGION}


def _authtoken(site, username):
    section = _auth(site, username)
    section['www_authenticate_uri'] = site.url('keystone')
    section['service_token_roles_required'] = True
    del section['region_name']
    return section


def keystone(site):
    keys = site.data('keystone')
    return {
        'DEFAULT': {'debug': False},
        'database': {'connection': site.db('keystone')},
        'token': {'provider': 'fernet'},
        'fernet_tokens': {'key_repository': os.path.join(keys, 'fernet')},
        'fernet_receipts': {'key_repository': os.path.join(keys,
                                                           'receipts')},
        'credential': {'key_repository': os.path.join(keys, 'credential')},
        # bcrypt's lowest cost: every password of this cloud is random, made
        # for one bring-up and reachable only inside the lab's namespaces.
        # uwsgi's request log: token, user and project POSTs took 0.42 s
        # each at the default cost (143 in a one-driver job, 60.6 s), 0.11 s
        # at this one (264 in a two-driver job, 29.2 s).
        'identity': {'password_hash_rounds': 4},
    }


def placement(site):
    return {
        'placement_database': {'connection': site.db('placement')},
        'api': {'auth_strategy': 'keystone'},
        'keystone_authtoken': _authtoken(site, 'placement'),
    }


def glance(site):
    return {
        'DEFAULT': {'enabled_backends': 'fs:file',
                    'bind_host': site.address,
                    'bind_port': PORTS['glance']},
        'database': {'connection': site.db('glance')},
        'glance_store': {'default_backend': 'fs'},
        'fs': {'filesystem_store_datadir': site.data('glance', 'images')},
        'os_glance_staging_store': {
            'filesystem_store_datadir': site.data('glance', 'staging')},
        'os_glance_tasks_store': {
            'filesystem_store_datadir': site.data('glance', 'tasks')},
        'paste_deploy': {'flavor': 'keystone'},
        'keystone_authtoken': _authtoken(site, 'glance'),
        'oslo_concurrency': {'lock_path': site.data('glance', 'locks')},
    }


def neutron(site):
    """The API alone: ML2 with no mechanism driver, no agents, no
    service plugins.  Nova needs it to look servers' ports up."""
    return {
        'DEFAULT': {'core_plugin': 'ml2', 'service_plugins': '',
                    'auth_strategy': 'keystone',
                    'transport_url': site.transport_url,
                    'notify_nova_on_port_status_changes': False,
                    'notify_nova_on_port_data_changes': False,
                    'api_workers': 1, 'rpc_workers': 0},
        'database': {'connection': site.db('neutron')},
        'keystone_authtoken': _authtoken(site, 'neutron'),
        'nova': _auth(site, 'nova'),
        'oslo_concurrency': {'lock_path': site.data('neutron', 'locks')},
    }


def ml2():
    return {
        'ml2': {'type_drivers': 'flat,vlan', 'tenant_network_types': '',
                'mechanism_drivers': '',
                'extension_drivers': 'port_security'},
    }


def _privsep(site, *sections):
    """Running as root: privsep daemons start without sudo; the command
    names the service's own file (filled in by ``write``)."""
    command = '%s/bin/privsep-helper --config-file %%s' % site.venv
    return {section: {'helper_command': command} for section in sections}


def cinder(site, ceph):
    """Cinder with one RBD backend on the local Ceph (auth none)."""
    return {
        'DEFAULT': {'host': 'controller', 'my_ip': site.address,
                    'state_path': site.data('cinder'),
                    'transport_url': site.transport_url,
                    'auth_strategy': 'keystone',
                    'enabled_backends': 'ceph',
                    'osapi_volume_listen': site.address},
        'database': {'connection': site.db('cinder')},
        'keystone_authtoken': _authtoken(site, 'cinder'),
        'service_user': dict(_auth(site, 'cinder'),
                             send_service_user_token=True),
        'nova': _auth(site, 'nova'),
        'oslo_concurrency': {'lock_path': site.data('cinder', 'locks')},
        'oslo_messaging_notifications': {'driver': 'noop'},
        'ceph': {'volume_driver': 'cinder.volume.drivers.rbd.RBDDriver',
                 'volume_backend_name': 'ceph',
                 'rbd_pool': ceph['pool'], 'rbd_ceph_conf': ceph['conf'],
                 'rbd_flatten_volume_from_snapshot': False},
        **_privsep(site, 'cinder_sys_admin', 'privsep_osbrick'),
    }


def _nova_common(site, host, my_ip, state_path):
    section_auth = {s: _auth(site, u) for s, u in (
        ('placement', 'placement'), ('neutron', 'neutron'),
        ('service_user', 'nova'), ('cinder', 'nova'))}
    section_auth['cinder']['os_region_name'] = REGION
    section_auth['service_user']['send_service_user_token'] = True
    conf = {
        'DEFAULT': {'host': host, 'my_ip': my_ip,
                    'state_path': state_path,
                    'transport_url': site.transport_url,
                    'compute_driver': 'libvirt.LibvirtDriver'},
        'api': {'auth_strategy': 'keystone'},
        'keystone_authtoken': _authtoken(site, 'nova'),
        'glance': {'region_name': REGION},
        'oslo_concurrency': {'lock_path': os.path.join(state_path, 'tmp')},
        'oslo_messaging_notifications': {'driver': 'noop'},
        'vnc': {'enabled': False},
        'spice': {'enabled': False},
        'conductor': {'workers': 1},
        'scheduler': {'workers': 1},
        # This machine has no usable KVM: TCG, and no host CPU model.  No
        # live_migration_* option: Nova's shipped defaults decide.
        'libvirt': {'virt_type': 'qemu', 'cpu_mode': 'none'},
    }
    conf.update(section_auth)
    conf.update(_privsep(site, 'nova_sys_admin', 'privsep_osbrick',
                         'vif_plug_ovs_privileged',
                         'vif_plug_linux_bridge_privileged'))
    return conf


def nova_controller(site):
    conf = _nova_common(site, 'controller', site.address,
                        site.data('nova'))
    conf['api_database'] = {'connection': site.db('nova_api')}
    conf['database'] = {'connection': site.db('nova')}
    return conf


# The compute drivers a cloud's computes may load: Nova's own, or Nova's
# with its live migrations planned by the reference (reference/nova_driver,
# which nova-compute finds when started as reference.nova_compute).
DRIVERS = {
    'upstream': 'libvirt.LibvirtDriver',
    'reference': 'reference_libvirt.ReferenceLibvirtDriver',
}


def compute_command(python, driver, record, conf):
    """nova-compute with ``driver``, every migration call it makes to
    libvirt appended to ``record`` (migtests.cloud.recorded_compute)."""
    return [python, '-m', 'migtests.cloud.recorded_compute', record, driver,
            '--config-file', conf]


@dataclasses.dataclass(frozen=True)
class Profile:
    """What a run adds to the computes' nova.conf, and why."""
    name: str
    why: str
    libvirt: dict          # [libvirt] options added
    shipped_defaults: bool  # whether the run still proves Nova's defaults
    # [libvirt] options added on one compute only, by its name.
    computes: dict = dataclasses.field(default_factory=dict)
    # [migtests] values of tempest.conf that say what the profile set up.
    tempest: dict = dataclasses.field(default_factory=dict)
    # The tests it runs instead of the job's (regex), and how many of them
    # must pass; None: the job's.
    regex: str | None = None
    min_passed: int | None = None

    def libvirt_for(self, compute_name):
        """The [libvirt] options it adds on the compute of that name."""
        return dict(self.libvirt, **self.computes.get(compute_name, {}))


# The 2016 operator's nova.conf: Mitaka's defaults of the deprecated flag
# options, written out as operators copied them (shared facts,
# libvirt-migration.md: UNDEFINE_SOURCE, PEER2PEER, LIVE, TUNNELLED; the
# block one adds NON_SHARED_INC).  Nova 34 no longer has these options and
# ignores the lines; the reference driver reads them again.
_FLAGS_2016 = ('VIR_MIGRATE_UNDEFINE_SOURCE', 'VIR_MIGRATE_PEER2PEER',
               'VIR_MIGRATE_LIVE', 'VIR_MIGRATE_TUNNELLED')
PROFILES = {
    'shipped': Profile('shipped', 'no live_migration_* option: Nova\'s '
                       'shipped defaults decide', {}, True),
    '2016': Profile(
        '2016', 'the 2016 operator\'s nova.conf: Mitaka\'s default '
        'live_migration_flag / block_migration_flag written out',
        {'live_migration_flag': ', '.join(_FLAGS_2016),
         'block_migration_flag': ', '.join(
             _FLAGS_2016 + ('VIR_MIGRATE_NON_SHARED_INC',))}, False),
    # What operators do to running migrations (issue 15).  A migration at
    # 1 MiB/s runs long enough to list, abort or force it; its completion
    # timeout (per GiB to move: 2 GiB for a 128 MiB volume-backed guest)
    # ends it with compute1's action (abort) or compute2's (force_complete:
    # post-copy, which is permitted).
    'operations': Profile(
        'operations', 'operator actions on running migrations: a 1 MiB/s '
        'bandwidth limit, post-copy permitted, a 15 s/GiB completion '
        'timeout whose action is abort on compute1 and force_complete on '
        'compute2',
        {'live_migration_bandwidth': 1,
         'live_migration_permit_post_copy': True,
         'live_migration_completion_timeout': 15},
        False,
        computes={'compute1': {'live_migration_timeout_action': 'abort'},
                  'compute2': {'live_migration_timeout_action':
                               'force_complete'}},
        tempest={'slow_migrations': True,
                 'abort_on_timeout_host': 'compute1',
                 'force_complete_on_timeout_host': 'compute2'},
        regex=r'^migtests\.api\.compute\.test_operations\.',
        min_passed=5),
    # A guest with a config drive, block-migrated on Nova's shipped
    # defaults (issue 25): whether the guest reads on the destination the
    # drive it booted with.
    'config-drive': Profile(
        'config-drive', 'a server with a config drive, block-migrated on '
        'Nova\'s shipped defaults', {}, True,
        regex=r'^migtests\.api\.compute\.test_block_migration\.'
              r'BlockMigrationTest\.test_block_migration_with_config_drive',
        min_passed=1),
}


def nova_compute(site, compute, driver='upstream', profile='shipped'):
    """A compute's nova.conf: it sees its own host's /var (lab overlay), so
    instances_path is the same path on both nodes but not shared."""
    conf = _nova_common(site, compute.name, compute.address,
                        '/var/lib/nova')
    conf['DEFAULT']['compute_driver'] = DRIVERS[driver]
    conf['libvirt'].update(PROFILES[profile].libvirt_for(compute.name))
    return conf


def privsep_config_file(conf, path):
    """helper_command names the file itself: fill it in."""
    for section in conf.values():
        if 'helper_command' in section:
            section['helper_command'] = section['helper_command'] % path
    return conf


def value_text(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return ','.join(value_text(v) for v in value)
    return str(value)


def render(conf):
    """{section: {option: value}} as an ini file (oslo.config's spelling
    of booleans and lists)."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str
    for name, options in conf.items():
        if name != 'DEFAULT':
            parser.add_section(name)
        for option, value in options.items():
            parser.set(name, option, value_text(value))
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()


def write(conf, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(render(privsep_config_file(conf, path)))


def profile_lines(profile, index):
    """The [libvirt] options ``profile`` adds on the compute numbered
    ``index`` (1: compute1), as ``option=value`` lines."""
    return ['%s=%s' % (option, value_text(value)) for option, value in
            PROFILES[profile].libvirt_for('compute%d' % index).items()]


def tempest_lines(profile, hosts):
    """The [migtests] values ``profile`` gives tempest.conf, with its
    compute names (compute1, …) replaced by ``hosts`` (Nova's names of the
    computes, in order), as ``option=value`` lines."""
    names = {'compute%d' % (i + 1): host for i, host in enumerate(hosts)}
    return ['%s=%s' % (option, value_text(names.get(value, value)
                                          if isinstance(value, str)
                                          else value))
            for option, value in PROFILES[profile].tempest.items()]


def main(argv=None):
    """python -m migtests.cloud.configs libvirt PROFILE INDEX
    python -m migtests.cloud.configs tempest PROFILE HOST[,HOST...]

    A profile's settings for a node of a Zuul job (devstack/plugin.sh): the
    same data the local cloud writes."""
    import sys
    argv = sys.argv[1:] if argv is None else argv
    usage = ('usage: python -m migtests.cloud.configs {libvirt PROFILE INDEX'
             ' | tempest PROFILE HOST[,HOST...]}')
    if len(argv) != 3 or argv[0] not in ('libvirt', 'tempest') or \
            argv[1] not in PROFILES:
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == 'libvirt':
        if not argv[2].isdigit() or int(argv[2]) < 1:
            print(usage, file=sys.stderr)
            return 2
        lines = profile_lines(argv[1], int(argv[2]))
    else:
        lines = tempest_lines(argv[1], argv[2].split(','))
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
