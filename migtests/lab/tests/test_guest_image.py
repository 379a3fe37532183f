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

"""The guest built from Debian's packages through a package list of its
own (guestimage.DebianSource) -- what an Ubuntu CI node does before it
builds and uploads the counter image (devstack/plugin.sh) -- is the guest
the machine's own apt builds: same kernel, same initramfs, byte for byte."""

import filecmp
import shutil
import tempfile

from tempest.lib import decorators

from migtests.lab import chroots
from migtests.lab import guestimage
from migtests.lab.system import LabError
from migtests.lab.tests import base


class TestGuestImageFromAMirror(base.NeedsLab):

    def _cache(self):
        path = tempfile.mkdtemp(prefix='migtests-image-')
        self.addCleanup(shutil.rmtree, path, True)
        return path

    @decorators.idempotent_id('2b51a0a6-4f3e-4c53-9d1f-8a4f7c2d9e11')
    def test_same_image_as_the_machines_apt(self):
        source = guestimage.DebianSource(chroots.mirror(), 'bookworm')
        own = guestimage.build(self._cache())
        private = guestimage.build(self._cache(), source)
        for mine, theirs in ((own.kernel, private.kernel),
                             (own.initrd, private.initrd)):
            self.assertTrue(filecmp.cmp(mine, theirs, shallow=False), mine)

    @decorators.idempotent_id('7c0e5d1b-3a9f-4e27-b6d4-0f1e2a3b4c5d')
    def test_a_mirror_without_the_packages_is_one_line(self):
        source = guestimage.DebianSource('http://127.0.0.1:9/debian',
                                         'bookworm')
        error = self.assertRaises(LabError, guestimage.build, self._cache(),
                                  source)
        self.assertIn('apt-get download linux-image-cloud-amd64 failed',
                      str(error))
        self.assertNotIn('\n', str(error))
