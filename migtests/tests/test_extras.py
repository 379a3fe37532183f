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

"""Console scripts of the extras: one line naming the extra, exit 2."""

import io
from unittest import mock

from tempest.lib import decorators
import testtools

from migtests import extras

REQUIRES = ['pbr>=5.8.0', 'oslo.config>=9.0.0', 'tempest>=40.0.0',
            'libvirt-python>=9.0.0; extra == "lab"',
            "cryptography>=41.0 ; extra == 'lab'",
            'nova<35,>=34.0.0; extra == "cloud"']


class TestExtras(testtools.TestCase):

    @decorators.idempotent_id('3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a61')
    def test_missing_reads_the_extras_from_the_metadata(self):
        installed = {'cryptography'}
        with mock.patch.object(extras, '_installed', installed.__contains__):
            self.assertEqual(['libvirt-python'],
                             extras.missing('lab', REQUIRES))
            self.assertEqual(['nova'], extras.missing('cloud', REQUIRES))
            self.assertEqual([], extras.missing('other', REQUIRES))

    @decorators.idempotent_id('4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b72')
    def test_a_script_without_its_extra_says_which_in_one_line(self):
        stderr = io.StringIO()
        with mock.patch.object(extras, 'missing',
                               lambda extra: ['libvirt-python']), \
                mock.patch('sys.stderr', stderr):
            exit_ = self.assertRaises(SystemExit, extras.lab)
        self.assertEqual(2, exit_.code)
        self.assertEqual('migtests-lab: error: needs the lab extra (not '
                         'installed: libvirt-python): pip install '
                         '"migtests[lab]"\n', stderr.getvalue())

    @decorators.idempotent_id('5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c83')
    def test_the_installed_plugin_requires_tempest_not_the_lab(self):
        requires = extras.importlib.metadata.requires('migtests')
        base = [r.split(';')[0] for r in requires if 'extra' not in r]
        self.assertIn('tempest', [extras._NAME.match(r).group(1).lower()
                                  for r in base])
        for name in ('libvirt-python', 'cryptography', 'nova'):
            self.assertNotIn(name, [extras._NAME.match(r).group(1)
                                    for r in base])

    def migtests(self, *argv):
        out, err = io.StringIO(), io.StringIO()
        with mock.patch('sys.stdout', out), mock.patch('sys.stderr', err):
            try:
                status = extras.main(list(argv))
            except SystemExit as exc:
                status = exc.code
        return status, out.getvalue(), err.getvalue()

    @decorators.idempotent_id('3e5231c7-7db4-4a43-84e6-f5d8dff4cdf0')
    def test_one_command_dispatches_to_each_part(self):
        status, out, err = self.migtests('plan', '--libvirt', '9.0.0',
                                         '--qemu', '7.2', '--disk',
                                         'vda:local')
        self.assertEqual((0, ''), (status, err))
        self.assertIn('VIR_MIGRATE_NON_SHARED_INC', out)
        status, out, _ = self.migtests('--help')
        self.assertEqual(0, status)
        for name in extras.SUBCOMMANDS:
            self.assertIn('\n  ' + name + ' ', out)
        with mock.patch.object(extras, 'missing',
                               lambda extra: ['nova'] * (extra == 'cloud')):
            status, _, err = self.migtests('job', '--driver', 'both')
        self.assertEqual(2, status)
        self.assertEqual('migtests job: error: needs the cloud extra (not '
                         'installed: nova): pip install '
                         '"migtests[lab,cloud]"\n', err)

    @decorators.idempotent_id('34fb208d-93e5-4e24-8fc8-5e6081572938')
    def test_bad_input_is_one_line_and_exit_2(self):
        for argv, expected in (
                ((), 'migtests: error: a subcommand is needed: plan, lab'),
                (('deploy',), "migtests: error: unknown subcommand 'deploy'"),
                (('plan', '--libvirt', 'x', '--qemu', '7.2'),
                 'migtests plan: error: '),
                (('matrix', '--cases', 'nonesuch'),
                 'migtests matrix: error: unknown case nonesuch'),
                (('compare', 'only-one'), 'migtests compare: error: '),
                (('lab', 'repro'), 'migtests lab: error: repro needs a '
                 'finding: tcg-lost-pages, tunnelled-selective-disks-2016, '
                 'tunnelled-tls-kills-libvirtd'),
                (('lab', 'repro', 'nonesuch'), "invalid choice: 'nonesuch'"),
                (('lab', 'repro', 'volume-copied-onto-itself', '--suites',
                  'sid'), '--suites takes SOURCE,DESTINATION'),
                (('upgrade', '--suites', 'bookworm'),
                 'migtests upgrade: error: --suites: at least two')):
            # Bad input is refused before anything of an extra is used.
            with mock.patch.object(extras, 'missing', lambda extra: []):
                status, out, err = self.migtests(*argv)
            self.assertEqual(2, status, argv)
            self.assertIn(expected, out + err)
            self.assertEqual(1, len(err.splitlines()), err)
