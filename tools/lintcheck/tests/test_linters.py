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

"""ansible-lint, ansible-playbook --syntax-check and yamllint pass the
playbooks and fail broken copies of them."""

import os
import shutil
import subprocess
import tempfile

import ddt
import testtools

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
CONFIGS = ('.ansible-lint', '.yamllint')


def lint(root):
    """(tool, exit status, output) of each linter over ``root``."""
    playbooks = sorted(os.path.join('playbooks', p) for p in os.listdir(
        os.path.join(root, 'playbooks')) if p.endswith('.yaml'))
    results = []
    for tool, cmd in (
            ('ansible-lint', ['ansible-lint', '--offline', 'playbooks']),
            ('syntax-check', ['ansible-playbook', '-i', 'localhost,',
                              '--syntax-check'] + playbooks),
            ('yamllint', ['yamllint', '-s', 'zuul.d', 'playbooks'])):
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True,
                              timeout=300)
        results.append((tool, proc.returncode, proc.stdout + proc.stderr))
    return results


BROKEN = (
    # name, file, old, new, the linter that must fail
    ('unnamed-task', 'playbooks/post.yaml',
     '    - name: Create the evidence directory\n      ansible.builtin.file:',
     '    - ansible.builtin.file:', 'ansible-lint'),
    ('shell-without-changed-when', 'playbooks/post.yaml',
     '        executable: /bin/bash\n      changed_when: false\n\n'
     '    - name: Dump',
     '        executable: /bin/bash\n\n    - name: Dump', 'ansible-lint'),
    ('unknown-module', 'playbooks/post.yaml', 'ansible.builtin.assert',
     'ansible.builtin.assertz', 'syntax-check'),
    ('trailing-spaces', 'zuul.d/project.yaml', '- project:\n',
     '- project:   \n', 'yamllint'),
    ('bad-truthy', 'zuul.d/jobs.yaml', '        c-api: true',
     '        c-api: yes', 'yamllint'),
)


@ddt.ddt
class TestLinters(testtools.TestCase):
    def copy(self):
        target = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, target)
        for name in ('zuul.d', 'playbooks'):
            shutil.copytree(os.path.join(ROOT, name),
                            os.path.join(target, name))
        for name in CONFIGS:
            shutil.copy(os.path.join(ROOT, name), target)
        return target

    def test_playbooks_pass(self):
        for tool, status, output in lint(self.copy()):
            self.assertEqual(0, status, '%s: %s' % (tool, output[-2000:]))

    @ddt.data(*BROKEN)
    @ddt.unpack
    def test_broken_copy_fails(self, name, path, old, new, linter):
        root = self.copy()
        full = os.path.join(root, path)
        with open(full) as f:
            text = f.read()
        self.assertIn(old, text, name)
        with open(full, 'w') as f:
            f.write(text.replace(old, new, 1))
        status = {tool: code for tool, code, _ in lint(root)}
        self.assertNotEqual(0, status[linter], '%s passed %s' % (linter, name))
