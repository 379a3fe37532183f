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

"""A cached chroot is used as it is when its marker lists every package
of its suite, and extended by exactly the packages it lacks otherwise."""

import os
import threading
import time

import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import chroots


class TestCachedChroot(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.cache = self.useFixture(fixtures.TempDir()).path
        self.useFixture(fixtures.MockPatch(
            'migtests.lab.chroots.machine_suite', return_value='bookworm'))
        self.root = os.path.join(self.cache, 'chroots', 'sid')
        os.makedirs(self.root)
        self.in_chroot = self.useFixture(fixtures.MockPatch(
            'migtests.lab.chroots._in_chroot')).mock

    def marker(self, packages=None):
        path = os.path.join(self.root, chroots.MARKER)
        if packages is not None:
            with open(path, 'w') as f:
                f.write(' '.join(packages) + '\n')
        with open(path) as f:
            return f.read().split()

    @decorators.idempotent_id('e286cb36-243a-49a0-ae06-7007301e04d3')
    def test_complete_chroot_runs_no_apt(self):
        self.marker(chroots.SUITES['sid'].all_packages)
        self.assertEqual(self.root, chroots.build(self.cache, 'sid'))
        self.in_chroot.assert_not_called()

    @decorators.idempotent_id('d880b30d-a2f6-4725-bba6-8c5778081c89')
    def test_missing_packages_are_added_alone(self):
        self.marker(chroots.PACKAGES)
        chroots.build(self.cache, 'sid')
        self.in_chroot.assert_called_once_with(
            self.root, chroots._install(['libvirt-daemon-driver-storage']))
        self.assertEqual(list(chroots.SUITES['sid'].all_packages),
                         self.marker())

    @decorators.idempotent_id('c6ace42c-22aa-4fd6-b26d-24cd8481c2d4')
    def test_two_builders_of_one_chroot_never_overlap(self):
        # Two matrix pairs needing the same suite at once: the second
        # waits for the first and then finds the chroot complete.
        self.marker(chroots.PACKAGES)
        inside, most = [], []

        def install(root, command):
            inside.append(command)
            most.append(len(inside))
            time.sleep(0.3)
            inside.pop()
        self.in_chroot.side_effect = install
        threads = [threading.Thread(target=chroots.build,
                                    args=(self.cache, 'sid'))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([1], most)
        self.assertEqual(1, self.in_chroot.call_count)
        self.assertIn('-o DPkg::Lock::Timeout=600 install',
                      self.in_chroot.call_args.args[1])
