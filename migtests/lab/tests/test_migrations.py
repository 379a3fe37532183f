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

"""Real migrations with the reference driver's plans, verified on the lab.

The cases are the catalogue's (migtests/lab/cases.py): every one tagged
``lab`` runs in test_case (named after its id), each untagged one in the
test of its own below.
"""

import ddt
from tempest.lib import decorators
from testtools import content

from migtests.lab import cases
from migtests.lab.tests import base


@ddt.ddt
class TestMigrations(base.LabTestCase):
    LAB_NAME = 'mig'

    @ddt.data(*cases.select(cases.LAB))
    @decorators.idempotent_id('66e9fafd-0dfe-4632-aa5f-d3b9084bb94b')
    def test_case(self, case):
        result = self.runner.run(case)
        self.addDetail('result', content.json_content(result.as_dict()))
        self.assertEqual([], case.flag_problems(result.flags), result.flags)

    @decorators.idempotent_id('3f143632-0c83-424e-92fe-9fc32110639e')
    def test_bandwidth_limit(self):
        result = self.runner.run(cases.get('bandwidth-limit'))
        self.assertEqual(cases.BANDWIDTH_MIB, result.params['bandwidth'])
        # libvirt's measured rate stays at the limit (10 % for bursts).
        self.assertLessEqual(result.job['memory_bps'],
                             cases.BANDWIDTH_MIB * 1024 * 1024 * 1.1,
                             result.job)

    @decorators.idempotent_id('62553200-cf87-4580-aec6-8da26a0133d8')
    def test_there_and_back(self):
        case = cases.get('there-and-back')
        there = self.runner.run(case)
        back = self.runner.run(case)
        self.assertEqual((there.source, there.destination),
                         (back.destination, back.source))
