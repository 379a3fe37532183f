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

"""The lab brought up and down while its processes are killed or end at
random points (one round per phase: bring-up, running, teardown; seeded):
nothing may be left behind.  `migtests-lab soak --rounds N` runs more."""

import os

from tempest.lib import decorators
from testtools import content

from migtests.lab import soak
from migtests.lab.tests import base

SEED = int(os.environ.get('MIGTESTS_SOAK_SEED', '20261127'))


class TestSoak(base.NeedsLab):

    @decorators.idempotent_id('2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f60')
    def test_nothing_left_after_random_kills(self):
        lines = []
        rounds = soak.run(len(soak.PHASES), SEED, progress=lines.append,
                          name='sk')
        self.addDetail('rounds', content.text_content('\n'.join(lines)))
        self.assertEqual(list(soak.PHASES), [r.phase for r in rounds])
        # The chaos acted and saw the lab's processes (else it proved
        # nothing), and whatever it did, nothing survived.
        self.assertGreater(sum(len(r.actions) for r in rounds), 0, lines)
        self.assertGreater(min(r.seen for r in rounds), 0, lines)
        self.assertEqual([[]] * len(rounds), [r.leftovers for r in rounds],
                         lines)
