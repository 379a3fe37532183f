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

"""What libvirt received, by Tempest test: the records the computes wrote
(recorded_compute.py) joined with the servers each test acted on
(Tempest's log), for the job's results and a comparison of drivers."""

import glob
import html
import json
import os
import re

from migtests import command
from migtests.lab import report
from reference import model
from reference.model import PLAN_RECORD

# A Tempest request acting on a server, in a test's own log (its
# pythonlogging attachment): "… 202 POST http://…/servers/<uuid>/action".
_ACTION = re.compile(r' \d+ POST \S+/servers/([0-9a-f-]{36})/action')


def servers_acted_on(test_log):
    """The uuids of the servers a test acted on (migrated, paused, …), in
    order, from its own log."""
    found = []
    for uuid in _ACTION.findall(test_log or ''):
        if uuid not in found:
            found.append(uuid)
    return found


def servers_by_test(tests):
    """server uuid -> the full id of the first test that acted on it;
    ``tests``: a run's tests as results.json holds them (each with the
    ``servers`` its own log names)."""
    found = {}
    for test in tests:
        for uuid in test.get('servers', ()):
            found.setdefault(uuid, test['id'])
    return found


def records(logs, driver):
    """Every recorded migration call of the computes on ``driver``, in
    time order."""
    calls = []
    for path in glob.glob(os.path.join(logs, 'migrations-%s-*.jsonl'
                                       % driver)):
        with open(path) as f:
            calls += [json.loads(line) for line in f if line.strip()]
    return sorted(calls, key=lambda call: call['time'])


def by_test(logs, tests, driver):
    """[{test, api, flags, params, result}] in time order; ``tests``:
    servers_by_test() of the run."""
    return [{'test': tests.get(call['uuid'], '(unknown: %s)' % call['uuid']),
             'api': call['api'],
             'flags': [model.short_flag(f) for f in call['flags']],
             'params': call['params'], 'result': call['result']}
            for call in records(logs, driver)]


# What the reference driver logs of each plan (reference/nova_driver.py):
# The reference's plan or refusal of each migration, as nova_driver logs
# it: "[instance: <uuid>] migration plan record: <JSON>" (plan.as_dict()).
_PLAN = re.compile(r'\[instance: ([0-9a-f-]{36})\] '
                   + re.escape(PLAN_RECORD) + r'(\{.*\})$')


def plans(logs, tests, driver):
    """Test -> the plans and refusals (dicts) its nova-computes recorded
    on ``driver`` (none from Nova's own driver); ``tests``:
    servers_by_test() of the run."""
    found = {}
    for path in sorted(glob.glob(os.path.join(
            logs, 'nova-compute-%s-*.log' % driver))):
        with open(path, errors='replace') as f:
            for line in f:
                match = _PLAN.search(line.rstrip('\n'))
                if match:
                    test = tests.get(match.group(1),
                                     '(unknown: %s)' % match.group(1))
                    found.setdefault(test, []).append(
                        json.loads(match.group(2)))
    return found


def plan_lines(record):
    """A plan or refusal record as the report's lines."""
    if record.get('refused'):
        return ['refused (%(error)s): %(message)s' % record['refused']]
    return (['%s %s flags %s params %s' % (
        record['api'], record['uri'], '|'.join(record['flags']),
        json.dumps(record['params'], sort_keys=True))]
        + ['%(what)s: %(why)s' % d for d in record['decisions']])


def summary(calls):
    """Distinct (api, flags, disk list) with their counts, one line each."""
    seen = {}
    for call in calls:
        key = _text([call], result=False)
        seen[key] = seen.get(key, 0) + 1
    return ['%3d x %s' % (n, key) for key, n in sorted(seen.items())]


def _key(call):
    return (call['api'], tuple(call['flags']),
            tuple(call['params'].get('migrate_disks', ())))


def _operation(calls):
    if not calls:
        return '-'
    return 'block' if model.copies_storage(calls[0]['flags']) else 'live'


def compare(upstream, reference):
    """Per test, the outcome and what libvirt received on each driver, the
    reference's plan, and whether they differ.

    Each run: {'tests': [{id, status}] (results.json), 'migrations':
    by_test(), 'plans': plans()}.  A row's ``verdict``: ``same`` (same
    calls, same outcome), ``differs`` (other calls, same outcome: the
    plan's decisions give the reasons), ``explained`` (passed on Nova's
    driver, failed on the reference's, which refused the migration with
    its reason), ``fixed`` (failed on Nova's driver, passed on the
    reference's), ``unexplained`` (any other change of outcome)."""
    def grouped(run):
        found = {}
        for call in run['migrations']:
            found.setdefault(call['test'], []).append(call)
        return found

    def outcomes(run):
        found = {}
        for test in run.get('tests', ()):
            if not test['id'].startswith('setUpClass'):
                found[test['id']] = test['status']
        return found
    calls = grouped(upstream), grouped(reference)
    status = outcomes(upstream), outcomes(reference)
    planned = reference.get('plans', {})
    rows = []
    # Every test of either run: an outcome may change where no migration
    # was called.
    for test in sorted(set(calls[0]) | set(calls[1]) | set(planned)
                       | set(status[0]) | set(status[1])):
        left, right = calls[0].get(test, []), calls[1].get(test, [])
        outcome = status[0].get(test, '?'), status[1].get(test, '?')
        records = planned.get(test, [])
        refused = [r['refused'] for r in records if r.get('refused')]
        same = sorted(map(_key, left)) == sorted(map(_key, right))
        if outcome[0] == outcome[1]:
            verdict = 'same' if same else 'differs'
        elif outcome == ('ok', 'FAILED') and refused:
            verdict = 'explained'
        elif outcome == ('FAILED', 'ok'):
            verdict = 'fixed'
        else:
            verdict = 'unexplained'
        rows.append({'test': test, 'operation': _operation(left or right),
                     'upstream': {'status': outcome[0], 'calls': left},
                     'reference': {'status': outcome[1], 'calls': right,
                                   'plans': records, 'refused': refused},
                     'same': same, 'verdict': verdict})
    counts = {v: sum(r['verdict'] == v for r in rows)
              for v in ('same', 'differs', 'explained', 'fixed',
                        'unexplained')}
    return {'tests': rows, 'differ': sum(not r['same'] for r in rows),
            'verdicts': counts}


def _text(calls, result=True):
    return '; '.join('%s %s%s%s' % (
        c['api'], '|'.join(c['flags']),
        ' migrate_disks=%s' % ','.join(c['params']['migrate_disks'])
        if 'migrate_disks' in c['params'] else '',
        ' → %s' % c['result'] if result else '')
        for c in calls) or '(no call)'


def markdown(comparison, title='Upstream Nova and the reference driver'):
    lines = ['# %s' % title, '',
             '| test | operation | upstream Nova | reference driver | '
             'verdict |', '| --- | --- | --- | --- | --- |']
    for row in comparison['tests']:
        up, ref = row['upstream'], row['reference']
        lines.append('| %s | %s | %s: %s | %s: %s | %s |' % (
            row['test'], row['operation'], up['status'], _text(up['calls']),
            ref['status'], '; '.join(
                'refused (%(error)s): %(message)s' % r for r in ref['refused'])
            or _text(ref['calls']),
            row['verdict'] if row['verdict'] == 'same'
            else '**%s**' % row['verdict']))
    counts = comparison['verdicts']
    lines += ['', '%d test(s): %s; %d with a difference in what libvirt '
              'received.' % (len(comparison['tests']), ', '.join(
                  '%d %s' % (n, v) for v, n in counts.items()),
                  comparison['differ'])]
    different = [r for r in comparison['tests'] if r['verdict'] != 'same']
    if different:
        lines += ['', '## Each difference, with the reference\'s reasons']
        for row in different:
            lines += ['', '### %s (%s)' % (row['test'], row['verdict']), '']
            lines += ['- %s' % line for record in row['reference']['plans']
                      for line in plan_lines(record)] \
                or ['- (the reference logged no plan for this test)']
    return '\n'.join(lines) + '\n'


def report_title(profile, shipped_defaults):
    return 'Upstream Nova and the reference driver, profile %s%s' % (
        profile, '' if shipped_defaults else
        ' (not Nova\'s shipped defaults)')


# A test's outcome, coloured as the matrix's cells are.
OUTCOME_COLOURS = {'ok': report.COLOURS['all'],
                   'FAILED': report.COLOURS['none'],
                   'skip': report.COLOURS['empty']}
VERDICT_COLOURS = {'fixed': report.COLOURS['all'],
                   'explained': report.COLOURS['partial'],
                   'unexplained': report.COLOURS['none']}


def flag_difference(row):
    """What the reference sent libvirt that Nova's driver did not (+) and
    the other way round (-), by short flag name; a refusal says so."""
    if row['reference']['refused']:
        return 'refused: %s' % ', '.join(
            r['error'] for r in row['reference']['refused'])
    sent = [{model.short_flag(f) for c in row[side]['calls']
             for f in c['flags']} for side in ('upstream', 'reference')]
    return ' '.join(['+' + f for f in sorted(sent[1] - sent[0])]
                    + ['-' + f for f in sorted(sent[0] - sent[1])])


def svg(comparison, title='Upstream Nova and the reference driver'):
    """The comparison as a picture: a row per test, its outcome on each
    driver as a coloured cell, and the verdict (coloured where the outcome
    changed)."""
    rows = comparison['tests']
    name_width, cell, verdict_width, height, top = 520, 110, 110, 22, 58
    width = name_width + 2 * cell + verdict_width + 200
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif" font-size="12">'
             % (width, top + height * len(rows) + 30),
             '<text x="4" y="16" font-weight="bold">%s</text>'
             % html.escape(title)]
    for x, text in ((name_width + cell / 2, 'upstream Nova'),
                    (name_width + cell * 1.5, 'reference'),
                    (name_width + cell * 2 + verdict_width / 2, 'verdict'),
                    (name_width + cell * 2 + verdict_width + 60,
                     'reference flags')):
        parts.append('<text x="%d" y="%d" text-anchor="middle" '
                     'font-weight="bold">%s</text>' % (x, top - 8, text))
    for i, row in enumerate(rows):
        y = top + height * i
        # Class.test: the module and the attributes ([id-…,multinode]) cut.
        name = '.'.join(row['test'].split('[')[0].split('.')[-2:])
        parts.append('<text x="4" y="%d">%s</text>' % (
            y + 15, html.escape(name)))
        for j, side in enumerate(('upstream', 'reference')):
            status = row[side]['status']
            x = name_width + cell * j
            parts.append(
                '<rect x="%d" y="%d" width="%d" height="%d" fill="%s" '
                'stroke="white"/><text x="%d" y="%d" text-anchor="middle" '
                'fill="white">%s</text>' % (
                    x, y, cell, height,
                    OUTCOME_COLOURS.get(status, '#606060'), x + cell / 2,
                    y + 15, html.escape(status)))
        verdict = row['verdict']
        parts.append('<text x="%d" y="%d" text-anchor="middle" fill="%s"%s>'
                     '%s</text>' % (
                         name_width + cell * 2 + verdict_width / 2, y + 15,
                         VERDICT_COLOURS.get(verdict, 'black'),
                         ' font-weight="bold"'
                         if verdict in VERDICT_COLOURS else '', verdict))
        parts.append('<text x="%d" y="%d" font-size="11">%s</text>' % (
            name_width + cell * 2 + verdict_width + 4, y + 15,
            html.escape(flag_difference(row))))
    parts.append('<text x="4" y="%d">%s</text>' % (
        top + height * len(rows) + 20, html.escape('%d tests: %s' % (
            len(rows), ', '.join('%d %s' % (n, v) for v, n in
                                 comparison['verdicts'].items() if n)))))
    parts.append('</svg>')
    return ''.join(parts)


def write(comparison, prefix, title=None):
    """``prefix``.json, ``prefix``.md and ``prefix``.svg."""
    titled = {'title': title} if title else {}
    with open(prefix + '.json', 'w') as f:
        json.dump(comparison, f, indent=1)
    with open(prefix + '.md', 'w') as f:
        f.write(markdown(comparison, **titled))
    with open(prefix + '.svg', 'w') as f:
        f.write(svg(comparison, **titled))


def main(argv=None, prog='python -m migtests.cloud.migrations'):
    """The comparison of a job run with both drivers, written again from
    its results.json (OUT.md, OUT.json, OUT.svg)."""
    parser = command.Parser(prog=prog, description=main.__doc__)
    parser.add_argument('results', metavar='RESULTS.json',
                        help='results.json of a job run with both drivers')
    parser.add_argument('out', metavar='OUT',
                        help='where to write OUT.md, OUT.json and OUT.svg')
    try:
        args = parser.parse_args(argv)
        try:
            with open(args.results) as f:
                data = json.load(f)
            comparison = compare(data['runs']['upstream'],
                                 data['runs']['reference'])
            title = report_title(data['profile'], data['shipped_defaults'])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise command.BadInput(
                '%s: not the results.json of a job run with both drivers '
                '(%s)' % (args.results, exc)) from None
    except command.BadInput as exc:
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    write(comparison, args.out, title)
    print('%d test(s), %d differ: %s.md' % (
        len(comparison['tests']), comparison['differ'], args.out))
    return command.EXIT_OK


if __name__ == '__main__':
    raise SystemExit(main())
