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

"""The checks pass this repository and fail broken copies of it, each
broken copy a branch of it in one real Zuul (validate.Checker): Zuul's
own configuration errors and frozen jobs, the project's rules on them."""

import os

import ddt
import testtools

from tools.zuulcheck import validate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))


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
USE_OLD_NODESET = ('zuul.d/jobs.yaml', 'nodeset: openstack-two-node-noble',
                   'nodeset: migtests-two-node-noble')


class Case(tuple):
    """A broken copy: (name, [(file, old, new)], expected problem); its
    name names the test (test_broken_copy_fails_<n>_<name>)."""

    @property
    def __name__(self):
        return self[0].replace('-', '_')

    def files(self):
        changed = {}
        for path, old, new in self[1]:
            text = changed.get(path)
            if text is None:
                with open(os.path.join(ROOT, path)) as f:
                    text = f.read()
            if old not in text:
                raise AssertionError('%r not in %s' % (old, path))
            changed[path] = text.replace(old, new, 1)
        return changed


def _one(name, path, old, new, expected):
    return Case((name, [(path, old, new)], expected))


# name, file to break, text to replace, replacement, expected problem text
BROKEN = tuple(_one(*case) for case in (
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
     .replace('migtests-two-node-noble', 'migtests-two-node-typo')
     + '- project:\n', 'not defined in the nodeset'),
    ('missing-playbook', 'zuul.d/jobs.yaml', 'post-run: playbooks/post.yaml',
     'post-run: playbooks/collect.yaml',
     'post-run playbook playbooks/collect.yaml does not exist in '
     'openstack/migtests'),
    ('unknown-parent', 'zuul.d/jobs.yaml',
     'parent: tempest-multinode-full-py3', 'parent: tempest-multinode-ful',
     'Job tempest-multinode-ful not defined'),
    ('unknown-nodeset', 'zuul.d/jobs.yaml',
     'nodeset: openstack-two-node-noble', 'nodeset: two-node-noble',
     'The nodeset "two-node-noble" was not found'),
    ('unknown-job-in-pipeline', 'zuul.d/project.yaml',
     '        - migtests-multinode-2025-2\n',
     '        - migtests-multinode-2025-3\n',
     'Job migtests-multinode-2025-3 not defined'),
    ('tunnelled-in-nova-conf', 'zuul.d/jobs.yaml',
     '      devstack_local_conf:\n',
     '      devstack_local_conf:\n        post-config:\n'
     '          $NOVA_CONF:\n            libvirt:\n'
     '              live_migration_tunnelled: true\n',
     'live_migration_tunnelled'),
    ('flag-in-localrc', 'zuul.d/jobs.yaml', "        MIGTESTS_COMPUTE: 1\n",
     "        MIGTESTS_COMPUTE: 1\n"
     "        LIBVIRT_LIVE_MIGRATION_FLAG: VIR_MIGRATE_TUNNELLED\n",
     'migration configuration Nova ships'),
    ('post-copy-in-group-vars', 'zuul.d/jobs.yaml',
     "        devstack_services:\n          c-vol: true\n",
     "        devstack_services:\n          c-vol: true\n"
     "        devstack_local_conf:\n          post-config:\n"
     "            $NOVA_CPU_CONF:\n              libvirt:\n"
     "                live_migration_permit_post_copy: true\n",
     'group-vars'),
    ('playbook-sets-an-option', 'playbooks/post.yaml',
     "  tasks:\n",
     "  tasks:\n    - name: Tunnel\n      community.general.ini_file:\n"
     "        path: /etc/nova/nova.conf\n        section: libvirt\n"
     "        option: live_migration_tunnelled\n        value: 'true'\n"
     "        mode: '0644'\n",
     'live_migration_tunnelled'),
    ('playbook-writes-a-line', 'playbooks/post.yaml',
     "  tasks:\n",
     "  tasks:\n    - name: Tunnel\n      ansible.builtin.lineinfile:\n"
     "        path: /etc/nova/nova-cpu.conf\n"
     "        line: 'live_migration_tunnelled = True'\n",
     'live_migration_tunnelled'),
    ('devstack-plugin-sets-an-option', 'devstack/plugin.sh',
     "    iniset $NOVA_CONF DEFAULT compute_driver \\\n",
     "    iniset $NOVA_CONF libvirt live_migration_tunnelled True\n"
     "    iniset $NOVA_CONF DEFAULT compute_driver \\\n",
     'devstack/plugin.sh:'),
    ('plugin-syntax-error', 'migtests/console.py',
     "        return 'no counter printed after the migration'",
     "        return 'no counter printed after the migration' +",
     'not Python 3.12 syntax'),
    # Freezing the jobs as Zuul does.
    ('branch-matcher-matches-no-branch', 'zuul.d/jobs.yaml',
     '    override-checkout: stable/2026.1\n',
     '    override-checkout: stable/2026.1\n'
     '    branches: ^stable/(newton|ocata)$\n',
     'Zuul would not run job migtests-multinode-2026-1'),
    ('devstack-writes-left-in-place', 'zuul.d/jobs.yaml',
     "      devstack_plugins:\n        migtests: https://opendev.org/"
     "openstack/migtests\n", '',
     'devstack writes [libvirt] live_migration_uri on controller and the '
     'migtests devstack plugin, which removes it, is not enabled there'),
    ('removal-on-one-compute-only', 'zuul.d/jobs.yaml',
     "      subnode:\n        devstack_localrc:\n",
     "      subnode:\n        devstack_plugins:\n          neutron: "
     "https://opendev.org/openstack/neutron\n        devstack_localrc:\n",
     'live_migration_uri on compute1 and the migtests devstack plugin'),
    ('option-check-on-one-compute-only', 'playbooks/post.yaml',
     "  hosts: compute\n", "  hosts: subnode\n",
     'no post-run play checks what nova-compute on controller ran with'),
    ('trunk-test-selected', 'zuul.d/jobs.yaml',
     "      tempest_exclude_regex: '(test_live_migration_with_trunk|"
     "migration_with_config_drive)'\n", '',
     'which upstream excludes'),
    ('no-passed-tests-guard', 'zuul.d/jobs.yaml',
     "      migtests_min_passed: 7\n", '',
     'no migtests_min_passed'),
    ('selection-without-the-plugin', 'zuul.d/jobs.yaml',
     r"'^(migtests\.|tempest\.api", r"'^(tempest\.api",
     "selects none of the plugin's tests"),
    # The selection as Tempest's discovery lists it.
    ('exclude-removes-the-plugin', 'zuul.d/jobs.yaml',
     "      tempest_exclude_regex: '(test_live_migration_with_trunk|"
     "migration_with_config_drive)'\n",
     "      tempest_exclude_regex: '(test_live_migration_with_trunk|"
     "migration_with_config_drive|migtests)'\n",
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
    # A new job on a label OpenDev no longer has (the job API of Zuul
    # 14.3.0 answers 500 for every variant of a job once one of them names
    # an unknown nodeset: a new job keeps the other cases readable).
    ('tox-job-on-a-gone-label', 'zuul.d/checks.yaml',
     '- job:\n    name: migtests-tox-nova\n',
     '- job:\n    name: migtests-tox-bionic\n'
     '    parent: migtests-tox-root\n    nodeset: ubuntu-bionic\n'
     '    vars:\n      tox_envlist: functional\n\n'
     '- job:\n    name: migtests-tox-nova\n',
     'The nodeset "ubuntu-bionic" was not found'),
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
    ('profile-guard-not-the-profiles', 'zuul.d/jobs.yaml',
     "      migtests_min_passed: 5\n", "      migtests_min_passed: 4\n",
     'migtests_min_passed 4; profile operations wants 5'),
    ('unknown-profile', 'zuul.d/jobs.yaml', 'migtests_profile: operations',
     'migtests_profile: fast', "migtests_profile 'fast' is none of"),
    # Where the model this replaced and Zuul disagreed: Zuul's (and
    # Ansible's) answer.
    ('list-hosts-of-no-node', 'playbooks/post.yaml',
     "- name: Collect the migration records and count the plugin's passed "
     "tests\n  hosts: tempest\n",
     "- name: Collect the migration records and count the plugin's passed "
     "tests\n  hosts: [tempest2, tempest3]\n",
     "runs on hosts ['tempest2', 'tempest3'], which match no node"),
    ('option-check-on-all-but-the-controller', 'playbooks/post.yaml',
     "  hosts: compute\n", "  hosts: all:!controller\n",
     'no post-run play checks what nova-compute on controller ran with'),
    ('negated-branch-dict', 'zuul.d/jobs.yaml',
     '    override-checkout: stable/2026.1\n',
     '    override-checkout: stable/2026.1\n'
     '    branches:\n      regex: ^master$\n      negate: true\n',
     'Zuul would not run job migtests-multinode-2026-1'),
    ('irrelevant-file-the-job-uses', 'zuul.d/jobs.yaml',
     '      - ^migtests/tests/.*$\n',
     '      - ^migtests/tests/.*$\n      - ^migtests/cloud/.*$\n',
     'migtests/cloud/diskimage.py is among its irrelevant-files, but the '
     'job uses it'),
))

MORE = (
    # Point the base job at the old nodeset: Tempest's run play and the
    # compute plays match nothing.
    Case(('old-nodeset', [('zuul.d/project.yaml', '- project:\n',
                           OLD_NODESET + '- project:\n'), USE_OLD_NODESET],
          "runs on hosts 'tempest', which match no node")),
    Case(('label-opendev-no-longer-has', [
        ('zuul.d/project.yaml', '- project:\n', OLD_NODESET.replace(
            'ubuntu-noble', 'ubuntu-xenial').replace(
            'migtests-two-node-noble', 'migtests-two-node-xenial').replace(
            '      - name: subnode', '      - name: tempest\n'
            '        nodes: [controller]\n      - name: compute\n'
            '        nodes: [controller, compute1]\n'
            '      - name: subnode') + '- project:\n'),
        USE_OLD_NODESET[:2] + ('nodeset: migtests-two-node-xenial',)],
        'asks for label ubuntu-xenial, which OpenDev does not offer')),
)
ALL = BROKEN + MORE


def setUpModule():
    global CHECKER, RESULTS
    CHECKER = validate.Checker(ROOT, [(c[0], c.files()) for c in ALL])
    CHECKER.__enter__()
    RESULTS = {}


def tearDownModule():
    CHECKER.__exit__(None, None, None)
    left = CHECKER.site.leftovers()
    if left:
        raise AssertionError('the Zuul site left %s' % ', '.join(left))


def check(copy=None):
    if copy not in RESULTS:
        RESULTS[copy] = CHECKER.check(copy)
    return RESULTS[copy]


@ddt.ddt
class TestValidator(testtools.TestCase):
    def test_this_repository_is_valid(self):
        problems, frozen = check()
        self.assertEqual([], problems)
        self.assertIn('migtests-multinode', [f.name for f in frozen])

    def test_the_upstream_snapshots_load_without_error(self):
        """Every project of the tenant, the snapshots and stated files
        included: a name the snapshots' closure missed would be a
        configuration error there."""
        errors = CHECKER.site.api('tenant/openstack/config-errors')
        self.assertEqual([], [(e['source_context']['project'],
                               e['error']) for e in errors])

    @ddt.data(*ALL)
    @ddt.unpack
    def test_broken_copy_fails(self, name, edits, expected):
        problems, _ = check(name)
        self.assertTrue(any(expected in p for p in problems),
                        '%s: %s' % (name, problems))

    def _frozen(self, name):
        return next(f for f in check()[1] if f.name == name)

    def test_list_valued_hosts_reach_their_groups(self):
        """openstack-zuul-jobs' enable-multinode play (hosts: [switch,
        peers]) runs on both nodes, as Ansible reads the list."""
        plays = self._frozen('migtests-multinode').plays
        self.assertIn(('pre-run', 'openstack/openstack-zuul-jobs',
                       'playbooks/multinode/enable-multinode.yaml',
                       ['switch', 'peers'], ['compute1', 'controller']),
                      plays)

    def test_override_checkout_takes_the_release_variants(self):
        """devstack-base of stable/2025.2 collects no mount.txt; master's
        does: the release job got the release's variant."""
        master = self._frozen('migtests-multinode')
        release = self._frozen('migtests-multinode-2025-2')
        wanted = '{{ stage_dir }}/mount.txt'
        self.assertIn(wanted, master.vars['zuul_copy_output'])
        self.assertNotIn(wanted, release.vars['zuul_copy_output'])
        self.assertIn('devstack-base', release.chain)
        self.assertTrue(any('@stable/2025.2#' in entry for entry in
                            release.data['zuul']['_inheritance_path']))
        checkouts = CHECKER.answers().checkouts(release)
        self.assertEqual('stable/2025.2', checkouts['openstack/nova'][0])
        self.assertEqual('master', checkouts['openstack/tempest'][0])
        self.assertEqual('master', checkouts['openstack/migtests'][0])

    def test_report(self):
        frozen = check()[1]
        text = '\n'.join(line for job in frozen
                         for line in validate.freeze.report(CHECKER.answers(),
                                                            job))
        self.assertIn('job migtests-multinode-2026-1', text)
        self.assertIn('openstack/nova stable/2026.1 (job override ref)',
                      text)
        self.assertIn('openstack/tempest playbooks/devstack-tempest.yaml',
                      text)
        self.assertIn('playbooks/post.yaml', text)
        self.assertNotIn('NO NODE', text)
        self.assertIn('job migtests-tox-functional', text)
        self.assertIn('playbooks/tox-root.yaml', text)
        self.assertIn('job openstack-tox-py311', text)
        self.assertIn('tempest.api.compute.admin.test_live_migration_'
                      'negative.LiveMigrationNegativeTest.test_invalid_host_'
                      'for_migration', text)

    def test_empty_directory_fails(self):
        self.assertEqual(1, validate.main(['/nonexistent']))
