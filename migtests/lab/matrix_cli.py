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

"""migtests-matrix: the upgrade matrix, or what changed between two runs.

    migtests-matrix [--suites S,S..] [--cases C,C..] [--output DIR]
    migtests-matrix --pairs A:B,C:D [--cases ..]   (just these pairs)
    migtests-matrix --compare OLD.json NEW.json

Exit status: 0 all cells green (or no regression), 1 red cells (or
regressions), 2 bad input (one line on stderr).
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

from migtests.lab import chroots
from migtests.lab import matrix
from migtests.lab import report
from migtests.lab.system import LabError


class BadInput(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadInput(message)


def _names(text, known, what):
    names = [n.strip() for n in text.split(',') if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise BadInput('unknown %s %s: choose from %s' % (
            what, ', '.join(unknown) or '(none)', ', '.join(known)))
    return names


def _load(path):
    try:
        with open(path) as f:
            data = json.load(f)
        data['cells']
        return data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput('%s is not a results.json of the matrix or the '
                       'upgrade cloud: %s'
                       % (path, str(exc).splitlines()[0])) from None


def main(argv=None):
    parser = _Parser(prog='migtests-matrix')
    parser.add_argument('--suites', default=','.join(chroots.SUITES))
    parser.add_argument('--cases', default=','.join(matrix.CASES))
    parser.add_argument('--output', default=os.path.join('results',
                                                         'matrix'))
    parser.add_argument('--pairs', help='A:B,C:D: only these suite pairs, '
                        'both directions')
    parser.add_argument('--compare', nargs=2, metavar=('OLD', 'NEW'))
    parser.add_argument('--jobs', type=int, default=2,
                        help='pairs run side by side, each in its own lab '
                        '(default: %(default)s, one per core here)')
    try:
        args = parser.parse_args(argv)
        if args.compare:
            return _compare(*args.compare)
        only_pairs = None
        if args.pairs:
            only_pairs = [tuple(_names(p.replace(':', ','),
                                       list(chroots.SUITES), 'suite'))
                          for p in args.pairs.split(',')]
            if any(len(p) != 2 for p in only_pairs):
                raise BadInput('--pairs takes A:B pairs separated by commas')
            suites = sorted({s for p in only_pairs for s in p},
                            key=list(chroots.SUITES).index)
        else:
            suites = _names(args.suites, list(chroots.SUITES), 'suite')
        cases = _names(args.cases, list(matrix.CASES), 'case')
        if args.jobs < 1:
            raise BadInput('--jobs must be at least 1')
        if os.geteuid() != 0:
            raise BadInput('the matrix needs root (network namespaces, '
                           'mounts, chroots)')
        os.makedirs(args.output, exist_ok=True)
    except BadInput as exc:
        sys.stderr.write('migtests-matrix: error: %s\n' % exc)
        return 2
    started = time.monotonic()
    todo = only_pairs or matrix.pairs(suites)
    total = sum(len(cases) * (1 if a == b else 2) for a, b in todo)
    done = [0]
    lock = threading.Lock()     # pairs report from their own threads

    def progress(message):
        with lock:
            if not message.startswith('[pair') and \
                    'conformance' not in message:
                done[0] += 1
            print('%5.0f s  %d/%d  %s' % (time.monotonic() - started,
                                          done[0], total, message),
                  flush=True)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        results = matrix.run_matrix(suites, cases,
                                    os.path.join(args.output, ''), progress,
                                    only_pairs, jobs=args.jobs)
    except KeyboardInterrupt:
        sys.stderr.write('migtests-matrix: interrupted; every lab was torn '
                         'down; what ran is in %s/report.md (marked '
                         'incomplete)\n' % args.output)
        return 130
    except Exception as exc:    # LabError, or a bug: one line, not lost
        sys.stderr.write('migtests-matrix: error: %s%s; what ran is in '
                         '%s/report.md\n' % (
                             '' if isinstance(exc, LabError)
                             else type(exc).__name__ + ': ',
                             ' '.join(str(exc).split()), args.output))
        return 1
    print(report.markdown(results))
    print('written: %s/{results.json,report.md,report.html}' % args.output)
    green = results['complete'] and all(c['outcome'] == 'ok'
                                        for c in results['cells'])
    conforms = all(r['agrees'] for r in results['conformance'])
    return 0 if green and conforms else 1


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _compare(old_path, new_path):
    changes = report.compare(_load(old_path), _load(new_path))
    for kind in ('regressed', 'fixed', 'new', 'gone'):
        for cell in changes[kind]:
            print('%-9s %s -> %s %s: %s %s' % (kind, cell.source,
                                               cell.destination, cell.case,
                                               cell.outcome, cell.error))
    print('%d regressed, %d fixed, %d new, %d gone' % tuple(
        len(changes[k]) for k in ('regressed', 'fixed', 'new', 'gone')))
    return 1 if changes['regressed'] else 0


def run():
    sys.exit(main())
