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

"""tox -e upgrade: the local cloud with its two computes on every pair of
Debian suites (migtests.cloud.upgrade decides what each pair runs and how
its results become the report's cells), one cloud after the other, and a
report in the matrix's style (migtests.lab.report).

    python -m migtests.cloud.rolling [--suites bookworm,trixie,sid]
        [--driver both] [--output DIR]
    python -m migtests.cloud.rolling --compare OLD.json NEW.json
"""

import dataclasses
import json
import os
import sys
import time

from migtests.cloud import job
from migtests.cloud import upgrade
from migtests import command
from migtests.lab import report
from migtests.lab.system import LabError
from reference.versions import Version


def run_all(suites, driver, zuul_dir, output, name='upg'):
    """One cloud per pair, one after the other; the report written after
    each.  Returns the results."""
    started = time.monotonic()
    drivers = 2 if driver == 'both' else 1
    results = {'title': upgrade.TITLE, 'about': upgrade.ABOUT,
               'complete': False,
               'suites': {s: dataclasses.asdict(upgrade.suite(s))
                          for s in suites},
               'drivers': driver, 'cells': [], 'pairs': {},
               'planned_cells': len(upgrade.pairs(suites))
               * len(upgrade.SCENARIOS) * drivers,
               'seconds': 0.0}
    prefix = os.path.join(output, '')
    os.makedirs(output, exist_ok=True)
    for pair in upgrade.pairs(suites):
        # One directory a pair (a candidate's path in its name made flat).
        directory = os.path.join(output, '-'.join(pair).replace('/', '_'))
        print('\n=== computes %s ===' % upgrade.describe(pair), flush=True)
        pair_started = time.monotonic()
        status = job.main(['--computes', ','.join(pair), '--zuul-dir',
                           zuul_dir, '--results', directory, '--name', name,
                           '--driver', driver])
        try:
            with open(os.path.join(directory, 'results.json')) as f:
                run_results = json.load(f)
        except (OSError, ValueError):
            run_results = {}
        found = upgrade.cells(run_results, pair)
        if not found:
            reason = run_results.get('verdict') or \
                'the pair\'s job wrote no results'
            older, newer = pair
            found = [dict(source=s, destination=d,
                          case='the mixed-cloud scenarios',
                          outcome='not run', error=reason)
                     for s, d in ((older, newer), (newer, older))]
        results['cells'] += found
        results['pairs']['-'.join(pair)] = {
            'status': status, 'seconds': round(
                time.monotonic() - pair_started, 1),
            'verdict': run_results.get('verdict'),
            'cloud_up_seconds': run_results.get('cloud_up_seconds')}
        results['seconds'] = round(time.monotonic() - started, 1)
        report.write_reports(results, prefix)
        if status == command.EXIT_INTERRUPTED:
            # The pair's cloud was torn down; no further pair starts.
            raise KeyboardInterrupt
    results['complete'] = True
    report.write_reports(results, prefix)
    return results


def main(argv=None, prog='python -m migtests.cloud.rolling'):
    """tox -e upgrade: every pair of suites, each one cloud."""
    parser = command.Parser(
        prog=prog,
        description='The local cloud with its two computes on every pair of '
                    'Debian suites: the rolling-upgrade scenarios, a report '
                    'in the matrix\'s style.')
    parser.add_argument('--suites', default='bookworm,trixie,sid',
                        help='the suites to pair (default: %(default)s)')
    parser.add_argument('--driver', choices=('upstream', 'reference', 'both'),
                        default='both')
    parser.add_argument('--zuul-dir', default='zuul.d')
    parser.add_argument('--output', default=os.path.join('results',
                                                         'upgrade'),
                        help='report directory (default: %(default)s, under '
                        'the working directory)')
    parser.add_argument('--compare', nargs=2, metavar=('OLD', 'NEW'),
                        help='what changed between two results.json')
    try:
        args = parser.parse_args(argv)
        if args.compare:
            return report.print_changes(*args.compare)
        suites = [s.strip() for s in args.suites.split(',') if s.strip()]
        if len(suites) < 2:
            raise command.BadInput('--suites: at least two suites')
        for a, b in upgrade.pairs(suites):
            suites[suites.index(a)], suites[suites.index(b)] = \
                upgrade.parse('%s,%s' % (a, b))
        suites.sort(key=lambda s: Version.parse(upgrade.suite(s).qemu))
    except (command.BadInput, LabError) as exc:
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    try:
        results = run_all(suites, args.driver, args.zuul_dir, args.output)
    except KeyboardInterrupt:
        sys.stderr.write('%s: interrupted; the cloud was torn down; what ran '
                         'is in %s/report.md (marked incomplete)\n'
                         % (prog, args.output))
        return command.EXIT_INTERRUPTED
    print('\n' + report.markdown(results))
    print('report: %s; %.0f s in all' % (
        os.path.join(args.output, 'report.html'), results['seconds']))
    return 1 if any(c['outcome'] != 'ok' for c in results['cells']) else 0


if __name__ == '__main__':
    sys.exit(main())
