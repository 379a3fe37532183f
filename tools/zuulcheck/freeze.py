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

"""Every job of this repository's pipelines, frozen by Zuul itself, and
what the frozen job would really do.

Zuul answers (site.py: its scheduler, merger and web server over the
tenant of tenant.py): which jobs a pipeline runs for a change on a branch
(``freeze-jobs``), each job as the executor would receive it
(``freeze-job``: inheritance, variants matched against the branch and the
override-checkout, nodeset and groups, playbooks with their project and
branch, variables merged), each job's variants with their file matchers,
and the configuration errors of every branch.  Which branch each project
is checked out at is Zuul's executor's own rule (``resolveBranch``) over
the tenant's branches; which nodes a play's ``hosts`` selects is Ansible's
own inventory, built as Zuul builds it from the nodeset.

On that, this project's rules: every job listed runs, every play reaches a
node, every label is offered, devstack's own [libvirt] writes are removed
on every compute, the selection holds the plugin's tests and none
upstream excludes, the passed-tests guard can pass, tox environments have
commands and run as root where they need it, and no file a job uses is
among its irrelevant files.
"""

import ast
import functools
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

from migtests.cloud import configs
from tools.zuulcheck import tenant

PIPELINES = ('check', 'gate', 'experimental', 'periodic')
PHASES = (('pre-run', 'pre_playbooks'), ('run', 'playbooks'),
          ('post-run', 'post_playbooks'), ('cleanup-run',
                                           'cleanup_playbooks'))

# devstack's own [libvirt] write on every compute (openstack/devstack
# 493835a6 lib/nova_plugins/hypervisor-libvirt:48), which the jobs remove.
DEVSTACK_LIBVIRT_WRITES = ('live_migration_uri',)
# Nova's own live-migration jobs exclude it (openstack/nova 00a03040
# .zuul.yaml: tempest_exclude_regex, bug 1940425).
EXCLUDED_TESTS = (
    'tempest.api.compute.admin.test_live_migration.LiveMigrationTest.'
    'test_live_migration_with_trunk',)
# The run playbook that runs tox as root; a tox environment whose
# description ends "(root)" needs it.
ROOT_RUN = 'playbooks/tox-root.yaml'


class Frozen:
    """One job as Zuul froze it for a change on ``branch`` of this
    repository in ``pipeline`` (the freeze-job answer)."""

    def __init__(self, pipeline, branch, data):
        self.pipeline = pipeline
        self.branch = branch
        self.data = data
        self.name = data['job']
        self.nodeset = data['nodeset']
        self.nodes = {n['name']: n['label'] for n in self.nodeset['nodes']}
        self.groups = {g['name']: list(g['nodes'])
                       for g in self.nodeset['groups']}
        self.vars = data['vars']
        self.playbooks = [(phase, p['project'], p['branch'], p['path'])
                          for phase, key in PHASES for p in data[key]]
        self.override_checkout = data['override_checkout']
        self.chain = [re.match(r'<Job (\S+)', entry).group(1)
                      for entry in data['zuul']['_inheritance_path']]
        # Found by job_problems: [(phase, project, path, hosts, nodes)],
        # and this repository's files the job uses.
        self.plays = []
        self.used = set()

    def runs_playbook(self, project, path):
        return any((pr, pa) == (project, path)
                   for _, pr, _, pa in self.playbooks)


# --- Zuul's own answers ---
class ZuulAnswers:
    """What a running Zuul site says, in one tenant, about this
    repository's jobs."""

    def __init__(self, site, tenant_name=tenant.TENANT):
        self.site = site
        self.tenant = tenant_name
        self._errors = None
        self._variants = {}

    def _path(self, *parts):
        return 'tenant/%s/%s' % (self.tenant, '/'.join(parts))

    def run_jobs(self, pipeline, branch):
        """The jobs Zuul runs in ``pipeline`` for a change on ``branch``
        (file matchers aside: freezing ignores them)."""
        answer = self.site.api(self._path(
            'pipeline', pipeline, 'project', tenant.PROJECT, 'branch',
            branch, 'freeze-jobs'))
        return [job['name'] for job in answer]

    def freeze(self, pipeline, branch, job):
        return Frozen(pipeline, branch, self.site.api(self._path(
            'pipeline', pipeline, 'project', tenant.PROJECT, 'branch',
            branch, 'freeze-job', job)))

    def variants(self, job):
        """Every variant of a job, on every branch (the job API)."""
        if job not in self._variants:
            self._variants[job] = self.site.api(self._path('job', job))
        return self._variants[job]

    def config_errors(self, branch):
        """Zuul's configuration errors in this repository's ``branch``."""
        if self._errors is None:
            self._errors = self.site.api(self._path('config-errors'))
        return list(dict.fromkeys(
            '%s: %s' % (e['source_context']['path'], ' '.join(
                (e.get('short_error') or e['error']).split()))
            for e in self._errors
            if e['source_context']['project'] == tenant.PROJECT
            and e['source_context']['branch'] == branch))

    def repository(self, project):
        """Where this tenant's copy of ``project`` lies."""
        return tenant.project_dir(self.site.dir, self.tenant, project)

    @functools.lru_cache(maxsize=None)
    def playbook(self, project, branch, path):
        """The plays of a playbook, or None if it does not exist."""
        text = self.file(project, branch, path)
        return None if text is None else (
            yaml.load(text, Loader=tenant.LOADER) or [])

    @functools.lru_cache(maxsize=None)
    def file(self, project, branch, path):
        proc = subprocess.run(
            ['git', 'show', '%s:%s' % (branch, path)],
            cwd=self.repository(project), capture_output=True, text=True)
        return proc.stdout if proc.returncode == 0 else None

    def branches(self, project):
        out = subprocess.run(
            ['git', 'for-each-ref', '--format=%(refname:short)',
             'refs/heads'], cwd=self.repository(project),
            capture_output=True, text=True, check=True).stdout
        return out.split()

    def checkouts(self, frozen):
        """{project: (branch, why)} as Zuul's executor resolves them."""
        from zuul.executor.server import AnsibleJob
        found = {}
        change = {'name': tenant.PROJECT, 'override_branch': None,
                  'override_checkout': None, 'default_branch': 'master',
                  'canonical_name': frozen.data['zuul']['project'][
                      'canonical_name']}
        for project in frozen.data['projects'] + [change]:
            name = project['name']
            branches = self.branches(name)
            info = type('ProjectInfo', (), {'project_info': {
                project['canonical_name']: {'branches': branches,
                                            'refs': branches}}})()
            found[name] = AnsibleJob.resolveBranch(
                info, project['canonical_name'], None, frozen.branch
                if name == tenant.PROJECT else None,
                frozen.data['override_branch'], frozen.override_checkout,
                project['override_branch'], project['override_checkout'],
                project['default_branch'])
        return found


# --- plays and nodes ---
class Inventory:
    """Ansible's own inventory of a frozen job, laid out as Zuul's
    executor writes it: every node in ``all`` with the job's variables,
    each group a child with its group-vars, each node's host-vars.
    ``keep``: the variables it carries (the rest do not change which
    nodes a pattern selects, nor those variables' values)."""

    @classmethod
    def of(cls, frozen, keep=()):
        data = {'all': {
            'vars': {k: frozen.vars[k] for k in keep if k in frozen.vars},
            'hosts': {node: {k: v for k, v in frozen.data['host_vars'].get(
                node, {}).items() if k in keep} for node in frozen.nodes},
            'children': {group: {
                'hosts': {node: None for node in members},
                'vars': {k: v for k, v in frozen.data['group_vars'].get(
                    group, {}).items() if k in keep}}
                for group, members in frozen.groups.items()}}}
        key = json.dumps(data, sort_keys=True)
        if key not in _INVENTORIES:
            _INVENTORIES[key] = cls(data)
        return _INVENTORIES[key]

    def __init__(self, data):
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.vars.manager import VariableManager
        loader = DataLoader()
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, 'inventory.yaml')
            with open(path, 'w') as f:
                yaml.safe_dump(data, f)
            self.manager = InventoryManager(loader=loader, sources=[path])
        self.variables = VariableManager(loader=loader,
                                         inventory=self.manager)

    def hosts(self, pattern):
        return sorted(h.name for h in self.manager.get_hosts(pattern))

    def var(self, node, key):
        """A variable as Ansible gives it to ``node`` (its precedence of
        host, group and job variables; not templated)."""
        return self.variables.get_vars(
            host=self.manager.get_host(node), include_hostvars=False).get(
                key)


_INVENTORIES = {}


MISSING = '(no such playbook)'


def plays(answers, frozen, inventory):
    """[(phase, project, path, hosts, nodes)] in the order Zuul runs
    them; an imported playbook is followed."""
    found = []

    def walk(phase, project, branch, path):
        playbook = answers.playbook(project, branch, path)
        if playbook is None:
            found.append((phase, project, path, MISSING, []))
            return
        for play in playbook:
            if 'import_playbook' in play:
                walk(phase, project, branch, os.path.normpath(os.path.join(
                    os.path.dirname(path), play['import_playbook'])))
            else:
                found.append((phase, project, path, play.get('hosts'),
                              inventory.hosts(play.get('hosts'))))
    for phase, project, branch, path in frozen.playbooks:
        walk(phase, project, branch, path)
    return found


PLUGIN = 'migtests'
# The post-run step that reads what nova-compute ran with.
OPTION_CHECK = 'migtests.cloud.optiondump'


def computes_of(frozen):
    return sorted(frozen.groups.get('compute', frozen.nodes))


def plugin_missing_on(frozen):
    """Compute nodes whose devstack does not enable this repository's
    devstack plugin (which removes devstack's own [libvirt] writes)."""
    inventory = Inventory.of(frozen, keep=('devstack_plugins',))
    return [node for node in computes_of(frozen)
            if PLUGIN not in (inventory.var(node, 'devstack_plugins') or {})]


def option_check_missing_on(answers, frozen, inventory):
    """Compute nodes no post-run play of this repository checks nova-
    compute's option dump on."""
    checked = set()
    for phase, project, branch, path in frozen.playbooks:
        if phase != 'post-run' or project != tenant.PROJECT:
            continue
        for play in answers.playbook(project, branch, path) or []:
            if OPTION_CHECK in yaml.safe_dump(play.get('tasks') or []):
                checked |= set(inventory.hosts(play.get('hosts')))
    return [node for node in computes_of(frozen) if node not in checked]


# --- the tests a job selects ---
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
    """The test ids the frozen job's Tempest run selects, attrs removed
    (run-tempest's filters: the regex searched in the id with its attrs,
    the exclude regex not)."""
    regex = frozen.vars.get('tempest_test_regex') or ''
    exclude = frozen.vars.get('tempest_exclude_regex') or ''
    return [test.split('[')[0] for test in (tests or discovered_tests())
            if re.search(regex, test)
            and not (exclude and re.search(exclude, test))]


# --- tox jobs ---
def read_tox_envs(root, envs):
    """{env: (description, commands)} as tox itself reads tox.ini
    (``tox config``, one call for each distinct tox.ini: the broken
    copies' trees carry the same one, which is read once); an environment
    tox.ini does not define falls back to the base one, as it would for
    the tox job.  (Paths in the commands are those of the first tree read
    with that tox.ini; the rules look only at descriptions and whether
    there are commands.)"""
    with open(os.path.join(root, 'tox.ini')) as f:
        key = (f.read(), tuple(sorted(set(envs))))
    if key not in _TOX_ENVS:
        _TOX_ENVS[key] = _run_tox_config(root, key[1])
    return _TOX_ENVS[key]


_TOX_ENVS = {}


def _run_tox_config(root, envs):
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
    return {name: (' '.join(d), c) for name, (d, c) in found.items()}


def is_tox_job(frozen):
    return 'tox' in frozen.chain


def tox_envs_of(frozen):
    return [e for e in str(frozen.vars.get('tox_envlist') or '').split(',')
            if e]


def _tox_problems(frozen, envs):
    found = []
    names = tox_envs_of(frozen)
    if not names:
        return ['job %s: a tox job without tox_envlist runs tox\'s default '
                'list' % frozen.name]
    runs_as_root = frozen.runs_playbook(tenant.PROJECT, ROOT_RUN)
    for env in names:
        description, commands = envs[env]
        if not commands:
            found.append('job %s: tox environment %s has no commands: the '
                         'job would pass having run nothing'
                         % (frozen.name, env))
        if re.search(r'\(root\)\.?$', description) and not runs_as_root:
            found.append('job %s: tox environment %s needs root and the '
                         'tox job runs it as the node\'s user (run %s)'
                         % (frozen.name, env, ROOT_RUN))
    return found


def _tempest_problems(answers, frozen, inventory):
    name = frozen.name
    found = []
    for node in plugin_missing_on(frozen):
        found.append('job %s: devstack writes [libvirt] %s on %s and the '
                     'migtests devstack plugin, which removes it, is not '
                     'enabled there: not shipped defaults' % (
                         name, ', '.join(DEVSTACK_LIBVIRT_WRITES), node))
    for node in option_check_missing_on(answers, frozen, inventory):
        found.append('job %s: no post-run play checks what nova-compute on '
                     '%s ran with (%s)' % (name, node, OPTION_CHECK))
    regex = frozen.vars.get('tempest_test_regex', '')
    selected = selected_tests(frozen)
    plugin = [t for t in selected if t.startswith('migtests.')]
    name_of = frozen.vars.get('migtests_profile', 'shipped')
    profile = configs.PROFILES.get(name_of)
    if profile is None:
        found.append('job %s: migtests_profile %r is none of %s' % (
            name, name_of, ', '.join(sorted(configs.PROFILES))))
    elif profile.regex:
        # The profile's selection and guard, as the local job runs them
        # (migtests/cloud/configs.py): the job copies them, for Zuul.
        wanted = [t.split('[')[0] for t in discovered_tests()
                  if re.search(profile.regex, t)]
        if not wanted or not set(wanted) <= set(plugin):
            found.append('job %s: tempest_test_regex %r selects none of the '
                         'plugin\'s tests for profile %s (its selection: %r)'
                         % (name, regex, name_of, profile.regex))
        minimum = int(frozen.vars.get('migtests_min_passed') or 0)
        if minimum != profile.min_passed:
            found.append('job %s: migtests_min_passed %d; profile %s wants '
                         '%d' % (name, minimum, name_of,
                                 profile.min_passed))
    elif not plugin:
        found.append('job %s: tempest_test_regex %r selects none of the '
                     'plugin\'s tests' % (name, regex))
    for test in EXCLUDED_TESTS:
        if test in selected:
            found.append('job %s: selects %s, which upstream excludes'
                         % (name, test))
    minimum = int(frozen.vars.get('migtests_min_passed') or 0)
    if not minimum:
        found.append('job %s: no migtests_min_passed: a run in which the '
                     'plugin\'s tests all skipped would be green' % name)
    elif minimum > len(plugin):
        found.append('job %s: migtests_min_passed %d, but it selects %d of '
                     'the plugin\'s tests: it can never pass'
                     % (name, minimum, len(plugin)))
    return found


# --- files a job uses ---
# Every job installs the project (pbr reads these).
PACKAGING = ('setup.cfg', 'setup.py', 'requirements.txt')
# What the tox jobs run: the whole tree's Python and its tox and system
# package definitions.
TOX_FILES = PACKAGING + ('tox.ini', 'bindep.txt', 'test-requirements.txt',
                         'zuul-requirements.txt', 'linters-requirements.txt',
                         'cloud-constraints.txt', '.stestr.conf')


def _module_file(root, module):
    base = os.path.join(root, *module.split('.'))
    for path in (base + '.py', os.path.join(base, '__init__.py')):
        if os.path.isfile(path):
            return os.path.relpath(path, root)
    return None


def import_closure(root, modules):
    """The files of this repository that ``modules`` import, directly or
    not (their packages' __init__ too)."""
    todo, seen = list(modules), set()
    while todo:
        module = todo.pop()
        parts = module.split('.')
        for i in range(1, len(parts) + 1):
            path = _module_file(root, '.'.join(parts[:i]))
            if path is None or path in seen:
                continue
            seen.add(path)
            with open(os.path.join(root, path)) as f:
                try:
                    tree = ast.parse(f.read(), path)
                except SyntaxError:
                    continue    # validate's Python rule names it
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    todo += [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module \
                        and not node.level:
                    todo.append(node.module)
                    todo += ['%s.%s' % (node.module, a.name)
                             for a in node.names]
    return seen


def plugin_modules(root):
    """The plugin's modules Tempest imports: its entry point and every
    module under the directory its load_tests names (migtests/api)."""
    found = ['migtests.plugin']
    for directory, _, files in os.walk(os.path.join(root, 'migtests',
                                                    'api')):
        for name in files:
            if name.endswith('.py'):
                path = os.path.relpath(os.path.join(directory, name), root)
                found.append(path[:-3].replace(os.sep, '.').replace(
                    '.__init__', ''))
    return found


def used_files(root, frozen, answers):
    """Files of this repository the frozen job uses (the change's copy
    of them): its playbooks, its devstack plugin where the job enables
    it, the modules those run (``python -m``) and what they import, the
    plugin Tempest loads, and the packaging; for a tox job everything its
    environments run."""
    if is_tox_job(frozen):
        files = {os.path.relpath(os.path.join(d, f), root)
                 for top in ('reference', 'migtests', 'tools')
                 for d, _, names in os.walk(os.path.join(root, top))
                 for f in names if f.endswith('.py')}
        return files | set(TOX_FILES) | {
            path for _, project, _, path in frozen.playbooks
            if project == tenant.PROJECT}
    files = set(PACKAGING)
    texts = []
    for _, project, branch, path in frozen.playbooks:
        if project == tenant.PROJECT:
            files.add(path)
            texts.append(answers.file(project, branch, path) or '')
    inventory = Inventory.of(frozen, keep=('devstack_plugins',))
    if any(PLUGIN in (inventory.var(node, 'devstack_plugins') or {})
           for node in frozen.nodes):
        for directory, _, names in os.walk(os.path.join(root, 'devstack')):
            for name in names:
                path = os.path.relpath(os.path.join(directory, name), root)
                files.add(path)
                with open(os.path.join(root, path)) as f:
                    texts.append(f.read())
    modules = plugin_modules(root) + [
        module for text in texts for module in re.findall(
            r'-m\s+((?:migtests|reference)[\w.]*)', text)]
    return files | import_closure(root, modules)


_ENTRY = re.compile(r'^<Job (\S+) .* source: (\S+)@(\S+)#(\d+)>$')


def applied_variants(answers, frozen, items):
    """The variants Zuul applied to make the frozen job, in order (its
    inheritance path names each variant's file and line): each job variant
    as the job API describes it, and the project stanza's own entry for
    the job (read from this branch's zuul.d)."""
    projects = sorted(set(tenant.upstream()) | {tenant.PROJECT}, key=len,
                      reverse=True)
    entries = []
    for entry in frozen.data['zuul']['_inheritance_path']:
        name, source, branch, line = _ENTRY.match(entry).groups()
        project = next(p for p in projects if source.startswith(p + '/'))
        entries.append((name, project, branch, source[len(project) + 1:],
                        int(line)))
    found = []
    for name, project, branch, path, line in entries:
        here = (project, branch, path)
        variants = [v for v in answers.variants(name) if tuple(
            v['source_context'][k] for k in ('project', 'branch',
                                             'path')) == here]
        # Several variants of one job in one file: the API lists them in
        # the file's order, the inheritance path by line.
        lines = sorted(e[4] for e in entries if e[0] == name
                       and e[1:4] == here)
        if len(variants) == len(lines):
            found.append(variants[lines.index(line)])
        elif project == tenant.PROJECT:    # the project stanza's entry
            for job in _project_entries(items, frozen.pipeline):
                if isinstance(job, dict) and name in job:
                    found.append({k.replace('-', '_'): v for k, v in (
                        job[name] or {}).items()})
    return found


def _project_entries(items, pipeline):
    for _, kind, conf in items:
        if kind == 'project':
            yield from (conf.get(pipeline) or {}).get('jobs') or []


def irrelevant_problems(frozen, variants):
    """Used files a change could touch alone and not run the job: the
    irrelevant-files of every variant Zuul applied (Zuul unites them along
    the inheritance path), through Zuul's own matcher, asked whether a
    change of only that file is all irrelevant."""
    from zuul import change_matcher
    from zuul.lib.re2util import ZuulRegex
    regexes = {(r['regex'], r.get('negate', False)) if isinstance(r, dict)
               else (r, False)
               for variant in variants
               for r in variant.get('irrelevant_files') or []}
    if not regexes:
        return []
    matcher = change_matcher.MatchAllFiles([
        change_matcher.FileMatcher(ZuulRegex(regex, negate=negate))
        for regex, negate in sorted(regexes)])
    found = []
    for path in sorted(frozen.used):
        change = type('Change', (), {'files': [path]})()
        if matcher.matches(change):
            found.append('job %s: %s is among its irrelevant-files, but '
                         'the job uses it: a change that breaks it merges '
                         'without running the job' % (frozen.name, path))
    return found


# --- all of it ---
def listed_jobs(items, pipeline):
    """The jobs this repository's project (and its own templates) list in
    ``pipeline``, with the upstream templates' jobs left to Zuul."""
    templates = {c['name']: c for _, k, c in items
                 if k == 'project-template'}
    listed = []
    for _, kind, conf in items:
        if kind != 'project':
            continue
        for source in [conf] + [templates[t] for t in conf.get(
                'templates') or [] if t in templates]:
            for job in (source.get(pipeline) or {}).get('jobs') or []:
                listed.append(job if isinstance(job, str)
                              else next(iter(job)))
    return listed


def check_branch(answers, root, branch, labels):
    """(problems, [Frozen]) of this repository's ``branch``: Zuul's
    configuration errors, then every job of every pipeline frozen and
    checked.  ``root``: the branch's files."""
    problems = list(answers.config_errors(branch))
    if problems:
        return problems, []
    items = tenant.read_config(root)
    frozen_jobs = []
    for pipeline in PIPELINES:
        runs = answers.run_jobs(pipeline, branch)
        for job in listed_jobs(items, pipeline):
            if job not in runs:
                problems.append('%s: Zuul would not run job %s for a change '
                                'on %s (no variant of its chain matches)'
                                % (pipeline, job, branch))
        for job in runs:
            if job in [f.name for f in frozen_jobs]:
                continue
            frozen_jobs.append(answers.freeze(pipeline, branch, job))
    tox_envs = sorted({e for f in frozen_jobs if is_tox_job(f)
                       for e in tox_envs_of(f)})
    envs = read_tox_envs(root, tox_envs) if tox_envs else {}
    for frozen in frozen_jobs:
        problems += job_problems(answers, root, items, frozen, labels,
                                 envs)
    return problems, frozen_jobs


def job_problems(answers, root, items, frozen, labels, envs):
    name = frozen.name
    found = []
    for node, label in sorted(frozen.nodes.items()):
        if label not in labels:
            found.append('job %s: node %s asks for label %s, which OpenDev '
                         'does not offer (%s): NODE_FAILURE' % (
                             name, node, label, ', '.join(labels)))
    inventory = Inventory.of(frozen)
    frozen.plays = plays(answers, frozen, inventory)
    for phase, project, path, hosts, nodes in frozen.plays:
        if hosts == MISSING:
            found.append('job %s: %s playbook %s does not exist in %s: '
                         'the job fails to start' % (name, phase, path,
                                                     project))
        elif not nodes:
            found.append('job %s: %s play of %s %s runs on hosts %r, which '
                         'match no node of nodeset %s: Ansible skips it and '
                         'the job reports SUCCESS' % (
                             name, phase, project, path, hosts,
                             frozen.nodeset['name']))
    if 'devstack-tempest' in frozen.chain:
        found += _tempest_problems(answers, frozen, inventory)
    elif is_tox_job(frozen):
        found += _tox_problems(frozen, envs)
    frozen.used = used_files(root, frozen, answers)
    found += irrelevant_problems(frozen, applied_variants(
        answers, frozen, items))
    return found


def report(answers, frozen):
    """Lines describing a frozen job (tox -e zuul -- --report)."""
    checkouts = answers.checkouts(frozen)
    title = 'job %s (%s, a change on %s)' % (
        frozen.name, frozen.pipeline, frozen.branch)
    lines = [title,
             '  inherits: %s' % ' <- '.join(dict.fromkeys(frozen.chain)),
             '  checkout: %s' % '; '.join(
                 '%s %s (%s)' % (project, ref, why) for project, (ref, why)
                 in sorted(checkouts.items())),
             '  nodeset %s: %s; groups %s' % (
                 frozen.nodeset['name'], ', '.join(
                     '%s=%s' % item for item in sorted(frozen.nodes.items())),
                 '; '.join('%s: %s' % (g, ','.join(n)) for g, n in sorted(
                     frozen.groups.items())) or '-')]
    for phase, project, path, hosts, nodes in frozen.plays:
        lines.append('  %-8s %s %s hosts %s -> %s' % (
            phase, project, path, hosts, ', '.join(nodes) or 'NO NODE'))
    if is_tox_job(frozen):
        lines.append('  tox -e %s' % frozen.vars.get('tox_envlist'))
    elif 'devstack-tempest' in frozen.chain:
        selected = selected_tests(frozen)
        lines.append('  tests: regex %s; excluded %s; at least %s migtests '
                     'tests must pass' % (
                         frozen.vars.get('tempest_test_regex'),
                         frozen.vars.get('tempest_exclude_regex')
                         or 'nothing',
                         frozen.vars.get('migtests_min_passed')))
        lines.append('  selected by Tempest\'s discovery (%d):'
                     % len(selected))
        lines += ['    %s' % test for test in selected]
    return lines
