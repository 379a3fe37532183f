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

"""The plugin: options, registration, skip checks, what Tempest lists."""

import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import ddt
from oslo_config import cfg
from tempest import config as tempest_config
from tempest.lib import decorators
from tempest.tests import base
from tempest.tests import fake_config

from migtests.api.compute import test_block_migration
from migtests.api.compute import test_live_migration
from migtests.api.compute import test_migration_failure
from migtests.api.compute import test_operations
from migtests.api.compute import test_rolling_upgrade
from migtests import config
from migtests import plugin

LIVE = test_live_migration.LiveMigrationTest
BLOCK = test_block_migration.BlockMigrationTest
FAILURE = test_migration_failure.MigrationFailureTest
OPERATIONS = test_operations.OperatorActionsTest
ROLLING = test_rolling_upgrade.RollingUpgradeTest


class TestOptions(base.TestCase):
    @decorators.idempotent_id('6ab8ba38-e967-4326-b2fe-da04cde2a9c1')
    def test_register_on_a_fresh_conf(self):
        conf = cfg.ConfigOpts()
        config.register_opts(conf)
        self.assertIsNone(conf.migtests.counter_image_ref)
        self.assertEqual(300, conf.migtests.migration_timeout)
        self.assertFalse(conf.migtests.slow_migrations)
        # Tempest removed its switch for this case (block_migrate_cinder_
        # iscsi); the plugin has none either: the volume service decides.
        self.assertNotIn('attached_volume_block_migration', conf.migtests)

    @decorators.idempotent_id('8abd0983-dd34-431c-9dbd-c999c26e3e58')
    def test_every_option_has_help(self):
        for _, opts in config.list_opts():
            for opt in opts:
                self.assertTrue(opt.help, opt.name)

    @decorators.idempotent_id('385761c1-44af-4fab-a926-9ca8a641dc32')
    def test_plugin_interface(self):
        p = plugin.MigtestsTempestPlugin()
        test_dir, top = p.load_tests()
        self.assertEqual(os.path.join(top, 'migtests', 'api'), test_dir)
        self.assertTrue(os.path.isdir(test_dir))
        (name, opts), = p.get_opt_lists()
        self.assertEqual('migtests', name)
        self.assertIn('counter_image_ref', [o.name for o in opts])


@ddt.ddt
class TestSkipChecks(base.TestCase):
    def setUp(self):
        super().setUp()
        self.useFixture(fake_config.ConfigFixture())
        self.patchobject(tempest_config, 'TempestConfigPrivate',
                         fake_config.FakePrivate)
        for group, name, value in (
                ('compute-feature-enabled', 'live_migration', True),
                ('compute-feature-enabled',
                 'block_migration_for_live_migration', True),
                ('compute', 'min_compute_nodes', 2),
                ('compute', 'max_microversion', 'latest')):
            cfg.CONF.set_default(name, value, group)

    @ddt.data(
        (LIVE, (), None),
        (BLOCK, (), None),
        (FAILURE, (), None),
        (LIVE, (('compute-feature-enabled', 'live_migration', False),),
         'live_migration'),
        (FAILURE, (('compute-feature-enabled', 'live_migration', False),),
         'live_migration'),
        (BLOCK, (('compute', 'min_compute_nodes', 1),), 'min_compute_nodes'),
        (BLOCK, (('compute-feature-enabled',
                  'block_migration_for_live_migration', False),),
         'block_migration_for_live_migration'),
        (LIVE, (('compute', 'max_microversion', '2.24'),), '2.25'),
        # Operator actions: only on a cloud set up for slow migrations,
        # with volume-backed servers.
        (OPERATIONS, (), 'slow_migrations'),
        (OPERATIONS, (('migtests', 'slow_migrations', True),
                      ('service_available', 'cinder', False)),
         'cinder = false'),
        (OPERATIONS, (('migtests', 'slow_migrations', True),
                      ('service_available', 'cinder', True)), None),
        # The rolling-upgrade scenarios: only where the computes are said to
        # differ, decided before any credentials are made.
        (ROLLING, (('compute', 'max_microversion', '2.33'),),
         'mixed_computes'),
        (ROLLING, (('compute', 'max_microversion', '2.33'),
                   ('migtests', 'mixed_computes', True)), None),
    )
    @ddt.unpack
    @decorators.idempotent_id('78d56bb0-676b-4386-b6bb-880e1d2e3369')
    def test_skip_checks(self, test_class, overrides, reason):
        for group, name, value in overrides:
            cfg.CONF.set_default(name, value, group)
        if reason is None:
            test_class.skip_checks()
            return
        exc = self.assertRaises(unittest.SkipTest, test_class.skip_checks)
        self.assertIn(reason, str(exc))

    @decorators.idempotent_id('79cc5e3c-8178-4ab4-8f0f-bc86a23a5d25')
    def test_counter_checks_skip_without_the_image(self):
        case = mock.Mock(skipException=unittest.SkipTest)
        exc = self.assertRaises(unittest.SkipTest,
                                LIVE.skip_without_counter_image, case)
        self.assertIn('counter_image_ref', str(exc))
        cfg.CONF.set_default('counter_image_ref', 'image-id', 'migtests')
        LIVE.skip_without_counter_image(case)


class TestTempestListing(base.TestCase):
    """tempest run --list-tests shows the plugin's tests, nothing else."""

    @decorators.idempotent_id('6138d32f-3e9a-45cf-930a-6fd9e36f4f11')
    def test_listing(self):
        workspace = tempfile.mkdtemp()
        home = tempfile.mkdtemp()
        self.addCleanup(subprocess.run, ['rm', '-rf', workspace, home])
        env = dict(os.environ, HOME=home)
        tempest = [sys.executable, '-m', 'tempest.cmd.main']
        subprocess.run(tempest + ['init', os.path.join(workspace, 'ws')],
                       check=True, capture_output=True, env=env, timeout=120)
        proc = subprocess.run(
            tempest + ['run', '--list-tests', '--regex', 'migtests'],
            cwd=os.path.join(workspace, 'ws'), capture_output=True,
            text=True, env=env, timeout=300)
        self.assertEqual(0, proc.returncode, proc.stderr[-2000:])
        listed = [line.split('[')[0] for line in proc.stdout.splitlines()
                  if 'migtests' in line]
        self.assertIn('migtests.api.compute.test_live_migration.'
                      'LiveMigrationTest.test_guest_keeps_running', listed)
        self.assertIn('migtests.api.compute.test_block_migration.'
                      'BlockMigrationTest.'
                      'test_block_migration_with_attached_volume', listed)
        strays = [t for t in listed if not t.startswith('migtests.api.')]
        self.assertEqual([], strays)
        # Every scenario of the plugin's package, as unittest finds them
        # there, and each once.
        api = os.path.dirname(plugin.__file__)
        suite = unittest.TestLoader().discover(
            os.path.join(api, 'api'), top_level_dir=os.path.dirname(api))
        self.assertEqual(sorted(_ids(suite)), sorted(listed))


def _ids(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _ids(test)
        else:
            yield test.id().split('[')[0]
