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

"""The upgrade matrix's results as a distro engineer reads them.

``results.json`` (the cells and conformance rows, as data), ``report.md``
(a table, source by destination) and ``report.html`` (a heat map and every
cell); ``compare`` says what changed between two runs.
"""

import dataclasses
import html
import json
import os

from migtests import command
from migtests.lab import cases
from migtests.lab import ciformats


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
    note: str = ''          # what a passing cell showed (e.g. the reason
    #                         Nova gave for a refusal it was expected to make)

    def key(self):
        return (self.source, self.destination, self.case)


def _label(results, suite):
    versions = _versions(results, suite)
    return '%s (%s)' % (suite, versions) if versions else suite


def _versions(results, suite):
    """'libvirt X, QEMU Y' as the run recorded them (a candidate's read
    from its chroot)."""
    s = results['suites'].get(suite) or {}
    if not s.get('libvirt'):
        return ''
    return 'libvirt %s, QEMU %s' % (s['libvirt'], s.get('qemu') or '?')


def _base(results, suite):
    """The published suite a candidate stands on; a suite's own name."""
    return (results['suites'].get(suite) or {}).get('base') or suite


def differences(results):
    """A candidate's cells whose outcome is not that of the same cell on
    the published suite it stands on, in the same run: [(cell, published
    cell)], the regressions (it passed on the published suite) first."""
    by_key = {c.key(): c for c in _cells(results)}
    found = []
    for cell in _cells(results):
        key = (_base(results, cell.source),
               _base(results, cell.destination), cell.case)
        published = by_key.get(key)
        if key != cell.key() and published and \
                (published.outcome == 'ok') != (cell.outcome == 'ok'):
            found.append((cell, published))
    found.sort(key=lambda pair: (pair[1].outcome != 'ok',) + _place(
        results)(pair[0]))
    return found


def _difference_lines(results):
    return ['- %s → %s %s: %s here, %s on %s → %s%s' % (
        cell.source, cell.destination, cell.case, cell.outcome,
        published.outcome, published.source, published.destination,
        ' — ' + (cell.error or published.error)
        if cell.error or published.error else '')
        for cell, published in differences(results)]


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


# What a heat-map cell's colour says (its cells that passed / its cells).
LEGEND = (('all', '#2e8b57', 'every case passed'),
          ('partial', '#e0a000', 'some cases failed'),
          ('none', '#c0392b', 'no case passed'),
          ('empty', '#b0b0b0', 'nothing ran'))
COLOURS = {name: colour for name, colour, _ in LEGEND}
DEFAULT_TITLE = 'Live migration across libvirt versions'
DEFAULT_ABOUT = ('each cell: cases that migrated and verified (no reboot, '
                 'data identical, volume untouched) / cases run')


def _state(cells):
    ok = sum(c.outcome == 'ok' for c in cells)
    if not cells or all(c.outcome == 'not run' for c in cells):
        return 'empty'
    return 'all' if ok == len(cells) else 'partial' if ok else 'none'


def _anchor(source, destination):
    return 'cell-%s-%s' % (source, destination)


def _place(results):
    """A cell's place in the grid (source row, destination column), as a
    sort key."""
    order = list(results['suites'])

    def place(cell):
        return tuple(order.index(s) if s in order else 0
                     for s in (cell.source, cell.destination))
    return place


def _reds(results):
    """The cells that did not pass, pair by pair in the grid's order."""
    return sorted((c for c in _cells(results) if c.outcome != 'ok'),
                  key=_place(results))


def _reasons(results):
    """The cells that did not pass, grouped by outcome and reason: each
    reason once, with the cells it covers (in the grid's order)."""
    groups = {}
    for cell in _reds(results):
        groups.setdefault((cell.outcome, cell.error), []).append(cell)
    return [(outcome, error, cells)
            for (outcome, error), cells in groups.items()]


def _by_pair(cells):
    """{(source, destination): [case, ...]} of cells, in their order."""
    pairs = {}
    for cell in cells:
        pairs.setdefault((cell.source, cell.destination), []).append(
            cell.case)
    return pairs


def _where(cells):
    """'A → B: case, case; C → D: case' of cells, pair by pair."""
    return '; '.join('%s → %s: %s' % (a, b, ', '.join(names))
                     for (a, b), names in _by_pair(cells).items())


def markdown(results):
    suites = list(results['suites'])
    grid = _grid(results)
    marked = _marked(results)
    lines = ['%s: %s.' % (results.get('title', DEFAULT_TITLE),
                          results.get('about', DEFAULT_ABOUT)), '']
    changed = _difference_lines(results)
    if changed:
        # For "may we ship this candidate?": what it changed, first.
        lines += ['Candidate cells that differ from the published suite\'s '
                  '(%d), regressions first:' % len(changed), ''] + changed
        lines.append('')
    reds = _reds(results)
    if reds:
        # What failed first, with its reason.
        lines += ['Failed cells (%d), by reason:' % len(reds), '']
        lines += ['- %s — %s (%d): %s' % (outcome, error or '(no reason)',
                                          len(cells), _where(cells))
                  for outcome, error, cells in _reasons(results)]
        lines.append('')
    lines += ['| source ↓ \\ destination → | ' + ' | '.join(
        _label(results, s) for s in suites) + ' |',
        '| --- |' + ' --- |' * len(suites)]
    for source in suites:
        row = []
        for destination in suites:
            cells = grid.get((source, destination), [])
            ok = sum(c.outcome == 'ok' for c in cells)
            bad = [c.case for c in cells if c.outcome != 'ok']
            row.append('%d/%d%s%s' % (ok, len(cells), (
                ' ✗ ' + ', '.join(bad)) if bad else '', ' ≠ published' if (
                    source, destination) in marked else '')
                if cells else '—')
        lines.append('| %s | %s |' % (
            _label(results, source), ' | '.join(row)))
    if results.get('shard'):
        lines += ['', 'Shard %s of the matrix (`--shard`; join the shards '
                  'with `--merge`).' % results['shard']]
    elif results.get('shards'):
        lines += ['', 'Merged from shards %s%s.' % (', '.join(
            sorted(results['shards'])), '; **missing %s**' % ', '.join(
                results['missing_shards'])
            if results.get('missing_shards') else '')]
    if not results.get('complete', True):
        lines += ['', '**Incomplete run**: %d of %d cells ran (interrupted, '
                  'or still running).' % (
                      len(results['cells']), results.get('planned_cells', 0))]
    if 'conformance' in results:
        mismatches = [r for r in results['conformance'] if not r['agrees']]
        lines += ['', 'Conformance of the simulated libvirt: %d rows '
                  'checked, %d mismatches' % (len(results['conformance']),
                                              len(mismatches))]
        lines += ['- %s %s: real %s; simulated %s'
                  % (r['suite'], r['row'], r['real'], r['simulated'])
                  for r in mismatches]
    return '\n'.join(lines) + '\n'


def svg(results, size=90):
    """The heat map: rows are sources, columns destinations, each with its
    libvirt and QEMU; each cell links to its rows of the table."""
    suites = list(results['suites'])
    grid = _grid(results)
    marked = _marked(results)
    titles = {name: _title(results, name) for name in suites}
    # Cells as wide as the longest title line (a candidate's directory),
    # at about 7 px a character; the row titles' margin likewise.
    longest = max((len(line) for lines in titles.values() for line in lines),
                  default=0)
    size = max(size, 7 * longest + 10)
    rows = max((len(lines) for lines in titles.values()), default=3)
    margin, top = max(190, 7 * longest + 30), 24 + 12 * rows
    width = margin + size * len(suites) + 10
    height = top + size * len(suites) + 10
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" '
             'xmlns:xlink="http://www.w3.org/1999/xlink" width="%d" '
             'height="%d" font-family="sans-serif" font-size="12">'
             % (width, height),
             '<text x="%d" y="14" text-anchor="middle" font-weight="bold">'
             'destination →</text>' % (margin + size * len(suites) / 2),
             '<text x="12" y="%d" font-weight="bold" transform="rotate(-90 '
             '12 %d)" text-anchor="middle">source ↓</text>'
             % (top + size * len(suites) / 2, top + size * len(suites) / 2)]
    for i, name in enumerate(suites):
        lines = [html.escape(line) for line in titles[name]]
        # The versions' lines (the last two, when recorded) in small type.
        small = len(lines) - (2 if _versions(results, name) else 0)
        fonts = ['' if j < small else ' font-size="10"'
                 for j in range(len(lines))]
        x = margin + size * i + size / 2
        # A column is as wide as its cell: the name, libvirt and QEMU on
        # lines of their own, or the titles overlap.
        parts += ['<text x="%d" y="%d" text-anchor="middle"%s>%s</text>'
                  % (x, top - 10 - 12 * (len(lines) - 1 - j), fonts[j], line)
                  for j, line in enumerate(lines)]
        y = top + size * i + size / 2 - 6 * (len(lines) - 2)
        parts += ['<text x="%d" y="%d" text-anchor="end"%s>%s</text>'
                  % (margin - 10, y + 12 * j, fonts[j], line)
                  for j, line in enumerate(lines)]
    for i, source in enumerate(suites):
        for j, destination in enumerate(suites):
            cells = grid.get((source, destination), [])
            ok = sum(c.outcome == 'ok' for c in cells)
            state = _state(cells)
            x, y = margin + size * j, top + size * i
            differs = (source, destination) in marked
            rect = ('<rect x="%d" y="%d" width="%d" height="%d" fill="%s" '
                    'stroke="%s" stroke-width="%d"><title>%s → %s: %d/%d%s'
                    '</title></rect>'
                    '<text x="%d" y="%d" text-anchor="middle" fill="white">'
                    '%s</text>' % (x, y, size, size, COLOURS[state],
                                   'black' if differs else 'white',
                                   3 if differs else 1, html.escape(source),
                                   html.escape(destination), ok, len(cells),
                                   '; differs from the published suite'
                                   if differs else '', x + size / 2,
                                   y + size / 2 + 4, '%d/%d%s' % (
                                       ok, len(cells), ' ≠' if differs
                                       else '') if cells else '—'))
            if cells:
                rect = '<a xlink:href="#%s" href="#%s">%s</a>' % (
                    _anchor(source, destination),
                    _anchor(source, destination), rect)
            parts.append(rect)
    parts.append('</svg>')
    return ''.join(parts)


def _marked(results):
    """The grid cells (source, destination) holding a candidate's cell
    that differs from the published suite's."""
    return {(cell.source, cell.destination)
            for cell, _ in differences(results)}


def _title(results, name):
    """A suite's title lines: its name (a candidate's cut at each '+'),
    then libvirt and QEMU."""
    parts = name.split('+')
    lines = parts[:1] + ['+' + p for p in parts[1:]]
    versions = _versions(results, name)
    return lines + (versions.split(', ') if versions else [])


def legend(marked=False):
    return '<p class="legend">%s%s</p>' % (' '.join(
        '<span><span class="swatch" style="background:%s"></span>%s</span>'
        % (colour, html.escape(text)) for _, colour, text in LEGEND),
        ' <span><span class="swatch" style="border:3px solid black">'
        '</span>≠ a candidate\'s cell that differs from the published '
        'suite\'s</span>' if marked else '')


def html_page(results):
    title = results.get('title', DEFAULT_TITLE)
    cells = _cells(results)
    place = _place(results)
    # Pairs with a failed cell first, then the grid's order; the first row
    # of each pair carries the anchor its heat-map cell links to.
    grid_states = {key: _state(group) for key, group in _grid(
        results).items()}
    cells.sort(key=lambda c: (grid_states[(c.source, c.destination)]
                              == 'all',) + place(c))
    rows, seen = [], set()
    for c in cells:
        key = (c.source, c.destination)
        anchor = '' if key in seen else ' id="%s"' % _anchor(*key)
        seen.add(key)
        rows.append(
            '<tr class="%s"%s><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
            '<td>%s</td><td>%.2f</td><td>%s</td></tr>'
            % (c.outcome.replace(' ', '-'), anchor, html.escape(c.source),
               html.escape(c.destination), html.escape(c.case), c.outcome,
               html.escape(' '.join(c.flags)), c.migration_seconds,
               html.escape(c.error or c.note)))
    reds = ''.join('<li>%s — %s (%d): %s</li>' % (
        outcome, html.escape(error or '(no reason)'), len(group),
        '; '.join('<a href="#%s">%s → %s</a>: %s' % (
            _anchor(a, b), html.escape(a), html.escape(b),
            html.escape(', '.join(names)))
            for (a, b), names in _by_pair(group).items()))
        for outcome, error, group in _reasons(results))
    changed = ''.join('<li>%s</li>' % html.escape(line[2:])
                      for line in _difference_lines(results))
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
            'migtests: %s</title><style>body{font-family:sans-serif}'
            'td{padding:2px 6px}tr.ok{background:#e6f4e6}'
            'tr.failed,tr.refused,tr.not-run{background:#f8e0e0}'
            '.swatch{display:inline-block;width:12px;height:12px;'
            'margin:0 4px 0 12px;vertical-align:middle}</style>'
            '</head><body><h1>%s</h1>'
            '<p>Rows: source, columns: destination; %s. %s s in all.%s</p>'
            '%s%s%s%s<h2>Cells</h2><table>'
            '<tr><th>source</th><th>destination</th><th>case</th>'
            '<th>outcome</th><th>flags</th><th>seconds</th>'
            '<th>error or note</th></tr>%s</table></body></html>\n'
            % (html.escape(title), html.escape(title),
               html.escape(results.get('about', DEFAULT_ABOUT)),
               results['seconds'], '' if results.get('complete', True) else
               ' <strong>Incomplete run: %d of %d cells ran.</strong>' % (
                   len(results['cells']), results.get('planned_cells', 0)),
               '<h2>Candidate cells that differ from the published '
               'suite\'s, regressions first</h2><ul>%s</ul>' % changed
               if changed else '',
               '<h2>Failed cells</h2><ul>%s</ul>' % reds if reds else '',
               svg(results), legend(bool(changed)), ''.join(rows)))


def write_reports(results, prefix):
    """results.json, report.md, report.html, results.xml and
    results.subunit; each file is replaced whole, so a reader (or a
    crash) never meets half a report."""
    for name, text in (('results.json', json.dumps(results, indent=1)),
                       ('report.md', markdown(results)),
                       ('report.html', html_page(results))):
        with open(prefix + name + '.tmp', 'w') as f:
            f.write(text)
        os.replace(prefix + name + '.tmp', prefix + name)
    # For CI systems: results.xml (JUnit) and results.subunit.
    ciformats.write(prefix, results.get('title', DEFAULT_TITLE),
                    ciformats.of_cells(results))


def compare(old, new):
    """What regressed, what was fixed, what appeared or went away.  A
    candidate of the new run that the old run does not have is compared
    with the published suite it stands on (a candidate run against the
    published suite's run: "may we ship this update?")."""
    before = {c.key(): c for c in map(_current, _cells(old))}
    after = {c.key(): c for c in map(_current, _cells(new))}

    def counterpart(key):
        source, destination, case = key
        return tuple(s if s in old.get('suites', {}) else _base(new, s)
                     for s in (source, destination)) + (case,)
    changes = {'regressed': [], 'fixed': [], 'new': [], 'gone': [],
               'was': {}, 'not_compared': []}
    matched = set()
    for key, cell in sorted(after.items()):
        then = before.get(counterpart(key))
        if then is None:
            changes['new'].append(cell)
            continue
        matched.add(counterpart(key))
        changes['was'][key] = then
        if then.outcome == 'ok' and cell.outcome != 'ok':
            changes['regressed'].append(cell)
        elif then.outcome != 'ok' and cell.outcome == 'ok':
            changes['fixed'].append(cell)
    # Cells of suites the new run did not have (nor as a candidate's
    # base) are not compared: counted, not listed as gone.
    scope = set(new.get('suites', {})) | {
        _base(new, s) for s in new.get('suites', {})}
    for key in sorted(set(before) - matched):
        kind = 'gone' if {key[0], key[1]} <= scope else 'not_compared'
        changes[kind].append(before[key])
    changes['suites_not_run'] = sorted({
        s for c in changes['not_compared'] for s in (c.source, c.destination)
    } - scope)
    return changes


def load(path):
    """A results.json of the matrix or the upgrade cloud; BadInput."""
    try:
        with open(path) as f:
            data = json.load(f)
        data['cells']
        return data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise command.BadInput('%s is not a results.json of the matrix or '
                               'the upgrade cloud: %s'
                               % (path, str(exc).splitlines()[0])) from None


def print_changes(old_path, new_path):
    """Print what changed between two results.json, a line a cell; the
    exit status: 1 if a cell regressed.  BadInput."""
    changes = compare(load(old_path), load(new_path))
    for kind in ('regressed', 'fixed', 'new', 'gone'):
        for cell in changes[kind]:
            then = changes['was'].get(cell.key())
            print('%-9s %s -> %s %s: %s%s %s' % (
                kind, cell.source, cell.destination, cell.case, cell.outcome,
                ' (was %s on %s -> %s)' % (then.outcome, then.source,
                                           then.destination)
                if then and then.key() != cell.key() else
                ' (was %s)' % then.outcome if then else '',
                cell.error or (then.error if then else '')))
    outside = changes['not_compared']
    print('%d regressed, %d fixed, %d new, %d gone%s' % (tuple(
        len(changes[k]) for k in ('regressed', 'fixed', 'new', 'gone'))
        + ('; %d cells of suites the new run did not have, not compared (%s)'
           % (len(outside), ', '.join(changes['suites_not_run']))
           if outside else '',)))
    return 1 if changes['regressed'] else 0
