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

"""A reduced upgrade matrix: real migrations between Debian's libvirts.

CI runs the pairs in MIGTESTS_MATRIX_PAIRS (default: 9.0 <-> 11.3 and
7.0 <-> 12.8, both directions, every core case); `tox -e matrix` runs the
full 4 x 4 matrix with its report.
"""

import os

import ddt
from tempest.lib import decorators
from testtools import content

from migtests.lab.lab import Lab
from migtests.lab import matrix
from migtests.lab.tests import base
from reference import act
from reference import versions


class Pair(tuple):
    """Two suites; ddt names the test after ``__name__``:
    test_pair_2_bullseye_and_sid."""

    def __new__(cls, text):
        pair = super().__new__(cls, text.split(':'))
        pair.__name__ = '_and_'.join(pair)
        return pair


PAIRS = [Pair(p) for p in os.environ.get(
    'MIGTESTS_MATRIX_PAIRS', 'bookworm:trixie,bullseye:sid').split(',')]


@ddt.ddt
class TestMatrix(base.NeedsLab):

    @ddt.data(*PAIRS)
    @decorators.idempotent_id('f4f5b0cf-5a55-4bb5-a4b6-2a7a5e0f3a10')
    def test_pair(self, pair):
        source, destination = pair
        cells, rows = matrix.run_pair(source, destination,
                                      list(matrix.CASES.values()),
                                      'tm%d' % PAIRS.index(pair),
                                      lambda message: None)
        self.addDetail('cells', content.json_content(
            [vars(c) for c in cells] + rows))
        reds = [(c.source, c.destination, c.case, c.outcome, c.error)
                for c in cells if c.outcome != 'ok']
        self.assertEqual([], reds)
        self.assertEqual(len(matrix.CASES) * (1 if source == destination
                                              else 2), len(cells))
        self.assertEqual([], [r for r in rows if not r['agrees']])


@ddt.ddt
class TestMachineTypes(base.NeedsLab):
    """versions.MACHINE_TYPE_FLOORS against the machine types each suite's
    libvirt lists for its QEMU: no listed type is older than the floor,
    and a floor measured on that QEMU release is its oldest type."""

    @ddt.data(*PAIRS)
    @decorators.idempotent_id('0b0f7d8e-56f4-4c55-9d0a-3f7b8b1f63c2')
    def test_machine_types(self, pair):
        lab = Lab('mf%d' % PAIRS.index(pair), suites=list(pair))
        self.addCleanup(lab.down)
        lab.up()
        for host in lab.hosts:
            conn = host.connect()
            try:
                caps = act.read_capabilities(conn)
            finally:
                conn.close()
            parsed = map(versions.machine_type_version, caps.machine_types)
            listed = sorted(v[1] for v in parsed if v)
            self.addDetail('machine types of %s' % host.suite,
                           content.text_content(', '.join(
                               sorted(caps.machine_types))))
            floor = versions.machine_type_floor(caps.qemu)
            if floor is None:
                continue
            self.assertLessEqual(floor.oldest_kept, listed[0], caps)
            if floor.qemu_since[:2] == caps.qemu[:2]:
                self.assertEqual(floor.oldest_kept, listed[0], caps)
