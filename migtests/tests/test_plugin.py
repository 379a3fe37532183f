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

"""The plugin: options, registration, skip checks, waiters, the Tempest
interfaces it uses, what Tempest lists."""

import ast
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import ddt
import fixtures
from oslo_config import cfg
from oslotest import base
from tempest import config as tempest_config
from tempest.lib import decorators
from tempest.lib import exceptions
from tempest import test as tempest_test

from migtests.api.compute import base as migtests_base
from migtests.api.compute import test_block_migration
from migtests.api.compute import test_live_migration
from migtests.api.compute import test_migration_failure
from migtests.api.compute import test_operations
from migtests.api.compute import test_rolling_upgrade
from migtests.common import utils
from migtests.common import waiters
from migtests import config
from migtests import plugin

LIVE = test_live_migration.LiveMigrationTest
BLOCK = test_block_migration.BlockMigrationTest
FAILURE = test_migration_failure.MigrationFailureTest
OPERATIONS = test_operations.OperatorActionsTest
ROLLING = test_rolling_upgrade.RollingUpgradeTest

# Tempest's interfaces for plugins (doc/source/plugins/plugin.rst, "Stable
# Tempest APIs plugins may use", Tempest fa340b1f5).
STABLE = ('tempest.lib', 'tempest.config', 'tempest.test_discover.plugins',
          'tempest.common.credentials_factory', 'tempest.common.compute',
          'tempest.common.identity', 'tempest.common.image',
          'tempest.common.object_storage', 'tempest.clients', 'tempest.test',
          'tempest.scenario.manager')


class _Groups:
    """Groups by attribute name, as tempest.config.CONF gives them
    (compute_feature_enabled for [compute-feature-enabled])."""

    def __init__(self, conf):
        self._conf = conf

    def __getattr__(self, name):
        for group in (name, name.replace('_', '-')):
            if group in self._conf:
                return self._conf[group]
        raise AttributeError(name)


class TempestConf(fixtures.Fixture):
    """A fresh configuration with Tempest's options and the plugin's (what
    oslo-config-generator reads: tempest.config.list_opts), no file read,
    in place of tempest.config.CONF in the plugin's modules.  Tempest's own
    class checks (credentials available) are Tempest's to test: left out.
    """

    MODULES = (migtests_base, test_block_migration, test_live_migration,
               test_operations, test_rolling_upgrade, utils, waiters)

    def _setUp(self):
        self.conf = cfg.ConfigOpts()
        for group, opts in (tempest_config.list_opts()
                            + config.list_opts()):
            # By name: a group object would be shared with every other
            # configuration it is registered in, and so its overrides.
            name = getattr(group, 'name', group)
            self.conf.register_opts(
                opts, group=None if name == 'DEFAULT' else name)
        self.conf([], default_config_files=[])
        for module in self.MODULES:
            self.useFixture(fixtures.MockPatchObject(
                module, 'CONF', _Groups(self.conf)))
        self.useFixture(fixtures.MockPatchObject(
            tempest_test.BaseTestCase, 'skip_checks',
            classmethod(lambda cls: None)))

    def set(self, group, name, value):
        self.conf.set_override(name, value, group)


class TestOptions(base.BaseTestCase):
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
class TestSkipChecks(base.BaseTestCase):
    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(TempestConf())
        for group, name, value in (
                ('compute-feature-enabled', 'live_migration', True),
                ('compute-feature-enabled',
                 'block_migration_for_live_migration', True),
                ('compute', 'min_compute_nodes', 2),
                ('compute', 'max_microversion', 'latest')):
            self.conf.set(group, name, value)

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
        (LIVE, (('service_available', 'nova', False),), 'nova = false'),
        (BLOCK, (('service_available', 'neutron', False),),
         'neutron = false'),
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
            self.conf.set(group, name, value)
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
        self.conf.set('migtests', 'counter_image_ref', 'image-id')
        LIVE.skip_without_counter_image(case)


class TestTempestListing(base.BaseTestCase):
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


def load_tests(loader, tests, pattern):
    """This module's tests only: the scenario classes imported above are
    Tempest's to run against a cloud, not unit tests."""
    return unittest.TestSuite(
        test for test in _flat(tests) if type(test).__module__ == __name__)


def _flat(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from _flat(test)
        else:
            yield test


def _imported(node):
    """What an import statement imports, by its full name (``from a
    import b``: a.b, a module or a name in a)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return ['%s.%s' % (node.module, alias.name) for alias in node.names]
    return []


def _ids(suite):
    return [test.id().split('[')[0] for test in _flat(suite)]


class FakeServers:
    """A servers client answering from a script of states (then 404)."""

    def __init__(self, *states):
        self.states = list(states)

    def show_server(self, server_id):
        if not self.states:
            raise exceptions.NotFound(server_id)
        status, task, fault = self.states.pop(0) if len(
            self.states) > 1 else self.states[0]
        server = {'status': status, 'OS-EXT-STS:task_state': task}
        if fault:
            server['fault'] = {'message': fault}
        return {'server': server}


class FakeVolumes:
    def __init__(self, *states):
        self.states = list(states)

    def show_volume(self, volume_id):
        status = self.states.pop(0) if len(self.states) > 1 else \
            self.states[0]
        return {'volume': {'status': status}}


class TestWaiters(base.BaseTestCase):
    def setUp(self):
        super().setUp()
        conf = self.useFixture(TempestConf())
        for group in ('compute', 'volume'):
            conf.set(group, 'build_interval', 0)
            conf.set(group, 'build_timeout', 1)

    @decorators.idempotent_id('0a195408-a8ee-4d94-a336-f3ec6e4739b7')
    def test_waits_for_the_task_to_end(self):
        client = FakeServers(('ACTIVE', 'migrating', None),
                             ('ACTIVE', None, None))
        seen = waiters.wait_for_server_status(client, 'id', 'ACTIVE')
        self.assertEqual([('ACTIVE', None, None)], client.states)
        self.assertIsNone(seen['OS-EXT-STS:task_state'])

    @decorators.idempotent_id('947b68a2-af39-4778-bda3-e160e574b38d')
    def test_error_stops_the_wait_with_the_fault(self):
        client = FakeServers(('ERROR', None, 'operation aborted'))
        error = self.assertRaises(waiters.ServerError,
                                  waiters.wait_for_server_status,
                                  client, 'id', 'ACTIVE')
        self.assertIn('operation aborted', str(error))

    @decorators.idempotent_id('d8773cb5-1948-4b91-a1c0-716cea134640')
    def test_timeout_says_what_it_saw_last(self):
        client = FakeServers(('ACTIVE', 'migrating', None))
        error = self.assertRaises(exceptions.TimeoutException,
                                  waiters.wait_for_server_status,
                                  client, 'id', 'ACTIVE')
        self.assertIn("'migrating'", str(error))

    @decorators.idempotent_id('5e21f76d-de73-4648-b3e7-d6c732dc5ea8')
    def test_deletion_ends_at_not_found_whatever_the_state(self):
        waiters.wait_for_server_deletion(FakeServers(), 'id')
        client = FakeServers(('ERROR', None, None))
        self.assertRaises(exceptions.TimeoutException,
                          waiters.wait_for_server_deletion, client, 'id')

    @decorators.idempotent_id('50229399-d0a2-4ed7-8e12-898c82c0f3cb')
    def test_volume_error_stops_the_wait(self):
        waiters.wait_for_volume_status(
            FakeVolumes('attaching', 'in-use'), 'id', 'in-use')
        error = self.assertRaises(
            waiters.VolumeError, waiters.wait_for_volume_status,
            FakeVolumes('creating', 'error'), 'id', 'available')
        self.assertIn('went to error', str(error))


class TestServices(base.BaseTestCase):
    @decorators.idempotent_id('d61ec391-6ad3-4e01-a0dc-0db1e615f22f')
    def test_tags_and_skips(self):
        conf = self.useFixture(TempestConf())

        class Case(unittest.TestCase):
            @utils.services('volume')
            def test_it(self):
                return 'ran'
        self.assertEqual({'volume'},
                         set(getattr(Case.test_it, '__testtools_attrs')))
        conf.set('service_available', 'cinder', True)
        self.assertEqual('ran', Case('test_it').test_it())
        conf.set('service_available', 'cinder', False)
        error = self.assertRaises(unittest.SkipTest, Case('test_it').test_it)
        self.assertIn('[service_available] cinder = false', str(error))

    @decorators.idempotent_id('364319ca-b5d9-41f3-973c-cecfe2a23546')
    def test_unknown_tag_is_refused_at_import(self):
        self.assertRaises(ValueError, utils.services, 'volumes')


class TestTempestInterfaces(base.BaseTestCase):
    """The plugin imports from Tempest only what Tempest offers plugins."""

    @decorators.idempotent_id('531dd6f3-c66d-454d-a24b-b93a50f63e2c')
    def test_only_stable_interfaces(self):
        package = os.path.dirname(plugin.__file__)
        used = {}
        for folder, _, files in os.walk(package):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = os.path.join(folder, name)
                with open(path) as source:
                    tree = ast.parse(source.read(), path)
                for node in ast.walk(tree):
                    for module in _imported(node):
                        if module.split('.')[0] == 'tempest':
                            used.setdefault(module, set()).add(
                                os.path.relpath(path, package))
        self.assertIn('tempest.test', used)
        unstable = {module: sorted(where) for module, where in used.items()
                    if not any(module == stable
                               or module.startswith(stable + '.')
                               for stable in STABLE)}
        self.assertEqual({}, unstable)
