"""The Zuul validator passes this repository and fails broken copies of it."""

import os
import shutil
import tempfile

import ddt
import testtools

from tools.zuulcheck import validate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))


def _replace(path, old, new):
    with open(path) as f:
        text = f.read()
    if old not in text:
        raise AssertionError('%r not in %s' % (old, path))
    with open(path, 'w') as f:
        f.write(text.replace(old, new, 1))


# name, file to break, text to replace, replacement, expected problem text
BROKEN = (
    ('typo-key', 'zuul.d/jobs.yaml', '    parent: migtests-multinode-base',
     '    parnet: migtests-multinode-base', "extra keys not allowed"),
    ('wrong-type', 'zuul.d/jobs.yaml', '    timeout: 7200',
     '    timeout: two hours', 'expected int'),
    ('bad-branch-regex', 'zuul.d/jobs.yaml',
     r'branches: ^stable/(stein|train|ussuri)$',
     r'branches: ^stable/(stein|train', 'unterminated subpattern'),
    ('duplicate-key', 'zuul.d/jobs.yaml', '    timeout: 7200',
     '    timeout: 7200\n    timeout: 3600', 'appears more than once'),
    ('undefined-group-node', 'zuul.d/nodesets.yaml',
     '        nodes: [controller]', '        nodes: [controler]',
     'not defined in the nodeset'),
    ('missing-playbook', 'zuul.d/jobs.yaml', 'post-run: playbooks/post.yaml',
     'post-run: playbooks/collect.yaml', 'does not exist'),
    ('missing-included-tasks', 'playbooks/pre.yaml',
     'tasks/libvirt-from-source.yaml', 'tasks/libvirt-build.yaml',
     'does not exist'),
    ('unknown-parent', 'zuul.d/jobs.yaml',
     'parent: tempest-multinode-full-py3', 'parent: tempest-multinode-ful',
     "unknown parent 'tempest-multinode-ful'"),
    ('unknown-nodeset', 'zuul.d/jobs.yaml',
     'nodeset: migtests-two-node-noble', 'nodeset: two-node-noble',
     "unknown nodeset 'two-node-noble'"),
    ('unknown-job-in-pipeline', 'zuul.d/project.yaml',
     '        - migtests-noble\n\n', '        - migtests-nobel\n\n',
     "unknown job 'migtests-nobel'"),
    ('tunnelled-in-nova-conf', 'zuul.d/jobs.yaml',
     '      devstack_local_conf:\n',
     '      devstack_local_conf:\n        post-config:\n'
     '          $NOVA_CONF:\n            libvirt:\n'
     '              live_migration_tunnelled: true\n',
     'live_migration_tunnelled'),
    ('flag-in-localrc', 'zuul.d/jobs.yaml', "      tox_envlist: all\n",
     "      tox_envlist: all\n      devstack_localrc:\n"
     "        LIBVIRT_LIVE_MIGRATION_FLAG: VIR_MIGRATE_TUNNELLED\n",
     'migration configuration Nova ships'),
    ('post-copy-in-group-vars', 'zuul.d/jobs.yaml',
     "        devstack_services:\n          c-vol: true\n",
     "        devstack_services:\n          c-vol: true\n"
     "        devstack_local_conf:\n          post-config:\n"
     "            $NOVA_CPU_CONF:\n              libvirt:\n"
     "                live_migration_permit_post_copy: true\n",
     'group-vars'),
    ('playbook-sets-an-option', 'playbooks/pre.yaml',
     "  tasks:\n",
     "  tasks:\n    - name: Tunnel\n      community.general.ini_file:\n"
     "        path: /etc/nova/nova.conf\n        section: libvirt\n"
     "        option: live_migration_tunnelled\n        value: 'true'\n"
     "        mode: '0644'\n",
     'live_migration_tunnelled'),
    ('plugin-syntax-too-new', 'migtests/console.py',
     "        return 'no counter printed after the migration'",
     "        return f'no counter printed after {last_before}'",
     'not Python 3.5 syntax'),
)


@ddt.ddt
class TestValidator(testtools.TestCase):
    def copy(self):
        target = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, target)
        for name in ('zuul.d', 'playbooks', 'migtests'):
            shutil.copytree(os.path.join(ROOT, name),
                            os.path.join(target, name),
                            ignore=shutil.ignore_patterns('__pycache__'))
        return target

    def test_this_repository_is_valid(self):
        self.assertEqual([], validate.validate(ROOT))

    @ddt.data(*BROKEN)
    @ddt.unpack
    def test_broken_copy_fails(self, name, path, old, new, expected):
        root = self.copy()
        _replace(os.path.join(root, path), old, new)
        problems = validate.validate(root)
        self.assertTrue(any(expected in p for p in problems),
                        '%s: %s' % (name, problems))
        self.assertEqual(1, validate.main([root]))

    def test_empty_directory_fails(self):
        self.assertEqual(['no zuul.d/*.yaml under /nonexistent'],
                         validate.validate('/nonexistent'))
