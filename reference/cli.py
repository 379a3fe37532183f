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

"""migtests-plan: print the reference driver's plan for a migration.

Exit status: 0 a plan, 3 a refusal, 2 bad input (one line on stderr).
"""

import argparse
import ipaddress
import json
import re
import sys

from oslo_config import cfg

from reference import conf as migration_conf
from reference.model import ConfigError
from reference.model import Disk
from reference.model import DiskKind
from reference.model import HostCapabilities
from reference.model import MigrationRefused
from reference.model import MigrationRequest
from reference.model import Operation
from reference.planner import plan_migration
from reference.versions import Version
from reference.versions import VersionError

EXIT_PLAN, EXIT_BAD_INPUT, EXIT_REFUSED = 0, 2, 3


class BadInput(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadInput(message)


def _version(text):
    try:
        return Version.parse(text)
    except VersionError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _disk(text):
    target, sep, kind = text.partition(':')
    kinds = [k.value for k in DiskKind]
    if not sep or not target or kind not in kinds:
        raise argparse.ArgumentTypeError(
            'disk %r: expected TARGET:KIND with KIND one of %s'
            % (text, ', '.join(kinds)))
    return Disk(target, DiskKind(kind))


def _setting(text):
    name, sep, value = text.partition('=')
    if not sep or not name:
        raise argparse.ArgumentTypeError(
            '--set %r: expected OPTION=VALUE' % text)
    return name.strip(), value.strip()


def build_parser(prog='migtests-plan'):
    p = _Parser(prog=prog, description=(
        'Print how the reference driver would migrate a guest between two '
        'libvirt/QEMU hosts, or why it refuses.'))
    p.add_argument('--libvirt', type=_version, required=True,
                   help='source libvirt version, e.g. 1.2.17')
    p.add_argument('--qemu', type=_version, required=True,
                   help='source QEMU version, e.g. 2.5')
    p.add_argument('--dest-libvirt', type=_version,
                   help='destination libvirt version (default: the source\'s)')
    p.add_argument('--dest-qemu', type=_version,
                   help='destination QEMU version (default: the source\'s)')
    p.add_argument('--hypervisor', choices=('qemu', 'kvm'), default='qemu',
                   help='hypervisor of both hosts and the guest')
    p.add_argument('--operation', choices=[o.value for o in Operation],
                   default='auto', help='live, block, or auto (block unless '
                   'the storage is shared)')
    p.add_argument('--shared-storage', action='store_true',
                   help='the instance storage is shared between the hosts')
    p.add_argument('--disk', type=_disk, action='append', default=[],
                   metavar='TARGET:KIND',
                   help='a disk of the guest; KIND: local, volume, readonly, '
                   'shareable, config (a config drive) (repeat)')
    p.add_argument('--paused', action='store_true', help='the guest is paused')
    p.add_argument('--tls-ready', action='store_true',
                   help='both hosts have native TLS certificates configured')
    p.add_argument('--dest', default='dest', metavar='HOST',
                   help='destination host name or address')
    p.add_argument('--machine-type', type=_machine_type, metavar='TYPE',
                   help='the running guest\'s machine type as its live '
                   'domain XML names it (virsh dumpxml), e.g. pc-i440fx-5.2; '
                   'an alias (pc, q35) is not checked')
    p.add_argument('--dest-inbound-addr', metavar='ADDR',
                   help='the destination\'s [libvirt] '
                   'live_migration_inbound_addr (Nova passes it to the '
                   'source as target_connect_addr)')
    p.add_argument('--graphics-listen', type=_address, metavar='ADDR',
                   help='the guest\'s VNC/SPICE listen address on the source')
    p.add_argument('--dest-graphics-listen', type=_address, metavar='ADDR',
                   help='the destination\'s graphics listen address (Nova: '
                   'its [vnc] server_listen)')
    p.add_argument('--serial-listen', type=_address, metavar='ADDR',
                   help='the guest has TCP serial consoles listening here')
    p.add_argument('--dest-serial-listen', type=_address, metavar='ADDR',
                   help='the destination\'s serial console address (unset: '
                   'its serial console is disabled)')
    p.add_argument('--vtpm', choices=('host', 'user', 'deployment'),
                   help='the guest has a vTPM whose secret has this security '
                   '(hw:tpm_secret_security)')
    p.add_argument('--config-file', action='append', default=[],
                   metavar='FILE', help='a config file with a [libvirt] '
                   'section (repeat)')
    p.add_argument('--set', type=_setting, action='append', default=[],
                   metavar='OPTION=VALUE', help='a [libvirt] option (repeat)')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    return p


def _settings(args):
    try:
        conf = migration_conf.make_conf(config_files=args.config_file)
        for name, value in args.set:
            try:
                conf.set_override(name, value, group=migration_conf.GROUP)
            except ValueError as exc:   # the option's type or range
                raise BadInput('--set %s=%s: %s' % (
                    name, value, str(exc).splitlines()[0])) from None
        return migration_conf.load_settings(conf)
    except cfg.ConfigFilesNotFoundError as exc:
        raise BadInput('config file not found: %s'
                       % ', '.join(exc.config_files))
    except (cfg.NoSuchOptError, cfg.ConfigFileParseError,
            cfg.ConfigFileValueError) as exc:
        raise BadInput(str(exc).splitlines()[0])
    except (ValueError, ConfigError) as exc:
        raise BadInput(str(exc).splitlines()[0])


def _address(text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r is not an IPv4 or IPv6 address' % text) from None


def _machine_type(text):
    if not re.match(r'^[A-Za-z0-9][A-Za-z0-9._-]*$', text):
        raise argparse.ArgumentTypeError(
            'machine type %r: expected a name such as pc-i440fx-5.2 or q35'
            % text)
    return text


def _validate_dest(dest, option='--dest'):
    if not dest or any(ch in dest for ch in '/@?# \t'):
        raise BadInput('%s %r: expected a host name or address'
                       % (option, dest))
    return dest


def _render_text(plan):
    lines = ['API:    %s' % plan['api'],
             'URI:    %s' % plan['uri'],
             'Flags:  %s' % ' | '.join(plan['flags']),
             'Params: %s' % (json.dumps(plan['params'], sort_keys=True)
                             if plan['params'] else '(none)'),
             'Decisions:']
    lines += ['  - %s: %s' % (d['what'], d['why']) for d in plan['decisions']]
    for title, key in (('Copy to the destination first', 'copy_before'),
                       ('Define on the destination first', 'define_before'),
                       ('Destination XML changes', 'destination_changes')):
        if plan[key]:
            lines.append('%s: %s' % (title, ', '.join(plan[key])))
    return '\n'.join(lines)


def run(argv, stdout, stderr, prog='migtests-plan'):
    try:
        args = build_parser(prog).parse_args(argv)
        settings = _settings(args)
        hosts = _hosts(args)
        request = MigrationRequest(
            destination=_validate_dest(args.dest),
            operation=Operation(args.operation),
            disks=tuple(args.disk),
            shared_storage=args.shared_storage,
            paused=args.paused,
            guest_hypervisor=args.hypervisor,
            machine_type=args.machine_type,
            graphics_listen=args.graphics_listen,
            destination_graphics_listen=args.dest_graphics_listen,
            serial_listen=args.serial_listen,
            destination_serial_listen=args.dest_serial_listen,
            vtpm=args.vtpm,
            destination_inbound_addr=_validate_dest(
                args.dest_inbound_addr, '--dest-inbound-addr')
            if args.dest_inbound_addr is not None else None)
        _check_disk_targets(request)
    except BadInput as exc:
        stderr.write('%s: error: %s\n' % (prog, exc))
        return EXIT_BAD_INPUT
    for warning in settings.warnings:
        stderr.write('%s: warning: %s\n' % (prog, warning))
    try:
        result = plan_migration(settings, *hosts, request).as_dict()
        status = EXIT_PLAN
    except MigrationRefused as refusal:
        result = refusal.as_dict()
        status = EXIT_REFUSED
    if args.json:
        stdout.write(json.dumps(result, sort_keys=True) + '\n')
    elif result['refused']:
        refused = result['refused']
        stdout.write('REFUSED (%s): %s\n'
                     % (refused['error'], refused['message']))
    else:
        stdout.write(_render_text(result) + '\n')
    return status


def _hosts(args):
    def host(libvirt, qemu):
        return HostCapabilities(libvirt=libvirt, qemu=qemu,
                                hypervisor=args.hypervisor,
                                tls_ready=args.tls_ready)
    return (host(args.libvirt, args.qemu),
            host(args.dest_libvirt or args.libvirt,
                 args.dest_qemu or args.qemu))


def _check_disk_targets(request):
    targets = [d.target for d in request.disks]
    duplicates = sorted({t for t in targets if targets.count(t) > 1})
    if duplicates:
        raise BadInput('--disk %s given more than once' % duplicates[0])


def main(argv=None, prog='migtests-plan'):
    """The command (its console script exits with what it returns)."""
    return run(sys.argv[1:] if argv is None else argv, sys.stdout,
               sys.stderr, prog)
