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

import ddt

from reference.tests import base
from reference.tests.base import host
from reference import versions
from reference.versions import V
from reference.versions import Version


@ddt.ddt
class TestVersion(base.TestCase):
    @ddt.data(('1.2.17', (1, 2, 17)), ('9.0', (9, 0, 0)),
              (' 12.8.0 ', (12, 8, 0)))
    @ddt.unpack
    def test_parse(self, text, expected):
        self.assertEqual(Version(*expected), Version.parse(text))

    @ddt.data('', '9', 'x.y', '1.2.3.4', '-1.0', '1..2', '9.0.0-rc1')
    def test_malformed_is_a_clear_error(self, text):
        exc = self.assertRaises(versions.VersionError, Version.parse, text)
        self.assertIn('MAJOR.MINOR', str(exc))

    def test_from_libvirt_int(self):
        self.assertEqual(V('1.2.17'), Version.from_libvirt_int(1002017))
        self.assertEqual(V('12.8.0'), Version.from_libvirt_int(12008000))

    def test_order(self):
        self.assertLess(V('1.2.17'), V('1.3.1'))
        self.assertLess(V('9.0.0'), V('10.0.0'))


@ddt.ddt
class TestFeatures(base.TestCase):
    @ddt.data(
        ('migrate_disks', '1.2.16', '2.5', False),
        ('migrate_disks', '1.2.17', '2.5', True),
        ('native_tls', '3.1.0', '2.9', False),
        ('native_tls', '3.2.0', '2.8', False),
        ('native_tls', '3.2.0', '2.9', True),
        ('native_tls_storage', '4.3.0', '2.11', False),
        ('native_tls_storage', '4.4.0', '2.10', False),
        ('native_tls_storage', '4.4.0', '2.11', True),
        ('parallel', '5.2.0', '3.1', False),
        ('parallel', '5.2.0', '4.0', True),
        ('blockdev', '5.9.0', '4.2', False),
        ('blockdev', '5.10.0', '4.1', False),
        ('blockdev', '5.10.0', '4.2', True),
        ('qemu_legacy_block_migration', '9.0.0', '9.0', True),
        ('qemu_legacy_block_migration', '10.0.0', '9.1', False),
        ('non_shared_inc_broken', '7.2.0', '5.2', False),
        ('non_shared_inc_broken', '7.3.0', '5.2', True),
        ('non_shared_inc_broken', '7.6.0', '5.2', False),
        ('nbd_storage_copy_broken', '5.9.0', '4.1', False),
        ('nbd_storage_copy_broken', '5.10.0', '4.2', True),
        ('nbd_storage_copy_broken', '6.0.0', '4.2', False),
        ('storage_copy_broken', '8.6.0', '7.0', False),
        ('storage_copy_broken', '8.7.0', '7.0', True),
        ('storage_copy_broken', '8.7.9', '7.0', True),
        ('storage_copy_broken', '8.8.0', '7.0', False),
        ('parallel_with_post_copy', '11.3.0', '10.0', False),
        ('parallel_with_post_copy', '12.8.0', '11.1', True),
    )
    @ddt.unpack
    def test_present(self, feature, libvirt, qemu, expected):
        self.assertEqual(expected, versions.supports(feature,
                                                     host(libvirt, qemu)))

    def test_both_hosts_must_have_it(self):
        self.assertFalse(versions.supports('migrate_disks', host('1.2.17'),
                                           host('1.2.2')))

    def test_every_feature_has_a_source(self):
        for feature in versions.FEATURES.values():
            self.assertTrue(feature.source, feature.name)

    @ddt.data(
        # feature, source libvirt, destination libvirt, usable
        ('tls_destination', '6.0.0', '5.4.0', True),   # source-side
        ('tls_destination', '5.4.0', '6.0.0', False),
        ('tls_destination_nbd', '8.2.0', '7.0.0', True),
        ('migrate_disks', '1.2.17', '1.2.16', False),  # both hosts
    )
    @ddt.unpack
    def test_usable_honours_the_party(self, feature, source, destination,
                                      expected):
        self.assertEqual(expected, versions.usable(
            feature, base.host(source, '4.2'), base.host(destination, '4.2')))

    def test_requirement_text(self):
        self.assertEqual('libvirt >= 4.4.0 and QEMU >= 2.11.0',
                         versions.FEATURES['native_tls_storage']
                         .requirement())
        self.assertEqual('QEMU < 9.1.0', versions.FEATURES[
            'qemu_legacy_block_migration'].requirement())
