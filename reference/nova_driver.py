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

"""Nova's libvirt driver, with its live migrations planned by the reference.

    [DEFAULT]
    compute_driver = reference.nova_driver.ReferenceLibvirtDriver

Everything stays Nova's except the migration decision and the call: which
flags, which parameters, which API (with the reference's safe fallback),
read from Nova's own data -- the instance's disks from its domain and block
device mappings, shared storage from Nova's checks, both hosts'
libvirt/QEMU from the live hosts, the destination's inbound address, console
addresses and vTPM from ``migrate_data`` -- and the ``[libvirt]`` options of
nova-compute's own configuration files as the reference reads them (the
tri-state ``live_migration_tunnelled`` and ``live_migration_with_native_tls``
are unset unless the operator set them; the deprecated
``live_migration_flag`` / ``block_migration_flag`` are parsed again).

A refusal fails the live migration before libvirt is called, through
Nova's own rollback: the instance stays ACTIVE on its source, the migration
record ends ``failed`` and the reason is the instance's fault and an ERROR
line of nova-compute's log.  (The plan is made where the destination is
known: Nova's source pre-check is not told the destination's name.)  Every
decision of a plan is one line of nova-compute's log.

Pinned to the Nova series the local cloud runs (``NOVA_SERIES``); each hook
overridden here has a unit test that its signature in Nova is the one this
module was written for (reference/tests_nova).  Nova's monitor runs as
ever; it reads the plan's flags (post-copy) and takes the plan's downtime
steps (Nova's ``downtime_steps`` is wrapped: Nova's own for anything not
planned here); its completion timeout and action are the same options the
plan reads, over Nova's own estimate of the data to move.
"""

import dataclasses
import json
import threading

from nova.compute import utils as compute_utils
from nova.compute import vm_states
from nova import exception
from nova import objects
from nova.virt import driver as virt_driver
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import migration as libvirt_migrate
from oslo_config import cfg
from oslo_log import log as logging

from reference import act
from reference import conf as reference_conf
from reference.model import ConfigError
from reference.model import Disk
from reference.model import DiskKind
from reference.model import HostCapabilities
from reference.model import MigrationRefused
from reference.model import MigrationRequest
from reference.model import Operation
from reference.model import PLAN_RECORD
from reference.planner import plan_migration
from reference.versions import Version

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

NOVA_SERIES = '34'          # 2026.2 "Hibiscus": the hooks below are its
# Where the destination cannot be asked (its libvirtd refuses this host's
# read-only connection), its libvirt is taken as Nova's own minimum: a
# feature newer than that is not used on a guess.
_DESTINATION_TIMEOUT = 10.0


class ReferenceLibvirtDriver(libvirt_driver.LibvirtDriver):
    """LibvirtDriver whose live migrations the reference plans."""

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        # The plans by instance, for the operation, which runs in a thread
        # of Nova's pool (Nova's monitor reads _PLANNED, its own thread's).
        self._plans = {}
        _install_downtime_steps()

    # --- inputs ----------------------------------------------------------
    @staticmethod
    def _settings():
        """[libvirt] as the reference reads it, from the files this
        nova-compute was started with."""
        return reference_conf.load_settings(reference_conf.make_conf(
            config_files=CONF.config_file or (),
            config_dirs=CONF.config_dir and [CONF.config_dir] or ()))

    def _source_capabilities(self):
        """This host's libvirt/QEMU, TLS ready when its QEMU has every
        certificate libvirt points it to; (capabilities, what was
        found)."""
        ready, directory, missing = act.tls_ready()
        caps = act.read_capabilities(self._host.get_connection(),
                                     tls_ready=ready)
        return caps, ('native TLS: %s in %s' % (
            'every certificate and key QEMU reads' if ready
            else 'missing %s' % ', '.join(missing), directory))

    def _destination_capabilities(self, context, dest, uri):
        """The destination's libvirt/QEMU, asked of its libvirtd (read
        only); else its QEMU from its compute node record and Nova's
        minimum libvirt, said in the decisions."""
        libvirt = act._libvirt()
        answer = []

        def ask():
            try:
                conn = libvirt.openReadOnly(uri)
                try:
                    answer.append(act.read_capabilities(conn))
                finally:
                    conn.close()
            except libvirt.libvirtError as exc:
                answer.append(exc)
        thread = threading.Thread(target=ask, daemon=True)
        thread.start()
        thread.join(_DESTINATION_TIMEOUT)
        if answer and isinstance(answer[0], HostCapabilities):
            return answer[0], None
        node = objects.ComputeNode.get_first_node_by_host_for_old_compat(
            context, dest)
        qemu = Version.from_libvirt_int(node.hypervisor_version)
        guess = HostCapabilities(
            libvirt=Version(*libvirt_driver.MIN_LIBVIRT_VERSION),
            qemu=qemu, hypervisor=CONF.libvirt.virt_type)
        return guess, ('the destination libvirtd did not answer %s (%s): '
                       'planned for QEMU %s from its compute node and '
                       'libvirt %s, Nova\'s minimum'
                       % (uri, answer[0] if answer else 'no answer', qemu,
                          guess.libvirt))

    def _disks(self, context, instance, guest):
        """The domain's disks as the reference's request lists them: a
        disk of a block device mapping is a volume, whatever the flags
        (Nova forgets them when its tunnel flag is set)."""
        bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(
            context, instance.uuid)
        mapping = virt_driver.block_device_info_get_mapping(
            virt_driver.get_block_device_info(instance, bdms))
        volumes = {str(bdm['mount_device']).rsplit('/', 1)[-1]
                   for bdm in mapping}
        disks = []
        for dev in guest.get_all_disks():
            if dev.target_dev in volumes:
                kind = DiskKind.VOLUME
            elif dev.readonly and (dev.source_path or '').endswith(
                    'disk.config'):
                kind = DiskKind.CONFIG
            elif dev.readonly:
                kind = DiskKind.READONLY
            elif dev.shareable:
                kind = DiskKind.SHAREABLE
            elif dev.source_type in ('file', 'block'):
                kind = DiskKind.LOCAL
            else:   # network storage of the image backend (rbd): shared
                kind = DiskKind.VOLUME
            disks.append(Disk(dev.target_dev, kind))
        return tuple(disks)

    def _request(self, context, instance, dest, migrate_data, guest):
        listen = getattr(migrate_data, 'graphics_listen_addr_vnc', None) \
            if migrate_data.obj_attr_is_set('graphics_listen_addr_vnc') \
            else None
        inbound = migrate_data.target_connect_addr \
            if migrate_data.obj_attr_is_set('target_connect_addr') else None
        shared = bool(migrate_data.obj_attr_is_set('is_shared_instance_path')
                      and migrate_data.is_shared_instance_path)
        return MigrationRequest(
            destination=dest,
            operation=(Operation.BLOCK if migrate_data.block_migration
                       else Operation.LIVE),
            disks=self._disks(context, instance, guest),
            shared_storage=shared,
            paused=instance.vm_state == vm_states.PAUSED,
            guest_hypervisor=CONF.libvirt.virt_type,
            memory_mib=instance.flavor.memory_mb,
            destination_inbound_addr=str(inbound) if inbound else None,
            graphics_listen=str(CONF.vnc.server_listen)
            if CONF.vnc.enabled else None,
            destination_graphics_listen=str(listen) if listen else None,
            machine_type=act.running_machine_type(guest.get_xml_desc()))

    def _plan(self, context, instance, dest, migrate_data, guest):
        """The reference's plan for this migration; MigrationRefused."""
        try:
            settings = self._settings()
        except ConfigError as exc:   # refused like any plan: never raised
            raise MigrationRefused('configuration-unusable', str(exc)) \
                from None
        for warning in settings.warnings:
            LOG.warning('migration settings: %s', warning,
                        instance=instance)
        request = self._request(context, instance, dest, migrate_data, guest)
        uri = self._live_migration_uri(request.destination_inbound_addr
                                       or dest)
        destination, guessed = self._destination_capabilities(context, dest,
                                                              uri)
        if guessed:
            LOG.warning('migration plan: %s', guessed, instance=instance)
        source, tls_found = self._source_capabilities()
        # The destination's certificates cannot be read from here: it is
        # taken to be deployed as this host is (Nova's native TLS needs the
        # same on every compute); a destination that is not fails the TLS
        # handshake and the guest stays on its source.
        destination = dataclasses.replace(destination,
                                          tls_ready=source.tls_ready)
        LOG.info('migration plan: %s; the destination taken to match',
                 tls_found, instance=instance)
        plan = plan_migration(settings, source, destination, request)
        LOG.info('migration plan: %s %s flags %s params %s', plan.api,
                 plan.uri, '|'.join(plan.flags), plan.params,
                 instance=instance)
        for decision in plan.decisions:
            LOG.info('migration plan: %s: %s', decision.what, decision.why,
                     instance=instance)
        _log_record(instance, plan.as_dict())
        return plan

    def _copy_before(self, instance, guest, plan):
        """Carry out the plan's copy_before: each disk (a config drive)
        written to the same path on the destination, through its libvirtd
        at the plan's URI, and read back (act.copy_file).  Nova 34 copies
        none: its pre_live_migration creates an empty disk.config there
        (_create_images_and_backing) and libvirt never copies a read-only
        disk.  A failed copy is a refusal: nothing was migrated."""
        if not plan.copy_before:
            return
        paths = {dev.target_dev: dev.source_path
                 for dev in guest.get_all_disks()}
        libvirt = act._libvirt()
        try:
            conn = libvirt.open(plan.uri)
        except libvirt.libvirtError as exc:
            raise MigrationRefused('copy-before-failed', 'the destination\'s '
                                   'libvirtd at %s cannot be reached to copy '
                                   '%s first: %s' % (
                                       plan.uri, ', '.join(plan.copy_before),
                                       exc)) from None
        try:
            for target in plan.copy_before:
                path = paths.get(target)
                if not path:
                    raise MigrationRefused('copy-before-failed', 'the plan '
                                           'copies %s first; the domain has '
                                           'no file behind it' % target)
                try:
                    with open(path, 'rb') as f:
                        data = f.read()
                    act.copy_file(conn, path, data)
                except (OSError, act.CopyFailed) as exc:
                    raise MigrationRefused('copy-before-failed', '%s (%s) '
                                           'cannot be copied first: %s'
                                           % (target, path, exc)) from None
                LOG.info('migration plan: copied %s (%s, %d bytes) to the '
                         'destination and read it back', target, path,
                         len(data), instance=instance)
        finally:
            conn.close()

    # --- hooks of Nova's driver ------------------------------------------
    def _live_migration(self, context, instance, dest, post_method,
                        recover_method, block_migration, migrate_data):
        guest = self._host.get_guest(instance)
        try:
            plan = self._plan(context, instance, dest, migrate_data, guest)
            self._copy_before(instance, guest, plan)
        except MigrationRefused as refusal:
            # Nothing was sent: Nova's rollback keeps the instance on its
            # source (raising here would set it to ERROR).
            error = exception.MigrationError(
                reason='%s: %s' % (refusal.error, refusal.message))
            LOG.error('migration refused (%s): %s', refusal.error,
                      refusal.message, instance=instance)
            _log_record(instance, refusal.as_dict())
            compute_utils.add_instance_fault_from_exc(context, instance,
                                                      error)
            recover_method(context, instance, dest, migrate_data)
            return
        _PLANNED.plan = plan
        _PLANNED.flags = act.flags_value(plan.flags)
        self._plans[instance.uuid] = plan
        try:
            super()._live_migration(context, instance, dest, post_method,
                                    recover_method, block_migration,
                                    migrate_data)
        except Exception as exc:
            if not _rolled_back_as_cancelled(migrate_data):
                raise
            # Nova's monitor saw the job cancelled (an abort through the
            # API, or its completion timeout) and rolled the migration
            # back: the instance is ACTIVE on its source.  Nova 34 then
            # raises its operation thread's error as well, and the compute
            # manager would put the instance in ERROR (measured on the
            # local cloud, migtests-job --profile operations).
            LOG.warning('migration cancelled and rolled back: the instance '
                        'stays ACTIVE on its source (not passed on: %s)',
                        exc, instance=instance)
        finally:
            _PLANNED.plan = _PLANNED.flags = None
            self._plans.pop(instance.uuid, None)

    def _live_migration_operation(self, context, instance, dest,
                                  block_migration, migrate_data, guest,
                                  device_names):
        """Nova's operation (destination XML, serial ports, vifs), with
        the call carried out as planned."""
        plan = self._plans[instance.uuid]
        super()._live_migration_operation(
            context, instance, dest, block_migration, migrate_data,
            _PlannedGuest(guest, plan), device_names)

    def _get_migration_flags(self, is_block_migration):
        """The plan's flags, for Nova's monitor (post-copy switch)."""
        value = getattr(_PLANNED, 'flags', None)
        if value is not None:
            return value
        return super()._get_migration_flags(is_block_migration)

    def _live_migration_copy_disk_paths(self, context, instance, guest):
        """The local disks to copy (and their paths, for Nova's data
        estimate): the plan's disk list when a plan is under way (the
        disks were classified once, for it), else the local ones --
        never a volume, whatever the flags."""
        plan = self._plans.get(instance.uuid)
        if plan is not None:
            copied = set(plan.params.get('migrate_disks', ()))
        else:
            copied = {d.target for d in self._disks(context, instance, guest)
                      if d.kind is DiskKind.LOCAL}
        paths, names = [], []
        for dev in guest.get_all_disks():
            if dev.target_dev in copied:
                paths.append(dev.source_path)
                names.append(dev.target_dev)
        return paths, names


def _log_record(instance, data):
    """The plan or refusal as data, one JSON line per migration, for the
    tools that read nova-compute's log (migtests.cloud.migrations.plans);
    the lines before it are for people."""
    LOG.info(PLAN_RECORD + '%s', json.dumps(data, sort_keys=True),
             instance=instance)


def _rolled_back_as_cancelled(migrate_data):
    """Whether Nova's monitor already rolled this migration back as
    cancelled (its rollback sets the migration record's status)."""
    migration = getattr(migrate_data, 'migration', None)
    return getattr(migration, 'status', None) == 'cancelled'


# The plan under way in this thread and its flags as a number: Nova's
# monitor runs in the thread that called _live_migration, and reads the
# flags (_get_migration_flags) and the downtime steps (downtime_steps).
_PLANNED = threading.local()


def _install_downtime_steps():
    """Nova's monitor takes its downtime steps from
    nova.virt.libvirt.migration.downtime_steps(data_gb): wrapped once, so
    that a planned migration's monitor follows the plan's steps (the
    reference keeps a TCG guest's downtime at or above 300 ms on QEMU
    before 10.0, where lower ones lose guest pages) and any other call
    gets Nova's own."""
    if getattr(libvirt_migrate.downtime_steps, 'reference_wrapped', False):
        return
    novas = libvirt_migrate.downtime_steps

    def downtime_steps(data_gb):
        planned = getattr(_PLANNED, 'plan', None)
        if planned is not None:
            return iter(planned.monitor.downtime_steps)
        return novas(data_gb)
    downtime_steps.reference_wrapped = True
    downtime_steps.novas = novas
    libvirt_migrate.downtime_steps = downtime_steps


class _PlannedGuest:
    """Nova's Guest, whose ``migrate`` carries out the plan: Nova's flags
    and parameters are replaced by the plan's; Nova's destination XML (its
    volumes, interfaces, consoles for the destination) is kept."""

    def __init__(self, guest, plan):
        self._guest = guest
        self._plan = plan

    def __getattr__(self, name):
        return getattr(self._guest, name)

    def migrate(self, destination, migrate_uri=None, migrate_disks=None,
                destination_xml=None, flags=0, bandwidth=0, parallel=0):
        plan = self._plan
        params = dict(plan.params)
        if destination_xml:
            # As Nova: the destination's definition, running and persistent
            # (migrateToURI2 carries the first only, and uses it for both;
            # persistent_xml needs libvirt >= 1.3.4, below every libvirt
            # this Nova series runs on).
            params['destination_xml'] = destination_xml
            params['persistent_xml'] = destination_xml
        planned = dataclasses.replace(plan, params=params)
        LOG.debug('migrating as planned: %s %s', planned.api, planned.uri)
        return act.start(self._guest._domain, planned)
