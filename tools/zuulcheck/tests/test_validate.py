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
# The nodesets this repository had before the jobs were frozen: no tempest
# and no compute group, so Tempest's run play matched no node.
OLD_NODESET = """- nodeset:
    name: migtests-two-node-noble
    nodes:
      - name: controller
        label: ubuntu-noble
      - name: compute1
        label: ubuntu-noble
    groups:
      - name: switch
        nodes: [controller]
      - name: peers
        nodes: [compute1]
      - name: subnode
        nodes: [compute1]

"""


class Case(tuple):
    """A broken copy: (name, file, old, new, expected problem); its name
    names the test (test_broken_copy_fails_<n>_<name>)."""

    @property
    def __name__(self):
        return self[0].replace('-', '_')


# name, file to break, text to replace, replacement, expected problem text
BROKEN = tuple(Case(case) for case in (
    ('typo-key', 'zuul.d/jobs.yaml', '    parent: migtests-multinode-base',
     '    parnet: migtests-multinode-base', "extra keys not allowed"),
    ('wrong-type', 'zuul.d/jobs.yaml', '    timeout: 7200',
     '    timeout: two hours', 'expected int'),
    ('bad-branch-regex', 'zuul.d/jobs.yaml',
     '    override-checkout: stable/2026.2\n',
     '    override-checkout: stable/2026.2\n    branches: ^stable/(stein\n',
     'unterminated subpattern'),
    ('duplicate-key', 'zuul.d/jobs.yaml', '    timeout: 7200',
     '    timeout: 7200\n    timeout: 3600', 'appears more than once'),
    ('undefined-group-node', 'zuul.d/project.yaml', '- project:\n',
     OLD_NODESET.replace('nodes: [controller]', 'nodes: [controler]')
     + '- project:\n', 'not defined in the nodeset'),
    ('missing-playbook', 'zuul.d/jobs.yaml', 'post-run: playbooks/post.yaml',
     'post-run: playbooks/collect.yaml', 'does not exist'),
    ('unknown-parent', 'zuul.d/jobs.yaml',
     'parent: tempest-multinode-full-py3', 'parent: tempest-multinode-ful',
     "unknown parent 'tempest-multinode-ful'"),
    ('unknown-nodeset', 'zuul.d/jobs.yaml',
     'nodeset: openstack-two-node-noble', 'nodeset: two-node-noble',
     "unknown nodeset 'two-node-noble'"),
    ('unknown-job-in-pipeline', 'zuul.d/project.yaml',
     '        - migtests-multinode-2025-2\n',
     '        - migtests-multinode-2025-3\n',
     "unknown job 'migtests-multinode-2025-3'"),
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
    ('playbook-sets-an-option', 'playbooks/run.yaml',
     "  tasks:\n",
     "  tasks:\n    - name: Tunnel\n      community.general.ini_file:\n"
     "        path: /etc/nova/nova.conf\n        section: libvirt\n"
     "        option: live_migration_tunnelled\n        value: 'true'\n"
     "        mode: '0644'\n",
     'live_migration_tunnelled'),
    ('playbook-writes-a-line', 'playbooks/run.yaml',
     "        state: absent\n",
     "        line: 'live_migration_tunnelled = True'\n",
     'live_migration_tunnelled'),
    ('plugin-syntax-error', 'migtests/console.py',
     "        return 'no counter printed after the migration'",
     "        return 'no counter printed after the migration' +",
     'not Python 3.12 syntax'),
    # Freezing the jobs as Zuul does.
    ('branch-matcher-matches-no-branch', 'zuul.d/jobs.yaml',
     '    override-checkout: stable/2026.1\n',
     '    override-checkout: stable/2026.1\n'
     '    branches: ^stable/(newton|ocata)$\n',
     'no variant of migtests-multinode-2026-1 matches branch master'),
    ('devstack-writes-left-in-place', 'playbooks/run.yaml',
     "        state: absent\n", "        state: present\n",
     'devstack writes [libvirt] live_migration_uri and no run play removes '
     'it on every compute'),
    ('removal-on-one-compute-only', 'playbooks/run.yaml',
     "  hosts: compute\n", "  hosts: subnode\n",
     'no run play removes it on every compute'),
    ('trunk-test-selected', 'zuul.d/jobs.yaml',
     "      tempest_exclude_regex: 'test_live_migration_with_trunk'\n", '',
     'which upstream excludes'),
    ('no-passed-tests-guard', 'zuul.d/jobs.yaml',
     "      migtests_min_passed: 7\n", '',
     'no migtests_min_passed'),
    ('selection-without-the-plugin', 'zuul.d/jobs.yaml',
     r"'^(migtests\.|tempest\.api", r"'^(tempest\.api",
     "selects none of the plugin's tests"),
    # The selection as Tempest's discovery lists it.
    ('exclude-removes-the-plugin', 'zuul.d/jobs.yaml',
     "      tempest_exclude_regex: 'test_live_migration_with_trunk'\n",
     "      tempest_exclude_regex: 'test_live_migration_with_trunk|"
     "there_and_back'\n",
     "selects none of the plugin's tests"),
    ('guard-above-the-selection', 'zuul.d/jobs.yaml',
     "      migtests_min_passed: 7\n", "      migtests_min_passed: 16\n",
     'migtests_min_passed 16, but it selects 15 of the plugin\'s tests: it '
     'can never pass'),
    # The project's own checks as tox jobs.
    # tox.ini as it was: the unit tests in [testenv:py3] only, so the
    # standard openstack-tox-py312 job's "tox -e py312" ran nothing.
    ('tox-env-without-commands', 'tox.ini',
     'commands =\n  stestr --test-path ./reference/tests run {posargs}\n'
     '  stestr --test-path ./migtests/tests run {posargs}\n'
     '  check-uuid --package migtests\n', '',
     'tox environment py312 has no commands'),
    ('root-env-as-the-node-user', 'zuul.d/checks.yaml',
     '    run: playbooks/tox-root.yaml\n', '',
     'tox environment functional needs root'),
    ('tox-job-on-a-gone-label', 'zuul.d/checks.yaml',
     '    nodeset: debian-bookworm\n', '    nodeset: ubuntu-bionic\n',
     "unknown nodeset 'ubuntu-bionic'"),
    # A job of another migration profile: opt-in only, and it must select
    # that profile's scenarios.
    ('profile-job-in-check', 'zuul.d/project.yaml',
     '        - migtests-multinode-reference\n',
     '        - migtests-multinode-reference\n'
     '        - migtests-multinode-operations\n',
     "check runs migtests-multinode-operations, whose migtests_profile "
     "'operations' is not Nova's shipped defaults"),
    ('profile-job-selecting-other-tests', 'zuul.d/jobs.yaml',
     r"tempest_test_regex: '^migtests\.api\.compute\.test_operations\.'",
     r"tempest_test_regex: '^migtests\.api\.compute\.test_live_'",
     "selects none of the plugin's tests for profile operations"),
    ('unknown-profile', 'zuul.d/jobs.yaml', 'migtests_profile: operations',
     'migtests_profile: fast', "migtests_profile 'fast' is none of"),
))


@ddt.ddt
class TestValidator(testtools.TestCase):
    def copy(self):
        target = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, target)
        for name in ('zuul.d', 'playbooks', 'migtests'):
            shutil.copytree(os.path.join(ROOT, name),
                            os.path.join(target, name),
                            ignore=shutil.ignore_patterns('__pycache__'))
        shutil.copy(os.path.join(ROOT, 'tox.ini'), target)
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

    def test_old_nodesets_are_caught_through_the_base_job(self):
        """Point the base job at the old nodeset: Tempest's run play and
        the compute play match nothing."""
        root = self.copy()
        _replace(os.path.join(root, 'zuul.d/project.yaml'), '- project:\n',
                 OLD_NODESET + '- project:\n')
        _replace(os.path.join(root, 'zuul.d/jobs.yaml'),
                 'nodeset: openstack-two-node-noble',
                 'nodeset: migtests-two-node-noble')
        problems = validate.validate(root)
        for hosts in ('tempest', 'compute'):
            self.assertTrue(any("on hosts '%s', which match no node" % hosts
                                in p for p in problems), problems)

    def test_a_label_opendev_no_longer_has(self):
        root = self.copy()
        _replace(os.path.join(root, 'zuul.d/project.yaml'), '- project:\n',
                 OLD_NODESET.replace('ubuntu-noble', 'ubuntu-xenial').replace(
                     '      - name: subnode', '      - name: tempest\n'
                     '        nodes: [controller]\n      - name: compute\n'
                     '        nodes: [controller, compute1]\n'
                     '      - name: subnode') + '- project:\n')
        _replace(os.path.join(root, 'zuul.d/jobs.yaml'),
                 'nodeset: openstack-two-node-noble',
                 'nodeset: migtests-two-node-noble')
        problems = validate.validate(root)
        self.assertTrue(any('asks for label ubuntu-xenial, which OpenDev '
                            'does not offer' in p for p in problems),
                        problems)
        self.assertFalse(any('match no node' in p for p in problems),
                         problems)

    def test_report(self):
        import contextlib
        import io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(0, validate.main(['--report', ROOT]))
        text = out.getvalue()
        self.assertIn('job migtests-multinode-2026-1', text)
        self.assertIn('required projects stable/2026.1', text)
        self.assertIn('playbooks/run.yaml', text)
        self.assertNotIn('NO NODE', text)
        self.assertIn('job migtests-tox-functional', text)
        self.assertIn('playbooks/tox-root.yaml', text)
        self.assertIn('tox -e py312: Unit tests', text)
        self.assertIn('tempest.api.compute.admin.test_live_migration_'
                      'negative.LiveMigrationNegativeTest.test_invalid_host_'
                      'for_migration', text)

    def test_empty_directory_fails(self):
        self.assertEqual(['no zuul.d/*.yaml under /nonexistent'],
                         validate.validate('/nonexistent'))
