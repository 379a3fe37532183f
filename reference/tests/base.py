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

"""Helpers shared by the reference driver's unit tests."""

from oslotest import base

from reference import conf
from reference.model import Disk
from reference.model import DiskKind
from reference.model import HostCapabilities
from reference.model import MigrationRefused
from reference.model import MigrationRequest
from reference.model import Operation
from reference.planner import plan_migration
from reference.versions import V

# (libvirt, QEMU) pairs the unit tests sweep: distro releases of each era.
STACKS = (
    ('1.2.17', '2.5'),   # Ubuntu 16.04 cloud archive era: the 2016 CI job
    ('1.3.1', '2.5'),    # Ubuntu 16.04
    ('3.0.0', '2.8'),    # Debian 9
    ('3.6.0', '2.10'),   # Ubuntu 17.10: native TLS, memory stream only
    ('4.0.0', '2.11'),   # Ubuntu 18.04
    ('4.4.0', '2.12'),
    ('5.4.0', '4.0'),
    ('5.10.0', '4.2'),   # -blockdev; its NBD storage copy was broken
    ('6.0.0', '4.2'),    # Ubuntu 20.04
    ('7.0.0', '5.2'),    # Debian 11
    ('7.4.0', '6.0'),    # NON_SHARED_INC regression window
    ('8.0.0', '6.2'),    # Ubuntu 22.04
    ('8.7.0', '7.1'),    # storage copy broken (libvirt issue 373)
    ('9.0.0', '7.2'),    # Debian 12
    ('10.0.0', '8.2'),   # Ubuntu 24.04
    ('11.3.0', '10.0'),  # Debian 13
    ('12.8.0', '11.1'),  # Debian forky / sid
)


def host(libvirt='9.0.0', qemu='7.2', **kw):
    return HostCapabilities(V(libvirt), V(qemu), **kw)


def disks(spec):
    """'vda:local vdb:volume' -> (Disk, ...)."""
    result = []
    for item in spec.split():
        target, kind = item.split(':')
        result.append(Disk(target, DiskKind(kind)))
    return tuple(result)


def request(spec='vda:local', operation='auto', **kw):
    return MigrationRequest(destination=kw.pop('destination', 'dest'),
                            operation=Operation(operation),
                            disks=disks(spec), **kw)


def plan(options=None, source=None, destination=None, req=None):
    settings = conf.settings(**(options or {}))
    source = source or host()
    return plan_migration(settings, source, destination or source,
                          req or request())


class TestCase(base.BaseTestCase):
    def assertRefused(self, error, fn, *args, **kwargs):
        exc = self.assertRaises(MigrationRefused, fn, *args, **kwargs)
        self.assertEqual(error, exc.error, exc.message)
        return exc
