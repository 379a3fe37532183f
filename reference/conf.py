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

"""The [libvirt] live-migration options, and turning them into settings.

Nothing is registered at import time: call ``register_opts(conf)``.
``list_opts()`` feeds ``oslo-config-generator`` (entry point
``oslo.config.opts`` = ``migtests.reference``).  ``load_settings(conf)``
reads the options, checks them, and returns plain ``MigrationSettings`` for
the pure planner -- or raises ``ConfigError`` naming what to change.
"""

import dataclasses
import re

from oslo_config import cfg

from reference.model import ConfigError
from reference.model import Operation
from reference.model import STORAGE_COPY_FLAGS
from reference.versions import FLAG_SINCE

GROUP = 'libvirt'

# The transports of libvirt's remote URIs that reach another host
# (libvirt docs, "Remote URIs": qemu+<transport>://host/system; without a
# transport, TLS): whether the libvirtd connection is encrypted.
TRANSPORTS = {
    'tcp': ('unencrypted libvirtd connection', False),
    'tls': ('libvirtd connection over TLS', True),
    'ssh': ('libvirtd connection over SSH', True),
    'libssh': ('libvirtd connection over SSH (libssh)', True),
    'libssh2': ('libvirtd connection over SSH (libssh2)', True),
}
_URI_RE = re.compile(r'^qemu(?:\+(\w+))?://[^/]*%s[^/]*/system$')

_DEPRECATED_FLAG_REASON = (
    'Raw libvirt flags let operators build combinations that lose data. The '
    'driver chooses the flags itself; use live_migration_tunnelled, '
    'live_migration_with_native_tls and the live_migration_permit_* options.')

libvirt_migration_opts = [
    cfg.BoolOpt('live_migration_tunnelled',
                default=None,
                help='Send the migration stream through the libvirtd '
                     'connection (VIR_MIGRATE_TUNNELLED). Unset (the default) '
                     'lets the driver choose: native TLS where both hosts '
                     'support and configure it, else the tunnel for a '
                     'migration that copies no storage over a tls or ssh '
                     'connection, else plain native transport. true: always '
                     'tunnel, and refuse what cannot be tunnelled (selective '
                     'disk copies, storage copies on current QEMU). false: '
                     'never tunnel.'),
    cfg.BoolOpt('live_migration_with_native_tls',
                default=None,
                help='Encrypt QEMU\'s own migration and NBD streams with TLS '
                     '(VIR_MIGRATE_TLS; on both hosts libvirt >= 3.2.0 and '
                     'QEMU >= 2.9 for the memory stream, libvirt >= 4.4.0 '
                     'and QEMU >= 2.11 when disks are copied; certificates '
                     'in each host\'s migrate_tls_x509_cert_dir). Unset: '
                     'used when both '
                     'hosts support it and are TLS ready. true: required, '
                     'migrations are refused where it is impossible. false: '
                     'never.'),
    cfg.StrOpt('live_migration_scheme',
               default='tcp',
               choices=[(name, text) for name, (text, _) in
                        TRANSPORTS.items()],
               help='Transport of the connection between the two libvirtd '
                    'daemons: qemu+<scheme>://<destination>/system.'),
    cfg.StrOpt('live_migration_uri',
               deprecated_for_removal=True,
               deprecated_reason='Nova deprecated it for '
                                 'live_migration_scheme and '
                                 'live_migration_inbound_addr, and still '
                                 'honours it.',
               help='Deprecated: the libvirtd URI of the destination, with '
                    '%s for its host name or inbound address, e.g. '
                    'qemu+ssh://nova@%s/system. When set it wins over '
                    'live_migration_scheme, as in Nova.'),
    cfg.HostAddressOpt('live_migration_inbound_addr',
                       help='Address of the destination host that incoming '
                            'migration traffic should go to. When set, the '
                            'libvirtd URI and the native migration URI use '
                            'it instead of the destination host name.'),
    cfg.IntOpt('live_migration_bandwidth',
               default=0, min=0,
               help='Maximum migration bandwidth in MiB/s; 0 means '
                    'unlimited.'),
    cfg.BoolOpt('live_migration_permit_post_copy',
                default=False,
                help='Permit switching to post-copy when a migration does '
                     'not converge. A permission, not a demand: used only '
                     'where both hosts support it (libvirt >= 1.3.3, '
                     'QEMU >= 2.6), not for a paused guest, and not through '
                     'the tunnel.'),
    cfg.BoolOpt('live_migration_permit_auto_converge',
                default=False,
                help='Permit throttling the guest\'s vCPUs so that a busy '
                     'guest converges (libvirt >= 1.2.3, QEMU >= 1.6). Not '
                     'used together with post-copy.'),
    # QEMU's multifd-channels is a uint8 (qapi/migration.json).
    cfg.IntOpt('live_migration_parallel_connections',
               default=1, min=1, max=255,
               help='Number of parallel connections for the memory stream '
                    '(VIR_MIGRATE_PARALLEL; libvirt >= 5.2.0 and '
                    'QEMU >= 4.0 on both hosts). 1 disables it.'),
    cfg.IntOpt('live_migration_downtime',
               default=500, min=100,
               help='Maximum downtime in milliseconds that the guest may be '
                    'paused for at the switch-over, reached in steps.'),
    cfg.IntOpt('live_migration_downtime_steps',
               default=10, min=3,
               help='Number of steps in which the allowed downtime is raised '
                    'to live_migration_downtime.'),
    cfg.IntOpt('live_migration_downtime_delay',
               default=75, min=3,
               help='Seconds per GiB of migrated data to wait between two '
                    'downtime steps.'),
    cfg.IntOpt('live_migration_completion_timeout',
               default=800, min=0,
               help='Seconds per GiB of migrated data after which '
                    'live_migration_timeout_action is taken; 0 disables the '
                    'timeout.'),
    cfg.StrOpt('live_migration_timeout_action',
               default='abort',
               choices=[('abort', 'cancel the migration; the guest keeps '
                                  'running on its source'),
                        ('force_complete', 'switch to post-copy when it is '
                                           'in use, else pause the guest '
                                           'so the copy can finish')],
               help='What to do when a migration exceeds its completion '
                    'timeout.'),
    cfg.StrOpt('live_migration_flag',
               deprecated_for_removal=True,
               deprecated_reason=_DEPRECATED_FLAG_REASON,
               help='Deprecated: comma-separated VIR_MIGRATE_* names for live '
                    'migrations. Only VIR_MIGRATE_TUNNELLED still has an '
                    'effect (as live_migration_tunnelled = true, when that '
                    'option is unset); flags the driver sets itself are '
                    'ignored and any other flag is refused.'),
    cfg.StrOpt('block_migration_flag',
               deprecated_for_removal=True,
               deprecated_reason=_DEPRECATED_FLAG_REASON,
               help='Deprecated: as live_migration_flag, for block '
                    'migrations.'),
]


def register_opts(conf):
    conf.register_opts(libvirt_migration_opts, group=GROUP)


def list_opts():
    return [(GROUP, libvirt_migration_opts)]


@dataclasses.dataclass(frozen=True)
class MigrationSettings:
    """The checked configuration the planner works from."""

    tunnelled: dict          # Operation.LIVE/BLOCK -> True, False or None
    native_tls: bool | None
    scheme: str              # the transport (of uri_template when set)
    inbound_addr: str | None
    bandwidth: int
    permit_post_copy: bool
    permit_auto_converge: bool
    parallel_connections: int
    downtime: int
    downtime_steps: int
    downtime_delay: int
    completion_timeout: int
    timeout_action: str
    warnings: tuple = ()
    # Operation -> the option that asked for the tunnel, for refusals.
    tunnel_source: dict = dataclasses.field(default_factory=dict)
    # The deprecated live_migration_uri, checked: '%s' for the host.
    uri_template: str | None = None

    @property
    def encrypted_connection(self):
        """Whether the libvirtd connection (and so a tunnel) is
        encrypted."""
        return TRANSPORTS[self.scheme][1]

    def tunnelled_for(self, operation):
        return self.tunnelled[operation]

    def tunnel_fix(self, operation):
        """What the operator changes to stop asking for the tunnel."""
        source = self.tunnel_source.get(operation)
        if source:
            return ('remove VIR_MIGRATE_TUNNELLED from [libvirt] %s '
                    '(deprecated; or set live_migration_tunnelled = false)'
                    % source)
        return 'set [libvirt] live_migration_tunnelled = false (or unset it)'


# Flags the driver always chooses itself: ignored, with a warning.
_OWNED_FLAGS = frozenset({
    'VIR_MIGRATE_LIVE', 'VIR_MIGRATE_PEER2PEER', 'VIR_MIGRATE_PERSIST_DEST',
    'VIR_MIGRATE_UNDEFINE_SOURCE'}) | STORAGE_COPY_FLAGS

# Deprecated flags that a present-day option expresses: read as that option
# set to true (with a warning), unless the operator set the option itself.
_TRANSLATED_FLAGS = {
    'VIR_MIGRATE_TUNNELLED': 'live_migration_tunnelled',
    'VIR_MIGRATE_AUTO_CONVERGE': 'live_migration_permit_auto_converge',
    'VIR_MIGRATE_POSTCOPY': 'live_migration_permit_post_copy',
    'VIR_MIGRATE_TLS': 'live_migration_with_native_tls',
}

# Every other flag is refused, with the reason.
_REFUSED_FLAGS = {
    'VIR_MIGRATE_UNSAFE': 'it disables libvirt\'s safety checks, so a '
                          'migration with unshared storage or an unsafe disk '
                          'cache can corrupt the guest\'s disks',
    'VIR_MIGRATE_PAUSED': 'it leaves the guest paused on the destination',
    'VIR_MIGRATE_OFFLINE': 'it moves only the definition, not a running '
                           'guest',
    'VIR_MIGRATE_COMPRESSED': 'compression needs a cache sized per guest '
                              'and is not offered by this driver',
    'VIR_MIGRATE_CHANGE_PROTECTION': 'peer-to-peer migration already '
                                     'protects the domain from changes',
    'VIR_MIGRATE_ABORT_ON_ERROR': 'I/O errors during the copy are handled '
                                  'by aborting already',
    'VIR_MIGRATE_RDMA_PIN_ALL': 'RDMA transport is not supported by this '
                                'driver',
    'VIR_MIGRATE_POSTCOPY_RESUME': 'it resumes a failed post-copy '
                                   'migration; it is not a setting',
    'VIR_MIGRATE_PARALLEL': 'it carries no number of connections: set '
                            'live_migration_parallel_connections instead',
    'VIR_MIGRATE_ZEROCOPY': 'it needs locked guest memory and is not '
                            'offered by this driver',
    'VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES': 'it slows the guest down '
                                                 'and is not offered by '
                                                 'this driver',
}


def parse_flag_option(option, value):
    """Split a deprecated flag option into (options it asks for, warnings):
    the present-day option names its translated flags stand for.

    Raises ConfigError for an unknown name or a flag that is refused.
    """
    asked = set()
    warnings = []
    for token in (value or '').split(','):
        name = token.strip()
        if not name:
            continue
        if name not in FLAG_SINCE:
            raise ConfigError(
                'unknown migration flag %r in [libvirt] %s: expected '
                'VIR_MIGRATE_* names separated by commas' % (name, option))
        if name in _TRANSLATED_FLAGS:
            asked.add(_TRANSLATED_FLAGS[name])
        elif name in _OWNED_FLAGS:
            warnings.append(
                '[libvirt] %s: %s is ignored: the driver sets it itself '
                'where the operation needs it' % (option, name))
        else:
            raise ConfigError(
                '[libvirt] %s: %s is refused: %s'
                % (option, name, _REFUSED_FLAGS[name]))
    return asked, warnings


def _flag_name(option):
    return next(f for f, o in _TRANSLATED_FLAGS.items() if o == option)


def _translate(conf, flag_option, target, warnings):
    """The value a deprecated flag gives ``target``: True, unless the
    operator set ``target`` itself (oslo.config knows), which wins."""
    value = conf[GROUP][target]
    where = conf.get_location(target, GROUP)    # None: unset, no default
    if where is not None and where.location != cfg.Locations.opt_default:
        warnings.append('[libvirt] %s: %s is ignored: %s = %s is set and '
                        'wins' % (flag_option, _flag_name(target), target,
                                  str(value).lower()))
        return value
    warnings.append('[libvirt] %s: %s is read as %s = true; set that option '
                    'instead' % (flag_option, _flag_name(target), target))
    return True


def _from_flags(conf, warnings):
    """(tunnelled per operation, the option each tunnel came from, global
    options the deprecated flag options set)."""
    group = conf[GROUP]
    tunnelled, sources, options = {}, {}, {}
    for operation, flag_option in ((Operation.LIVE, 'live_migration_flag'),
                                   (Operation.BLOCK, 'block_migration_flag')):
        value = group[flag_option]
        if value:
            warnings.append(
                '[libvirt] %s is deprecated and will be removed: the driver '
                'chooses the flags itself' % flag_option)
        asked, flag_warnings = parse_flag_option(flag_option, value)
        warnings.extend(flag_warnings)
        tunnelled[operation] = group.live_migration_tunnelled
        for target in sorted(asked):
            translated = _translate(conf, flag_option, target, warnings)
            if target == 'live_migration_tunnelled':
                tunnelled[operation] = translated
                if group.live_migration_tunnelled is None:
                    sources[operation] = flag_option
            else:
                options[target] = options.get(target) or translated
    return tunnelled, sources, options


def _refuse_contradictions(settings):
    if True not in settings.tunnelled.values():
        return
    if settings.native_tls:
        raise ConfigError(
            '[libvirt] live_migration_tunnelled = true contradicts '
            'live_migration_with_native_tls = true: the tunnel carries the '
            'stream inside the libvirtd connection, native TLS encrypts '
            'QEMU\'s own stream; set one of them to false')
    if settings.permit_post_copy:
        raise ConfigError(
            '[libvirt] live_migration_tunnelled = true contradicts '
            'live_migration_permit_post_copy = true: libvirt cannot switch a '
            'tunnelled migration to post-copy; set one of them to false')
    if settings.parallel_connections > 1:
        raise ConfigError(
            '[libvirt] live_migration_tunnelled = true contradicts '
            'live_migration_parallel_connections = %d: a tunnel is a single '
            'stream; set live_migration_tunnelled = false or the '
            'connections to 1' % settings.parallel_connections)


# The MigrationSettings field each [libvirt] option is read into (the
# tunnel and the deprecated flag options are read by _from_flags).
SETTING_OF = {
    'live_migration_with_native_tls': 'native_tls',
    'live_migration_scheme': 'scheme',
    'live_migration_uri': 'uri_template',
    'live_migration_inbound_addr': 'inbound_addr',
    'live_migration_bandwidth': 'bandwidth',
    'live_migration_permit_post_copy': 'permit_post_copy',
    'live_migration_permit_auto_converge': 'permit_auto_converge',
    'live_migration_parallel_connections': 'parallel_connections',
    'live_migration_downtime': 'downtime',
    'live_migration_downtime_steps': 'downtime_steps',
    'live_migration_downtime_delay': 'downtime_delay',
    'live_migration_completion_timeout': 'completion_timeout',
    'live_migration_timeout_action': 'timeout_action',
}


def _uri_transport(template, warnings):
    """The transport of a live_migration_uri, which must be a QEMU URI
    with one %s for the host and a transport that reaches another host."""
    match = _URI_RE.match(template)
    if not match or template.count('%') != 1:
        raise ConfigError(
            '[libvirt] live_migration_uri = %s: expected qemu+<transport>://'
            '...%%s.../system with one %%s for the destination (e.g. '
            'qemu+ssh://nova@%%s/system); better, unset it and set '
            'live_migration_scheme' % template)
    transport = match.group(1) or 'tls'     # libvirt's default transport
    if transport not in TRANSPORTS:
        raise ConfigError(
            '[libvirt] live_migration_uri = %s: transport %r does not reach '
            'another host; use one of %s' % (template, transport,
                                             ', '.join(TRANSPORTS)))
    warnings.append('[libvirt] live_migration_uri is deprecated and wins over '
                    'live_migration_scheme (transport %s), as in Nova; unset '
                    'it and set live_migration_scheme' % transport)
    return transport


def load_settings(conf):
    """Read and check conf.libvirt; return MigrationSettings."""
    group = conf[GROUP]
    warnings = []
    try:
        tunnelled, sources, translated = _from_flags(conf, warnings)
        # An option a deprecated flag stands for reads as that flag says.
        values = {field: translated.get(option, group[option])
                  for option, field in SETTING_OF.items()}
    except cfg.Error as exc:    # a value oslo.config cannot read
        raise ConfigError(' '.join(str(exc).split())) from None
    if values['uri_template']:
        values['scheme'] = _uri_transport(values['uri_template'], warnings)
    settings = MigrationSettings(
        tunnelled=tunnelled, warnings=tuple(warnings), tunnel_source=sources,
        **values)
    _refuse_contradictions(settings)
    return settings


def make_conf(config_files=(), overrides=None, config_dirs=()):
    """A private ConfigOpts with the options registered and loaded.

    ``overrides`` maps option names of [libvirt] to values (strings are
    converted by the option's type, as in a config file).
    """
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf(args=[], project='migtests', default_config_files=list(config_files),
         default_config_dirs=list(config_dirs) or None)
    for name, value in (overrides or {}).items():
        conf.set_override(name, value, group=GROUP)
    return conf


def settings(**overrides):
    """Shipped defaults plus the given [libvirt] options, checked."""
    return load_settings(make_conf(overrides=overrides))
