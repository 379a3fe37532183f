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

"""Suites built from libvirt's source: named like any suite, found or
skipped in one line by their sources, cached by commit and recipe.  (The
real builds and their migrations: the lab's source-built cases and the
closing notes' figures.)"""

import io
import os
import subprocess

import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import chroots
from migtests.lab import cli
from migtests.lab import matrix_cli
from migtests.lab import sourcebuild


def git_repository(directory):
    """A real git repository with one commit; returns its commit."""
    def git(*args):
        return subprocess.run(
            ['git', '-C', directory, '-c', 'user.name=t',
             '-c', 'user.email=t@example.org'] + list(args),
            check=True, capture_output=True, text=True).stdout.strip()
    git('init', '-q')
    with open(os.path.join(directory, 'README'), 'w') as f:
        f.write('x\n')
    git('add', 'README')
    git('commit', '-q', '-m', 'one')
    return git('rev-parse', 'HEAD')


class TestSourceBuiltSuites(testtools.TestCase):
    def setUp(self):
        super().setUp()
        for env in sourcebuild.SOURCE_ENV.values():
            self.useFixture(fixtures.EnvironmentVariable(env))
        self.dir = self.useFixture(fixtures.TempDir()).path

    @decorators.idempotent_id('0c3f1d2e-6a35-4a54-9c57-3f7d2b1e8a01')
    def test_a_release_is_a_suite_over_its_base(self):
        suite = chroots.suite('libvirt-1.2.17')
        self.assertEqual(('1.2.17', '1.2.17', 'bullseye'),
                         (suite.libvirt, suite.built, suite.bootstrap))
        self.assertEqual(['libvirt-1.2.17', 'libvirt-1.3.1'],
                         chroots.known(['libvirt-1.2.17', 'libvirt-1.3.1']))
        # Older than every published suite: first on the grid's axes.
        self.assertEqual(['libvirt-1.2.17', 'libvirt-1.3.1', 'bullseye'],
                         matrix_cli._grid_order(
                             ['bullseye', 'libvirt-1.3.1', 'libvirt-1.2.17']))

    @decorators.idempotent_id('5b8e1c4a-2f0d-4e3b-8a6c-9d1e7f2a3b44')
    def test_the_chroot_is_keyed_by_commit_and_recipe(self):
        path = chroots._root('/cache', 'libvirt-1.3.1')
        self.assertEqual('/cache/chroots/libvirt-1.3.1-%s'
                         % sourcebuild.recipe_key(
                             sourcebuild.RELEASES['libvirt-1.3.1']), path)
        self.assertNotEqual(path, chroots._root('/cache', 'libvirt-1.2.17'))
        self.useFixture(fixtures.MockPatchObject(
            sourcebuild, 'CFLAGS', sourcebuild.CFLAGS + (('-O0', 'x'),)))
        self.assertNotEqual(path, chroots._root('/cache', 'libvirt-1.3.1'))

    @decorators.idempotent_id('9f2a6d3c-1e4b-47c8-b5a0-6c3d8e9f1a27')
    def test_absent_sources_are_one_line(self):
        why = sourcebuild.missing('libvirt-1.2.17')
        self.assertIn('libvirt-1.2.17: skipped, no libvirt source with '
                      'commit 845184b2fd88', why)
        self.assertIn('MIGTESTS_LIBVIRT_SOURCE', why)
        self.assertEqual(1, len(why.splitlines()))
        self.assertEqual({'libvirt-1.2.17': why},
                         chroots.unavailable(['bullseye', 'libvirt-1.2.17']))

    @decorators.idempotent_id('c7d4e2b1-8a3f-4c6e-9b5d-2e1f0a7c8d93')
    def test_a_repository_without_the_commit_is_absent_too(self):
        git_repository(self.dir)
        why = sourcebuild.missing('libvirt-1.3.1', {'libvirt': self.dir,
                                                    'gnulib': self.dir})
        self.assertIn('no libvirt source with commit 8fd68675e2b5', why)

    @decorators.idempotent_id('3e6b9a1d-4c2f-4d8a-a7e5-1b0c9d8f2e64')
    def test_sources_holding_the_commits_are_found(self):
        commit = git_repository(self.dir)
        release = sourcebuild.Release('9.9.9', commit, commit)
        self.useFixture(fixtures.MockPatchObject(
            sourcebuild, 'RELEASES', {release.name: release}))
        self.useFixture(fixtures.MockPatchObject(sourcebuild, 'GNULIB_FIX',
                                                 commit))
        self.useFixture(fixtures.EnvironmentVariable(
            'MIGTESTS_LIBVIRT_SOURCE', self.dir))
        self.useFixture(fixtures.EnvironmentVariable(
            'MIGTESTS_GNULIB_SOURCE', self.dir))
        self.assertEqual('', sourcebuild.missing('libvirt-9.9.9'))
        self.assertEqual({}, chroots.unavailable(['libvirt-9.9.9']))

    @decorators.idempotent_id('8a1c5e3f-7b2d-4f9e-b6a4-0d3c2e1f9b58')
    def test_the_matrix_skips_them_in_one_line_each(self):
        out, err = io.StringIO(), io.StringIO()
        self.useFixture(fixtures.MockPatch('sys.stdout', out))
        self.useFixture(fixtures.MockPatch('sys.stderr', err))
        # Nothing left to run: bad input, after the skip was said.
        status = matrix_cli.main(['--pairs', 'libvirt-1.2.17:libvirt-1.3.1',
                                  '--output', self.dir])
        self.assertEqual(2, status)
        self.assertEqual(2, len(out.getvalue().splitlines()))
        self.assertIn('libvirt-1.3.1: skipped', out.getvalue())
        self.assertIn('every pair named was skipped', err.getvalue())
        self.assertEqual(1, len(err.getvalue().splitlines()))

    @decorators.idempotent_id('e4b2d9c6-3a1f-48e7-9c0b-5f6a2d1e3c79')
    def test_what_is_left_runs(self):
        suites, pairs = matrix_cli._available(
            ['libvirt-1.2.17', 'bullseye'],
            [('libvirt-1.2.17', 'bullseye'), ('bullseye', 'bullseye')],
            'migtests-matrix')
        self.assertEqual(['bullseye'], suites)
        self.assertEqual([('bullseye', 'bullseye')], pairs)

    @decorators.idempotent_id('2d7c9e4a-6b1f-4a3e-8c5d-7e0f1b2a9c36')
    def test_the_seed_repro_says_why_it_cannot_run(self):
        err = io.StringIO()
        self.useFixture(fixtures.MockPatch('sys.stderr', err))
        status = cli.main(['repro', 'tunnelled-selective-disks-2016'])
        self.assertEqual(2, status)
        self.assertEqual(1, len(err.getvalue().splitlines()))
        self.assertIn('libvirt-1.2.17: skipped, no libvirt source',
                      err.getvalue())
