"""The upgrade matrix: real migrations between libvirt versions, as data.

Every unordered pair of suites (same-version included) gets one lab with a
host from each; every case migrates the guest there and back, so each
ordered pair is covered.  The reference driver plans for the *pair's*
versions, read from the live hosts.  Results are cells (source, destination,
case) with the plan, the outcome, libvirt's error text and the migration
time; a report renders them as a Markdown table and an HTML page with a
heat-map picture (inline SVG).
"""

import concurrent.futures
import dataclasses
import html
import itertools
import json
import os
import threading
import time

from migtests.lab import chroots
from migtests.lab import conformance
from migtests.lab import guestimage
from migtests.lab.lab import Lab
from migtests.lab import scenario
from migtests.lab.scenario import Case
from reference import behaviour
from reference.model import MigrationRefused

CASES = {c.name: c for c in (
    Case('live', layout='volume'),
    Case('block', layout='local'),
    Case('block-with-volume', layout='local+volume'),
    Case('native-tls', layout='volume',
         options={'live_migration_with_native_tls': True}),
    Case('defaults-tunnel-auto', layout='volume',
         options={'live_migration_scheme': 'tls'}),
    Case('post-copy', layout='volume',
         options={'live_migration_permit_post_copy': True,
                  'live_migration_bandwidth': 2}, during='post-copy'),
)}


@dataclasses.dataclass
class Cell:
    source: str
    destination: str
    case: str
    outcome: str            # 'ok', 'failed', 'refused', 'not run'
    versions: str = ''
    flags: list = dataclasses.field(default_factory=list)
    params: dict = dataclasses.field(default_factory=dict)
    error: str = ''
    migration_seconds: float = 0.0

    def key(self):
        return (self.source, self.destination, self.case)


def _label(suite):
    s = chroots.SUITES[suite]
    return '%s (libvirt %s, QEMU %s)' % (suite, s.libvirt, s.qemu)


def pairs(suites):
    return list(itertools.combinations_with_replacement(suites, 2))


class Recorder:
    """The run's results, written out again as each cell or conformance
    row completes: a run that is interrupted or crashes still leaves a
    report of what ran, marked incomplete."""

    def __init__(self, suites, case_names, planned, prefix):
        """``prefix`` None: keep the results in memory, write nothing."""
        self.prefix = prefix
        self.started = time.monotonic()
        self.lock = threading.Lock()      # pairs report from their threads
        self.results = {'suites': {s: dataclasses.asdict(chroots.SUITES[s])
                                   for s in suites},
                        'cases': case_names, 'seconds': 0.0,
                        'complete': False, 'planned_cells': planned,
                        'cells': [], 'conformance': []}
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
            write_reports(self.results, self.prefix)


def _cells_of(a, b, cases):
    """(case, source, destination) of the pair, in the order they run."""
    directions = [(a, b)] if a == b else [(a, b), (b, a)]
    return [(case, source, destination) for case in cases
            for source, destination in directions]


def run_pair(a, b, cases, lab_name, progress, recorder=None, stop=None,
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
        runner = scenario.FaultRunner(lab)
    except Exception as exc:
        lab.down(keep_logs=True)
        for case, source, destination in _cells_of(a, b, cases):
            record(Cell(source, destination, case.name, 'not run',
                        error='the lab did not come up: %s'
                        % _one_line(exc)))
        return cells, rows
    by_host = {lab.hosts[0].name: a, lab.hosts[1].name: b}
    try:
        for case, source, destination in _cells_of(a, b, cases):
            if stop.is_set():
                break
            progress('%s -> %s: %s' % (source, destination, case.name))
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
    for name, layout, extra, params, _ in (conformance.FORCED
                                           + conformance.HARMLESS):
        if stop.is_set():
            return
        progress('%s: conformance %s' % (suite, name))
        row = _conformance_row(runner, layout, extra, params)
        row.update(suite=suite, row=name)
        yield row


def _conformance_row(runner, layout, extra, params):
    try:
        real, model, _ = conformance.check(runner, layout, extra, params)
    except Exception as exc:
        died, unrepaired = _repair(runner)
        try:    # the hosts' capabilities were read before: no daemon needed
            model = conformance.simulate(runner, layout, extra, params)
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
    """The host of ``suite`` to start from: the guest's own if it is one."""
    current = runner.guest(layout)[1]
    if by_host[current.name] == suite:
        return current
    return next(h for h in runner.lab.hosts if by_host[h.name] == suite)


def _run_cell(runner, case, source, destination, by_host):
    """One cell; any error is the cell's outcome, and a libvirtd that died
    on the way is restarted (and named) so the next cell can run."""
    cell = Cell(source, destination, case.name, 'not run')
    try:
        # A guest an earlier cell could not move is started anew here.
        runner.guest(case.layout, on=_host_of(runner, case.layout, source,
                                              by_host))
        result = runner.run(case)
    except MigrationRefused as refusal:
        cell.outcome, cell.error = 'refused', refusal.message
        return cell
    except Exception as exc:   # act.MigrationFailed, AssertionError, LabError
        died, unrepaired = _repair(runner)
        cell.outcome = 'failed'
        cell.error = _one_line(exc) + unrepaired + (
            ' (libvirtd of %s died)' % ', '.join(died) if died else '')
        return cell
    cell.outcome = 'ok'
    cell.flags = [f[len('VIR_MIGRATE_'):] for f in result.flags]
    cell.params = result.params
    cell.migration_seconds = result.migration_seconds
    return cell


def run_matrix(suites, case_names, output_prefix, progress=print,
               only_pairs=None, jobs=1):
    """``only_pairs``: run just these unordered pairs (both directions).
    ``jobs``: pairs run at once, each in a lab of its own (own namespaces,
    daemons and guests); cells are reported in pair order whatever ends
    first.  Results are written as they come (``results.json`` says
    ``"complete": false`` until the end); an interrupt (KeyboardInterrupt)
    lets each running pair finish its cell, tear its lab down and the
    report be written, then raises again."""
    cases = [CASES[name] for name in case_names]
    todo = only_pairs or pairs(suites)
    keys = [(source, destination, case.name) for a, b in todo
            for case, source, destination in _cells_of(a, b, cases)]
    recorder = Recorder(suites, case_names, len(keys), output_prefix)
    # Shared by every lab: built once, before labs start side by side.
    cache = Lab('mxprep').cache
    guestimage.build(cache)
    for suite in sorted({s for pair in todo for s in pair}):
        chroots.build(cache, suite)
    stop = threading.Event()

    def one(index, a, b):
        progress('[pair %d/%d] %s <-> %s' % (index + 1, len(todo), a, b))
        run_pair(a, b, cases, 'mx%d' % index, progress, recorder, stop)

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


# --- reports ---------------------------------------------------------------

def _cells(results):
    return [Cell(**c) for c in results['cells']]


def _grid(results):
    grid = {}
    for cell in _cells(results):
        grid.setdefault((cell.source, cell.destination), []).append(cell)
    return grid


def markdown(results):
    suites = list(results['suites'])
    grid = _grid(results)
    lines = ['| source \\ destination | ' + ' | '.join(suites) + ' |',
             '| --- |' + ' --- |' * len(suites)]
    for source in suites:
        row = []
        for destination in suites:
            cells = grid.get((source, destination), [])
            ok = sum(c.outcome == 'ok' for c in cells)
            bad = [c.case for c in cells if c.outcome != 'ok']
            row.append('%d/%d%s' % (ok, len(cells), (' ✗ ' + ', '.join(bad))
                                    if bad else ''))
        lines.append('| %s | %s |' % (_label(source), ' | '.join(row)))
    if not results.get('complete', True):
        lines += ['', '**Incomplete run**: %d of %d cells ran (interrupted, '
                  'or still running).' % (
                      len(results['cells']), results.get('planned_cells', 0))]
    mismatches = [r for r in results.get('conformance', [])
                  if not r['agrees']]
    checked = len(results.get('conformance', []))
    lines += ['', 'Conformance of the simulated libvirt: %d rows checked, %d '
              'mismatches' % (checked, len(mismatches))]
    lines += ['- %s %s: real %s; simulated %s'
              % (r['suite'], r['row'], r['real'], r['simulated'])
              for r in mismatches]
    reds = [c for c in _cells(results) if c.outcome != 'ok']
    if reds:
        lines += ['', 'Red cells:', '']
        lines += ['- %s → %s, %s: %s — %s' % (c.source, c.destination, c.case,
                                              c.outcome, c.error)
                  for c in reds]
    return '\n'.join(lines) + '\n'


def svg(results, size=90):
    suites = list(results['suites'])
    grid = _grid(results)
    margin = 110
    width = margin + size * len(suites)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'font-family="sans-serif" font-size="12">' % (width, width)]
    for i, name in enumerate(suites):
        parts.append('<text x="%d" y="%d" text-anchor="middle">%s</text>'
                     % (margin + size * i + size / 2, margin - 10, name))
        parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                     % (margin - 10, margin + size * i + size / 2, name))
    for i, source in enumerate(suites):
        for j, destination in enumerate(suites):
            cells = grid.get((source, destination), [])
            share = (sum(c.outcome == 'ok' for c in cells) / len(cells)
                     if cells else 0)
            colour = 'rgb(%d,%d,80)' % (int(220 * (1 - share)),
                                        int(60 + 150 * share))
            x, y = margin + size * j, margin + size * i
            parts.append('<rect x="%d" y="%d" width="%d" height="%d" '
                         'fill="%s" stroke="white"><title>%s → %s</title>'
                         '</rect>' % (x, y, size, size, colour, source,
                                      destination))
            parts.append('<text x="%d" y="%d" text-anchor="middle" '
                         'fill="white">%d/%d</text>'
                         % (x + size / 2, y + size / 2 + 4,
                            sum(c.outcome == 'ok' for c in cells),
                            len(cells)))
    parts.append('</svg>')
    return ''.join(parts)


def html_page(results):
    rows = ''.join(
        '<tr class="%s"><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
        '<td>%s</td><td>%.2f</td><td>%s</td></tr>'
        % (c.outcome, html.escape(c.source), html.escape(c.destination),
           html.escape(c.case), c.outcome, html.escape(' '.join(c.flags)),
           c.migration_seconds, html.escape(c.error))
        for c in _cells(results))
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>migtests '
            'upgrade matrix</title><style>body{font-family:sans-serif}'
            'td{padding:2px 6px}tr.ok{background:#e6f4e6}'
            'tr.failed,tr.refused,tr["not run"]{background:#f8e0e0}</style>'
            '</head><body><h1>Live migration across libvirt versions</h1>'
            '<p>Rows: source, columns: destination; each cell: cases that '
            'migrated and verified (no reboot, data identical, volume '
            'untouched) / cases run. %s s in all.%s</p>%s<h2>Cells</h2>'
            '<table>'
            '<tr><th>source</th><th>destination</th><th>case</th>'
            '<th>outcome</th><th>flags</th><th>seconds</th><th>error</th>'
            '</tr>%s</table></body></html>\n'
            % (results['seconds'], '' if results.get('complete', True) else
               ' <strong>Incomplete run: %d of %d cells ran.</strong>' % (
                   len(results['cells']), results.get('planned_cells', 0)),
               svg(results), rows))


def write_reports(results, prefix):
    """results.json, report.md and report.html; each file is replaced
    whole, so a reader (or a crash) never meets half a report."""
    for name, text in (('results.json', json.dumps(results, indent=1)),
                       ('report.md', markdown(results)),
                       ('report.html', html_page(results))):
        with open(prefix + name + '.tmp', 'w') as f:
            f.write(text)
        os.replace(prefix + name + '.tmp', prefix + name)


def compare(old, new):
    """What regressed, what was fixed, what appeared or went away."""
    before = {c.key(): c for c in _cells(old)}
    after = {c.key(): c for c in _cells(new)}
    changes = {'regressed': [], 'fixed': [], 'new': [], 'gone': []}
    for key, cell in sorted(after.items()):
        if key not in before:
            changes['new'].append(cell)
        elif before[key].outcome == 'ok' and cell.outcome != 'ok':
            changes['regressed'].append(cell)
        elif before[key].outcome != 'ok' and cell.outcome == 'ok':
            changes['fixed'].append(cell)
    changes['gone'] = [before[k] for k in sorted(set(before) - set(after))]
    return changes
