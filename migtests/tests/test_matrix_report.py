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

import dataclasses
import io
import json
import os
import re
import tempfile
from unittest import mock

from xml.etree import ElementTree

import fixtures
from oslotest import base
import subunit
from tempest.lib import decorators
import testtools

from migtests.lab import chroots
from migtests.lab import ciformats
from migtests.lab import matrix
from migtests.lab import matrix_cli
from migtests.lab import report


def results(outcomes, suites=('bullseye', 'sid')):
    """A run's results as the matrix records them (each suite as
    chroots.Suite)."""
    cells = [dict(source=s, destination=d, case=c, outcome=o, error=e)
             for (s, d, c), (o, e) in outcomes.items()]
    return {'suites': {name: dataclasses.asdict(chroots.SUITES[name])
                       for name in suites}, 'cases': ['live'],
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
        self.assertIn('- failed — unsupported machine type (1): sid → '
                      'bullseye: live', text)

    @decorators.idempotent_id('4a803475-3f20-4e4b-940d-17065e71def9')
    def test_a_reason_is_listed_once_with_its_cells(self):
        same = results({
            ('bullseye', 'sid', 'live'): ('failed', 'TLS handshake failed'),
            ('sid', 'bullseye', 'live'): ('failed', 'TLS handshake failed'),
            ('sid', 'sid', 'live'): ('failed', 'no disk'),
            ('bullseye', 'bullseye', 'live'): ('ok', ''),
        })
        text = report.markdown(same)
        self.assertEqual(1, text.count('TLS handshake failed'))
        self.assertIn('- failed — TLS handshake failed (2): bullseye → sid: '
                      'live; sid → bullseye: live', text)
        self.assertIn('- failed — no disk (1): sid → sid: live', text)
        page = report.html_page(same)
        failed = page.split('<h2>Failed cells</h2>')[1].split('</ul>')[0]
        self.assertEqual(2, failed.count('<li>'))
        self.assertIn('<a href="#cell-sid-bullseye">', failed)

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
        # Each column's versions on lines of their own, each narrower
        # than its 90 px cell at 10 px (about 5.5 px a character).
        self.assertIn('>libvirt 12.8.0</text>', page)
        self.assertIn('>QEMU 11.1</text>', page)
        small = re.findall(r'<text x="\d+" y="\d+" text-anchor="middle" '
                           r'font-size="10">([^<]*)</text>', page)
        self.assertEqual(4, len(small))
        self.assertLessEqual(max(map(len, small)), 90 // 5.5)
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
        self.assertLess(text.index('Failed cells (2), by reason:'),
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


def with_candidate(outcomes):
    """A run with bookworm and a candidate over it (versions as its chroot
    gave them)."""
    run = results(outcomes, suites=('bookworm',))
    run['suites']['bpo'] = dict(run['suites']['bookworm'], name='bpo',
                                base='bookworm', libvirt='11.3.0',
                                qemu='10.0.2',
                                sources=['bookworm-backports'])
    return run


class TestCandidateReport(base.BaseTestCase):
    @decorators.idempotent_id('063c70ce-45d0-45cb-b7fd-29bcaf63f56f')
    def test_cells_that_differ_from_the_published_suite_come_first(self):
        run = with_candidate({
            ('bookworm', 'bookworm', 'live'): ('ok', ''),
            ('bookworm', 'bookworm', 'block'): ('failed', 'old bug'),
            ('bookworm', 'bpo', 'live'): ('failed', 'TLS handshake failed'),
            ('bookworm', 'bpo', 'block'): ('ok', ''),
            ('bpo', 'bookworm', 'live'): ('ok', ''),
            ('bpo', 'bookworm', 'block'): ('failed', 'old bug'),
        })
        self.assertEqual(
            [('bookworm', 'bpo', 'live'), ('bookworm', 'bpo', 'block')],
            [cell.key() for cell, _ in report.differences(run)])
        text = report.markdown(run)
        self.assertLess(text.index('differ from the published'),
                        text.index('Failed cells'))
        self.assertIn('- bookworm → bpo live: failed here, ok on bookworm → '
                      'bookworm — TLS handshake failed', text)
        self.assertIn('- bookworm → bpo block: ok here, failed on bookworm '
                      '→ bookworm — old bug', text)
        self.assertIn('| bpo (libvirt 11.3.0, QEMU 10.0.2) |', text)
        self.assertIn('1/2 ✗ live ≠ published', text)
        page = report.html_page(run)
        self.assertIn('>libvirt 11.3.0</text>', page)
        self.assertEqual(1, page.count('stroke="black" stroke-width="3"'))
        self.assertIn('≠ a candidate', page)

    @decorators.idempotent_id('5f6f9b1c-64d5-41f1-8970-ee5d14f3b5cc')
    def test_long_candidate_names_get_cells_that_fit(self):
        run = with_candidate({('bookworm', 'bpo', 'live'): ('ok', '')})
        long_name = 'bookworm+/srv/candidates/libvirt-11.3.0-rebuild'
        run['suites'][long_name] = run['suites'].pop('bpo')
        page = report.html_page(run)
        size = int(re.search(r'<rect x="\d+" y="\d+" width="(\d+)"',
                             page).group(1))
        # Cut at the '+', each line no wider than its cell (7 px a
        # character at 12 px).
        self.assertIn('>+/srv/candidates/libvirt-11.3.0-rebuild</text>',
                      page)
        self.assertGreaterEqual(size, 7 * len(
            '+/srv/candidates/libvirt-11.3.0-rebuild'))

    @decorators.idempotent_id('f1b3c982-0519-4631-8691-9394c71827e7')
    def test_compare_a_candidate_run_with_the_published_run(self):
        published = results({
            ('bookworm', 'bookworm', LIVE): ('ok', ''),
            ('bookworm', 'bookworm', BLOCK): ('ok', ''),
        }, suites=('bookworm',))
        candidate = with_candidate({
            ('bookworm', 'bpo', LIVE): ('ok', ''),
            ('bookworm', 'bpo', BLOCK): ('failed', 'no disk'),
            ('bpo', 'bookworm', LIVE): ('ok', ''),
            ('bpo', 'bookworm', BLOCK): ('ok', ''),
        })
        changes = report.compare(published, candidate)
        self.assertEqual([('bookworm', 'bpo', BLOCK)],
                         [c.key() for c in changes['regressed']])
        self.assertEqual(([], [], []), (
            changes['fixed'], changes['new'], changes['gone']))
        self.assertEqual('ok', changes['was'][
            ('bookworm', 'bpo', BLOCK)].outcome)

    @decorators.idempotent_id('e92e2ea0-2e59-40f6-a7af-cccda2e7370c')
    def test_cells_of_suites_the_new_run_lacks_are_not_compared(self):
        published = results({
            ('bookworm', 'bookworm', LIVE): ('ok', ''),
            ('bookworm', 'sid', LIVE): ('ok', ''),
            ('sid', 'sid', LIVE): ('ok', ''),
        }, suites=('bookworm', 'sid'))
        candidate = with_candidate({('bpo', 'bookworm', LIVE): ('ok', '')})
        changes = report.compare(published, candidate)
        self.assertEqual([], changes['gone'])
        self.assertEqual([('bookworm', 'sid', LIVE), ('sid', 'sid', LIVE)],
                         [c.key() for c in changes['not_compared']])
        self.assertEqual(['sid'], changes['suites_not_run'])
        # A cell of the new run's own suites that it lacks is gone.
        candidate['cells'] = []
        self.assertEqual([('bookworm', 'bookworm', LIVE)], [
            c.key() for c in report.compare(published, candidate)['gone']])


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


class TestCiFormats(base.BaseTestCase):
    """Every report also goes out as JUnit XML and a subunit stream."""

    @decorators.idempotent_id('20ad493b-9b0d-467a-ae09-db4dc790fe2c')
    def test_a_test_per_cell_and_row_failures_with_their_reason(self):
        prefix = self.useFixture(fixtures.TempDir()).path + '/'
        data = dict(OLD, cells=list(OLD['cells']), conformance=[
            {'suite': 'sid', 'row': 'tunnelled-tls', 'agrees': False,
             'real': 'internal error', 'simulated': 'ok'},
            {'suite': 'sid', 'row': 'plain', 'agrees': True,
             'real': 'ok', 'simulated': 'ok'}])
        data['cells'].append(dict(source='sid', destination='sid',
                                  case='block', outcome='not run',
                                  error='the lab did not come up'))
        report.write_reports(data, prefix)
        root = ElementTree.parse(prefix + 'results.xml').getroot()
        self.assertEqual(('7', '3'), (root.get('tests'),
                                      root.get('failures')))
        cases = {(c.get('classname'), c.get('name')): c
                 for c in root.iter('testcase')}
        self.assertEqual(7, len(cases))
        failed = {key: case.find('failure').get('message')
                  for key, case in cases.items()
                  if case.find('failure') is not None}
        self.assertEqual({
            ('sid_to_bullseye', 'live'): 'unsupported machine type',
            ('sid_to_sid', 'block'): 'the lab did not come up',
            ('conformance.sid', 'tunnelled-tls'):
                'real internal error; simulated ok'}, failed)
        seen = testtools.StreamToDict(lambda test: found.append(test))
        found = []
        with open(prefix + 'results.subunit', 'rb') as f:
            seen.startTestRun()
            subunit.ByteStreamToStreamResult(f).run(seen)
            seen.stopTestRun()
        by_id = {t['id']: t for t in found}
        self.assertEqual(7, len(by_id))
        self.assertEqual('fail', by_id['sid_to_bullseye.live']['status'])
        self.assertEqual('success', by_id['bullseye_to_sid.live']['status'])
        self.assertEqual(b'unsupported machine type', b''.join(
            by_id['sid_to_bullseye.live']['details']['reason'].iter_bytes()))

    @decorators.idempotent_id('876331f2-5586-4da2-8f75-303c52c846fc')
    def test_a_job_as_junit(self):
        prefix = self.useFixture(fixtures.TempDir()).path + '/'
        record = {'runs': {'upstream': {'tests': [
            {'id': 'migtests.api.compute.test_x.T.test_a[id-1,slow]',
             'status': 'FAILED', 'failure': "'cancelled' != 'error'",
             'reason': '', 'seconds': 3.5},
            {'id': 'setUpClass (migtests.api.compute.test_y.U)',
             'status': 'SKIPPED', 'reason': 'no counter image',
             'seconds': 0.0}]}}}
        ciformats.write(prefix, 'job', ciformats.of_job(record),
                        stream=False)
        self.assertFalse(os.path.exists(prefix + 'results.subunit'))
        cases = list(ElementTree.parse(prefix + 'results.xml').getroot()
                     .iter('testcase'))
        self.assertEqual(('upstream.migtests.api.compute.test_x.T', 'test_a',
                          "'cancelled' != 'error'", '3.500'),
                         (cases[0].get('classname'), cases[0].get('name'),
                          cases[0].find('failure').get('message'),
                          cases[0].get('time')))
        self.assertEqual(('upstream.migtests.api.compute.test_y.U',
                          'setUpClass', 'no counter image'),
                         (cases[1].get('classname'), cases[1].get('name'),
                          cases[1].find('skipped').get('message')))


class TestShards(base.BaseTestCase):
    """--shard K/N splits the matrix for N nodes; --merge joins them."""

    @decorators.idempotent_id('be90e0a2-9e27-4344-9739-8ddb06bb316c')
    def test_every_pair_in_exactly_one_shard(self):
        todo = matrix.pairs(['bullseye', 'bookworm', 'trixie', 'sid'])
        for count in (1, 2, 3, 4, 11):
            shards = [matrix.shard(todo, k, count)
                      for k in range(1, count + 1)]
            self.assertEqual(sorted(todo),
                             sorted(p for part in shards for p in part))
            self.assertEqual(len(todo), len(set(
                p for part in shards for p in part)))
        # The same split on every node.
        self.assertEqual(matrix.shard(todo, 2, 3), matrix.shard(todo, 2, 3))

    def shard_run(self, shard, cells, complete=True):
        run = results(cells)
        run.update(shard=shard, complete=complete, planned_cells=len(cells),
                   conformance=[])
        return run

    @decorators.idempotent_id('0810ed55-bc63-4a49-b67c-c56f5a5b9246')
    def test_merge_joins_and_says_what_is_missing(self):
        one = self.shard_run('1/2', {('sid', 'sid', 'live'): ('ok', '')})
        two = self.shard_run('2/2', {
            ('sid', 'bullseye', 'live'): ('failed', 'TLS handshake failed'),
            ('bullseye', 'sid', 'live'): ('ok', '')})
        merged = matrix.merge([one, two])
        self.assertTrue(merged['complete'])
        self.assertEqual(3, len(merged['cells']))
        self.assertEqual(3, merged['planned_cells'])
        partial = matrix.merge([two])
        self.assertFalse(partial['complete'])
        self.assertIn('missing 1/2', report.markdown(partial))
        self.assertRaises(ValueError, matrix.merge, [one, one])
        self.assertRaises(ValueError, matrix.merge, [
            one, self.shard_run('2/3', {('a', 'b', 'live'): ('ok', '')})])

    @decorators.idempotent_id('3e112970-edf5-4790-94f0-0c5172a6bed3')
    def test_the_command_merges_or_refuses_in_one_line(self):
        folder = self.useFixture(fixtures.TempDir()).path
        paths = []
        for shard, cells in (
                ('1/2', {('sid', 'sid', 'live'): ('ok', '')}),
                ('2/2', {('sid', 'bullseye', 'live'): ('ok', '')})):
            path = os.path.join(folder, shard.replace('/', '-') + '.json')
            with open(path, 'w') as f:
                json.dump(self.shard_run(shard, cells), f)
            paths.append(path)
        out = os.path.join(folder, 'merged')
        with mock.patch('sys.stdout', new_callable=io.StringIO):
            self.assertEqual(0, matrix_cli.main(
                ['--merge'] + paths + ['--output', out]))
        with open(os.path.join(out, 'results.json')) as f:
            self.assertEqual(['1/2', '2/2'], json.load(f)['shards'])
        for bad, said in ((['--shard', '3/2'], 'K must be from 1 to N'),
                          (['--shard', 'x'], 'takes K/N'),
                          (['--merge', paths[0], paths[0]],
                           'is in two of the runs')):
            with mock.patch('sys.stderr', new_callable=io.StringIO) as err:
                self.assertEqual(2, matrix_cli.main(bad + ['--output',
                                                           out]))
            self.assertIn(said, err.getvalue())
            self.assertEqual(1, len(err.getvalue().splitlines()))
