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

"""The [migtests] options: what the scenarios need that Tempest lacks."""

from oslo_config import cfg
from tempest import config as tempest_config

from migtests import console

group = cfg.OptGroup(name='migtests', title='migtests Tempest plugin options')

MigtestsGroup = [
    cfg.StrOpt('counter_image_ref',
               help='Image whose guest prints an increasing counter on its '
                    'serial console (lines matching counter_pattern). The '
                    'scenarios then check that the count carries on after '
                    'a migration, i.e. the guest was not restarted. Unset: '
                    '[compute] image_ref is used and those checks skip.'),
    cfg.StrOpt('counter_pattern', default=console.COUNT_PATTERN,
               help='Regular expression of one counter line; group 1 is '
                    'the value.'),
    cfg.StrOpt('volume_counter_pattern', default=console.VOLUME_PATTERN,
               help='Regular expression of one line of the counter the '
                    'counter image keeps on an attached volume; group 1 is '
                    'the value.'),
    cfg.StrOpt('config_drive_pattern', default=console.CONFIG_DRIVE_PATTERN,
               help='Regular expression of the line the counter image prints '
                    'of its config drive; group 1 is its volume label, group '
                    '2 the SHA-256 of all of it.'),
    cfg.StrOpt('boot_mark', default=console.BOOT_MARK,
               help='Text the counter image prints once when it boots.'),
    cfg.IntOpt('counter_timeout', default=60, min=1,
               help='Seconds to wait for the counter to advance.'),
    cfg.IntOpt('migration_timeout', default=300, min=1,
               help='Seconds to wait for a live migration to finish.'),
    cfg.BoolOpt('slow_migrations', default=False,
                help='Whether live migrations here run long enough to act '
                     'on while they run (a bandwidth limit: not Nova\'s '
                     'shipped defaults). The operator-action scenarios '
                     '(list, abort, force-complete) run only then; '
                     'migtests-job --profile operations sets it.'),
    cfg.BoolOpt('mixed_computes', default=False,
                help='Whether the compute hosts run different hypervisor '
                     'versions (a rolling upgrade under way). The '
                     'rolling-upgrade scenarios run only then, and fail if '
                     'os-hypervisors shows every compute on one version.'),
    cfg.StrOpt('abort_on_timeout_host',
               help='A compute host whose live_migration_timeout_action is '
                    'abort, with a completion timeout a slow migration '
                    'reaches within migration_timeout. Unset: that '
                    'scenario skips.'),
    cfg.StrOpt('force_complete_on_timeout_host',
               help='A compute host whose live_migration_timeout_action is '
                    'force_complete, with a completion timeout a slow '
                    'migration reaches within migration_timeout. Unset: '
                    'that scenario skips.'),
]


def register_opts(conf):
    # Tempest's own registration: the group and its options, as Tempest's
    # plugin interface documents it.
    tempest_config.register_opt_group(conf, group, MigtestsGroup)


def list_opts():
    return [(group, MigtestsGroup)]
