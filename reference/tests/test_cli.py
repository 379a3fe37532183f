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

import io
import json
import os
import subprocess
import sys
import tempfile

import ddt

from reference import cli
from reference.tests import base

SEED = ['--libvirt', '1.2.17', '--qemu', '2.5', '--operation', 'block',
        '--disk', 'vda:local', '--disk', 'vdb:volume']


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    status = cli.run(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


@ddt.ddt
class TestCli(base.TestCase):
    def test_json_plan(self):
        status, out, err = run(*SEED, '--json')
        self.assertEqual(0, status, err)
        result = json.loads(out)
        self.assertEqual({'api', 'uri', 'flags', 'params', 'decisions',
                          'copy_before', 'destination_changes',
                          'define_before', 'refused'}, set(result))
        self.assertEqual('migrateToURI3', result['api'])
        self.assertEqual(['vda'], result['params']['migrate_disks'])
        self.assertNotIn('VIR_MIGRATE_TUNNELLED', result['flags'])
        self.assertIsNone(result['refused'])
        self.assertTrue(all(set(d) == {'what', 'why'}
                            for d in result['decisions']))

    def test_json_refusal_exits_3(self):
        status, out, _ = run(*SEED, '--set', 'live_migration_tunnelled=true',
                             '--json')
        self.assertEqual(3, status)
        result = json.loads(out)
        self.assertEqual('tunnelled-selective-disks',
                         result['refused']['error'])
        for key in ('api', 'uri', 'flags', 'params', 'decisions',
                    'copy_before', 'destination_changes', 'define_before'):
            self.assertIsNone(result[key])

    def test_text_plan(self):
        status, out, _ = run(*SEED, '--dest', 'compute2')
        self.assertEqual(0, status)
        self.assertIn('API:    migrateToURI3', out)
        self.assertIn('URI:    qemu+tcp://compute2/system', out)
        self.assertIn('"migrate_disks": ["vda"]', out)

    def test_consoles_and_vtpm(self):
        status, out, _ = run('--libvirt', '9.0.0', '--qemu', '7.2',
                             '--graphics-listen', '192.0.2.1',
                             '--dest-graphics-listen', '192.0.2.2',
                             '--vtpm', 'host', '--json')
        self.assertEqual(0, status)
        result = json.loads(out)
        self.assertEqual(['graphics listen 192.0.2.1 -> 192.0.2.2'],
                         result['destination_changes'])
        self.assertEqual(['vtpm-secret'], result['define_before'])
        status, out, _ = run(*SEED, '--serial-listen', '192.0.2.1')
        self.assertEqual(3, status)
        self.assertIn('REFUSED (serial-console-unmovable)', out)

    def test_bad_console_address_is_one_line(self):
        status, out, err = run(*SEED, '--graphics-listen', 'compute1')
        self.assertEqual(2, status)
        self.assertEqual(1, err.count('\n'), err)
        self.assertIn("'compute1' is not an IPv4 or IPv6 address", err)

    def test_destination_inbound_address(self):
        status, out, _ = run(*SEED, '--dest', 'compute2',
                             '--dest-inbound-addr', '192.0.2.12', '--json')
        self.assertEqual(0, status)
        result = json.loads(out)
        self.assertEqual('qemu+tcp://192.0.2.12/system', result['uri'])
        self.assertEqual('tcp://192.0.2.12', result['params']['migrate_uri'])

    def test_machine_type_newer_than_the_destination_is_refused(self):
        status, out, _ = run('--libvirt', '10.0.0', '--qemu', '8.2',
                             '--dest-libvirt', '9.0.0', '--dest-qemu', '7.2',
                             '--disk', 'vda:volume', '--operation', 'live',
                             '--machine-type', 'pc-q35-8.2', '--json')
        self.assertEqual(3, status)
        self.assertEqual('machine-type-too-new',
                         json.loads(out)['refused']['error'])

    def test_config_drive_is_copied_before_never_migrated(self):
        status, out, _ = run('--libvirt', '9.0.0', '--qemu', '7.2',
                             '--disk', 'vda:local', '--disk', 'hdd:config',
                             '--json')
        self.assertEqual(0, status)
        result = json.loads(out)
        self.assertEqual(['hdd'], result['copy_before'])
        self.assertEqual(['vda'], result['params']['migrate_disks'])

    def test_text_refusal(self):
        status, out, _ = run(*SEED, '--set', 'live_migration_tunnelled=true')
        self.assertEqual(3, status)
        self.assertTrue(out.startswith('REFUSED (tunnelled-selective-disks)'))

    def test_destination_versions(self):
        status, out, _ = run('--libvirt', '9.0.0', '--qemu', '7.2',
                             '--dest-libvirt', '1.3.1', '--dest-qemu', '2.5',
                             '--tls-ready', '--json')
        self.assertEqual(0, status)
        self.assertNotIn('VIR_MIGRATE_TLS', json.loads(out)['flags'])

    def test_deprecated_flag_warns(self):
        status, _, err = run(*SEED, '--set',
                             'block_migration_flag=VIR_MIGRATE_LIVE')
        self.assertEqual(0, status)
        self.assertIn('warning', err)
        self.assertIn('deprecated', err)

    def test_config_file(self):
        with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                         delete=False) as f:
            f.write('[libvirt]\nlive_migration_tunnelled = true\n')
        self.addCleanup(os.unlink, f.name)
        status, _, _ = run(*SEED, '--config-file', f.name)
        self.assertEqual(3, status)

    @ddt.data(
        (['--qemu', '2.5'], 'libvirt'),
        (['--libvirt', '1.2', '--qemu', 'x'], 'malformed version'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--disk', 'vda:floppy'],
         'KIND'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--disk', 'vda'], 'KIND'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--set', 'no_such=1'],
         'no_such'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--set',
          'live_migration_scheme=ftp'], 'ftp'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--dest-inbound-addr',
          'a b'], "--dest-inbound-addr 'a b'"),
        (['--libvirt', '9.0', '--qemu', '7.2', '--machine-type', 'pc q35'],
         "machine type 'pc q35'"),
        (['--libvirt', '9.0', '--qemu', '7.2', '--set',
          'live_migration_parallel_connections=256'],
         'live_migration_parallel_connections=256: Should be less than or '
         'equal to 255'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--set',
          'live_migration_flag=VIR_MIGRATE_FAST'], 'VIR_MIGRATE_FAST'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--set',
          'live_migration_flag=VIR_MIGRATE_UNSAFE'], 'corrupt'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--set',
          'live_migration_tunnelled=true', '--set',
          'live_migration_permit_post_copy=true'], 'contradicts'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--config-file',
          '/nonexistent.conf'], 'not found'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--operation', 'teleport'],
         'teleport'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--dest', 'a/b'], 'a/b'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--disk', 'vda:local',
          '--disk', 'vda:volume'], 'more than once'),
        (['--libvirt', '9.0', '--qemu', '7.2', '--bogus'], 'bogus'),
    )
    @ddt.unpack
    def test_bad_input_is_one_line_and_exit_2(self, argv, needle):
        status, out, err = run(*argv)
        self.assertEqual(2, status, err)
        self.assertEqual('', out)
        self.assertEqual(1, err.count('\n'), err)
        self.assertTrue(err.startswith('migtests-plan: error: '), err)
        self.assertIn(needle, err)
        self.assertNotIn('Traceback', err)


_SCRIPT = 'import sys; from reference.cli import main; sys.exit(main())'


class TestConsoleScript(base.TestCase):
    """The installed entry point, as a user runs it (the console script
    exits with what main returns)."""

    def test_runs_as_a_process(self):
        proc = subprocess.run(
            [sys.executable, '-c', _SCRIPT,
             *SEED, '--json'], capture_output=True, text=True, timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual('migrateToURI3', json.loads(proc.stdout)['api'])

    def test_bad_input_has_no_traceback(self):
        proc = subprocess.run(
            [sys.executable, '-c', _SCRIPT,
             '--libvirt', 'nine'], capture_output=True, text=True, timeout=60)
        self.assertEqual(2, proc.returncode)
        self.assertNotIn('Traceback', proc.stderr)
        self.assertEqual(1, len(proc.stderr.splitlines()), proc.stderr)
