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

"""Check zuul.d/ with Zuul itself, plus the project's rules.

    python -m tools.zuulcheck.validate [--report] [REPOSITORY_ROOT]

1. A real Zuul (site.py) loads the tenant of tenant.py -- this checkout
   beside the snapshots of the upstream configuration it builds on -- and
   its configuration errors for this repository are problems (typos,
   wrong types, unknown parents, nodesets or templates, bad regexes,
   duplicate keys, undefined groups: Zuul's own words).
2. Shipped defaults: no job variable (vars, group-vars, host-vars, devstack
   local.conf or localrc, at any depth) and no playbook sets a [libvirt]
   live_migration_* option or a migration flag; a job that names another
   migration profile (migtests_profile, written by the run phase from
   migtests/cloud/configs.py) runs in the experimental pipeline only.
3. The plugin's Tempest-facing modules parse under the Python of every
   job's platform (``migtests_python``).
4. Every job Zuul runs in a pipeline of this project, frozen by Zuul
   (freeze.py) and checked: plays reach nodes, labels are offered,
   devstack's own [libvirt] writes are removed on every compute, the
   selection holds the plugin's tests and none upstream excludes, the
   guard can pass, tox environments run something and as root where they
   need it, no used file is irrelevant.

``--report`` prints each frozen job: inheritance, checkout of every
project, nodeset and groups, which play runs on which nodes, the tests.

Exit status 0 when clean; 1 with one line per problem; 2 on bad usage.
"""

import ast
import glob
import os
import re
import sys

import yaml

from tools.zuulcheck import freeze
from tools.zuulcheck import site
from tools.zuulcheck import tenant

# What shipped defaults forbid: [libvirt] live_migration_* options and the
# raw flag options or flag names, wherever a job could set them.
# (A test name such as test_live_migration_with_trunk is no option.)
FORBIDDEN = re.compile(r'(?<!\w)live_migration_\w+|\w*migration_flag|'
                       r'VIR_MIGRATE_\w+', re.IGNORECASE)

# The plugin modules Tempest imports on the job's node.
PLUGIN_MODULES = ('migtests/__init__.py', 'migtests/plugin.py',
                  'migtests/config.py', 'migtests/console.py',
                  'migtests/api/**/*.py')


def _restores_or_reads(task):
    """A playbook task that removes options (a module with state: absent)
    or only reads (changed_when: false, no module argument that writes a
    line, option, value or content): it cannot set an option."""
    modules = [v for v in task.values() if isinstance(v, dict)]
    if any(m.get('state') == 'absent' for m in modules):
        return True
    return task.get('changed_when') is False and not any(
        {'line', 'value', 'option', 'content'} & set(m) for m in modules)


def _forbidden_in(value, where, playbook=False):
    """Paths in a variable tree whose key or string names a forbidden
    setting (in a playbook, tasks that only remove or read are fine)."""
    found = []
    if playbook and isinstance(value, dict) and 'name' in value and \
            _restores_or_reads(value):
        return found
    if isinstance(value, dict):
        for key, sub in value.items():
            here = '%s.%s' % (where, key)
            if FORBIDDEN.search(str(key)):
                found.append(here)
            found += _forbidden_in(sub, here, playbook)
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += _forbidden_in(sub, '%s[%d]' % (where, index), playbook)
    elif isinstance(value, str) and FORBIDDEN.search(value):
        found.append('%s = %r' % (where, value))
    return found


def shipped_defaults_problems(root, items):
    problems = []
    for relative, kind, conf in items:
        if kind != 'job':
            continue
        for key in ('vars', 'group-vars', 'host-vars', 'extra-vars'):
            for path in _forbidden_in(conf.get(key, {}), key):
                problems.append(
                    '%s: job %s sets %s: jobs must run with the migration '
                    'configuration Nova ships' % (relative, conf['name'],
                                                  path))
    plugin = os.path.join(root, 'devstack', 'plugin.sh')
    if os.path.exists(plugin):
        with open(plugin) as f:
            for number, line in enumerate(f, 1):
                if re.search(r'^\s*(iniset|crudini --set)\b', line) and \
                        FORBIDDEN.search(line):
                    problems.append(
                        'devstack/plugin.sh:%d: sets %s: jobs must run with '
                        'the migration configuration Nova ships' % (
                            number, FORBIDDEN.search(line).group(0)))
    for path in sorted(glob.glob(os.path.join(root, 'playbooks', '**',
                                              '*.yaml'), recursive=True)):
        with open(path) as f:
            try:
                tree = yaml.safe_load(f)
            except yaml.YAMLError as exc:
                problems.append('%s: %s' % (os.path.relpath(path, root),
                                            ' '.join(str(exc).split())))
                continue
        for hit in _forbidden_in(tree, 'playbook', playbook=True):
            problems.append('%s: sets %s: jobs must run with the migration '
                            'configuration Nova ships'
                            % (os.path.relpath(path, root), hit))
    return problems


def _profile_of(name, local_jobs):
    """The migtests_profile a job inherits (the nearest job of its parent
    chain here that sets it; 'shipped' when none does)."""
    seen = set()
    while name in local_jobs and name not in seen:
        seen.add(name)
        conf = local_jobs[name]
        if 'migtests_profile' in (conf.get('vars') or {}):
            return conf['vars']['migtests_profile']
        name = conf.get('parent')
    return 'shipped'


def profile_problems(items):
    """A job whose migtests_profile is not 'shipped' sets live-migration
    options on purpose (devstack/plugin.sh writes the profile): it may run
    only where someone asks for it -- the experimental pipeline -- never
    in check or gate, which carry the shipped-defaults claim."""
    local_jobs = {c['name']: c for _, k, c in items if k == 'job'}
    problems = []
    for pipeline in freeze.PIPELINES:
        if pipeline == 'experimental':
            continue
        for job in freeze.listed_jobs(items, pipeline):
            profile = _profile_of(job, local_jobs)
            if job in local_jobs and profile != 'shipped':
                problems.append(
                    'zuul.d: %s runs %s, whose migtests_profile %r is not '
                    'Nova\'s shipped defaults: only the experimental '
                    'pipeline may' % (pipeline, job, profile))
    return problems


def python_problems(root, items):
    versions = {}
    for relative, kind, conf in items:
        if kind == 'job' and 'migtests_python' in conf.get('vars', {}):
            versions.setdefault(str(conf['vars']['migtests_python']),
                                []).append(conf['name'])
    problems = []
    files = sorted({f for pattern in PLUGIN_MODULES for f in glob.glob(
        os.path.join(root, pattern), recursive=True)})
    for version, jobs in sorted(versions.items()):
        major, minor = (int(part) for part in version.split('.'))
        for path in files:
            with open(path) as f:
                source = f.read()
            try:
                ast.parse(source, path, feature_version=(major, minor))
            except SyntaxError as exc:
                problems.append(
                    '%s:%s: not Python %s syntax (jobs %s): %s'
                    % (os.path.relpath(path, root), exc.lineno, version,
                       ', '.join(jobs), exc.msg))
    return problems


def static_problems(root):
    """The rules that need no Zuul: shipped defaults, profiles, Python."""
    items = tenant.read_config(root)
    return (shipped_defaults_problems(root, items) + profile_problems(items)
            + python_problems(root, items))


def labels():
    """The labels OpenDev offers (the base jobs' stated file)."""
    return tenant.upstream()['opendev/base-jobs']['labels']


class Checker:
    """A Zuul site with this checkout and the broken copies given, each
    in a tenant of its own (tenant.build); ``check(copy)`` gives
    (problems, frozen jobs) of this checkout (None) or of a copy."""

    def __init__(self, root, copies=(), directory=site.DEFAULT_DIR):
        self.root = root
        self.copies = dict(copies)
        self.site = site.ZuulSite(directory)

    def __enter__(self):
        self.site.up(lambda d: tenant.build(d, self.root,
                                            self.copies.items()))
        return self

    def __exit__(self, *exc):
        self.site.down()

    def answers(self, copy=None):
        return freeze.ZuulAnswers(self.site, tenant.copy_tenant(copy)
                                  if copy else tenant.TENANT)

    def check(self, copy=None):
        answers = self.answers(copy)
        tree = answers.repository(tenant.PROJECT)
        problems = static_problems(tree)
        more, frozen = freeze.check_branch(answers, tree, 'master',
                                           labels())
        return problems + more, frozen


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    show = '--report' in argv
    argv = [a for a in argv if a != '--report']
    if len(argv) > 1 or any(a.startswith('-') for a in argv):
        sys.stderr.write('usage: python -m tools.zuulcheck.validate '
                         '[--report] [REPOSITORY_ROOT]\n')
        return 2
    root = os.path.abspath(argv[0] if argv else '.')
    if not os.path.isdir(os.path.join(root, 'zuul.d')):
        print('no zuul.d/ under %s' % root)
        return 1
    try:
        with Checker(root) as checker:
            problems, frozen = checker.check()
            for problem in problems:
                print(problem)
            if problems:
                return 1
            if show:
                for job in frozen:
                    print('\n'.join(freeze.report(checker.answers(), job)))
    except site.SiteError as exc:
        print('zuul site: %s' % exc)
        return 1
    print('zuul.d: Zuul %s loaded it without error; %d jobs of its '
          'pipelines frozen by Zuul and checked' % (zuul_version(),
                                                    len(frozen)))
    return 0


def zuul_version():
    from zuul import version
    return version.release_string


if __name__ == '__main__':
    sys.exit(main())
