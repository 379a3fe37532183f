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

"""The lab as a test fixture: one lab per test class, always torn down."""

import os
import unittest

import testtools

from migtests.lab.forced import FaultRunner
from migtests.lab.lab import Lab
from migtests.lab.runner import Runner
from migtests.lab import system


def requirements_missing():
    if os.geteuid() != 0:
        return 'the lab needs root (network namespaces, mounts)'
    for tool in ('/usr/sbin/libvirtd', '/usr/bin/qemu-system-x86_64',
                 '/usr/bin/qemu-img', '/usr/bin/qemu-nbd'):
        if not os.path.exists(tool):
            return '%s is missing: apt-get install $(bindep -b functional)' \
                % tool
    return None


class NeedsLab(testtools.TestCase):
    """Skips, saying why, where the lab cannot run (not root, no libvirt
    or QEMU installed)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        missing = requirements_missing()
        if missing:
            raise unittest.SkipTest(missing)


class LabTestCase(NeedsLab):
    LAB_NAME = 'fn'
    HOSTS = 2
    RUNNER = Runner
    lab = runner = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lab = Lab(cls.LAB_NAME, hosts=cls.HOSTS)
        cls.lab.up()
        try:
            cls.runner = cls.RUNNER(cls.lab)
        except BaseException:
            cls.lab.down(keep_logs=True)
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.runner is not None:
            cls.runner.close()
        if cls.lab is not None:
            cls.lab.down()
            leftovers = cls.lab.leftovers()
            if leftovers:
                raise AssertionError('lab left behind: %s' % leftovers)
        super().tearDownClass()


class FaultTestCase(LabTestCase):
    """Migrations that must fail: the guest stays on its source."""
    RUNNER = FaultRunner

    def assertStayed(self, guest, source, destination):
        """Running on its source, counting, its disks intact; nothing of
        it running on the destination."""
        self.runner.assert_on_source(guest, source)

        def destination_clean():
            return guest.name not in [
                d.name() for d in
                self.runner.conn(destination).listAllDomains()
                if d.isActive()]
        # A destination cut off from its source drops the half-arrived
        # guest once its keepalive notices (2 s x 3 in the lab).
        system.wait_for(destination_clean, 30,
                        what='the destination to drop the incoming guest')
