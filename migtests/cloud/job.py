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

"""migtests job: the Zuul job's migration scenarios on the local cloud.

Brings the local cloud up (migtests.cloud.cloud), writes a Tempest
workspace whose tempest.conf comes from the Zuul job in zuul.d/ plus what
the cloud knows, runs the job's test selection, prints the summary and
where the logs are, and tears the cloud down.  Exit status: 0 when tests
ran and none failed; 1 on a failed test, no test run, a cloud that did not
come up, or anything left running afterwards; 2 on bad usage; 130
interrupted (the cloud torn down).
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import subunit
import testtools

from migtests.cloud import cloud as cloud_module
from migtests.cloud import configs
from migtests.cloud import faults
from migtests.cloud import migrations
from migtests.cloud import repros
from migtests.cloud import tempestconf
from migtests.cloud import upgrade
from migtests import command
from migtests.lab import ciformats
from migtests.lab import system
from migtests.lab.system import LabError

# Tempest's outcome of a test (subunit v2 status), as results.json says it.
STATUS = {'success': 'ok', 'xfail': 'ok', 'skip': 'SKIPPED',
          'fail': 'FAILED', 'uxsuccess': 'FAILED',
          # Still running when the stream ended: its worker died.
          'inprogress': 'FAILED'}


class Record:
    """``results.json`` of the job, written again as each test ends: an
    interrupted or crashed run still says what ran, marked incomplete.
    One run per driver (``runs``), in the order they ran."""

    def __init__(self, path, job, drivers=(), profile='shipped'):
        self.path = path
        self.data = {'job': job, 'drivers': list(drivers),
                     'profile': profile, 'shipped_defaults':
                     configs.PROFILES[profile].shipped_defaults,
                     'complete': False, 'stage': 'cloud', 'runs': {},
                     'verdict': None}
        self.run = None
        self.write()

    def stage(self, name, **facts):
        self.data.update(facts, stage=name)
        self.write()

    def begin(self, driver):
        """The runs of ``driver`` begins: tests go to it from now on."""
        self.run = self.data['runs'][driver] = {'tests': [], 'verdict': None}
        self.stage('tempest (%s)' % driver)

    def test(self, test):
        """Record one test that ended: a dict of testtools' StreamToDict
        (its full id, subunit status, details, timestamps)."""
        start, end = test['timestamps']
        reason = test['details'].get('reason')
        logged = test['details'].get("pythonlogging:''")
        traceback = test['details'].get('traceback')
        if test['status'] == 'inprogress':
            reason = testtools.content.text_content(
                'it never ended: the stream stopped while it ran')
        self.run['tests'].append({
            'id': test['id'], 'status': STATUS[test['status']],
            'seconds': round((end - start).total_seconds(), 3)
            if start and end else 0.0,
            'reason': reason.as_text().strip() if reason else '',
            # Why it failed: the end of its traceback (the exception).
            'failure': _failure_text(traceback.as_text())
            if traceback and STATUS[test['status']] == 'FAILED' else '',
            # The servers its own log shows it acting on, to join what
            # libvirt received with the test.
            'servers': migrations.servers_acted_on(
                logged.as_text() if logged else '')})
        self.write()
        return self.run['tests'][-1]

    def totals(self):
        """Passed, Failed and Skipped of the run, from its tests."""
        found = {'Passed': 0, 'Failed': 0, 'Skipped': 0}
        names = {'ok': 'Passed', 'FAILED': 'Failed', 'SKIPPED': 'Skipped'}
        for test in self.run['tests']:
            found[names[test['status']]] += 1
        return found

    def passed(self, prefix):
        """How many tests of this run whose id starts with ``prefix``
        passed."""
        return sum(t['status'] == 'ok' and t['id'].startswith(prefix)
                   for t in self.run['tests'])

    def end(self, **facts):
        self.run.update(facts)
        self.write()

    def finish(self, verdict, complete=True):
        self.data.update(verdict=verdict, complete=complete)
        self.write()

    def write(self):
        if not os.path.isdir(os.path.dirname(self.path)):
            return      # the results directory is made by the bring-up
        with open(self.path + '.tmp', 'w') as f:
            json.dump(self.data, f, indent=1)
        os.replace(self.path + '.tmp', self.path)


def _failure_text(traceback, limit=2000):
    """The exception a traceback ends with: its lines after the last
    frame (and that frame's source line), markers left out."""
    lines = [line.strip() for line in traceback.splitlines()
             if line.strip() and not set(line.strip()) <= set('^~')]
    frames = [i for i, line in enumerate(lines) if line.startswith('File "')]
    tail = lines[frames[-1] + 2:] if frames else lines
    return ' '.join(tail or lines[-1:])[-limit:]


def parse_args(argv, prog='migtests-job'):
    """The command's arguments; BadInput."""
    parser = command.Parser(prog=prog,
                            description=__doc__.split('\n\n')[0])
    parser.add_argument('--zuul-dir', default='zuul.d',
                        help='the Zuul configuration to read the job from')
    parser.add_argument('--job', default=tempestconf.DEFAULT_JOB,
                        help='the Zuul job whose selection and settings '
                             'to run (default: %(default)s)')
    parser.add_argument('--output', '--results', dest='results',
                        default=None,
                        help='directory for the results, logs, tempest.conf '
                             'and the Tempest workspace (default: '
                             'results/<name> under the working directory)')
    parser.add_argument('--name', default='job',
                        help='the cloud\'s lab name (namespaces mt<name>-*; '
                             'up to 6 letters or digits)')
    # Two workers: Tempest 210-248 s instead of 286 s, ten green runs in a
    # row (doc/source/cloud.md).
    parser.add_argument('--concurrency', type=int, default=2,
                        help='Tempest workers (default: %(default)s)')
    parser.add_argument('--driver', choices=sorted(configs.DRIVERS) + [
                        'both'], default='both',
                        help='the computes\' driver: Nova\'s own, Nova\'s '
                             'with migrations planned by the reference, or '
                             'both, one after the other on the same cloud '
                             '(the computes restarted), compared in '
                             'compare.md (default: %(default)s)')
    parser.add_argument('--profile', choices=sorted(configs.PROFILES),
                        default='shipped',
                        help='what the computes\' nova.conf adds: nothing '
                             '(Nova\'s shipped defaults); the 2016 '
                             'operator\'s deprecated flag options; or, for '
                             'the operator-action scenarios (which it runs '
                             'instead of the job\'s), slow migrations and '
                             'short completion timeouts '
                             '(default: %(default)s)')
    parser.add_argument('--faults', action='store_true',
                        help='after each driver\'s Tempest run, the '
                             'Nova-level faults (faults.py: destination '
                             'nova-compute or libvirtd killed, the network '
                             'between the computes cut, mid-migration); '
                             'with --profile operations (slow migrations)')
    parser.add_argument('--computes', metavar='SUITE,SUITE',
                        help='the Debian suite of each compute\'s libvirt '
                             'and QEMU (bookworm, trixie, sid; the lab\'s '
                             'chroots): a rolling upgrade half done, which '
                             'runs the rolling-upgrade scenarios (default: '
                             'the machine\'s own suite twice)')
    parser.add_argument('--no-volumes', action='store_true',
                        help='no volume service (Ceph + Cinder): volume '
                             'scenarios skip with that reason')
    parser.add_argument('--keep', action='store_true',
                        help='leave the cloud running afterwards (tear it '
                             'down with --down)')
    parser.add_argument('--down', action='store_true',
                        help='only tear a kept cloud down')
    parser.add_argument('--nova-patch', action='append', default=[],
                        metavar='FILE',
                        help='run the nova-computes with Nova patched (a '
                             'unified diff, -p1 from Nova\'s tree, checked '
                             'to apply first; repeat); said in the results')
    parser.add_argument('--repro', choices=sorted(repros.REPROS),
                        help='reproduce a finding of Nova or Tempest '
                             '(doc/source/findings/): its one scenario on '
                             'Nova\'s driver, with the profile and computes '
                             'it needs; exit 0 when the defect showed, 1 '
                             'when it did not')
    args = parser.parse_args(argv)
    if args.repro:
        given = [option for option, value in (
            ('--profile', args.profile != 'shipped'),
            ('--computes', args.computes), ('--faults', args.faults),
            ('--driver', args.driver != 'both')) if value]
        if given:
            raise command.BadInput('--repro sets the profile, computes and '
                                   'driver itself: drop %s' % ', '.join(given))
        repro = repros.REPROS[args.repro]
        args.profile, args.computes = repro.profile, repro.computes
        args.driver = 'upstream'
    return args


def verdict(returncode, counts, plugin_passed=None, min_passed=0):
    """(exit status, reason) of a Tempest run; ``plugin_passed``: how many
    of the plugin's tests passed, of which the job wants ``min_passed``."""
    if counts['Failed']:
        return 1, '%d test(s) failed' % counts['Failed']
    if returncode != 0:
        return 1, 'tempest exited with %d' % returncode
    if not counts['Passed']:
        return 1, 'no test passed (%d skipped): nothing was proven' \
            % counts['Skipped']
    if plugin_passed is not None and plugin_passed < min_passed:
        return 1, 'only %d of the plugin\'s tests passed, the job wants %d' \
            % (plugin_passed, min_passed)
    if plugin_passed is not None and min_passed and \
            plugin_passed > min_passed:
        # The guard is the number of scenarios the job's configuration
        # runs: a scenario added without raising it would go unguarded.
        return 1, '%d of the plugin\'s tests passed, more than the job\'s ' \
            'migtests_min_passed %d: raise it to %d' % (
                plugin_passed, min_passed, plugin_passed)
    return 0, 'all %d test(s) that ran passed' % counts['Passed']


def workspace(cloud, zuul_dir, job, results):
    """The Tempest workspace for the job; returns (path, variables, notes)."""
    jobs = tempestconf.load_jobs(zuul_dir)
    variables = tempestconf.job_vars(jobs, job)
    settings, notes = tempestconf.compose(
        tempestconf.job_settings(variables),
        cloud_module.tempest_values(cloud),
        cloud_module.services(cloud.volumes))
    path = os.path.join(results, 'tempest')
    # A workspace file of our own: nothing registered in ~/.tempest.
    system.run([cloud.bin('tempest'), 'init', '--workspace-path',
                os.path.join(results, 'workspace.yaml'), '--name',
                'migtests-job', path])
    tempestconf.write(settings, os.path.join(path, 'etc', 'tempest.conf'))
    return path, variables, notes


class _Tee:
    """A binary stream read through, each byte also written to ``copy``
    (the raw subunit kept beside the log)."""

    def __init__(self, source, copy):
        self.source, self.copy = source, copy

    def read(self, size=-1):
        data = self.source.read(size)
        self.copy.write(data)
        return data

    def fileno(self):
        return self.source.fileno()


class _TextLog(testtools.StreamResult):
    """What is not a test's outcome, as text in the log: Tempest's own
    output, and each test's attachments (its requests, a traceback)."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def status(self, test_id=None, test_status=None, file_name=None,
               file_bytes=None, **kwargs):
        if file_bytes and test_id is None:    # bytes, or a memoryview
            self.log.write(bytes(file_bytes).decode('utf-8', 'replace'))

    def test(self, test):
        self.log.write('=== %s: %s\n' % (test['id'], test['status']))
        for name, content in sorted(test['details'].items()):
            self.log.write('--- %s\n%s\n' % (name, content.as_text()))
        self.log.flush()


def run_tempest(cloud, path, regex, exclude, concurrency, record, log,
                driver):
    """Run Tempest and read its results from its own subunit stream:
    each test, as it ends, into ``record`` and as one line to the console;
    the rest (requests, tracebacks, Tempest's output) into ``log``, the
    raw stream beside it (.subunit).  Returns Tempest's exit status."""
    command = cloud.controller.command([
        cloud.bin('tempest'), 'run', '--subunit', '--regex', regex,
        '--concurrency', str(concurrency)])
    if exclude:
        command += ['--exclude-regex', exclude]
    with open(log, 'w') as text, \
            open(os.path.splitext(log)[0] + '.subunit', 'wb') as raw:
        proc = subprocess.Popen(command, cwd=path, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        text_log = _TextLog(text)

        def ended(test):
            if test['status'] == 'exists':     # listed before the run
                return
            text_log.test(test)
            done = record.test(test)
            print('  %-8s %s %s%s' % (
                done['status'], driver, done['id'],
                ': ' + done['reason'] if done['reason']
                else ' (%.1f s)' % done['seconds']), flush=True)
        result = testtools.CopyStreamResult([
            testtools.StreamToDict(ended), text_log])
        result.startTestRun()
        try:
            subunit.ByteStreamToStreamResult(
                _Tee(proc.stdout, raw), non_subunit_name='stdout').run(
                    result)
        except BaseException:
            proc.kill()     # nobody reads its output any more
            raise
        finally:
            result.stopTestRun()
            proc.wait()
    return proc.returncode


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv=None, prog='migtests-job'):
    """The command; an interrupt (SIGINT, SIGTERM) tears the cloud down
    and exits 130."""
    try:
        return _main(sys.argv[1:] if argv is None else argv, prog)
    except KeyboardInterrupt:
        sys.stderr.write('%s: interrupted; the cloud was torn down\n'
                         % prog)
        return command.EXIT_INTERRUPTED


def _main(argv, prog):
    try:
        args = parse_args(argv, prog)
        if os.geteuid() != 0:
            raise command.BadInput('run as root (namespaces, private '
                                   'daemons)')
        if not os.path.isdir(args.zuul_dir):
            raise command.BadInput('%s: no such directory (--zuul-dir)'
                                   % args.zuul_dir)
        drivers = DRIVER_ORDER if args.driver == 'both' else (args.driver,)
        suites = upgrade.parse(args.computes)
        profile = upgrade.profile_for(configs.PROFILES[args.profile], suites)
        results = os.path.abspath(args.results or os.path.join(
            'results', args.name))
        patches = [os.path.abspath(p) for p in args.nova_patch]
        for path in patches:
            cloud_module.check_nova_patch(path)
        cloud = cloud_module.Cloud(args.name, results=results,
                                   volumes=not args.no_volumes,
                                   driver=drivers[0], profile=args.profile,
                                   suites=suites, nova_patches=patches)
    except (command.BadInput, LabError) as exc:
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    if args.down:
        cloud.down()
        return _report_leftovers(cloud.leftovers(), prog)
    started = time.monotonic()
    status = 1
    signal.signal(signal.SIGTERM, _interrupted)
    record = Record(os.path.join(cloud.results, 'results.json'), args.job,
                    drivers, args.profile)
    record.data['computes'] = list(suites)
    if patches:
        record.data['nova_patches'] = [{
            'file': os.path.basename(p), 'sha256': _sha256(p)}
            for p in patches]
        print('nova-compute runs Nova with %s' % ', '.join(
            os.path.basename(p) for p in patches))
    if upgrade.mixed(suites):
        print('a mixed cloud: %s' % upgrade.describe(suites))
    try:
        try:
            print('bringing the local cloud up ...', flush=True)
            cloud.up()
            print('cloud up in %.0f s: %s' % (cloud.timings['up'],
                                              _figures(cloud.timings)),
                  flush=True)
            path, variables, notes = workspace(cloud, args.zuul_dir,
                                               args.job, cloud.results)
            regex = profile.regex or tempestconf.selection(variables)
            exclude = None if profile.regex else tempestconf.exclusion(
                variables)
            if args.repro:
                regex, exclude = repros.REPROS[args.repro].regex, None
        except (LabError, tempestconf.JobError) as exc:
            command.error(prog, exc)
            record.finish('the cloud did not come up: %s' % exc, False)
            return command.EXIT_FAILED
        for note in notes:
            print('tempest.conf: %s' % note)
        if not profile.shipped_defaults:
            print('profile %s: %s -- NOT Nova\'s shipped defaults'
                  % (profile.name, profile.why))
        record.stage('tempest', regex=regex, cloud_up_seconds=cloud.timings[
            'up'], tempest_conf_notes=notes)
        outcomes = {}
        for driver in drivers:
            if driver != cloud.driver:
                print('restarting the computes on the %s driver ...'
                      % driver, flush=True)
                cloud.switch_driver(driver)
                print('computes restarted in %.0f s' % cloud.timings[
                    'switch-' + driver], flush=True)
            outcomes[driver] = run_driver(cloud, driver, path, regex,
                                          exclude, profile, variables, args,
                                          record)
            if args.faults:
                run_faults(cloud, record)
        status, reason = judge(outcomes, record, cloud.results, profile)
        if args.repro:
            status, reason = reproduced(repros.REPROS[args.repro], record,
                                        cloud.logs)
        lost = [r for r in record.data.get('faults', ()) if r['failed']]
        if lost and status == 0:
            status, reason = 1, 'Nova lost the guest or its data: %s' % \
                ', '.join('%s (%s)' % (r['fault'], r['driver'])
                          for r in lost)
        said = reason if args.repro else \
            'PASSED' if status == 0 else 'FAILED: ' + reason
        record.finish(said if args.repro else
                      'passed' if status == 0 else 'failed: ' + reason)
        ciformats.write(os.path.join(cloud.results, ''),
                        'migtests job %s' % args.job,
                        ciformats.of_job(record.data), stream=False)
        print('\n%s: %s -- %s' % (
            prog, said,
            '; '.join(
                '%s %d passed, %d skipped, %d failed, tempest %.0f s' % (
                    driver, run['totals']['Passed'],
                    run['totals']['Skipped'], run['totals']['Failed'],
                    run['tempest_seconds'])
                for driver, run in record.data['runs'].items())))
    except KeyboardInterrupt:
        record.finish('interrupted', False)
        raise
    finally:
        if not args.keep:
            cloud.down()
            left = cloud.leftovers()
            if left:
                record.stage(record.data['stage'], left_behind=left)
            status = max(status, _report_leftovers(left, prog))
        print('logs and tempest.conf: %s; whole job %.0f s' % (
            cloud.results, time.monotonic() - started))
    return status


def run_faults(cloud, record):
    """The Nova-level faults on the computes' current driver, each written
    to results.json and faults.md as it ends."""
    rows = record.data.setdefault('faults', [])
    for fault in faults.FAULTS:
        print('fault %s (%s driver) ...' % (fault.name, cloud.driver),
              flush=True)
        try:
            row = faults.run(cloud, fault)
        except LabError as exc:
            row = {'fault': fault.name, 'driver': cloud.driver,
                   'failed': True, 'error': str(exc)}
        rows.append(row)
        record.write()
        with open(os.path.join(cloud.results, 'faults.md'), 'w') as f:
            f.write(faults.markdown(rows))
        print('  %s: %s; operator: %s' % (
            'FAILED' if row['failed'] else 'safe',
            row.get('happened', row.get('error')), row.get('operator', '-')),
            flush=True)


# --driver both: Nova's own first (the job as OpenDev runs it), then the
# reference on the same cloud.
DRIVER_ORDER = ('upstream', 'reference')


def run_driver(cloud, driver, path, regex, exclude, profile, variables,
               args, record):
    """One Tempest run of the job on the computes' current ``driver``;
    returns its (exit status, reason) as the job alone would judge it."""
    print('running %s%s (job %s, %s driver) ...' % (
        regex, ', excluding %s' % exclude if exclude else '', args.job,
        driver), flush=True)
    record.begin(driver)
    log = os.path.join(cloud.results, 'tempest-%s.log' % driver)
    tempest_started = time.monotonic()
    returncode = run_tempest(cloud, path, regex, exclude, args.concurrency,
                             record, log, driver)
    counts = record.totals()
    # The run's totals as stestr prints them (what .ci/run sums).
    print('Totals (%s driver): Ran: %d tests\n - Passed: %d\n'
          ' - Skipped: %d\n - Failed: %d' % (
              driver, sum(counts.values()), counts['Passed'],
              counts['Skipped'], counts['Failed']), flush=True)
    wanted = profile.min_passed if profile.min_passed is not None \
        else tempestconf.min_passed(variables)
    outcome = verdict(returncode, counts, record.passed('migtests.'), wanted)
    # What libvirt received, by test (the computes' records), and the
    # reference's plans (its nova-computes' log).
    tests = migrations.servers_by_test(record.run['tests'])
    calls = migrations.by_test(cloud.logs, tests, driver)
    record.end(totals=counts, tempest_seconds=round(
        time.monotonic() - tempest_started, 1), migrations=calls,
        plans=migrations.plans(cloud.logs, tests, driver),
        verdict='passed' if outcome[0] == 0 else 'failed: ' + outcome[1])
    print('migration calls libvirt received (%s driver):' % driver)
    for line in migrations.summary(calls) or ['  none']:
        print('  ' + line)
    return outcome


def judge(outcomes, record, results, profile):
    """The job's (exit status, reason).  One driver: its run's.  Both: the
    comparison is written (compare.md, compare.json) and the job passes
    when Nova's driver passed and the reference's did too -- or, on a
    profile that is not Nova's shipped defaults, failed only where it
    refused the migration with its reason (a deliberate policy
    difference, said per test in the report)."""
    if len(outcomes) == 1:
        return next(iter(outcomes.values()))
    runs = record.data['runs']
    comparison = migrations.compare(runs['upstream'], runs['reference'])
    prefix = os.path.join(results, 'compare')
    migrations.write(comparison, prefix, migrations.report_title(
        profile.name, profile.shipped_defaults))
    record.data['comparison'] = comparison['verdicts']
    print('compared (%s.md): %s' % (prefix, ', '.join(
        '%d %s' % (n, v) for v, n in comparison['verdicts'].items())))
    if outcomes['upstream'][0]:
        return 1, 'upstream Nova: ' + outcomes['upstream'][1]
    unexplained = [r['test'] for r in comparison['tests']
                   if r['verdict'] == 'unexplained']
    if unexplained:
        return 1, 'the reference driver changed the outcome of %s without ' \
            'a refusal' % ', '.join(unexplained)
    if outcomes['reference'][0] == 0:
        return 0, 'both drivers passed'
    refused = [r['test'] for r in comparison['tests']
               if r['verdict'] == 'explained']
    failed = {t['id'] for t in runs['reference']['tests']
              if t['status'] == 'FAILED'}
    if profile.shipped_defaults or not failed or not failed <= set(refused):
        return 1, 'reference driver: ' + outcomes['reference'][1]
    return 0, 'Nova\'s driver passed; the reference refused %d ' \
        'migration(s) with its reason (compare.md)' % len(refused)


def reproduced(repro, record, logs):
    """(exit status, reason) of a --repro run: 0 when the finding's defect
    showed, 1 when it did not; the evidence printed and recorded."""
    shown, evidence = repro.shown(record.data['runs']['upstream'], logs)
    record.data['repro'] = {'name': repro.name, 'reproduced': shown,
                            'evidence': evidence}
    print('\n%s: %s (doc/source/findings/%s.md)' % (
        repro.name, 'REPRODUCED' if shown else 'NOT REPRODUCED', repro.page))
    for line in evidence:
        print('  ' + line)
    if shown:
        return 0, 'reproduced %s' % repro.name
    return 1, 'did not reproduce %s: %s' % (repro.name, evidence[-1])


def _figures(timings):
    return ', '.join('%s %.0f s' % (k, v) for k, v in timings.items()
                     if k != 'up' and v >= 1)


def _sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _report_leftovers(left, prog):
    if left:
        command.error(prog, 'left behind: %s' % '; '.join(left))
        return command.EXIT_FAILED
    return command.EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
