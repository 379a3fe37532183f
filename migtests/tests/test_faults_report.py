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

"""The Nova-level faults' verdict (migtests.cloud.faults.judge): a fault
fails only where Nova loses the guest or its data."""

from tempest.lib import decorators
import testtools

from migtests.cloud import faults

BEFORE = {'id': 's1', 'host': 'compute1', 'counter': 10}


def after(host='compute1', status='ACTIVE', migration='error',
          counters=(11, 12), boots=1):
    return {'id': 's1', 'host': host, 'status': status, 'task_state': None,
            'migrations': [{'id': 1, 'status': migration}],
            'counters': list(counters), 'boots': boots}


class TestJudge(testtools.TestCase):
    @decorators.idempotent_id('7c8d9e0f-1a2b-4c3d-8e4f-6a7b8c9d0e1f')
    def test_safe_on_its_source(self):
        failed, happened, operator = faults.judge(BEFORE, after(),
                                                  ['compute1'])
        self.assertFalse(failed)
        self.assertIn('stayed', happened)
        self.assertEqual('nothing', operator)

    @decorators.idempotent_id('8d9e0f1a-2b3c-4d4e-9f5a-7b8c9d0e1f2a')
    def test_safe_but_in_error_says_what_to_do(self):
        failed, happened, operator = faults.judge(
            BEFORE, after(status='ERROR'), ['compute1'])
        self.assertFalse(failed)
        self.assertIn('ERROR', happened)
        self.assertIn('--state active', operator)

    @decorators.idempotent_id('9e0f1a2b-3c4d-4e5f-8a6b-8c9d0e1f2a3b')
    def test_lost_guests_fail(self):
        for where in ([], ['compute1', 'compute2'],
                      ['compute2: libvirtd does not answer']):
            failed, happened, _ = faults.judge(BEFORE, after(), where)
            self.assertTrue(failed, where)

    @decorators.idempotent_id('0f1a2b3c-4d5e-4f6a-9b7c-9d0e1f2a3b4c')
    def test_a_restart_or_a_wrong_host_fails(self):
        self.assertTrue(faults.judge(BEFORE, after(boots=2),
                                     ['compute1'])[0])
        self.assertTrue(faults.judge(BEFORE, after(counters=(9, 10)),
                                     ['compute1'])[0])
        # Moved: the destination's console shows no boot, unless it
        # restarted there.
        self.assertFalse(faults.judge(BEFORE, after(host='compute2',
                                                    boots=0),
                                      ['compute2'])[0])
        self.assertTrue(faults.judge(BEFORE, after(host='compute2',
                                                   boots=1),
                                     ['compute2'])[0])
        failed, happened, _ = faults.judge(
            BEFORE, after(host='compute1', boots=0), ['compute2'])
        self.assertTrue(failed)
        self.assertIn('libvirt runs it on compute2', happened)

    @decorators.idempotent_id('1a2b3c4d-5e6f-4a7b-8c8d-0e1f2a3b4c5e')
    def test_report_row(self):
        row = {'fault': 'destination-libvirtd-killed', 'driver': 'upstream',
               'during': after(migration='running'),
               'after': dict(after(), runs_on=['compute1']),
               'failed': False, 'happened': 'safe on compute1 (stayed)',
               'operator': 'nothing'}
        text = faults.markdown([row, {'fault': 'x', 'driver': 'reference',
                                      'failed': True, 'error': 'boom'}])
        self.assertIn('| destination-libvirtd-killed | upstream | error | '
                      'ACTIVE/None → ACTIVE/None | compute1 / compute1 | '
                      '[12] | safe on compute1 (stayed) | nothing | safe |',
                      text)
        self.assertIn('| x | reference | not run: boom |', text)
