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

"""The guest's packages from a Debian mirror through a package list of the
builder's own (what an Ubuntu CI node uses): the lines and apt's options.
The build itself runs in the lab's tests (test_guest_image)."""

import os

import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import guestimage
from migtests.lab.system import LabError


class TestDebianSource(testtools.TestCase):

    @decorators.idempotent_id('5e0c2f7a-1b3d-4e6f-8a9b-0c1d2e3f4a5b')
    def test_suite_updates_and_security(self):
        source = guestimage.DebianSource('https://mirror.example/debian/',
                                         'bookworm', keyring='/k.gpg')
        self.assertEqual(
            'deb [signed-by=/k.gpg] https://mirror.example/debian bookworm '
            'bookworm-updates main\n'
            'deb [signed-by=/k.gpg] https://mirror.example/debian-security '
            'bookworm-security main\n', source.sources())

    @decorators.idempotent_id('6f1d3a8b-2c4e-4f70-9bac-1d2e3f4a5b6c')
    def test_a_security_archive_of_its_own(self):
        source = guestimage.DebianSource('http://m/debian', 'trixie',
                                         security='http://s/sec',
                                         keyring='/k.gpg')
        self.assertIn('http://s/sec trixie-security main',
                      source.sources())

    @decorators.idempotent_id('7a2e4b9c-3d5f-4081-8bcd-2e3f4a5b6c7d')
    def test_apt_reads_nothing_of_the_machine(self):
        root = self.useFixture(fixtures.TempDir()).path
        keyring = os.path.join(root, 'k.gpg')
        open(keyring, 'w').close()
        source = guestimage.DebianSource('http://m/debian', 'bookworm',
                                         keyring=keyring)
        options = source.apt_options(os.path.join(root, 'apt'))
        settings = dict(o.split('=', 1) for o in options[1::2])
        for key in ('Dir::Etc::sourcelist', 'Dir::Etc::sourceparts',
                    'Dir::Etc::preferencesparts', 'Dir::State', 'Dir::Cache'):
            self.assertTrue(settings[key].startswith(root), key)
        self.assertEqual('/dev/null', settings['Dir::Etc::preferences'])
        with open(settings['Dir::Etc::sourcelist']) as f:
            self.assertEqual(source.sources(), f.read())
        self.assertEqual([], os.listdir(settings['Dir::Etc::sourceparts']))

    @decorators.idempotent_id('8b3f5cad-4e60-4192-9cde-3f4a5b6c7d8e')
    def test_no_debian_keyring_is_one_line(self):
        root = self.useFixture(fixtures.TempDir()).path
        source = guestimage.DebianSource('http://m/debian', 'bookworm',
                                         keyring=os.path.join(root, 'none'))
        error = self.assertRaises(LabError, source.apt_options, root)
        self.assertIn('install debian-archive-keyring', str(error))
