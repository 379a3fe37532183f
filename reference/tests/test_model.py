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

"""The flag vocabulary every module and process shares."""

from tempest.lib import decorators
import testtools

from reference import model
from reference.tests.base import plan
from reference.tests.base import request


class TestFlags(testtools.TestCase):

    @decorators.idempotent_id('b5bc5592-a01c-42af-8c6f-0cb4d7f54138')
    def test_one_spelling_and_its_short_form(self):
        for given in ('TUNNELLED', 'VIR_MIGRATE_TUNNELLED'):
            self.assertEqual('VIR_MIGRATE_TUNNELLED', model.flag(given))
            self.assertEqual('TUNNELLED', model.short_flag(given))
        self.assertEqual('VIR_MIGRATE_TLS',
                         model.flag(model.short_flag('VIR_MIGRATE_TLS')))

    @decorators.idempotent_id('59aaa71a-f34f-4b52-b7ae-c5ed6f6631a4')
    def test_storage_copy_is_read_from_the_flags_once(self):
        self.assertTrue(model.copies_storage(['NON_SHARED_DISK']))
        self.assertTrue(model.copies_storage(['VIR_MIGRATE_LIVE',
                                              'VIR_MIGRATE_NON_SHARED_INC']))
        self.assertFalse(model.copies_storage(['VIR_MIGRATE_LIVE',
                                               'VIR_MIGRATE_TUNNELLED']))
        self.assertTrue(plan(req=request('vda:local')).copies_storage)
        self.assertFalse(plan(req=request(
            'vda:local', 'live', shared_storage=True)).copies_storage)
