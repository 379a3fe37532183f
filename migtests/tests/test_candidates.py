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

"""Candidates: a published suite with packages of its own over it.  Names
are checked before anything runs; the chroot is keyed by the candidate's
content; its build prefers the candidate's sources and verifies that apt
took them.  (Real builds: the closing notes' bookworm-backports runs.)"""

import io
import os
import subprocess

import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import chroots
from migtests.lab import matrix_cli


def make_deb(directory, package, version='1.0'):
    """A real (empty) Debian package, built by dpkg-deb."""
    tree = os.path.join(directory, '.tree-%s' % package)
    os.makedirs(os.path.join(tree, 'DEBIAN'))
    with open(os.path.join(tree, 'DEBIAN', 'control'), 'w') as f:
        f.write('Package: %s\nVersion: %s\nArchitecture: all\n'
                'Maintainer: migtests <m@example.org>\nDescription: test\n'
                % (package, version))
    path = os.path.join(directory, '%s_%s_all.deb' % (package, version))
    subprocess.run(['dpkg-deb', '--root-owner-group', '--build', tree, path],
                   check=True, capture_output=True)
    subprocess.run(['rm', '-rf', tree], check=True)
    return path


class TestCandidateNames(testtools.TestCase):
    def setUp(self):
        super().setUp()
        chroots._candidate.cache_clear()
        self.addCleanup(chroots._candidate.cache_clear)
        self.useFixture(fixtures.MockPatchObject(chroots, '_LABELS', {}))
        self.dir = self.useFixture(fixtures.TempDir()).path

    def bad(self, name):
        return str(self.assertRaises(chroots.BadSuite, chroots.known,
                                     [name]))

    @decorators.idempotent_id('ba58dc81-651d-49ae-a3df-c4e8eb2feb7e')
    def test_published_suites_stay_themselves(self):
        self.assertEqual(['bookworm', 'sid'],
                         chroots.known(['bookworm', 'sid']))
        self.assertEqual('', chroots.suite('sid').base)

    @decorators.idempotent_id('ad54f476-926d-48c1-a2bf-06ecc71e2d73')
    def test_apt_suite_candidate(self):
        found = chroots.suite('bookworm+bookworm-backports')
        self.assertEqual(('bookworm', ('bookworm-backports',)),
                         (found.base, found.sources))
        self.assertEqual(('bookworm-backports',), found.apt_suites)
        self.assertEqual((), found.directories)
        # Its versions are unknown until its chroot is read.
        self.assertEqual(('', ''), (found.libvirt, found.qemu))
        self.assertEqual(chroots.SUITES['bookworm'].all_packages,
                         found.all_packages)

    @decorators.idempotent_id('95938091-fcea-4e77-9e3a-d34e8d5c687b')
    def test_directory_candidate_by_label(self):
        make_deb(self.dir, 'libvirt0', '11.3.0-1')
        name = 'mine=bookworm+%s' % self.dir
        self.assertEqual(['mine'], chroots.known([name]))
        found = chroots.suite('mine')
        self.assertEqual((self.dir,), found.directories)
        self.assertEqual(os.path.join('/c', 'chroots', 'candidate-bookworm-'
                                      + found.key),
                         chroots._root('/c', 'mine'))
        # A label is one candidate's: another under it is refused.
        other = self.useFixture(fixtures.TempDir()).path
        make_deb(other, 'libvirt0')
        self.assertIn('candidate label mine stands for %s already' % name,
                      self.bad('mine=bookworm+%s' % other))

    @decorators.idempotent_id('af514c54-5600-46d9-9ccb-faa1317f0284')
    def test_a_changed_deb_is_a_new_chroot(self):
        make_deb(self.dir, 'libvirt0', '11.3.0-1')
        name = 'bookworm+%s' % self.dir
        before = chroots._root('/c', name)
        self.assertEqual(before, chroots._root('/c', name))
        make_deb(self.dir, 'qemu-system-x86', '1:10.0.2-1')
        chroots._candidate.cache_clear()
        self.assertNotEqual(before, chroots._root('/c', name))

    @decorators.idempotent_id('5b040d3e-6db8-414a-b900-0b1d465e3b75')
    def test_bad_names_are_one_line(self):
        os.makedirs(os.path.join(self.dir, 'empty'))
        with open(os.path.join(self.dir, 'junk.deb'), 'w') as f:
            f.write('not a package')
        for name, expected in (
                ('jessie', 'unknown suite jessie: a published suite'),
                ('xenial+xenial-backports', "its base 'xenial' is not a "
                 'published suite'),
                ('bookworm+Backports!', "'Backports!' is neither an apt "
                 'suite'),
                ('bookworm+/no/such/dir', '/no/such/dir is not a '
                 'directory'),
                ('bookworm+%s/empty' % self.dir, 'holds no .deb file'),
                ('bookworm+%s' % self.dir, 'junk.deb is not a Debian '
                 'package'),
                ('sid=bookworm+bookworm-backports', 'a published suite\'s '
                 'name')):
            message = self.bad(name)
            self.assertIn(expected, message)
            self.assertNotIn('\n', message)


class TestCandidateBuild(testtools.TestCase):
    """The build's decisions, apt and dpkg faked: what it writes, what it
    asks apt for, and what it refuses."""

    def setUp(self):
        super().setUp()
        chroots._candidate.cache_clear()
        self.addCleanup(chroots._candidate.cache_clear)
        self.cache = self.useFixture(fixtures.TempDir()).path
        self.base = os.path.join(self.cache, 'chroots', 'bookworm')
        for sub in ('etc/apt/sources.list.d', 'etc/apt/preferences.d'):
            os.makedirs(os.path.join(self.base, sub))
        with open(os.path.join(self.base, chroots.MARKER), 'w') as f:
            f.write(' '.join(chroots.PACKAGES))
        self.useFixture(fixtures.MockPatch(
            'migtests.lab.chroots.mirror', return_value='http://m/debian'))
        self.commands = []
        self.apt_fails = None
        self.useFixture(fixtures.MockPatch(
            'migtests.lab.chroots._in_chroot', side_effect=self.in_chroot))
        self.after = {'libvirt-daemon': '11.3.0-2~bpo12+1',
                      'qemu-system-x86': '1:10.0.2+ds-2~bpo12+1'}
        self.useFixture(fixtures.MockPatch(
            'migtests.lab.chroots.installed', side_effect=self.installed))

    def in_chroot(self, root, command, check=True):
        self.commands.append(command)
        return subprocess.CompletedProcess(
            [], 100 if self.apt_fails else 0, stdout=self.apt_fails or '',
            stderr='')

    def installed(self, root):
        if root == self.base:
            return {'libvirt-daemon': '9.0.0-4', 'libvirt0': '9.0.0-4',
                    'qemu-system-x86': '1:7.2+dfsg-7'}
        return self.after

    def read(self, name, *path):
        with open(os.path.join(chroots._root(self.cache, name), *path)) as f:
            return f.read()

    @decorators.idempotent_id('d1902dd7-85cb-43f9-ba3a-41c76a0a8cec')
    def test_apt_suite_is_added_and_preferred(self):
        name = 'bookworm+bookworm-backports'
        found = chroots.suite(name, self.cache)
        self.assertEqual(('11.3.0', '10.0.2'), (found.libvirt, found.qemu))
        self.assertEqual('deb http://m/debian bookworm-backports main\n',
                         self.read(name, 'etc/apt/sources.list.d',
                                   'migtests-candidate.list'))
        self.assertEqual('Package: *\nPin: release n=bookworm-backports\n'
                         'Pin-Priority: 990\n',
                         self.read(name, 'etc/apt/preferences.d',
                                   'migtests-candidate'))
        self.assertEqual([chroots._install(
            chroots.SUITES['bookworm'].all_packages, chroots.SPLIT_OUT)],
            self.commands)
        # The storage driver where its apt knows it as a package.
        self.assertIn('$(apt-cache show --no-all-versions libvirt-daemon-'
                      'driver-storage >/dev/null 2>&1 && echo libvirt-daemon-'
                      'driver-storage)', self.commands[0])
        # Cached: the second use builds nothing.
        chroots.suite(name, self.cache)
        self.assertEqual(1, len(self.commands))

    @decorators.idempotent_id('4581c9ad-6106-445e-9d45-41c61329001d')
    def test_directory_is_a_local_repository(self):
        debs = self.useFixture(fixtures.TempDir()).path
        make_deb(debs, 'libvirt0', '11.3.0-2~bpo12+1')
        make_deb(debs, 'libvirt-dev', '11.3.0-2~bpo12+1')
        self.after = dict(self.after, libvirt0='11.3.0-2~bpo12+1')
        name = 'bookworm+%s' % debs
        chroots.build(self.cache, name)
        self.assertEqual('deb [trusted=yes] file:/%s/0 ./\n'
                         % chroots.LOCAL_REPOSITORY,
                         self.read(name, 'etc/apt/sources.list.d',
                                   'migtests-candidate.list'))
        self.assertIn('Pin: origin ""', self.read(
            name, 'etc/apt/preferences.d', 'migtests-candidate'))
        self.assertIn('Package: libvirt-dev', self.read(
            name, chroots.LOCAL_REPOSITORY, '0', 'Packages'))
        # The lab's packages, and of the directory's only what the base
        # has installed (libvirt0; not libvirt-dev).
        self.assertEqual([chroots._install(
            chroots.SUITES['bookworm'].all_packages + ('libvirt0',),
            chroots.SPLIT_OUT)], self.commands)

    @decorators.idempotent_id('d1ef83e4-eff2-4f62-bf32-7fed562626a7')
    def test_packages_that_do_not_install_are_bad_input(self):
        self.apt_fails = ('The following packages have unmet dependencies:\n'
                          ' libvirt-daemon : Depends: libvirt-common (= 11) '
                          'but it is not installable\n'
                          'E: Unable to correct problems, you have held '
                          'broken packages.\n')
        message = str(self.assertRaises(
            chroots.BadSuite, chroots.build, self.cache,
            'bookworm+bookworm-backports'))
        self.assertEqual('candidate bookworm+bookworm-backports: its '
                         'packages do not install over bookworm: '
                         'libvirt-daemon : Depends: libvirt-common (= 11) '
                         'but it is not installable; E: Unable to correct '
                         'problems, you have held broken packages.', message)
        # Nothing half-built is left to be taken for a chroot.
        self.assertFalse([n for n in os.listdir(os.path.join(
            self.cache, 'chroots')) if n.startswith('candidate-')
            and not n.endswith('.lock')])

    @decorators.idempotent_id('ab13f526-ad84-430b-b5a4-25afc7278561')
    def test_a_candidate_that_changes_nothing_is_refused(self):
        self.after = self.installed(self.base)
        self.assertIn('changes neither libvirt', str(self.assertRaises(
            chroots.BadSuite, chroots.build, self.cache,
            'bookworm+bookworm-backports')))

    @decorators.idempotent_id('06038af7-228e-41a6-8709-4910cb3c0df0')
    def test_a_package_apt_did_not_take_is_refused(self):
        debs = self.useFixture(fixtures.TempDir()).path
        make_deb(debs, 'libvirt0', '8.0.0-1')     # below the base's
        self.after = dict(self.after, libvirt0='9.0.0-4')
        self.assertIn('libvirt0 stayed at 9.0.0-4, not its 8.0.0-1', str(
            self.assertRaises(chroots.BadSuite, chroots.build, self.cache,
                              'bookworm+%s' % debs)))


class TestCandidateVersions(testtools.TestCase):
    @decorators.idempotent_id('4cd3baad-009b-46a1-9cbc-617a8b508bd0')
    def test_upstream_part(self):
        for version, expected in (('1:10.0.2+ds-2+deb13u1~bpo12+1',
                                   '10.0.2'), ('9.0.0-4+deb12u2', '9.0.0'),
                                  ('1:7.2+dfsg-7+deb12u18+b3', '7.2')):
            self.assertEqual(expected, chroots.upstream(version))

    @decorators.idempotent_id('96e31a2b-8491-42f5-b1a5-1a27d7d350b8')
    def test_the_matrix_refuses_a_bad_candidate_in_one_line(self):
        empty = self.useFixture(fixtures.TempDir()).path
        err = io.StringIO()
        self.useFixture(fixtures.MockPatch('sys.stderr', err))
        status = matrix_cli.main(['--pairs', 'bookworm:bookworm+%s' % empty,
                                  '--output', empty])
        self.assertEqual(2, status)
        self.assertEqual(1, len(err.getvalue().splitlines()))
        self.assertIn('holds no .deb file', err.getvalue())
