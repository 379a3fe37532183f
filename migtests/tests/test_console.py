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

import ddt

from oslotest import base
from tempest.lib import decorators

from migtests import console


@ddt.ddt
class TestConsole(base.BaseTestCase):
    @decorators.idempotent_id('e8bf662d-212f-406e-b8a0-5df23adef203')
    def test_counters_and_boots(self):
        text = ('MIGTESTS-BOOT\nMIGTESTS-COUNT 1\nnoise MIGTESTS-COUNT 2\n'
                '[  3.1] kernel line\nMIGTESTS-COUNT 30\n')
        self.assertEqual([1, 2, 30], console.counters(text))
        self.assertEqual(1, console.boots(text))
        self.assertEqual([], console.counters(None))

    @decorators.idempotent_id('2c7e9a41-5b3d-4f6e-8a1c-0d9e8f7a6b5c')
    def test_volume_counter_apart_from_the_guests(self):
        text = ('MIGTESTS-COUNT 4\nMIGTESTS-VOLUME 1\nMIGTESTS-COUNT 5\n'
                'MIGTESTS-VOLUME 2\n')
        self.assertEqual([4, 5], console.counters(text))
        self.assertEqual([1, 2], console.counters(text,
                                                  console.VOLUME_PATTERN))
        self.assertIn('restarted', console.not_continued(
            9, 'MIGTESTS-COUNT 12\nMIGTESTS-VOLUME 1\n',
            console.VOLUME_PATTERN))

    @decorators.idempotent_id('fe3c2aad-d628-45f5-8fb5-6a749b247f2e')
    def test_custom_pattern(self):
        self.assertEqual([7], console.counters('tick=7', r'tick=(\d+)'))

    @ddt.data(
        (5, 'MIGTESTS-COUNT 6\nMIGTESTS-COUNT 7\n', None),
        (5, '', 'no counter'),
        (5, 'MIGTESTS-BOOT\nMIGTESTS-COUNT 6\n', 'booted again'),
        (5, 'MIGTESTS-COUNT 1\nMIGTESTS-COUNT 2\n', 'restarted'),
        (5, 'MIGTESTS-COUNT 5\n', 'restarted'),
        (5, 'MIGTESTS-COUNT 9\nMIGTESTS-COUNT 8\n', 'backwards'),
    )
    @ddt.unpack
    @decorators.idempotent_id('74a64fd3-935c-4771-92c7-aae15267d2a4')
    def test_not_continued(self, before, after, problem):
        result = console.not_continued(before, after)
        if problem is None:
            self.assertIsNone(result)
        else:
            self.assertIn(problem, result)

    @ddt.data(
        # The whole console of a guest that stayed: its one boot included.
        (5, 'MIGTESTS-BOOT\nMIGTESTS-COUNT 5\nMIGTESTS-COUNT 6\n', None),
        (5, 'MIGTESTS-BOOT\nMIGTESTS-COUNT 4\nMIGTESTS-COUNT 5\n',
         'no counter above 5'),
        (5, 'MIGTESTS-BOOT\nMIGTESTS-COUNT 5\nMIGTESTS-BOOT\n'
            'MIGTESTS-COUNT 6\n', 'booted again'),
        (5, 'MIGTESTS-BOOT\nMIGTESTS-COUNT 7\nMIGTESTS-COUNT 6\n'
            'MIGTESTS-COUNT 8\n', 'backwards'),
        (5, '', 'no counter above 5'),
    )
    @ddt.unpack
    @decorators.idempotent_id('3d8f0b52-6c4e-4a7f-9b2d-1e0f9a8b7c6d')
    def test_not_kept_running(self, before, text, problem):
        result = console.not_kept_running(before, text)
        if problem is None:
            self.assertIsNone(result)
        else:
            self.assertIn(problem, result)
