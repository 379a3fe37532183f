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

"""The upgrade matrix: real migrations between libvirt versions, as data.

Every unordered pair of suites (same-version included) gets one lab with a
host from each; every case migrates the guest there and back, so each
ordered pair is covered.  The reference driver plans for the *pair's*
versions, read from the live hosts.  Results are cells (source, destination,
case) with the plan, the outcome, libvirt's error text and the migration
time, written as they come (report.py renders them).  The cases are the
catalogue's (cases.py) tagged ``matrix``.
"""

import concurrent.futures
import dataclasses
import itertools
import threading
import time

from migtests.lab import cases
from migtests.lab import chroots
from migtests.lab import conformance
from migtests.lab.forced import FaultRunner
from migtests.lab import guestimage
from migtests.lab.lab import Lab
from migtests.lab import report
from migtests.lab.report import Cell
from reference import behaviour
from reference import model
from reference.model import MigrationRefused
from reference.planner import BASE_FLAGS
from reference import versions

# The matrix's cases: the catalogue's, tagged for it (cases.py).
CASES = {case.id: case for case in cases.select(cases.MATRIX)}


def pairs(suites):
    return list(itertools.combinations_with_replacement(suites, 2))


def shard(todo, index, count):
    """The pairs of shard ``index`` (1-based) of ``count``: every ``count``
    th pair of ``todo`` from the ``index``th, so each pair -- with its
    cells in both directions, and a same-suite pair's conformance rows --
    is in exactly one shard, whichever node computes it."""
    return [pair for i, pair in enumerate(todo) if i % count == index - 1]


def merge(runs):
    """One results.json of the shards' (their ``shard`` said, each once):
    suites and cases joined in order, cells and conformance rows
    concatenated; complete only when every shard of the split is there and
    complete.  ValueError on a cell that two runs hold."""
    merged = {'suites': {}, 'cases': [], 'seconds': 0.0, 'complete': True,
              'planned_cells': 0, 'cells': [], 'conformance': [],
              'shards': []}
    seen = set()
    counts = set()
    for run in runs:
        merged['suites'].update(run['suites'])
        merged['cases'] += [c for c in run['cases']
                            if c not in merged['cases']]
        merged['seconds'] = max(merged['seconds'], run.get('seconds', 0.0))
        merged['planned_cells'] += run.get('planned_cells', 0)
        merged['complete'] &= run.get('complete', False)
        if run.get('shard'):
            merged['shards'].append(run['shard'])
            counts.add(int(run['shard'].split('/')[1]))
        for cell in run['cells']:
            key = (cell['source'], cell['destination'], cell['case'])
            if key in seen:
                raise ValueError('%s -> %s %s is in two of the runs'
                                 % key)
            seen.add(key)
            merged['cells'].append(cell)
        merged['conformance'] += run.get('conformance', [])
    if len(counts) > 1:
        raise ValueError('the runs are shards of different splits: %s'
                         % ', '.join(merged['shards']))
    if counts:
        expected = {'%d/%d' % (k, n) for n in counts
                    for k in range(1, n + 1)}
        missing = sorted(expected - set(merged['shards']))
        if missing or len(merged['shards']) != len(expected):
            merged['complete'] = False
            merged['missing_shards'] = missing
    return merged


class Recorder:
    """The run's results, written out again as each cell or conformance
    row completes: a run that is interrupted or crashes still leaves a
    report of what ran, marked incomplete."""

    def __init__(self, suites, case_names, planned, prefix, shard=None):
        """``suites``: chroots.Suite of each, as its chroot has it;
        ``prefix`` None: keep the results in memory, write nothing."""
        self.prefix = prefix
        self.started = time.monotonic()
        self.lock = threading.Lock()      # pairs report from their threads
        self.results = {'suites': {s.name: dataclasses.asdict(s)
                                   for s in suites},
                        'cases': case_names, 'seconds': 0.0,
                        'complete': False, 'planned_cells': planned,
                        'cells': [], 'conformance': []}
        if shard:
            self.results['shard'] = shard
        self._write()

    @classmethod
    def in_memory(cls):
        return cls([], [], 0, None)

    def cell(self, cell):
        self._add('cells', dataclasses.asdict(cell))

    def row(self, row):
        self._add('conformance', row)

    def _add(self, kind, item):
        with self.lock:
            self.results[kind].append(item)
            self._write()

    def finish(self, complete, order):
        """Put the cells in pair order (whatever pair ended first) and
        write the final reports; ``complete`` False after an interrupt."""
        with self.lock:
            self.results['cells'].sort(key=order)
            self.results['complete'] = complete
            self._write()
        return self.results

    def _write(self):
        self.results['seconds'] = round(time.monotonic() - self.started, 1)
        if self.prefix is not None:
            report.write_reports(self.results, self.prefix)


def _cells_of(a, b, chosen):
    """(case, source, destination) of the pair, in the order they run."""
    directions = [(a, b)] if a == b else [(a, b), (b, a)]
    return [(case, source, destination) for case in chosen
            for source, destination in directions]


def run_pair(a, b, chosen, lab_name, progress, recorder=None, stop=None,
             check_conformance=True):
    """Both directions of every case between suites a and b; on a
    same-version pair also the conformance rows.  Returns (cells, rows);
    each is also handed to ``recorder`` as it ends.  ``stop`` (an Event)
    ends the pair after the cell under way.  A lab that cannot come up
    makes each of the pair's cells 'not run' with the reason."""
    recorder = recorder or Recorder.in_memory()
    stop = stop or threading.Event()
    cells, rows = [], []

    def record(cell):
        cells.append(cell)
        recorder.cell(cell)
    lab = Lab(lab_name, suites=[a, b])
    try:
        lab.up()
        runner = FaultRunner(lab)
    except Exception as exc:
        lab.down(keep_logs=True)
        for case, source, destination in _cells_of(a, b, chosen):
            record(Cell(source, destination, case.id, 'not run',
                        error='the lab did not come up: %s'
                        % _one_line(exc)))
        return cells, rows
    by_host = {lab.hosts[0].name: a, lab.hosts[1].name: b}
    try:
        for case, source, destination in _cells_of(a, b, chosen):
            if stop.is_set():
                break
            progress('%s -> %s: %s' % (source, destination, case.id))
            record(_run_cell(runner, case, source, destination, by_host))
        if a == b and check_conformance:
            for row in _conformance(runner, a, progress, stop):
                rows.append(row)
                recorder.row(row)
    finally:
        runner.close()
        lab.down(keep_logs=any(c.outcome != 'ok' for c in cells)
                 or not all(r['agrees'] for r in rows))
        left = lab.leftovers()
        if left:
            progress('%s <-> %s: left behind: %s' % (a, b, '; '.join(left)))
    return cells, rows


def _one_line(exc):
    return ' '.join(str(exc).split()) or type(exc).__name__


def _repair(runner):
    """After an error: restart any libvirtd that died, so the next cell or
    row can run.  Returns (hosts whose daemon died, what could not be
    repaired or '')."""
    try:
        return runner.revive_daemons(), ''
    except Exception as exc:
        return [], ' (then the lab could not be repaired: %s)' \
            % _one_line(exc)


def _conformance(runner, suite, progress, stop):
    """Force each row on the suite's libvirt, yielding each row's record;
    whatever goes wrong in one row is that row's outcome."""
    for forced in cases.FORCED:
        if stop.is_set():
            return
        progress('%s: conformance %s' % (suite, forced.id))
        row = _conformance_row(runner, forced)
        row.update(suite=suite, row=forced.id)
        yield row


def _conformance_row(runner, forced):
    try:
        real, model, _ = conformance.check(runner, forced)
    except Exception as exc:
        died, unrepaired = _repair(runner)
        try:    # the hosts' capabilities were read before: no daemon needed
            model = conformance.simulate(runner, forced)
        except Exception as simulation:
            model, unrepaired = None, unrepaired + (
                ' (not simulated: %s)' % _one_line(simulation))
        # A daemon killed by a forced combination is the finding itself.
        return {'agrees': bool(died) and model is not None
                and model.matches(behaviour.DAEMON_DIED),
                'real': ('libvirtd of %s died' % ', '.join(died) if died
                         else 'lab error: %s' % _one_line(exc)) + unrepaired,
                'simulated': _simulated(model)}
    return {'agrees': conformance.agrees(real, model),
            'real': '%s %s copied=%s' % (real.error or 'accepted',
                                         real.message, real.copied),
            'simulated': _simulated(model)}


def _simulated(model):
    if model is None:
        return 'not simulated'
    return '%s (%s) copied=%s' % (model.error or model.hazard or 'accepted',
                                  model.rule, sorted(model.copied))


def _host_of(runner, layout, suite, by_host):
    """The host of ``suite`` to start from: the one the layout's guest
    runs on if it is one (no new guest needed)."""
    hosts = [h for h in runner.lab.hosts if by_host[h.name] == suite]
    name = cases.LAYOUTS[layout].guest_name
    for host in hosts:
        try:
            if runner.conn(host).lookupByName(name).isActive():
                return host
        except Exception:   # no such domain there
            continue
    return hosts[0]


def _run_cell(runner, case, source, destination, by_host):
    """One cell; any error is the cell's outcome, and a libvirtd that died
    on the way is restarted (and named) so the next cell can run."""
    cell = Cell(source, destination, case.id, 'not run')
    expected = None
    try:
        host = _host_of(runner, case.layout, source, by_host)
        if not cases.LAYOUTS[case.layout].starts_on(runner.capabilities(host)):
            return _cannot_start(runner, case, host, cell)
        if case.fresh_guest:
            runner.discard(case.layout)
        # A guest an earlier cell could not move is started anew here.
        guest, host = runner.guest(case.layout, on=host)
        lacking = case.lacking(runner.capabilities(host),
                               runner.capabilities(runner.other(host)))
        if lacking and case.refused_without is None:
            # The case's point cannot be made on these hosts: the plan must
            # leave its flags out and the guest migrate without them.
            case = dataclasses.replace(case, during=None, flags_present=(),
                                       flags_absent=case.flags_present)
            cell.note = ('these hosts lack %s (%s): migrated without %s, as '
                         'the plan says' % (
                             ', '.join(lacking),
                             '; '.join(versions.FEATURES[f].requirement()
                                       for f in lacking),
                             ', '.join(case.flags_absent)))
        expected = (case.refused_without if lacking else
                    case.expected_refusal(
                        runner.capabilities(runner.other(host)),
                        runner.machine_type(guest, host)))
        result = runner.run(case)
        sent = [f for f in case.flags_absent
                if lacking and model.flag(f) in result.flags]
        if sent:
            raise AssertionError('the plan sent %s, which these hosts lack'
                                 % ', '.join(sent))
    except MigrationRefused as refusal:
        if refusal.error == expected:   # the case's point: passed
            cell.outcome = 'ok'
            cell.error = 'refused as expected: %s' % refusal.message
            if case.send_anyway:
                _send_anyway(runner, case, cell)
        else:
            cell.outcome, cell.error = 'refused', refusal.message
        return cell
    except Exception as exc:   # act.MigrationFailed, AssertionError, LabError
        died, unrepaired = _repair(runner)
        cell.outcome = 'failed'
        cell.error = _one_line(exc) + unrepaired + (
            ' (libvirtd of %s died)' % ', '.join(died) if died else '')
        return cell
    if expected is not None:
        cell.outcome = 'failed'
        cell.error = 'migrated, where the plan must refuse (%s)' % expected
        return cell
    cell.outcome = 'ok'
    cell.flags = [model.short_flag(f) for f in result.flags]
    cell.params = result.params
    cell.migration_seconds = result.migration_seconds
    return cell


def _cannot_start(runner, case, host, cell):
    """The source's QEMU lacks the guest's machine type: the cell checks
    that libvirt really refuses to start such a guest there."""
    machine = cases.LAYOUTS[case.layout].machine
    try:
        runner.guest(case.layout, on=host)
    except Exception as exc:
        cell.outcome = 'ok'
        cell.note = ('the guest cannot start on this source, whose libvirt '
                     'lists no %s: %s' % (machine, _one_line(exc)))
        return cell
    runner.discard(case.layout)
    cell.outcome = 'failed'
    cell.error = ('a guest of machine type %s started on a host whose '
                  'libvirt does not list it' % machine)
    return cell


def _send_anyway(runner, case, cell):
    """After the expected refusal: the call without the refused check, sent
    to real libvirt; it must fail and leave the guest on its source."""
    try:
        forced = runner.force(case.layout, BASE_FLAGS, {})
    except Exception as exc:
        died, unrepaired = _repair(runner)
        cell.outcome = 'failed'
        cell.error = 'sent anyway: %s%s' % (_one_line(exc), unrepaired)
        return
    if forced.error is None:
        cell.outcome = 'failed'
        cell.error = ('sent anyway, libvirt migrated what the plan refused '
                      '(copied %s)' % forced.copied)
        return
    cell.note = 'sent anyway: %s %s; the guest stayed on its source' % (
        forced.error, _one_line(forced.message))


def run_matrix(suites, case_names, output_prefix, progress=print,
               only_pairs=None, jobs=1, shard_of=None):
    """``only_pairs``: run just these unordered pairs (both directions).
    ``jobs``: pairs run at once, each in a lab of its own (own namespaces,
    daemons and guests); cells are reported in pair order whatever ends
    first.  Results are written as they come (``results.json`` says
    ``"complete": false`` until the end); an interrupt (KeyboardInterrupt)
    lets each running pair finish its cell, tear its lab down and the
    report be written, then raises again."""
    chosen = [CASES[name] for name in case_names]
    todo = only_pairs or pairs(suites)
    if shard_of:
        todo = shard(todo, *shard_of)
    keys = [(source, destination, case.id) for a, b in todo
            for case, source, destination in _cells_of(a, b, chosen)]
    # Shared by every lab: built once, before labs start side by side (a
    # candidate that does not install is BadSuite here, before any lab).
    cache = Lab('mxprep').cache
    guestimage.build(cache)
    for suite in sorted({s for pair in todo for s in pair}):
        chroots.build(cache, suite)
    recorder = Recorder([chroots.suite(s, cache) for s in suites],
                        case_names, len(keys), output_prefix,
                        shard='%d/%d' % shard_of if shard_of else None)
    stop = threading.Event()

    def one(index, a, b):
        progress('[pair %d/%d] %s <-> %s' % (index + 1, len(todo), a, b))
        run_pair(a, b, chosen, 'mx%d' % index, progress, recorder, stop)

    def order(cell):
        return keys.index((cell['source'], cell['destination'],
                           cell['case']))
    pool = concurrent.futures.ThreadPoolExecutor(max(1, jobs))
    futures = [pool.submit(one, i, a, b) for i, (a, b) in enumerate(todo)]
    try:
        while concurrent.futures.wait(futures, timeout=1).not_done:
            pass
    except KeyboardInterrupt:
        stop.set()      # each pair ends its cell and tears its lab down
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
        recorder.finish(False, order)
        raise
    pool.shutdown()
    errors = [f.exception() for f in futures if f.exception()]
    results = recorder.finish(not errors, order)
    if errors:
        raise errors[0]
    return results
