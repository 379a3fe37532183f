"""Freeze every job of zuul.d/ as Zuul would for a change to this
repository, and check what the frozen job would really do.

Zuul's model, as documented (job inheritance, variants, branch matchers,
playbooks, nodesets, variables), applied to this repository's jobs and to
the upstream parents recorded in upstream.yaml (their parents, nodesets,
branch matchers, playbooks and the hosts line of every play):

- A job runs for a change only if every job of its inheritance chain has a
  variant whose branch matcher matches the change's branch.  A job defined
  in this repository without ``branches`` matches every branch of it.
- The frozen job's nodeset is the nearest one defined along the chain; its
  pre-run playbooks run outermost parent first, its run playbook is the
  nearest job's that names one, its post-run playbooks run the child's
  first; variables merge, the child's winning (dicts merged key by key).
- A play whose hosts match no node of the nodeset is skipped by Ansible
  without error: a run play that matches nothing means Tempest never ran,
  and Zuul still reports SUCCESS.

The tests a frozen job selects are those Tempest's own discovery lists
(its ``tempest/test_discover`` loader: Tempest's tests and every installed
plugin's, this one included) that its run-tempest role's filters keep: the
test regex searched in the test id, the exclude regex not.

Stand-ins for what cannot run offline: Zuul's scheduler is not started
(no tenant, no merger); implied branch matchers of upstream repositories are
taken from the ``branches`` recorded in upstream.yaml; Ansible host patterns
are evaluated for plain names, groups and ``all``.
"""

import functools
import os
import re
import subprocess
import sys
import unittest

import yaml

from migtests.cloud import tempestconf

UPSTREAM = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        'upstream.yaml')
BRANCH = 'master'           # this repository's only branch
PLAYBOOK_PHASES = ('pre-run', 'run', 'post-run')


def load_upstream(path=UPSTREAM):
    with open(path) as f:
        return yaml.safe_load(f)


def _list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Frozen:
    """One job as Zuul would run it for a change on BRANCH."""

    def __init__(self, name):
        self.name = name
        self.chain = []            # [(job name, 'here' or 'upstream')]
        self.unmatched = []        # jobs of the chain no variant matches
        self.unknown = []          # parents defined nowhere
        self.nodeset = None
        self.playbooks = {phase: [] for phase in PLAYBOOK_PHASES}
        self.vars = {}
        self.override_checkout = None


def _matches(branches):
    return not branches or any(re.match(b, BRANCH) for b in _list(branches))


def freeze(name, local_jobs, upstream):
    """The Frozen job ``name`` (a job of zuul.d/)."""
    frozen = Frozen(name)
    current = name
    levels = []
    while current:
        if current in local_jobs:
            conf, where = local_jobs[current], 'here'
            playbooks = {p: [('here', pb) for pb in _list(conf.get(p))]
                         for p in PLAYBOOK_PHASES}
        elif current in upstream['jobs']:
            conf, where = upstream['jobs'][current], 'upstream'
            playbooks = {p: [('upstream', pb) for pb in _list(conf.get(p))]
                         for p in PLAYBOOK_PHASES}
        else:
            frozen.unknown.append(current)
            break
        if current in [c for c, _ in frozen.chain]:
            frozen.unknown.append('%s (loop)' % current)
            break
        frozen.chain.append((current, where))
        if not _matches(conf.get('branches')):
            frozen.unmatched.append(current)
        levels.append((conf, playbooks))
        current = conf.get('parent')
    # Outermost parent first.
    for conf, playbooks in reversed(levels):
        if conf.get('nodeset'):
            frozen.nodeset = conf['nodeset']
        frozen.playbooks['pre-run'] += playbooks['pre-run']
        if playbooks['run']:
            frozen.playbooks['run'] = playbooks['run']
        frozen.playbooks['post-run'] = (playbooks['post-run']
                                        + frozen.playbooks['post-run'])
        frozen.vars = tempestconf.merge(frozen.vars, conf.get('vars') or {})
        if conf.get('override-checkout'):
            frozen.override_checkout = conf['override-checkout']
    return frozen


def nodeset_of(name, local_nodesets, upstream):
    """{'nodes': {name: label}, 'groups': {group: [node]}} or None."""
    if name in local_nodesets:
        conf = local_nodesets[name]
        return {'nodes': {n['name']: n['label'] for n in conf['nodes']},
                'groups': {g['name']: list(g['nodes'])
                           for g in conf.get('groups', [])}}
    return upstream['nodesets'].get(name)


def hosts_of(root, where, playbook, upstream):
    """The hosts line of every play of a playbook."""
    if where == 'upstream':
        return upstream['playbooks'][playbook]['hosts']
    with open(os.path.join(root, playbook)) as f:
        plays = yaml.safe_load(f) or []
    return [play.get('hosts') for play in plays]


def matching_nodes(pattern, nodeset):
    """The nodes an Ansible host pattern (name, group or all) selects."""
    nodes = set()
    for part in re.split(r'[:,]', str(pattern)):
        part = part.strip()
        if part == 'all':
            nodes |= set(nodeset['nodes'])
        elif part in nodeset['groups']:
            nodes |= set(nodeset['groups'][part])
        elif part in nodeset['nodes']:
            nodes.add(part)
    return sorted(nodes)


def plays(frozen, root, nodeset, upstream):
    """[(phase, playbook, hosts, nodes)] in the order Zuul runs them."""
    found = []
    for phase in PLAYBOOK_PHASES:
        for where, playbook in frozen.playbooks[phase]:
            for hosts in hosts_of(root, where, playbook, upstream):
                found.append((phase, playbook, hosts,
                              matching_nodes(hosts, nodeset)))
    return found


def removes_devstack_writes(root, frozen, nodeset, upstream):
    """Whether a run play on every compute removes each [libvirt] option
    devstack writes (a lineinfile/ini_file task with state: absent whose
    regexp or option matches it)."""
    computes = set(nodeset['groups'].get('compute', nodeset['nodes']))
    covered = {option: set() for option in upstream['devstack_libvirt_writes']}
    for where, playbook in frozen.playbooks['run']:
        if where != 'here':
            continue
        with open(os.path.join(root, playbook)) as f:
            for play in yaml.safe_load(f) or []:
                nodes = set(matching_nodes(play.get('hosts'), nodeset))
                for task in play.get('tasks') or []:
                    for args in task.values():
                        if not (isinstance(args, dict)
                                and args.get('state') == 'absent'):
                            continue
                        pattern = args.get('regexp') or re.escape(
                            str(args.get('option', '')))
                        for option in covered:
                            if re.search(pattern, '%s = x' % option):
                                covered[option] |= nodes
    return [option for option, nodes in covered.items()
            if not computes <= nodes]


@functools.lru_cache(maxsize=None)
def discovered_tests():
    """Every test id Tempest's discovery lists here, with the ``[id-...,
    attrs]`` suffix stestr's filters see (Tempest and this plugin must be
    installed: tox -e zuul installs both)."""
    import tempest
    top = os.path.dirname(os.path.dirname(os.path.abspath(tempest.__file__)))
    suite = unittest.TestLoader().discover(
        os.path.join(top, 'tempest', 'test_discover'), top_level_dir=top)

    def ids(tests):
        for test in tests:
            if isinstance(test, unittest.TestSuite):
                yield from ids(test)
            else:
                yield test.id()
    found = sorted(ids(suite))
    broken = [t for t in found if t.startswith('unittest.loader')]
    if broken:
        raise RuntimeError('Tempest\'s discovery failed to import: %s'
                           % ', '.join(broken))
    return tuple(found)


def selected_tests(frozen, tests=None):
    """The test ids the frozen job's Tempest run selects, attrs removed."""
    regex = frozen.vars.get('tempest_test_regex') or ''
    exclude = frozen.vars.get('tempest_exclude_regex') or ''
    return [test.split('[')[0] for test in (tests or discovered_tests())
            if re.search(regex, test)
            and not (exclude and re.search(exclude, test))]


# A test each job must select, by its migration profile (the profiles of
# migtests/cloud/configs.py a job may name): the shipped-defaults jobs
# the plugin's scenarios, the operations profile its operator actions.
PROFILE_TESTS = {
    'shipped': 'migtests.api.compute.test_live_migration.LiveMigrationTest.'
               'test_live_migration_there_and_back',
    'operations': 'migtests.api.compute.test_operations.'
                  'OperatorActionsTest.test_abort_keeps_the_server_on_its_'
                  'source',
}


def problems(frozen, root, local_nodesets, upstream):
    """What would make the frozen job not run, run nothing, or not run
    shipped defaults; one line each."""
    found = []
    name = frozen.name
    for job in frozen.unknown:
        found.append('job %s: parent %s is defined neither here nor in '
                     'upstream.yaml' % (name, job))
    for job in frozen.unmatched:
        found.append('job %s: no variant of %s matches branch %s: Zuul '
                     'would never run it' % (name, job, BRANCH))
    nodeset = nodeset_of(frozen.nodeset, local_nodesets, upstream)
    if nodeset is None:
        return found + ['job %s: nodeset %s is unknown' % (name,
                                                           frozen.nodeset)]
    for node, label in sorted(nodeset['nodes'].items()):
        if label not in upstream['labels']:
            found.append('job %s: node %s asks for label %s, which OpenDev '
                         'does not offer (%s): NODE_FAILURE' % (
                             name, node, label, ', '.join(upstream['labels'])))
    for phase, playbook, hosts, nodes in plays(frozen, root, nodeset,
                                               upstream):
        if not nodes:
            found.append('job %s: %s play of %s runs on hosts %r, which '
                         'match no node of nodeset %s: Ansible skips it and '
                         'the job reports SUCCESS' % (
                             name, phase, playbook, hosts, frozen.nodeset))
    chain = [job for job, _ in frozen.chain]
    if 'devstack-tempest' in chain:
        found += _tempest_problems(frozen, root, nodeset, upstream)
    elif 'tox' in chain:
        found += _tox_problems(frozen, root)
    return found


_TOX = {}


def read_tox_envs(root, envs):
    """{env: (description, commands)} of tox environments as tox itself
    reads tox.ini (``tox config``, one call for all of them): an
    environment tox.ini does not define falls back to the base one, as it
    would for the tox job."""
    envs = sorted(set(envs))
    proc = subprocess.run(
        [sys.executable, '-m', 'tox', 'config', '--root', root, '-e',
         ','.join(envs), '-k', 'description', 'commands'],
        capture_output=True, text=True, timeout=120, cwd=root)
    if proc.returncode != 0:
        raise RuntimeError('tox config -e %s: %s' % (','.join(envs), (
            (proc.stderr + proc.stdout).strip().splitlines()
            or ['failed'])[-1]))
    found, env, key = {}, None, None
    for line in proc.stdout.splitlines():
        section = re.match(r'^\[testenv:(.+)\]$', line)
        if section:
            env, key = section.group(1), None
            found[env] = ([], [])
        elif env and line.startswith(('description =', 'commands =')):
            key = found[env][0 if line.startswith('description') else 1]
            value = line.split('=', 1)[1]
            if value.strip():
                key.append(value.strip())
        elif env and key is not None and line.startswith('  '):
            key.append(line.strip())
        else:
            key = None
    for name, (description, commands) in found.items():
        _TOX[(root, name)] = (' '.join(description), commands)
    return {name: _TOX[(root, name)] for name in found}


def tox_env(root, env):
    """(description, commands) of one tox environment (read_tox_envs)."""
    if (root, env) not in _TOX:
        read_tox_envs(root, [env])
    return _TOX[(root, env)]


def is_tox_job(frozen):
    return 'tox' in [job for job, _ in frozen.chain]


def tox_envs_of(frozen):
    return [e for e in str(frozen.vars.get('tox_envlist') or '').split(',')
            if e]


# The run playbook that runs tox as root (the tox job's own runs it as the
# node's user); a tox environment whose description ends "(root)" needs it.
ROOT_RUN = 'playbooks/tox-root.yaml'


def _tox_problems(frozen, root):
    name = frozen.name
    found = []
    envs = tox_envs_of(frozen)
    if not envs:
        return ['job %s: a tox job without tox_envlist runs tox\'s default '
                'list' % name]
    for env in envs:
        description, commands = tox_env(root, env)
        if not commands:
            found.append('job %s: tox environment %s has no commands: the '
                         'job would pass having run nothing' % (name, env))
        runs_as_root = ('here', ROOT_RUN) in frozen.playbooks['run']
        if re.search(r'\(root\)\.?$', description) and not runs_as_root:
            found.append('job %s: tox environment %s needs root and the '
                         'tox job runs it as the node\'s user (run %s)'
                         % (name, env, ROOT_RUN))
    return found


def _tempest_problems(frozen, root, nodeset, upstream):
    name = frozen.name
    found = []
    for option in removes_devstack_writes(root, frozen, nodeset, upstream):
        found.append('job %s: devstack writes [libvirt] %s and no run play '
                     'removes it on every compute: not shipped defaults'
                     % (name, option))
    regex = frozen.vars.get('tempest_test_regex', '')
    selected = selected_tests(frozen)
    profile = frozen.vars.get('migtests_profile', 'shipped')
    wanted = PROFILE_TESTS.get(profile)
    if wanted is None:
        found.append('job %s: migtests_profile %r is none of %s' % (
            name, profile, ', '.join(sorted(PROFILE_TESTS))))
    elif wanted not in selected:
        which = '' if profile == 'shipped' else ' for profile %s' % profile
        found.append('job %s: tempest_test_regex %r selects none of the '
                     'plugin\'s tests%s' % (name, regex, which))
    for test in upstream['excluded_tests']:
        if test in selected:
            found.append('job %s: selects %s, which upstream excludes'
                         % (name, test))
    minimum = int(frozen.vars.get('migtests_min_passed') or 0)
    plugin = [t for t in selected if t.startswith('migtests.')]
    if not minimum:
        found.append('job %s: no migtests_min_passed: a run in which the '
                     'plugin\'s tests all skipped would be green' % name)
    elif minimum > len(plugin):
        found.append('job %s: migtests_min_passed %d, but it selects %d of '
                     'the plugin\'s tests: it can never pass'
                     % (name, minimum, len(plugin)))
    return found


def report(frozen, root, local_nodesets, upstream):
    """Lines describing the frozen job (tox -e zuul -- --report)."""
    nodeset = nodeset_of(frozen.nodeset, local_nodesets, upstream) or {
        'nodes': {}, 'groups': {}}
    lines = ['job %s (change on %s of this repository)'
             % (frozen.name, BRANCH),
             '  inherits: %s' % ' <- '.join(
                 '%s (%s)' % (job, where) for job, where in frozen.chain),
             ('  checkout: this repository %s' % BRANCH) + (
                 '' if is_tox_job(frozen) else
                 '; devstack, nova, tempest and the other required projects '
                 '%s' % (frozen.override_checkout or BRANCH)),
             '  nodeset %s: %s; groups %s' % (
                 frozen.nodeset, ', '.join('%s=%s' % item for item in sorted(
                     nodeset['nodes'].items())), '; '.join(
                     '%s: %s' % (g, ','.join(n)) for g, n in sorted(
                         nodeset['groups'].items())))]
    for phase, playbook, hosts, nodes in plays(frozen, root, nodeset,
                                               upstream):
        lines.append('  %-8s %-52s hosts %-8s -> %s' % (
            phase, playbook, hosts, ', '.join(nodes) or 'NO NODE'))
    chain = [job for job, _ in frozen.chain]
    if 'tox' in chain:
        for env in tox_envs_of(frozen):
            description, commands = tox_env(root, env)
            lines.append('  tox -e %s: %s' % (env, description))
            lines += ['    %s' % command for command in commands]
        return lines
    if 'devstack-tempest' not in chain:
        return lines
    lines.append('  tests: regex %s; excluded %s; at least %s migtests '
                 'tests must pass' % (
                     frozen.vars.get('tempest_test_regex'),
                     frozen.vars.get('tempest_exclude_regex') or 'nothing',
                     frozen.vars.get('migtests_min_passed')))
    selected = selected_tests(frozen)
    lines.append('  selected by Tempest\'s discovery (%d):' % len(selected))
    lines += ['    %s' % test for test in selected]
    return lines
