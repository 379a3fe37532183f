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
import time

from migtests.lab import chroots
from migtests.lab import conformance
from migtests.lab import guestimage
from migtests.lab.lab import Lab
from migtests.lab import scenario
from migtests.lab.scenario import Case
from reference.model import MigrationRefused
from reference.tests import simulated_libvirt as sim

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


def run_pair(a, b, cases, lab_name, progress, check_conformance=True):
    """Both directions of every case between suites a and b; on a
    same-version pair also the conformance rows.  Returns (cells, rows)."""
    lab = Lab(lab_name, suites=[a, b]).up()
    runner = scenario.FaultRunner(lab)
    by_host = {lab.hosts[0].name: a, lab.hosts[1].name: b}
    cells, rows = [], []
    try:
        for case in cases:
            directions = [(a, b)] if a == b else [(a, b), (b, a)]
            for source, destination in directions:
                progress('%s -> %s: %s' % (source, destination, case.name))
                cells.append(_run_cell(runner, case, source, destination,
                                       by_host))
        if a == b and check_conformance:
            rows = _conformance(runner, a, progress)
    finally:
        runner.close()
        lab.down(keep_logs=any(c.outcome != 'ok' for c in cells)
                 or not all(r['agrees'] for r in rows))
    return cells, rows


def _revive_daemons(runner):
    """Restart any libvirtd that died (a crash is itself the finding)."""
    dead = []
    for host in runner.lab.hosts:
        if not runner.lab.daemon(host).alive():
            dead.append(host.name)
            runner.lab.start_daemon(host)
            runner.reconnect(host)
    return dead


def _conformance(runner, suite, progress):
    rows = []
    for name, layout, extra, params, _ in (conformance.FORCED
                                           + conformance.HARMLESS):
        progress('%s: conformance %s' % (suite, name))
        try:
            real, model, _ = conformance.check(runner, layout, extra, params)
        except Exception as exc:
            dead = _revive_daemons(runner)
            model = conformance.simulate(runner, layout, extra, params)
            rows.append({'suite': suite, 'row': name,
                         'agrees': bool(dead) and model.matches(
                             sim.DAEMON_DIED),
                         'real': ('libvirtd of %s died' % ', '.join(dead)
                                  if dead else 'lab error: %s'
                                  % ' '.join(str(exc).split())),
                         'simulated': '%s (%s)' % (model.error or model.hazard
                                                   or 'accepted', model.rule)})
            continue
        rows.append({'suite': suite, 'row': name,
                     'agrees': conformance.agrees(real, model),
                     'real': '%s %s copied=%s' % (real.error or 'accepted',
                                                  real.message, real.copied),
                     'simulated': '%s (%s) copied=%s' % (
                         model.error or model.hazard or 'accepted',
                         model.rule, sorted(model.copied))})
    return rows


def _host_of(runner, layout, suite, by_host):
    """The host of ``suite`` to start from: the guest's own if it is one."""
    current = runner.guest(layout)[1]
    if by_host[current.name] == suite:
        return current
    return next(h for h in runner.lab.hosts if by_host[h.name] == suite)


def _run_cell(runner, case, source, destination, by_host):
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
        cell.outcome, cell.error = 'failed', ' '.join(str(exc).split())
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
    first."""
    cases = [CASES[name] for name in case_names]
    started = time.monotonic()
    todo = only_pairs or pairs(suites)
    # Shared by every lab: built once, before labs start side by side.
    cache = Lab('mxprep').cache
    guestimage.build(cache)
    for suite in sorted({s for pair in todo for s in pair}):
        chroots.build(cache, suite)

    def one(index, a, b):
        progress('[pair %d/%d] %s <-> %s' % (index + 1, len(todo), a, b))
        return run_pair(a, b, cases, 'mx%d' % index, progress)
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = [pool.submit(one, i, a, b) for i, (a, b) in enumerate(todo)]
    cells, rows = [], []
    for future in futures:
        pair_cells, pair_rows = future.result()
        cells += pair_cells
        rows += pair_rows
    seconds = time.monotonic() - started
    results = {'suites': {s: dataclasses.asdict(chroots.SUITES[s])
                          for s in suites},
               'cases': case_names, 'seconds': round(seconds, 1),
               'cells': [dataclasses.asdict(c) for c in cells],
               'conformance': rows}
    write_reports(results, output_prefix)
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
            'untouched) / cases run. %s s in all.</p>%s<h2>Cells</h2><table>'
            '<tr><th>source</th><th>destination</th><th>case</th>'
            '<th>outcome</th><th>flags</th><th>seconds</th><th>error</th>'
            '</tr>%s</table></body></html>\n'
            % (results['seconds'], svg(results), rows))


def write_reports(results, prefix):
    with open(prefix + 'results.json', 'w') as f:
        json.dump(results, f, indent=1)
    with open(prefix + 'report.md', 'w') as f:
        f.write(markdown(results))
    with open(prefix + 'report.html', 'w') as f:
        f.write(html_page(results))


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
