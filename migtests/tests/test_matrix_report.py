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

"""The matrix report and --compare, on synthetic results (no lab)."""

import io
import json
import os
import tempfile
from unittest import mock

from oslotest import base
from tempest.lib import decorators

from migtests.lab import matrix_cli
from migtests.lab import report


def results(outcomes):
    cells = [dict(source=s, destination=d, case=c, outcome=o, error=e)
             for (s, d, c), (o, e) in outcomes.items()]
    return {'suites': {'bullseye': {}, 'sid': {}}, 'cases': ['live'],
            'seconds': 1.0, 'cells': cells}


OLD = results({
    ('bullseye', 'bullseye', 'live'): ('ok', ''),
    ('bullseye', 'sid', 'live'): ('ok', ''),
    ('sid', 'bullseye', 'live'): ('failed', 'unsupported machine type'),
    ('sid', 'sid', 'live'): ('ok', ''),
})
# Written after the catalogue: its cases under their ids ('live' and
# 'block' were the matrix's own names before).
LIVE, BLOCK = 'defaults-volume-backed', 'defaults-block'
NEW = results({
    ('bullseye', 'bullseye', LIVE): ('ok', ''),
    ('bullseye', 'sid', LIVE): ('failed', 'TLS handshake failed'),
    ('sid', 'bullseye', LIVE): ('ok', ''),
    ('sid', 'sid', BLOCK): ('ok', ''),
})


class TestReport(base.BaseTestCase):
    @decorators.idempotent_id('637a1ec2-1a64-455e-bd9e-88905b44082b')
    def test_markdown_counts_and_explains_red_cells(self):
        text = report.markdown(OLD)
        self.assertIn('| bullseye (libvirt 7.0.0, QEMU 5.2) | 1/1 | 1/1 |',
                      text)
        self.assertIn('0/1 ✗ live', text)
        self.assertIn('sid → bullseye, live: failed — unsupported machine '
                      'type', text)

    @decorators.idempotent_id('d0eaa740-e182-473d-bb2a-d8e021e9b9a5')
    def test_html_has_the_heat_map_and_every_cell(self):
        page = report.html_page(OLD)
        self.assertIn('<svg', page)
        self.assertEqual(4, page.count('<rect'))
        self.assertEqual(4, page.count('<tr class='))

    @decorators.idempotent_id('1e9d7c3a-5b2f-4a8e-9c6d-0f1a2b3c4d5e')
    def test_heat_map_reads_without_a_guide(self):
        partial = results({
            ('bullseye', 'bullseye', 'live'): ('ok', ''),
            ('bullseye', 'sid', 'live'): ('ok', ''),
            ('bullseye', 'sid', 'block'): ('failed', 'no disk'),
            ('sid', 'bullseye', 'live'): ('failed', 'unsupported machine'),
        })
        page = report.html_page(partial)
        # Axis titles, each suite with its versions, a legend.
        self.assertIn('destination →', page)
        self.assertIn('source ↓', page)
        self.assertIn('libvirt 12.8.0, QEMU 11.1', page)
        for _, colour, text in report.LEGEND:
            self.assertIn(colour, page)
            self.assertIn(text, page)
        # Green all, amber partial, red none, grey nothing ran.
        svg = report.svg(partial)
        self.assertEqual(1, svg.count(report.COLOURS['all']))
        self.assertEqual(1, svg.count(report.COLOURS['partial']))
        self.assertEqual(1, svg.count(report.COLOURS['none']))
        self.assertEqual(1, svg.count(report.COLOURS['empty']))
        # Each cell that ran links to its first row; failed pairs first.
        self.assertIn('href="#cell-bullseye-sid"', svg)
        self.assertNotIn('href="#cell-sid-sid"', svg)
        rows = page.split('<h2>Cells</h2>')[1]
        self.assertLess(rows.index('id="cell-bullseye-sid"'),
                        rows.index('id="cell-bullseye-bullseye"'))
        self.assertLess(page.index('<h2>Failed cells</h2>'),
                        page.index('<svg'))
        text = report.markdown(partial)
        self.assertLess(text.index('Failed cells (2):'),
                        text.index('| source ↓'))

    @decorators.idempotent_id('b5c56683-f29d-4443-976a-8985c9790bdd')
    def test_compare(self):
        # The old results' case names are read as their catalogue ids.
        changes = report.compare(OLD, NEW)
        self.assertEqual([('bullseye', 'sid', LIVE)],
                         [c.key() for c in changes['regressed']])
        self.assertEqual([('sid', 'bullseye', LIVE)],
                         [c.key() for c in changes['fixed']])
        self.assertEqual([('sid', 'sid', BLOCK)],
                         [c.key() for c in changes['new']])
        self.assertEqual([('sid', 'sid', LIVE)],
                         [c.key() for c in changes['gone']])


class TestMatrixCli(base.BaseTestCase):
    def _run(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with mock.patch('sys.stdout', out), mock.patch('sys.stderr', err):
            status = matrix_cli.main(list(argv))
        return status, out.getvalue(), err.getvalue()

    def _files(self, *datas):
        paths = []
        for data in datas:
            fd, path = tempfile.mkstemp(suffix='.json')
            with os.fdopen(fd, 'w') as f:
                json.dump(data, f)
            self.addCleanup(os.unlink, path)
            paths.append(path)
        return paths

    @decorators.idempotent_id('6f448587-e6a7-46ef-a13a-bf07dd8ff417')
    def test_compare_reports_the_regression(self):
        status, out, _ = self._run('--compare', *self._files(OLD, NEW))
        self.assertEqual(1, status)
        self.assertIn('regressed bullseye -> sid %s: failed' % LIVE, out)
        self.assertIn('1 regressed, 1 fixed, 1 new, 1 gone', out)

    @decorators.idempotent_id('5d078da9-e534-4c92-86b4-72190e68a7ba')
    def test_compare_without_regression_exits_0(self):
        status, _, _ = self._run('--compare', *self._files(NEW, NEW))
        self.assertEqual(0, status)

    @decorators.idempotent_id('53ba9a21-0eb1-4d46-ac61-43bf29b01c9b')
    def test_bad_input_is_one_line(self):
        for argv, needle in (
                (['--suites', 'bullseye,jessie'], 'unknown suite jessie'),
                (['--cases', 'teleport'], 'unknown case teleport'),
                (['--compare', '/nonexistent.json', '/nonexistent.json'],
                 'not a results.json of the matrix or the upgrade cloud'),
                (['--jobs', '0'], '--jobs must be at least 1'),
                (['--bogus'], 'unrecognized arguments')):
            status, out, err = self._run(*argv)
            self.assertEqual(2, status, err)
            self.assertEqual(1, err.count('\n'), err)
            self.assertIn(needle, err)
