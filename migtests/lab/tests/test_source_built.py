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

"""libvirt 1.2.17 built from its release commit (lab.sourcebuild): the
2016 failure, word for word, from the real daemon.  Skipped, saying why,
where libvirt's and gnulib's sources are not on the machine."""

import unittest

from tempest.lib import decorators

from migtests.lab import chroots
from migtests.lab import repro
from migtests.lab.tests import base


class TestSeed2016(base.NeedsLab):
    FINDING = 'tunnelled-selective-disks-2016'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        skipped = chroots.unavailable(repro.REPROS[cls.FINDING].suites)
        if skipped:
            raise unittest.SkipTest(sorted(skipped.values())[0])

    @decorators.idempotent_id('4b7e2c9d-1a3f-4e6b-9d8c-5f2a0e7b3c14')
    def test_libvirt_1_2_17_gives_the_seed_message(self):
        lines = []
        self.assertTrue(repro.run(self.FINDING, out=lines.append),
                        '\n'.join(lines))
        self.assertIn('libvirt 1.2.17', '\n'.join(lines))
        self.assertIn('Operation not supported: %s' % repro.SEED_MESSAGE,
                      '\n'.join(lines))
