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

"""migtests matrix: the upgrade matrix, or what changed between two runs.

    migtests matrix [--suites S,S..] [--cases C,C..] [--output DIR]
    migtests matrix --pairs A:B,C:D [--cases ..]   (just these pairs)
    migtests matrix --compare OLD.json NEW.json
    migtests matrix --shard K/N [..]   (the Kth of N parts: one per node)
    migtests matrix --merge SHARD/results.json.. [--output DIR]

Exit status: 0 all cells green (or no regression), 1 red cells (or
regressions), 2 bad input (one line on stderr), 130 interrupted.
"""

import os
import signal
import sys
import threading
import time

from migtests import command
from migtests.lab import chroots
from migtests.lab import matrix
from migtests.lab import report
from migtests.lab import sourcebuild
from migtests.lab.system import LabError


def _names(text, known, what):
    names = [n.strip() for n in text.split(',') if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise command.BadInput('unknown %s %s: choose from %s' % (
            what, ', '.join(unknown) or '(none)', ', '.join(known)))
    return names


def _suites(text):
    """Suites or candidates (chroots.HELP), checked; BadInput."""
    names = [n.strip() for n in text.split(',') if n.strip()]
    if not names:
        raise command.BadInput('no suite named: %s' % chroots.HELP)
    try:
        return chroots.known(names)
    except chroots.BadSuite as exc:
        raise command.BadInput(str(exc)) from None


def _available(suites, only_pairs, prog):
    """Without the suites built from source whose sources are absent, each
    said in one line; BadInput when nothing is left to run."""
    skipped = chroots.unavailable(suites)
    for why in skipped.values():
        print('%s: %s' % (prog, why), flush=True)
    if not skipped:
        return suites, only_pairs
    if only_pairs:
        only_pairs = [p for p in only_pairs
                      if not any(s in skipped for s in p)]
        if not only_pairs:
            raise command.BadInput('every pair named was skipped')
    left = [s for s in suites if s not in skipped]
    if not left:
        raise command.BadInput('every suite named was skipped')
    return left, only_pairs


def _grid_order(names):
    """Published suites in their order, each candidate after its base."""
    def key(name):
        chosen = chroots.suite(name)
        if chosen.built:        # older than every published suite
            return (-1, False, name)
        return (list(chroots.SUITES).index(chosen.base or name),
                bool(chosen.base), name)
    return sorted(set(names), key=key)


def main(argv=None, prog='migtests-matrix'):
    parser = command.Parser(prog=prog)
    parser.add_argument('--suites', default=','.join(chroots.SUITES),
                        help='the suites to pair: %s (default: %%(default)s)'
                        % chroots.HELP)
    parser.add_argument('--cases', default=','.join(matrix.CASES))
    sourcebuild.add_arguments(parser)
    parser.add_argument('--output', default=os.path.join('results',
                                                         'matrix'),
                        help='report directory (default: %(default)s, under '
                        'the working directory)')
    parser.add_argument('--pairs', help='A:B,C:D: only these suite pairs, '
                        'both directions')
    parser.add_argument('--compare', nargs=2, metavar=('OLD', 'NEW'))
    parser.add_argument('--shard', metavar='K/N',
                        help='run the Kth of N parts of the matrix (every '
                        'pair in exactly one part), for N nodes')
    parser.add_argument('--merge', nargs='+', metavar='RESULTS.json',
                        help='join the shards\' results.json into one '
                        'report in --output')
    parser.add_argument('--jobs', type=int, default=2,
                        help='pairs run side by side, each in its own lab '
                        '(default: %(default)s, one per core here)')
    try:
        args = parser.parse_args(argv)
        if args.compare:
            return report.print_changes(*args.compare)
        if args.merge:
            return _merge(args.merge, args.output, prog)
        shard_of = _shard(args.shard) if args.shard else None
        only_pairs = None
        if args.pairs:
            only_pairs = [tuple(_suites(p.replace(':', ',')))
                          for p in args.pairs.split(',')]
            if any(len(p) != 2 for p in only_pairs):
                raise command.BadInput('--pairs takes A:B pairs separated '
                                       'by commas')
            suites = _grid_order(s for p in only_pairs for s in p)
        else:
            suites = _suites(args.suites)
        sourcebuild.use(args)
        suites, only_pairs = _available(suites, only_pairs, prog)
        cases = _names(args.cases, list(matrix.CASES), 'case')
        if args.jobs < 1:
            raise command.BadInput('--jobs must be at least 1')
        if os.geteuid() != 0:
            raise command.BadInput('the matrix needs root (network '
                                   'namespaces, mounts, chroots)')
        os.makedirs(args.output, exist_ok=True)
    except command.BadInput as exc:
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    started = time.monotonic()
    todo = only_pairs or matrix.pairs(suites)
    if shard_of:
        todo = matrix.shard(todo, *shard_of)
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
                                    only_pairs, jobs=args.jobs,
                                    shard_of=shard_of)
    except KeyboardInterrupt:
        sys.stderr.write('%s: interrupted; every lab was torn down; what ran '
                         'is in %s/report.md (marked incomplete)\n'
                         % (prog, args.output))
        return command.EXIT_INTERRUPTED
    except chroots.BadSuite as exc:     # before any lab started
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    except Exception as exc:    # LabError, or a bug: one line, not lost
        command.error(prog, '%s%s; what ran is in %s/report.md' % (
            '' if isinstance(exc, LabError) else type(exc).__name__ + ': ',
            exc, args.output))
        return command.EXIT_FAILED
    print(report.markdown(results))
    print('written: %s/{results.json,report.md,report.html,results.xml,'
          'results.subunit}' % args.output)
    return _exit(results)


def _shard(text):
    """(K, N) of --shard K/N; BadInput."""
    try:
        index, count = (int(n) for n in text.split('/'))
    except ValueError:
        raise command.BadInput('--shard takes K/N, e.g. 1/3') from None
    if not 1 <= index <= count:
        raise command.BadInput('--shard %s: K must be from 1 to N' % text)
    return index, count


def _merge(paths, output, prog):
    """The shards' results joined into one report; exit as a run's."""
    runs = [report.load(path) for path in paths]
    try:
        merged = matrix.merge(runs)
    except ValueError as exc:
        raise command.BadInput(str(exc)) from None
    os.makedirs(output, exist_ok=True)
    report.write_reports(merged, os.path.join(output, ''))
    print(report.markdown(merged))
    print('merged %d run(s) (%s) into %s' % (
        len(runs), ', '.join(merged['shards']) or 'not shards', output))
    return _exit(merged)


def _exit(results):
    green = results['complete'] and all(c['outcome'] == 'ok'
                                        for c in results['cells'])
    conforms = all(r['agrees'] for r in results['conformance'])
    return 0 if green and conforms else 1


def _interrupted(signum, frame):
    raise KeyboardInterrupt
