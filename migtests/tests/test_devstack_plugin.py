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

"""The devstack plugin's own logic, run by bash: which options of a
nova.conf it removes (every [libvirt] live_migration_*, nothing else)."""

import os
import subprocess
import tempfile

from tempest.lib import decorators
import testtools

PLUGIN = os.path.join(os.path.dirname(__file__), '..', '..', 'devstack',
                      'plugin.sh')

NOVA_CONF = """[DEFAULT]
live_migration_retry_count = 30
compute_driver = libvirt.LibvirtDriver

[libvirt]
virt_type = qemu
live_migration_uri = qemu+ssh://stack@%s/system
#live_migration_tunnelled = True
  live_migration_with_native_tls=false
cpu_mode = none

[workarounds]
live_migration_x = 1
"""


class TestPlugin(testtools.TestCase):
    def run_function(self, *words):
        return subprocess.run(
            ['bash', '-c', 'source "$0" && "$@"', PLUGIN] + list(words),
            capture_output=True, text=True, check=True).stdout

    @decorators.idempotent_id('0ee1a73b-e004-4f64-86f3-8f89e64c4650')
    def test_lists_the_libvirt_sections_live_migration_options(self):
        with tempfile.NamedTemporaryFile('w', suffix='.conf') as conf:
            conf.write(NOVA_CONF)
            conf.flush()
            self.assertEqual(
                ['live_migration_uri', 'live_migration_with_native_tls'],
                self.run_function('migtests_libvirt_options',
                                  conf.name).split())

    @decorators.idempotent_id('2a9df286-3cd7-4dab-8925-ec35e55e4b18')
    def test_sourcing_without_a_phase_does_nothing(self):
        self.assertEqual('', self.run_function('true'))
