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

import dataclasses
import os
import subprocess
import sys
import tempfile

import ddt
from oslo_config import cfg

from reference import conf
from reference.model import ConfigError
from reference.model import Operation
from reference.tests import base


@ddt.ddt
class TestOptions(base.TestCase):
    def test_nothing_registered_at_import(self):
        self.assertNotIn('libvirt', cfg.CONF)

    def test_register_and_list(self):
        c = cfg.ConfigOpts()
        conf.register_opts(c)
        names = {o.name for o in conf.list_opts()[0][1]}
        self.assertEqual('libvirt', conf.list_opts()[0][0])
        for name in names:
            self.assertIn(name, c.libvirt)
        self.assertIn('live_migration_tunnelled', names)
        self.assertIn('block_migration_flag', names)

    def test_every_option_is_read_into_one_setting(self):
        # The table SETTING_OF is the one place an option meets its field:
        # every field but those the flag options decide is in it once,
        # and every option but the tunnel and the flag options.
        fields = {f.name for f in dataclasses.fields(conf.MigrationSettings)}
        self.assertEqual(fields - {'tunnelled', 'warnings', 'tunnel_source'},
                         set(conf.SETTING_OF.values()))
        self.assertEqual(len(conf.SETTING_OF),
                         len(set(conf.SETTING_OF.values())))
        names = {o.name for o in conf.list_opts()[0][1]}
        self.assertEqual(names - {'live_migration_tunnelled',
                                  'live_migration_flag',
                                  'block_migration_flag'},
                         set(conf.SETTING_OF))

    def test_sample_config_from_the_entry_point(self):
        proc = subprocess.run(
            [sys.executable, '-m', 'oslo_config.generator', '--namespace',
             'migtests.reference'], capture_output=True, text=True,
            timeout=60)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('[libvirt]', proc.stdout)
        self.assertIn('#live_migration_tunnelled = <None>', proc.stdout)
        self.assertIn('DEPRECATED', proc.stdout)

    def test_every_option_has_help(self):
        for opt in conf.libvirt_migration_opts:
            self.assertTrue(opt.help, opt.name)

    def test_shipped_defaults(self):
        s = conf.settings()
        self.assertEqual({Operation.LIVE: None, Operation.BLOCK: None},
                         s.tunnelled)
        self.assertIsNone(s.native_tls)
        self.assertEqual('tcp', s.scheme)
        self.assertEqual(1, s.parallel_connections)
        self.assertEqual((), s.warnings)

    def test_config_file(self):
        with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                         delete=False) as f:
            f.write('[libvirt]\nlive_migration_tunnelled = false\n'
                    'live_migration_scheme = tls\n')
        self.addCleanup(os.unlink, f.name)
        s = conf.load_settings(conf.make_conf([f.name]))
        self.assertIs(False, s.tunnelled_for(Operation.BLOCK))
        self.assertEqual('tls', s.scheme)

    @ddt.data(('live_migration_scheme', 'ftp'),
              ('live_migration_parallel_connections', '0'),
              # QEMU's multifd-channels is a uint8.
              ('live_migration_parallel_connections', '256'),
              ('live_migration_downtime', '10'),
              ('live_migration_timeout_action', 'explode'))
    @ddt.unpack
    def test_invalid_values_are_rejected(self, name, value):
        self.assertRaises(ValueError, conf.settings, **{name: value})


@ddt.ddt
class TestMigrationUri(base.TestCase):
    """The deprecated live_migration_uri wins over the scheme, as in Nova
    34 (_live_migration_uri); what cannot work is a ConfigError."""

    @ddt.data(
        ('qemu+ssh://nova@%s/system', 'ssh'),
        ('qemu+libssh://%s/system', 'libssh'),
        ('qemu+tcp://%s:16509/system', 'tcp'),
        ('qemu://%s/system', 'tls'),           # libvirt's default transport
    )
    @ddt.unpack
    def test_the_transport_comes_from_the_uri(self, uri, transport):
        s = conf.settings(live_migration_uri=uri, live_migration_scheme='tls'
                          if transport == 'tcp' else 'tcp')
        self.assertEqual(transport, s.scheme)
        self.assertEqual(uri, s.uri_template)
        self.assertTrue(any('live_migration_uri is deprecated' in w
                            for w in s.warnings), s.warnings)

    @ddt.data(
        ('qemu+ssh://nova@host/system', 'one %s'),
        ('qemu+ssh://%s/%s/system', 'one %s'),
        ('qemu+unix://%s/system', "transport 'unix'"),
        ('xen+ssh://%s/system', 'qemu+<transport>'),
        ('qemu+ext://%s/system?command=/bin/x', 'qemu+<transport>'),
    )
    @ddt.unpack
    def test_a_uri_that_cannot_work_is_refused(self, uri, said):
        exc = self.assertRaises(ConfigError, conf.settings,
                                live_migration_uri=uri)
        self.assertIn(said, str(exc))
        self.assertIn('live_migration_uri', str(exc))

    def test_an_unreadable_value_in_a_file_is_a_config_error(self):
        with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                         delete=False) as f:
            f.write('[libvirt]\nlive_migration_scheme = ftp\n')
        self.addCleanup(os.unlink, f.name)
        exc = self.assertRaises(ConfigError, conf.load_settings,
                                conf.make_conf([f.name]))
        self.assertIn('ftp', str(exc))
        self.assertNotIn('\n', str(exc))


@ddt.ddt
class TestDeprecatedFlags(base.TestCase):
    def test_unknown_name_is_an_error_naming_it(self):
        exc = self.assertRaises(
            ConfigError, conf.settings,
            live_migration_flag='VIR_MIGRATE_LIVE, VIR_MIGRATE_TURBO')
        self.assertIn("'VIR_MIGRATE_TURBO'", str(exc))
        self.assertIn('live_migration_flag', str(exc))

    @ddt.data('VIR_MIGRATE_LIVE', 'VIR_MIGRATE_PEER2PEER',
              'VIR_MIGRATE_PERSIST_DEST', 'VIR_MIGRATE_UNDEFINE_SOURCE',
              'VIR_MIGRATE_NON_SHARED_INC', 'VIR_MIGRATE_NON_SHARED_DISK')
    def test_owned_flags_are_ignored_with_a_warning(self, name):
        s = conf.settings(block_migration_flag=name)
        self.assertIsNone(s.tunnelled_for(Operation.BLOCK))
        self.assertTrue(any(name in w and 'ignored' in w
                            for w in s.warnings), s.warnings)
        self.assertTrue(any('deprecated' in w for w in s.warnings))

    def test_tunnelled_counts_when_the_option_is_unset(self):
        s = conf.settings(live_migration_flag='VIR_MIGRATE_LIVE,'
                          'VIR_MIGRATE_TUNNELLED')
        self.assertIs(True, s.tunnelled_for(Operation.LIVE))
        self.assertIsNone(s.tunnelled_for(Operation.BLOCK))

    def test_tunnelled_is_ignored_when_the_option_is_set(self):
        s = conf.settings(live_migration_flag='VIR_MIGRATE_TUNNELLED',
                          live_migration_tunnelled=False)
        self.assertIs(False, s.tunnelled_for(Operation.LIVE))
        self.assertTrue(any('wins' in w for w in s.warnings))

    @ddt.data(*sorted(conf._REFUSED_FLAGS))
    def test_other_flags_are_refused_with_the_reason(self, name):
        exc = self.assertRaises(ConfigError, conf.settings,
                                live_migration_flag=name)
        self.assertIn(name, str(exc))
        self.assertIn(conf._REFUSED_FLAGS[name], str(exc))

    def test_every_libvirt_flag_is_classified(self):
        self.assertEqual(
            set(conf.FLAG_SINCE),
            conf._OWNED_FLAGS | set(conf._REFUSED_FLAGS)
            | set(conf._TRANSLATED_FLAGS))

    @ddt.data(
        # flag, the option it stands for, the setting read
        ('VIR_MIGRATE_AUTO_CONVERGE', 'live_migration_permit_auto_converge',
         'permit_auto_converge'),
        ('VIR_MIGRATE_POSTCOPY', 'live_migration_permit_post_copy',
         'permit_post_copy'),
        ('VIR_MIGRATE_TLS', 'live_migration_with_native_tls', 'native_tls'),
    )
    @ddt.unpack
    def test_flags_with_a_present_day_option_translate(self, flag, option,
                                                       field):
        # Nova passed these through in 2016; today they mean the option.
        s = conf.settings(live_migration_flag='VIR_MIGRATE_LIVE, ' + flag)
        self.assertIs(True, getattr(s, field))
        self.assertIn('[libvirt] live_migration_flag: %s is read as %s = '
                      'true; set that option instead' % (flag, option),
                      s.warnings)

    @ddt.data(('VIR_MIGRATE_AUTO_CONVERGE',
               'live_migration_permit_auto_converge', 'permit_auto_converge'),
              ('VIR_MIGRATE_TLS', 'live_migration_with_native_tls',
               'native_tls'))
    @ddt.unpack
    def test_the_option_set_by_the_operator_wins(self, flag, option, field):
        s = conf.settings(block_migration_flag=flag, **{option: False})
        self.assertIs(False, getattr(s, field))
        self.assertIn('[libvirt] block_migration_flag: %s is ignored: %s = '
                      'false is set and wins' % (flag, option), s.warnings)

    def test_a_tunnel_from_a_flag_is_named_in_refusals(self):
        s = conf.settings(block_migration_flag='VIR_MIGRATE_TUNNELLED')
        self.assertIn('remove VIR_MIGRATE_TUNNELLED from [libvirt] '
                      'block_migration_flag', s.tunnel_fix(Operation.BLOCK))
        self.assertIn('live_migration_tunnelled = false (or unset it)',
                      s.tunnel_fix(Operation.LIVE))

    def test_empty_tokens_are_ignored(self):
        self.assertIsNone(conf.settings(
            live_migration_flag=' , ,').tunnelled_for(Operation.LIVE))


@ddt.ddt
class TestContradictions(base.TestCase):
    @ddt.data(
        ({'live_migration_with_native_tls': True}, 'native_tls'),
        ({'live_migration_permit_post_copy': True}, 'post_copy'),
        ({'live_migration_parallel_connections': 2}, 'parallel_connections'),
    )
    @ddt.unpack
    def test_tunnelled_true_with(self, options, word):
        for tunnel in ({'live_migration_tunnelled': True},
                       {'block_migration_flag': 'VIR_MIGRATE_TUNNELLED'}):
            exc = self.assertRaises(ConfigError, conf.settings,
                                    **dict(options, **tunnel))
            self.assertIn(word, str(exc))

    @ddt.data({'live_migration_with_native_tls': True},
              {'live_migration_permit_post_copy': True},
              {'live_migration_parallel_connections': 2})
    def test_fine_without_the_tunnel(self, options):
        conf.settings(live_migration_tunnelled=False, **options)
        conf.settings(**options)
