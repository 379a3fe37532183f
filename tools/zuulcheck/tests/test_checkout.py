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

"""The root tox jobs install the project from a checkout another user
owns (Zuul's checkout is the zuul user's): without the playbook's
safe.directory, git refuses it and pbr cannot read the version; with it,
the project builds."""

import os
import shutil
import subprocess
import sys
import tempfile

import testtools
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
PLAYBOOK = os.path.join(ROOT, 'playbooks', 'tox-root.yaml')


def _safe_directory_task():
    with open(PLAYBOOK) as f:
        plays = yaml.safe_load(f)
    for task in plays[0]['tasks']:
        cmd = (task.get('ansible.builtin.command') or {}).get('cmd', '')
        if 'safe.directory' in cmd:
            return task
    return None


class TestForeignCheckout(testtools.TestCase):
    def test_the_playbook_trusts_the_checkout_before_tox(self):
        plays = yaml.safe_load(open(PLAYBOOK))
        names = [t['name'] for t in plays[0]['tasks']]
        task = _safe_directory_task()
        self.assertIsNotNone(task)
        self.assertIn('git config --system --add safe.directory',
                      ' '.join(task['ansible.builtin.command']['cmd'].split()))
        self.assertIn('zuul.project.src_dir',
                      task['ansible.builtin.command']['cmd'])
        tox = next(n for n in names if 'Run the environment' in n)
        self.assertLess(names.index(task['name']), names.index(tox))

    def version(self, checkout, system_config):
        env = dict(os.environ, GIT_CONFIG_SYSTEM=system_config,
                   GIT_CONFIG_GLOBAL=os.devnull)
        env.pop('PBR_VERSION', None)
        # What a build of the project asks pbr first: its version, from
        # git.
        return subprocess.run(
            [sys.executable, 'setup.py', '--version'], cwd=checkout,
            capture_output=True, text=True, env=env, timeout=300)

    def test_a_checkout_another_user_owns_builds_as_root(self):
        if os.getuid() != 0:
            self.skipTest('needs root: the checkout is given to another '
                          'user (nobody) and built as root, as the root tox '
                          'jobs do')
        work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, work)
        checkout = os.path.join(work, 'migtests')
        subprocess.run(['git', 'clone', '-q', ROOT, checkout], check=True)
        subprocess.run(['chown', '-R', 'nobody', checkout], check=True)
        system = os.path.join(work, 'gitconfig')
        open(system, 'w').close()
        refused = self.version(checkout, system)
        self.assertNotEqual(0, refused.returncode)
        self.assertIn('Versioning for this project requires',
                      refused.stderr + refused.stdout)
        # The playbook's command, into this test's system configuration.
        subprocess.run(['git', 'config', '--file', system, '--add',
                        'safe.directory', checkout], check=True)
        built = self.version(checkout, system)
        self.assertEqual(0, built.returncode, built.stderr[-2000:])
        self.assertRegex(built.stdout.strip().splitlines()[-1],
                         r'^\d+\.\d+\.\d+')
