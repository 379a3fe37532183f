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
