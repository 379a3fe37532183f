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

"""CI's closing line is counted from the subunit streams the runs wrote:
stestr's repository (subunit v1) and the job's Tempest streams (v2)."""

import os

import fixtures
import subunit
from tempest.lib import decorators
import testtools

from tools import citotals


class TestCiTotals(testtools.TestCase):

    @decorators.idempotent_id('9b8f162d-eb8d-4d4d-9318-0af6c08c370a')
    def test_every_stream_counts_each_test_by_its_last_status(self):
        root = self.useFixture(fixtures.TempDir()).path
        repo = os.path.join(root, '.stestr')
        job = os.path.join(root, 'results', 'job')
        os.makedirs(repo)
        os.makedirs(job)
        # An stestr run, as its repository keeps it (subunit v1).
        with open(os.path.join(repo, '0'), 'w') as f:
            f.write('test: a\nsuccess: a\ntest: b\nfailure: b [\nboom\n]\n'
                    'test: c\nskip: c [\nno libvirt\n]\n')
        with open(os.path.join(repo, 'next-stream'), 'w') as f:
            f.write('1\n')
        # A Tempest stream of the job (v2): a retried test counts once,
        # by its end; one that never ended failed.
        with open(os.path.join(job, 'tempest-upstream.subunit'), 'wb') as f:
            out = subunit.StreamResultToBytes(f)
            out.status(test_id='t1', test_status='exists')
            for test_id, status in (('t1', 'inprogress'), ('t1', 'success'),
                                    ('t2', 'inprogress'), ('t2', 'skip'),
                                    ('t3', 'inprogress')):
                out.status(test_id=test_id, test_status=status)
        self.assertEqual((2, 2), citotals.totals([repo, job]))
        self.assertEqual((0, 0), citotals.totals([
            os.path.join(root, 'nothing here')]))
