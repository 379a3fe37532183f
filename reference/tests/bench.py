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

"""Benchmark of the decision core: prints figures, asserts nothing.

    python -m reference.tests.bench [--json FILE]

Planning throughput on one core (the process is pinned to one CPU), and the
wall time of the whole simulated sweep (plan + simulated libvirt check for
every combination of test_sweep).  Targets: >= 10,000 plans/s; sweep < 10 s.
"""

import argparse
import json
import os
import time

from reference import conf
from reference.model import MigrationRefused
from reference.planner import plan_migration
from reference.tests import base
from reference.tests import sweep


def _plans(settings, stack, req):
    try:
        plan_migration(settings, stack, stack, req)
    except MigrationRefused:
        return False
    return True


def planning_throughput(seconds=2.0):
    settings = conf.settings()
    cases = [(base.host(*stack), base.request(*req[:2], shared_storage=req[2],
                                              paused=req[3]))
             for stack in base.STACKS for req in sweep.REQUESTS]
    # Plans only: a request the planner refuses on a stack (a block
    # migration on libvirt 8.7.x) is not a plan to time.
    cases = [(stack, req) for stack, req in cases
             if _plans(settings, stack, req)]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for stack, req in cases:
            plan_migration(settings, stack, stack, req)
        done += len(cases)
    return done / (time.perf_counter() - started)


def whole_sweep():
    started = time.perf_counter()
    settings = list(sweep.option_sets())
    result = sweep.Result()
    for pair in sweep.stack_pairs():
        sweep.check_pair(pair, settings, result)
    return result, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', metavar='FILE', help='also write figures')
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rate = planning_throughput()
    result, seconds = whole_sweep()
    figures = {'plans_per_second_one_core': round(rate),
               'sweep_combinations': result.combinations,
               'sweep_plans': result.plans,
               'sweep_refusals': result.refusals,
               'sweep_problems': len(result.problems),
               'sweep_seconds': round(seconds, 2)}
    for key, value in figures.items():
        print('%-28s %s' % (key, value))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(figures, f, indent=2)


if __name__ == '__main__':
    main()
