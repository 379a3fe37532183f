"""The upgrade matrix's results as a distro engineer reads them.

``results.json`` (the cells and conformance rows, as data), ``report.md``
(a table, source by destination) and ``report.html`` (a heat map and every
cell); ``compare`` says what changed between two runs.
"""

import dataclasses
import html
import json
import os

from migtests.lab import cases
from migtests.lab import chroots


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


def _cells(results):
    return [Cell(**c) for c in results['cells']]


def _current(cell):
    """The cell under its case's catalogue id (results written before the
    catalogue named some cases otherwise)."""
    return dataclasses.replace(cell, case=cases.RENAMED.get(cell.case,
                                                            cell.case))


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
    before = {c.key(): c for c in map(_current, _cells(old))}
    after = {c.key(): c for c in map(_current, _cells(new))}
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
