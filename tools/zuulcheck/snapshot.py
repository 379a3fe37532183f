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

"""Refresh the snapshots of the upstream Zuul configuration this
repository's jobs build on, from upstream git checkouts.

    python -m tools.zuulcheck.snapshot PROJECT=GIT_DIR [PROJECT=GIT_DIR ...]

e.g. ``openstack/tempest=~/src/tempest openstack/devstack=~/src/devstack``
(a clone or a bare repository; its branches are read, not its work tree).

What is kept is what Zuul needs to freeze this repository's jobs: the
jobs, nodesets and project templates they reach (parents, nodesets,
templates' jobs, all variants of each job on every branch read), with their
attributes but not their prose (descriptions go), and, for every playbook
those jobs run, the name and ``hosts`` of each play (not its tasks).  A job
that names secrets keeps their names only in the snapshot's ``dropped``
list: secrets are encrypted for upstream's keys.  Each snapshot names the
commit of every branch it was read at.  Names this closure reaches that
no snapshot defines are printed: they must be in a stated file
(``upstream/*.yaml`` with ``stated:``) -- repositories of which no copy was
available.
"""

import argparse
import glob
import os
import subprocess
import sys

import yaml

from tools.zuulcheck import tenant

# Branches read from each checkout that has them: master, and the
# releases this repository's jobs check out (override-checkout).
BRANCHES = ('master', 'stable/2026.2', 'stable/2026.1', 'stable/2025.2')
CONFIG_PATHS = ('zuul.yaml', '.zuul.yaml', 'zuul.d/', '.zuul.d/')
PLAYBOOK_KEYS = ('pre-run', 'run', 'post-run', 'cleanup-run')


class SnapshotError(Exception):
    pass


class _Loader(yaml.SafeLoader):
    """YAML with Zuul's tags (encrypted secrets) read as plain data."""


_Loader.add_multi_constructor(
    '!', lambda loader, suffix, node: loader.construct_sequence(node)
    if isinstance(node, yaml.SequenceNode) else loader.construct_scalar(node))


def _git(git_dir, *args):
    proc = subprocess.run(['git', '--git-dir', git_dir] + list(args),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SnapshotError('git %s in %s: %s' % (
            ' '.join(args), git_dir, proc.stderr.strip()))
    return proc.stdout


def _git_dir(path):
    path = os.path.expanduser(path)
    for candidate in (os.path.join(path, '.git'), path):
        if os.path.isdir(os.path.join(candidate, 'objects')):
            return candidate
    raise SnapshotError('%s is no git repository' % path)


def _branches(git_dir):
    refs = _git(git_dir, 'for-each-ref', '--format=%(refname)',
                'refs/heads', 'refs/remotes/origin').split()
    found = {}
    for ref in refs:
        short = ref.split('/', 3)[-1] if ref.startswith('refs/remotes/') \
            else ref[len('refs/heads/'):]
        found.setdefault(short, ref)
    return {b: found[b] for b in BRANCHES if b in found}


def read_branch(git_dir, ref):
    """(commit, [(path, kind, conf)]) of one branch's Zuul configuration,
    in the order Zuul reads it (the first of zuul.yaml, .zuul.yaml,
    zuul.d/, .zuul.d/ that exists)."""
    commit = _git(git_dir, 'rev-parse', ref).strip()
    files = _git(git_dir, 'ls-tree', '-r', '--name-only', commit).split()
    for prefix in CONFIG_PATHS:
        chosen = sorted(f for f in files if f == prefix or (
            prefix.endswith('/') and f.startswith(prefix)
            and f.endswith('.yaml')))
        if chosen:
            break
    items = []
    for path in chosen:
        text = _git(git_dir, 'show', '%s:%s' % (commit, path))
        for item in yaml.load(text, Loader=_Loader) or []:
            (kind, conf), = item.items()
            items.append((path, kind, conf))
    return commit, files, items


def _pipeline_jobs(conf):
    for value in conf.values():
        if isinstance(value, dict):
            for job in value.get('jobs') or []:
                yield job if isinstance(job, str) else next(iter(job))


def closure(roots, sources):
    """The jobs, nodesets and templates ``roots`` reach through
    ``sources`` ({project: {branch: [(path, kind, conf)]}}); returns
    (kept {(project, branch): [(path, kind, conf)]}, projects named,
    names defined nowhere)."""
    index = {}
    for project, branches in sources.items():
        for branch, items in branches.items():
            for position, (path, kind, conf) in enumerate(items):
                if kind in ('job', 'nodeset', 'project-template',
                            'semaphore'):
                    index.setdefault((kind, conf['name']), []).append(
                        (project, branch, position, path, conf))
    todo = [(kind, name) for kind, names in roots.items() for name in names]
    seen, kept, projects, missing = set(), {}, set(), set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        if key not in index:
            missing.add(key)
            continue
        kind = key[0]
        for project, branch, position, path, conf in index[key]:
            kept.setdefault((project, branch), []).append(
                (position, path, kind, conf))
            if kind == 'job':
                jobs, nodesets, named = tenant.job_refs(conf)
                projects |= named
                todo += [('job', j) for j in jobs]
                todo += [('nodeset', n) for n in nodesets]
                semaphores = conf.get('semaphores') or conf.get('semaphore')
                for semaphore in ([semaphores] if isinstance(
                        semaphores, str) else semaphores or []):
                    todo.append(('semaphore', semaphore))
            elif kind == 'project-template':
                todo += [('job', j) for j in _pipeline_jobs(conf)]
    # In each file's own order, whatever the order they were reached in.
    kept = {key: [item[1:] for item in sorted(items, key=lambda i: i[0])]
            for key, items in kept.items()}
    return kept, projects, sorted(missing)


def _strip(kind, conf):
    """What Zuul freezes, without upstream's prose; (conf, dropped)."""
    conf = {k: v for k, v in conf.items() if k != 'description'}
    dropped = []
    if kind == 'job' and conf.get('secrets'):
        secrets = conf.pop('secrets')
        dropped = ['job %s: secrets %s' % (conf['name'], ', '.join(
            s if isinstance(s, str) else s.get('name', '?')
            for s in (secrets if isinstance(secrets, list) else [secrets])))]
    return conf, dropped


def _plays(git_dir, commit, path):
    text = _git(git_dir, 'show', '%s:%s' % (commit, path))
    plays = yaml.load(text, Loader=_Loader) or []
    return [{'name': play.get('name'), 'hosts': play.get('hosts')}
            if 'hosts' in play else {'import_playbook':
                                     play.get('import_playbook')}
            for play in plays]


def snapshot(project, git_dir, branches, kept):
    """The snapshot data of one upstream project."""
    data = {'project': project, 'branches': {}}
    for branch, (ref, commit, files, _items) in branches.items():
        items = kept.get((project, branch), [])
        config, dropped, playbooks = [], [], {}
        for path, kind, conf in items:
            conf, lost = _strip(kind, conf)
            config.append({kind: conf})
            dropped += lost
            if kind != 'job':
                continue
            for key in PLAYBOOK_KEYS:
                value = conf.get(key) or []
                for playbook in value if isinstance(value, list) \
                        else [value]:
                    name = playbook if isinstance(playbook, str) \
                        else playbook['name']
                    if name in files and name not in playbooks:
                        playbooks[name] = _plays(git_dir, commit, name)
        data['branches'][branch] = {
            'commit': commit, 'config': config,
            'playbooks': dict(sorted(playbooks.items()))}
        if dropped:
            data['branches'][branch]['dropped'] = dropped
    return data


def roots_of(root):
    """What this repository's zuul.d names: its jobs' parents, nodesets,
    and the jobs and templates its project and templates list."""
    items = tenant.read_config(root)
    local = {c['name'] for _, k, c in items if k == 'job'}
    roots = {'job': set(), 'nodeset': set(), 'project-template': set()}
    for _, kind, conf in items:
        if kind == 'job':
            jobs, nodesets, _ = tenant.job_refs(conf)
            roots['job'] |= jobs - local
            roots['nodeset'] |= nodesets
        elif kind in ('project', 'project-template'):
            roots['project-template'] |= set(conf.get('templates') or [])
            roots['job'] |= set(_pipeline_jobs(conf)) - local
    local_templates = {c['name'] for _, k, c in items
                       if k == 'project-template'}
    roots['project-template'] -= local_templates
    return roots


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m tools.zuulcheck.snapshot',
        description='Refresh tools/zuulcheck/upstream/ from upstream git '
                    'checkouts.')
    parser.add_argument('checkouts', nargs='+', metavar='PROJECT=GIT_DIR')
    parser.add_argument('--root', default='.')
    args = parser.parse_args(argv)
    try:
        checkouts = dict(arg.split('=', 1) for arg in args.checkouts)
    except ValueError:
        parser.error('each checkout is PROJECT=GIT_DIR')
    try:
        sources, read = {}, {}
        stated = tenant.stated_items()
        for project, items in stated.items():
            sources[project] = {'master': items}
        for project, path in checkouts.items():
            git_dir = _git_dir(path)
            read[project] = (git_dir, {})
            for branch, ref in _branches(git_dir).items():
                commit, files, items = read_branch(git_dir, ref)
                read[project][1][branch] = (ref, commit, files, items)
                sources.setdefault(project, {})[branch] = items
        kept, projects, missing = closure(roots_of(args.root), sources)
        out = tenant.UPSTREAM_DIR
        for old in glob.glob(os.path.join(out, 'snapshot-*.yaml')):
            os.remove(old)
        for project, (git_dir, branches) in sorted(read.items()):
            data = snapshot(project, git_dir, branches, kept)
            path = os.path.join(out, 'snapshot-%s.yaml'
                                % project.replace('/', '+'))
            with open(path, 'w') as f:
                f.write('# Generated by python -m tools.zuulcheck.snapshot '
                        'from %s; do not edit.\n' % project)
                yaml.safe_dump(data, f, sort_keys=False, width=79)
            print('%s: %s' % (project, ', '.join(
                '%s %s (%d items, %d playbooks)' % (
                    b, d['commit'][:10], len(d['config']),
                    len(d['playbooks']))
                for b, d in data['branches'].items())))
    except SnapshotError as exc:
        sys.stderr.write('snapshot: error: %s\n' % exc)
        return 2
    print('projects the jobs name: %s' % ', '.join(sorted(projects)))
    for kind, name in missing:
        print('defined in no snapshot or stated file: %s %s'
              % (kind, name))
    return 0


if __name__ == '__main__':
    sys.exit(main())
