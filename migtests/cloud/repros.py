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

"""Nova's and Tempest's findings, each reproduced by the smallest scenario
on the local cloud with Nova's own driver: ``migtests job --repro NAME``.

Each finding is data: the profile and computes it needs, the one scenario
it runs, and a check over what the run recorded (its tests' outcomes and
failure text, the calls libvirt received, the computes' logs) that says
whether the defect showed, with the evidence.  The job then exits 0 when
it did (REPRODUCED), 1 when it did not -- an upstream fix is news, not a
failure to hide.
"""

import dataclasses
import glob
import os

from reference import model

SCENARIOS = 'migtests.api.compute.'


@dataclasses.dataclass(frozen=True)
class Repro:
    name: str
    page: str              # doc/source/findings/<page>.md
    profile: str           # configs.PROFILES
    computes: str | None   # --computes, or the machine's suite twice
    test: str              # the scenario, under migtests.api.compute.
    check: object          # (repro, run, logs) -> (reproduced, evidence)

    @property
    def regex(self):
        return '^' + (SCENARIOS + self.test).replace('.', r'\.') + r'\b'

    def shown(self, run, logs):
        """(reproduced, evidence lines) of a run of the scenario."""
        return self.check(self, run, logs)


def _failed_with(signature, what):
    """Shown when the scenario failed and its failure holds
    ``signature``."""
    def check(repro, run, logs):
        for row in run['tests']:
            if row['id'].startswith(SCENARIOS + repro.test):
                status, failure = row['status'], row.get('failure', '')
                break
        else:
            status, failure = 'not run', ''
        if status != 'FAILED':
            return False, ['the scenario %s' % (
                'passed' if status == 'ok' else status)]
        if signature not in failure:
            return False, ['the scenario failed otherwise: %s' % failure]
        return True, [what, failure]
    return check


REMOVED_OPTIONS = ('live_migration_flag', 'block_migration_flag')


def _removed_flags_ignored(repro, run, logs):
    """Reproduced when the computes' nova.conf asks for the tunnel (the
    2016 profile), libvirt received no TUNNELLED, and no line of the
    computes' logs names the removed options."""
    calls = run.get('migrations', [])
    if not calls:
        return False, ['no migration reached libvirt']
    # The records name flags in their short form (model.short_flag).
    tunnelled = [c for c in calls
                 if 'TUNNELLED' in map(model.short_flag, c['flags'])]
    said = []
    for path in sorted(glob.glob(os.path.join(
            logs, 'nova-compute-upstream-*.log'))):
        with open(path, errors='replace') as f:
            said += [line.strip() for line in f
                     if any(o in line for o in REMOVED_OPTIONS)]
    flags = ['libvirt received %s' % '|'.join(c['flags']) for c in calls]
    if tunnelled:
        return False, flags + ['the tunnel was applied']
    if said:
        return False, flags + ['nova-compute said: %s' % s
                               for s in said[:4]]
    return True, flags + ['nova.conf asks for VIR_MIGRATE_TUNNELLED; no line '
                          'of the computes\' logs names %s'
                          % ' or '.join(REMOVED_OPTIONS)]


REPROS = {r.name: r for r in (
    # The plugin's assert_stayed: the record first, then the server.
    Repro('abort-error', 'abort-error', 'operations', None,
          'test_operations.OperatorActionsTest.'
          'test_abort_keeps_the_server_on_its_source',
          _failed_with("'cancelled' != 'error'",
                       'the aborted migration ended in error, not cancelled '
                       '(and the instance in ERROR), its guest running on '
                       'its source')),
    # The plugin's live_migrate names the server's status on a failure.
    Repro('failed-migration-error', 'failed-migration-error', 'shipped',
          'trixie,sid', 'test_rolling_upgrade.RollingUpgradeTest.'
          'test_older_to_newer_keeps_running',
          _failed_with('status ERROR', 'the migration failed in libvirt and '
                       'left the instance in ERROR, its guest running on '
                       'its source')),
    # The guest prints label=- for a drive without an ISO 9660 label:
    # Nova made it anew, empty, and it arrived as zeros.
    Repro('config-drive-empty', 'config-drive-empty', 'config-drive', None,
          'test_block_migration.BlockMigrationTest.'
          'test_block_migration_with_config_drive',
          _failed_with("('-', '", 'on the destination the guest reads a '
                       'config drive without a filesystem (label -), not '
                       'the one it booted with')),
    Repro('removed-flags-ignored', 'removed-flags-ignored', '2016', None,
          'test_block_migration.BlockMigrationTest.'
          'test_block_migration_local_root_disk', _removed_flags_ignored),
)}
