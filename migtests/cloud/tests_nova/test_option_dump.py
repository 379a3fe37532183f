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

"""The Zuul jobs' post-run check (migtests.cloud.optiondump) reads the
option dump oslo.config writes for Nova's own [libvirt] options: a dump
made here, by log_opt_values, of a configuration with Nova's options
registered, as nova-compute makes it at start."""

import logging
import os
import tempfile

from oslo_config import fixture as config_fixture
from tempest.lib import decorators
import testtools

from migtests.cloud import optiondump


def _dump(test, **overrides):
    """A nova-compute log: the option dump of Nova's own configuration
    (every option Nova registers), some [libvirt] options set."""
    # Imported here: check-uuid imports every module of the package, in
    # environments without Nova.
    import nova.conf
    conf = nova.conf.CONF
    fixture = test.useFixture(config_fixture.Config(conf))
    conf([], project='nova')
    fixture.config(group='libvirt', **overrides)
    fd, path = tempfile.mkstemp()
    os.close(fd)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(
        '%(asctime)s %(process)d DEBUG %(name)s [-] %(message)s'))
    logger = logging.getLogger('optiondump-test')
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        conf.log_opt_values(logger, logging.DEBUG)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return path


class TestOptionDump(testtools.TestCase):
    def check(self, **overrides):
        path = _dump(self, **overrides)
        self.addCleanup(os.remove, path)
        with open(path) as f:
            ran = optiondump.dumped(f)
        return ran, optiondump.differences(ran, optiondump.nova_defaults())

    @decorators.idempotent_id('c6e1d622-a49c-43b5-bb6a-30f4feb2b1c4')
    def test_shipped_defaults_differ_in_nothing(self):
        ran, differ = self.check()
        self.assertIn('live_migration_uri', ran)
        self.assertIn('live_migration_tunnelled', ran)
        self.assertEqual({}, differ)

    @decorators.idempotent_id('712570f8-ba38-4a78-9f80-a8370a3b6f5e')
    def test_devstacks_uri_is_found(self):
        _, differ = self.check(
            live_migration_uri='qemu+ssh://stack@%s/system',
            live_migration_tunnelled=True)
        self.assertEqual({
            'live_migration_tunnelled': {'ran': 'True', 'default': 'False'},
            'live_migration_uri': {'ran': 'qemu+ssh://stack@%s/system',
                                   'default': 'None'}}, differ)

    @decorators.idempotent_id('b80d483a-cda8-4d38-a0c3-81f282a645aa')
    def test_main_exits_1_on_a_difference_and_2_without_a_dump(self):
        path = _dump(self, live_migration_permit_post_copy=True)
        self.addCleanup(os.remove, path)
        self.assertEqual(1, optiondump.main([path]))
        empty = tempfile.NamedTemporaryFile()
        self.addCleanup(empty.close)
        self.assertEqual(2, optiondump.main([empty.name]))
