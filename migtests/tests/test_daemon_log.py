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

"""What a daemon's log says was copied: QEMU's mirror jobs by disk, and its
in-stream (legacy) block copy from its progress or from the command libvirt
sent, in the forms libvirt 1.2.17, 1.3.1 and later log them."""

import os

import fixtures
from tempest.lib import decorators
import testtools

from migtests.lab import checks

ALIASES = {'virtio-disk0': 'vda', 'virtio-disk1': 'vdb',
           checks.LEGACY: checks.LEGACY}
# Lines as the lab's daemons logged them (shortened between the fields the
# checks read).
MIRROR = ('info : qemuMonitorJSONIOProcessLine:200 : QEMU_MONITOR_RECV_EVENT: '
          'event={"timestamp": {"seconds": 1}, "event": "BLOCK_JOB_READY", '
          '"data": {"device": "drive-virtio-disk0", "len": 1, "offset": 1, '
          '"speed": 0, "type": "mirror"}}')
PROGRESS_1_2_17 = ('info : qemuMonitorJSONIOProcessLine:202 : '
                   'QEMU_MONITOR_RECV_REPLY: reply={"return": {"status": '
                   '"active", "disk": {"total": 67108864, "remaining": '
                   '62914560, "mbps": 0, "transferred": 4194304}}}')
SENT_1_3_1 = ('info : QEMU_MONITOR_SEND_MSG: '
              'mon=0x7fe30c012df0 msg={"execute":"migrate","arguments":'
              '{"detach":true,"blk":false,"inc":true,"uri":"fd:migrate"},'
              '"id":"libvirt-17"}')
SENT_NO_BLOCK = SENT_1_3_1.replace('"inc":true', '"inc":false')


class Host:
    def __init__(self, directory):
        self.directory = directory

    def path(self, ns_path):
        return os.path.join(self.directory, os.path.basename(ns_path))


class TestDaemonLog(testtools.TestCase):
    def copied(self, *lines):
        directory = self.useFixture(fixtures.TempDir()).path
        host = Host(directory)
        with open(host.path('libvirtd.log'), 'w') as f:
            f.write('before the call\n')
        log = checks.DaemonLog(host)
        with open(host.path('libvirtd.log'), 'a') as f:
            f.write('\n'.join(lines) + '\n')
        return log.copied(ALIASES)

    @decorators.idempotent_id('5e2c8a1f-7d3b-4f6e-9a0c-1b4d6f8e2a37')
    def test_a_mirror_job_names_its_disk(self):
        self.assertEqual(['vda'], self.copied(MIRROR))

    @decorators.idempotent_id('6f3d9b2a-8e4c-4a7f-8b1d-2c5e7a9f3b48')
    def test_in_stream_copy_seen_in_its_progress_any_order(self):
        self.assertEqual([checks.LEGACY], self.copied(PROGRESS_1_2_17))

    @decorators.idempotent_id('7a4e0c3b-9f5d-4b8a-9c2e-3d6f8b0a4c59')
    def test_in_stream_copy_seen_in_the_command_sent(self):
        self.assertEqual([checks.LEGACY], self.copied(SENT_1_3_1))

    @decorators.idempotent_id('8b5f1d4c-0a6e-4c9b-8d3f-4e7a9c1b5d60')
    def test_nothing_copied_is_nothing(self):
        self.assertEqual([], self.copied(SENT_NO_BLOCK, 'unrelated line'))
