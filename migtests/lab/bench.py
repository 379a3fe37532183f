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

"""Lab benchmark: figures from real migrations, no assertions.

1. The matrix rate: a guest ping-ponged between two hosts with the reference
   plan for shipped defaults; per case wall time, migration time and the
   harness's own overhead (planning, verification, disk checks).
2. Transports: the same guest moved natively, with native TLS, through the
   tunnel (qemu+tls), and over parallel connections; throughput (MiB/s) and
   downtime (ms) from libvirt's completed-job statistics.

The cases are the catalogue's (cases.py): tagged ``rate`` and
``transport``.
"""

import json
import os
import statistics
import time

from migtests.lab import cases
from migtests.lab.lab import Lab
from migtests.lab.runner import Runner
from reference import model
from reference.planner import BASE_FLAGS


def _mib(value):
    return round(value / 1048576.0, 1)


def matrix_rate(runner, count):
    case, = cases.select(cases.RATE)
    results = [runner.run(case) for _ in range(count)]
    wall = sum(r.seconds for r in results)
    return {
        'migrations': count,
        'migrations_per_minute': round(60.0 * count / wall, 1),
        'case_seconds_mean': round(statistics.mean(
            r.seconds for r in results), 2),
        'migration_seconds_mean': round(statistics.mean(
            r.migration_seconds for r in results), 2),
        'overhead_seconds_mean': round(statistics.mean(
            r.overhead_seconds for r in results), 2),
        'overhead_percent': round(100.0 * sum(
            r.overhead_seconds for r in results) / wall, 1),
    }


def transports(runner, repeat):
    figures = {}
    for case in cases.select(cases.TRANSPORT):
        rows = [runner.run(case) for _ in range(repeat)]
        figures[case.id] = {
            'flags': [model.short_flag(f) for f in rows[0].flags
                      if f not in BASE_FLAGS],
            'throughput_mib_s': round(statistics.mean(
                _mib(r.job.get('memory_bps', 0)) for r in rows), 1),
            'downtime_ms': round(statistics.mean(
                r.job.get('downtime', 0) for r in rows), 1),
            'migration_seconds': round(statistics.mean(
                r.migration_seconds for r in rows), 2),
        }
    return figures


def run(output, count=10, repeat=3, name='bench'):
    started = time.monotonic()
    lab = Lab(name).up()
    up_seconds = time.monotonic() - started
    runner = Runner(lab)
    try:
        rate_case, = cases.select(cases.RATE)
        guest_dirty_mib = runner.dirty_mib(rate_case.layout)
        figures = {
            'lab_up_seconds': round(up_seconds, 2),
            'guest_dirty_mib': guest_dirty_mib,
            'matrix': matrix_rate(runner, count),
            'transports': transports(runner, repeat),
        }
    finally:
        runner.close()
        down_started = time.monotonic()
        lab.down()
    figures['lab_down_seconds'] = round(time.monotonic() - down_started, 2)
    figures['total_seconds'] = round(time.monotonic() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, 'w') as f:
        json.dump(figures, f, indent=1)
    return figures


def render(figures):
    m = figures['matrix']
    lines = [
        'lab up %.2f s, down %.2f s; guest dirties %d MiB in a loop'
        % (figures['lab_up_seconds'], figures['lab_down_seconds'],
           figures['guest_dirty_mib']),
        'matrix: %d migrations, %.1f a minute; per case %.2f s = migration '
        '%.2f s + harness %.2f s (%.1f %% overhead)'
        % (m['migrations'], m['migrations_per_minute'], m['case_seconds_mean'],
           m['migration_seconds_mean'], m['overhead_seconds_mean'],
           m['overhead_percent']),
    ]
    width = max(len('transport (case)'), *map(len, figures['transports']))
    lines.append('%-*s %12s %12s %10s  %s' % (
        width, 'transport (case)', 'MiB/s', 'downtime ms', 'seconds',
        'flags'))
    for name, t in figures['transports'].items():
        lines.append('%-*s %12.1f %12.1f %10.2f  %s' % (
            width, name, t['throughput_mib_s'], t['downtime_ms'],
            t['migration_seconds'], ' '.join(t['flags'])))
    return '\n'.join(lines)
