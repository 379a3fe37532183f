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

"""The tenant Zuul freezes this repository's jobs in: local git
repositories laid out as OpenDev's ``openstack`` tenant has them.

- This repository (``PROJECT``), its ``master`` branch the checkout as it
  is (tracked files and untracked ones git does not ignore), plus one
  branch per broken copy a test asks for.
- The upstream projects its jobs build on, from the snapshots under
  ``upstream/`` (``snapshot-*.yaml``, made by ``snapshot.py`` from upstream
  checkouts, each branch at its recorded commit) and the stated files
  (``stated-*.yaml``: repositories of which no copy could be read, their
  definitions written from what is stated there).
- Every other project the jobs name (required projects, roles' projects),
  empty, with the branches devstack has (they are OpenStack's services
  and libraries, branched with each release).
"""

import functools
import os
import subprocess

import yaml

# libyaml's loader where PyYAML was built with it: the snapshots are read
# for every job checked.
LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)

UPSTREAM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'upstream')
PROJECT = 'openstack/migtests'
CONNECTION = 'opendev'
HOSTNAME = 'opendev.org'
TENANT = 'openstack'
# The projects whose branches the empty ones copy.
BRANCH_MODEL = 'openstack/devstack'


def read_config(root):
    """[(path, kind, conf)] of a repository's zuul.d/ (plain YAML)."""
    items = []
    directory = os.path.join(root, 'zuul.d')
    for name in sorted(os.listdir(directory)):
        if not name.endswith('.yaml'):
            continue
        with open(os.path.join(directory, name)) as f:
            for item in yaml.safe_load(f) or []:
                if isinstance(item, dict) and len(item) == 1:
                    (kind, conf), = item.items()
                    items.append(('zuul.d/' + name, kind, conf))
    return items


@functools.lru_cache(maxsize=None)
def upstream():
    """{project: data} of every snapshot and stated file (read once; not
    to be changed)."""
    found = {}
    for name in sorted(os.listdir(UPSTREAM_DIR)):
        if name.endswith('.yaml'):
            with open(os.path.join(UPSTREAM_DIR, name)) as f:
                data = yaml.load(f, Loader=LOADER)
            data['file'] = name
            found[data['project']] = data
    return found


def stated_items():
    """{project: [(path, kind, conf)]} of the stated files (master)."""
    return {project: [('zuul.d/stated.yaml', kind, conf)
                      for item in data['branches']['master']['config']
                      for kind, conf in item.items()]
            for project, data in upstream().items() if 'stated' in data}


def _git(cwd, *args):
    subprocess.run(['git', '-c', 'user.name=migtests',
                    '-c', 'user.email=migtests@localhost',
                    '-c', 'init.defaultBranch=master'] + list(args),
                   cwd=cwd, check=True, capture_output=True)


def _write(base, files):
    for path, text in files.items():
        full = os.path.join(base, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w') as f:
            f.write(text)


def _upstream_files(branch):
    """The files of one snapshot branch: its configuration and, for each
    playbook, its plays with their names and hosts (no tasks)."""
    files = {'zuul.d/upstream.yaml': yaml.safe_dump(branch['config'],
                                                    sort_keys=False)}
    for path, plays in branch.get('playbooks', {}).items():
        files[path] = yaml.safe_dump(
            [dict(play, tasks=[]) if 'hosts' in play else play
             for play in plays], sort_keys=False)
    return files


def _checkout_files(root):
    """The checkout as it is: tracked files and untracked ones git does
    not ignore, their content as in the work tree."""
    out = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others',
         '--exclude-standard'], cwd=root, check=True,
        capture_output=True).stdout.decode()
    return sorted(p for p in out.split('\0')
                  if p and os.path.isfile(os.path.join(root, p)))


def copy_tenant(name):
    """The tenant (and git connection) of a broken copy ``name``."""
    return 'copy-' + name


def project_dir(workdir, tenant_name, project):
    """Where a tenant's copy of ``project`` lies."""
    if project == PROJECT and tenant_name != TENANT:
        return os.path.join(workdir, 'copies', tenant_name, project)
    return os.path.join(workdir, 'git', project)


def _repository(path, files_from=None, files=None):
    """A git repository at ``path`` with one commit on master: the files
    of the checkout ``files_from``, then ``files`` ({path: text}) over
    them."""
    os.makedirs(path)
    _git(path, 'init', '-q')
    for name in _checkout_files(files_from) if files_from else []:
        full = os.path.join(path, name)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(os.path.join(files_from, name), 'rb') as src, \
                open(full, 'wb') as dst:
            dst.write(src.read())
    _write(path, files or {})
    _git(path, 'add', '-A')
    _git(path, 'commit', '-q', '--allow-empty', '-m', 'the checkout')


def build(workdir, root, copies=()):
    """Lay the repositories out under ``workdir`` and return (the tenants
    as Zuul's main.yaml holds them, the git connections {name: {baseurl,
    canonical_hostname}}).  ``copies``: (name, {path: text}) broken copies
    of this repository; each is this checkout with those files replaced,
    as the master branch of this project in a tenant of its own
    (copy_tenant(name)) beside the same upstream projects -- a branch of
    its own would not do: the upstream jobs' implied branch matchers
    would match no variant of it."""
    gitdir = os.path.join(workdir, 'git')
    data = upstream()
    branches = {}
    _repository(project_dir(workdir, TENANT, PROJECT), files_from=root)
    for project, snap in data.items():
        repo = os.path.join(gitdir, project)
        os.makedirs(repo)
        _git(repo, 'init', '-q')
        for name, branch in snap['branches'].items():
            _git(repo, 'checkout', '-q', '--orphan', name)
            _git(repo, 'rm', '-q', '-rf', '--ignore-unmatch', '.')
            _write(repo, _upstream_files(branch))
            _git(repo, 'add', '-A')
            _git(repo, 'commit', '-q', '-m', '%s %s at %s' % (
                project, name, branch.get('commit', 'stated')))
        branches[project] = list(snap['branches'])

    named = _named_projects(data) - set(data) - {PROJECT}
    model = branches.get(BRANCH_MODEL, ['master'])
    for project in sorted(named):
        repo = os.path.join(gitdir, project)
        os.makedirs(repo)
        _git(repo, 'init', '-q')
        _git(repo, 'commit', '-q', '--allow-empty', '-m', 'empty')
        for name in model:
            if name != 'master':
                _git(repo, 'branch', name)
    trusted = [p for p, d in data.items() if d.get('trusted')]
    untrusted = [p for p in data if p not in trusted]
    connections = {CONNECTION: {'baseurl': gitdir,
                                'canonical_hostname': HOSTNAME}}

    def tenant(name, connection):
        sources = {CONNECTION: {
            'config-projects': trusted,
            'untrusted-projects': untrusted + [
                {'projects': sorted(named), 'include': []}]}}
        if connection == CONNECTION:
            sources[CONNECTION]['untrusted-projects'].append(PROJECT)
        else:
            sources[connection] = {'untrusted-projects': [PROJECT]}
        return {'tenant': {'name': name, 'source': sources}}
    tenants = [tenant(TENANT, CONNECTION)]
    for name, files in copies:
        copy = copy_tenant(name)
        _repository(project_dir(workdir, copy, PROJECT), files_from=root,
                    files=files)
        # Its own host name: projects are known by their canonical names
        # across tenants.
        connections[copy] = {
            'baseurl': os.path.join(workdir, 'copies', copy),
            'canonical_hostname': copy + '.localhost'}
        tenants.append(tenant(copy, copy))
    return tenants, connections


def job_refs(conf):
    """(jobs, nodesets, projects) a job definition names: its parent (the
    tenant's default, base, when it names none), its nodeset, its
    required projects and the projects of its roles."""
    jobs, nodesets, projects = set(), set(), set()
    if conf.get('parent'):
        jobs.add(conf['parent'])
    elif 'parent' not in conf:
        jobs.add('base')
    if isinstance(conf.get('nodeset'), str):
        nodesets.add(conf['nodeset'])
    for project in conf.get('required-projects') or []:
        projects.add(project if isinstance(project, str)
                     else project['name'])
    for role in conf.get('roles') or []:
        if 'zuul' in role:
            projects.add(role['zuul'])
    return jobs, nodesets, projects


def _named_projects(data):
    """Projects the upstream jobs name (required projects, roles)."""
    return {_short(project) for snap in data.values()
            for branch in snap['branches'].values()
            for item in branch['config'] for kind, conf in item.items()
            if kind == 'job' for project in job_refs(conf)[2]}


def _short(project):
    """A project's name without the canonical host name."""
    prefix = HOSTNAME + '/'
    return project[len(prefix):] if project.startswith(prefix) else project
