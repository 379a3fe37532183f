"""What libvirt received, by Tempest test: the records the computes wrote
(recorded_compute.py) joined with the servers each test acted on
(Tempest's log), for the job's results and a comparison of drivers."""

import glob
import json
import os
import re

# A Tempest request on a server: "Request (Class:test): 202 POST
# http://…/servers/<uuid>/action".
_REQUEST = re.compile(r'Request \((\w+):(\w+)\): \d+ POST \S+/servers/'
                      r'([0-9a-f-]{36})/action')


def servers_by_test(tempest_log):
    """server uuid -> 'Class.test' of the first test that acted on it."""
    found = {}
    with open(tempest_log, errors='replace') as f:
        for line in f:
            match = _REQUEST.search(line)
            if match:
                found.setdefault(match.group(3), '%s.%s' % match.group(1, 2))
    return found


def records(logs):
    """Every recorded migration call of the computes, in time order."""
    calls = []
    for path in glob.glob(os.path.join(logs, 'migrations-*.jsonl')):
        with open(path) as f:
            calls += [json.loads(line) for line in f if line.strip()]
    return sorted(calls, key=lambda call: call['time'])


def by_test(logs, tempest_log):
    """[{test, api, flags, params, result}] in time order."""
    tests = servers_by_test(tempest_log) if os.path.exists(tempest_log) \
        else {}
    return [{'test': tests.get(call['uuid'], '(unknown: %s)' % call['uuid']),
             'api': call['api'],
             'flags': [f[len('VIR_MIGRATE_'):] for f in call['flags']],
             'params': call['params'], 'result': call['result']}
            for call in records(logs)]


def summary(calls):
    """Distinct (api, flags, disk list) with their counts, one line each."""
    seen = {}
    for call in calls:
        key = '%s %s%s' % (call['api'], '|'.join(call['flags']), (
            ' migrate_disks=%s' % ','.join(call['params']['migrate_disks'])
            if 'migrate_disks' in call['params'] else ''))
        seen[key] = seen.get(key, 0) + 1
    return ['%3d x %s' % (n, key) for key, n in sorted(seen.items())]


def _key(call):
    return (call['api'], tuple(call['flags']),
            tuple(call['params'].get('migrate_disks', ())))


def compare(upstream, reference):
    """Per test, what libvirt received from each driver and whether it
    differs: {'tests': [{test, upstream, reference, same}], 'differ': n}."""
    def grouped(calls):
        found = {}
        for call in calls:
            found.setdefault(call['test'], []).append(call)
        return found
    left, right = grouped(upstream), grouped(reference)
    rows = []
    for test in sorted(set(left) | set(right)):
        a = [_key(c) for c in left.get(test, [])]
        b = [_key(c) for c in right.get(test, [])]
        rows.append({'test': test, 'upstream': left.get(test, []),
                     'reference': right.get(test, []),
                     'same': sorted(a) == sorted(b)})
    return {'tests': rows, 'differ': sum(not r['same'] for r in rows)}


def _text(calls):
    return '; '.join('%s %s%s → %s' % (
        c['api'], '|'.join(c['flags']),
        ' migrate_disks=%s' % ','.join(c['params']['migrate_disks'])
        if 'migrate_disks' in c['params'] else '', c['result'])
        for c in calls) or '(no call)'


def markdown(comparison):
    lines = ['| test | upstream Nova | reference driver | same |',
             '| --- | --- | --- | --- |']
    for row in comparison['tests']:
        lines.append('| %s | %s | %s | %s |' % (
            row['test'], _text(row['upstream']), _text(row['reference']),
            'yes' if row['same'] else '**no**'))
    lines += ['', '%d test(s), %d with a difference in what libvirt '
              'received.' % (len(comparison['tests']),
                             comparison['differ'])]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    """python -m migtests.cloud.migrations UPSTREAM.json REFERENCE.json OUT
    (two migtests-job results.json, one per driver): OUT.md and OUT.json."""
    import sys
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print('usage: python -m migtests.cloud.migrations UPSTREAM.json '
              'REFERENCE.json OUT', file=sys.stderr)
        return 2
    try:
        runs = []
        for path in argv[:2]:
            with open(path) as f:
                runs.append(json.load(f)['migrations'])
    except (OSError, ValueError, KeyError) as exc:
        print('migtests-compare: %s: not a migtests-job results.json with '
              'migrations (%s)' % (path, exc), file=sys.stderr)
        return 2
    comparison = compare(*runs)
    with open(argv[2] + '.json', 'w') as f:
        json.dump(comparison, f, indent=1)
    with open(argv[2] + '.md', 'w') as f:
        f.write(markdown(comparison))
    print('%d test(s), %d differ: %s.md' % (
        len(comparison['tests']), comparison['differ'], argv[2]))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
