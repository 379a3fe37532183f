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


"""The plan nova_driver records in nova-compute's log, read back by the
job (migtests.cloud.migrations.plans) as the same data."""

import os
from unittest import mock

import fixtures
from tempest.lib import decorators
import testtools

from migtests.cloud import migrations
from reference.model import Decision
from reference.model import MigrationPlan
from reference.model import MigrationRefused
from reference.model import MonitorPlan

PLAN = MigrationPlan(
    api='migrateToURI3', uri='qemu+tcp://compute2/system',
    flags=('VIR_MIGRATE_LIVE', 'VIR_MIGRATE_NON_SHARED_INC'),
    params={'migrate_disks': ['vda']},
    decisions=(Decision('migrate_disks = vda', 'the local disk'),),
    fallbacks=(), monitor=MonitorPlan((), None, 'abort')).as_dict()


class TestPlanRecord(testtools.TestCase):

    @decorators.idempotent_id('037424fd-5a26-4774-a738-bda545cd16d1')
    def test_the_plan_is_recorded_as_data_the_job_reads_back(self):
        # Nova is installed only for tox -e nova; check-uuid imports every
        # module of the package, so nova_driver is imported here.
        from reference import nova_driver
        server = '0e6a6b5c-9a44-4e0e-9a77-5e0f8a1c2b3d'
        refusal = MigrationRefused('x', 'y').as_dict()
        logs = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(logs, 'nova-compute-reference-c1.log'),
                  'w') as f:
            for data in (PLAN, refusal):
                with mock.patch.object(nova_driver, 'LOG') as log:
                    nova_driver._log_record(mock.Mock(), data)
                fmt, value = log.info.call_args[0]
                f.write('2026-12-02 INFO reference.nova_driver '
                        '[instance: %s] %s\n' % (server, fmt % value))
        self.assertEqual({'T.test_x': [PLAN, refusal]}, migrations.plans(
            logs, {server: 'T.test_x'}, 'reference'))
