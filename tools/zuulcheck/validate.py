"""Validate zuul.d/ offline with Zuul's own loader, plus the project's rules.

    python -m tools.zuulcheck.validate [REPOSITORY_ROOT]

1. Every file of zuul.d/ is read with Zuul's YAML loader (duplicate keys,
   syntax) and every item goes through Zuul's parser for its kind: the
   voluptuous schema (typos, wrong types), then fromYaml (regexes, nodeset
   groups, project pipelines).  This uses Zuul internals: the zuul version
   is pinned in zuul-requirements.txt.
2. References: every parent, nodeset and project template named is defined
   here or is a known upstream name; every job a pipeline lists is defined
   or upstream; every playbook path exists, and so does every file a
   playbook includes.
3. Shipped defaults: no job variable (vars, group-vars, host-vars, devstack
   local.conf or localrc, at any depth) and no playbook sets a [libvirt]
   live_migration_* option or a migration flag; a job that names another
   migration profile (migtests_profile, written by the run phase from
   migtests/cloud/configs.py) runs in the experimental pipeline only.
4. The plugin's Tempest-facing modules parse under the Python of every
   job's platform (``migtests_python``).
5. Every job a pipeline of this project runs is frozen as Zuul would freeze
   it for a change to this repository (freeze.py, against upstream.yaml):
   a variant matches the branch, every play matches a node, every label
   is offered, devstack's own [libvirt] writes are removed on every
   compute, the selection holds the plugin's tests and none upstream
   excludes, and a run that passed too few of them fails.

    python -m tools.zuulcheck.validate --report [REPOSITORY_ROOT]

prints each frozen job: inheritance, checkouts, nodeset and groups, which
play runs on which nodes, the tests selected.

Exit status 0 when clean; 1 with one line per problem; 2 on bad usage.
"""

import ast
import glob
import os
import re
import sys
from unittest import mock

import yaml
from zuul import configloader
from zuul import model

from tools.zuulcheck import freeze

# Jobs, nodesets and templates defined in repositories this one builds on.
_UPSTREAM = freeze.load_upstream()
UPSTREAM_JOBS = frozenset(_UPSTREAM['jobs'])
UPSTREAM_NODESETS = frozenset(_UPSTREAM['nodesets'])
UPSTREAM_TEMPLATES = frozenset({'openstack-python3-jobs',
                                'check-requirements'})
PLAYBOOK_KEYS = ('pre-run', 'run', 'post-run', 'cleanup-run')

# What shipped defaults forbid: [libvirt] live_migration_* options and the
# raw flag options or flag names, wherever a job could set them.
# (A test name such as test_live_migration_with_trunk is no option.)
FORBIDDEN = re.compile(r'(?<!\w)live_migration_\w+|\w*migration_flag|'
                       r'VIR_MIGRATE_\w+', re.IGNORECASE)

# The plugin modules Tempest imports on the job's node.
PLUGIN_MODULES = ('migtests/__init__.py', 'migtests/plugin.py',
                  'migtests/config.py', 'migtests/console.py',
                  'migtests/api/**/*.py')


def _parse_context():
    connections = mock.Mock(connections={}, drivers={})
    return configloader.ParseContext(connections, mock.Mock(), mock.Mock(),
                                     mock.Mock())


def _parsers(pcontext):
    return {
        'job': pcontext.job_parser,
        'nodeset': pcontext.nodeset_parser,
        'project-template': pcontext.project_template_parser,
        'project': pcontext.project_parser,
        'semaphore': pcontext.semaphore_parser,
        'secret': pcontext.secret_parser,
    }


def load(root):
    """[(file, kind, conf)] of zuul.d/, or raise ValueError (one line)."""
    items = []
    files = sorted(glob.glob(os.path.join(root, 'zuul.d', '*.yaml')))
    if not files:
        raise ValueError('no zuul.d/*.yaml under %s' % root)
    for path in files:
        relative = os.path.relpath(path, root)
        context = model.SourceContext('migtests', 'migtests', 'gerrit',
                                      'master', relative)
        with open(path) as f:
            try:
                data = configloader.safe_load_yaml(f.read(), context)
            except Exception as exc:
                raise ValueError('%s: %s' % (relative, ' '.join(
                    str(exc).split()))) from None
        for item in data or []:
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError('%s: every item must be one mapping such as '
                                 '"- job: {...}"' % relative)
            (kind, conf), = item.items()
            items.append((relative, kind, conf))
    return items


def zuul_problems(items):
    """Run every item through Zuul's schema and parser for its kind."""
    pcontext = _parse_context()
    parsers = _parsers(pcontext)
    problems = []
    for relative, kind, conf in items:
        name = conf.get('name', '(project)') if isinstance(conf, dict) \
            else '?'
        parser = parsers.get(kind)
        if parser is None:
            problems.append('%s: unknown item kind %r' % (relative, kind))
            continue
        try:
            if hasattr(parser, 'schema') and kind != 'project':
                parser.schema(conf)
            parser.fromYaml(conf)
        except Exception as exc:
            problems.append('%s: %s %s: %s' % (relative, kind, name, ' '.join(
                str(exc).split())))
    problems += ['zuul: %s' % ' '.join(str(e).split())
                 for e in pcontext.error_list]
    return problems


def _pipeline_jobs(conf):
    for key, value in conf.items():
        if isinstance(value, dict) and 'jobs' in value:
            for job in value['jobs'] or []:
                yield job if isinstance(job, str) else next(iter(job))


def reference_problems(root, items):
    defined = {kind: {c.get('name') for _, k, c in items if k == kind}
               for kind in ('job', 'nodeset', 'project-template')}
    problems = []
    for relative, kind, conf in items:
        if kind == 'job':
            parent = conf.get('parent')
            if parent and parent not in defined['job'] | UPSTREAM_JOBS:
                problems.append('%s: job %s: unknown parent %r'
                                % (relative, conf['name'], parent))
            nodeset = conf.get('nodeset')
            if isinstance(nodeset, str) and nodeset not in \
                    defined['nodeset'] | UPSTREAM_NODESETS:
                problems.append('%s: job %s: unknown nodeset %r'
                                % (relative, conf['name'], nodeset))
            for key in PLAYBOOK_KEYS:
                for playbook in _as_list(conf.get(key)):
                    path = playbook if isinstance(playbook, str) else \
                        playbook.get('name')
                    problems += _playbook_problems(root, relative, conf, path)
        if kind in ('project', 'project-template'):
            for template in conf.get('templates', []):
                if template not in defined['project-template'] | \
                        UPSTREAM_TEMPLATES:
                    problems.append('%s: unknown project template %r'
                                    % (relative, template))
            for job in _pipeline_jobs(conf):
                if job not in defined['job'] | UPSTREAM_JOBS:
                    problems.append('%s: pipeline lists unknown job %r'
                                    % (relative, job))
    return problems


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _playbook_problems(root, relative, conf, path):
    full = os.path.join(root, path)
    if not os.path.isfile(full):
        return ['%s: job %s: playbook %s does not exist'
                % (relative, conf['name'], path)]
    problems = []
    with open(full) as f:
        text = f.read()
    for included in re.findall(r'include_tasks:\s*(\S+)', text):
        if not os.path.isfile(os.path.join(os.path.dirname(full), included)):
            problems.append('%s: includes %s, which does not exist'
                            % (path, included))
    return problems


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
    options on purpose (playbooks/run.yaml writes the profile): it may run
    only where someone asks for it -- the experimental pipeline -- never
    in check or gate, which carry the shipped-defaults claim."""
    local_jobs = {c['name']: c for _, k, c in items if k == 'job'}
    problems = []
    for relative, pipeline, job in _pipeline_entries(items):
        if pipeline == 'experimental' or job not in local_jobs:
            continue
        profile = _profile_of(job, local_jobs)
        if profile != 'shipped':
            problems.append(
                '%s: %s runs %s, whose migtests_profile %r is not Nova\'s '
                'shipped defaults: only the experimental pipeline may' % (
                    relative, pipeline, job, profile))
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


def _pipeline_entries(items):
    """(file, pipeline, job) for every job a pipeline of this project
    runs, through its templates too, in order."""
    templates = {c['name']: c for _, k, c in items
                 if k == 'project-template'}
    for relative, kind, conf in items:
        if kind != 'project':
            continue
        for source in [conf] + [templates[t] for t in conf.get(
                'templates', []) if t in templates]:
            for pipeline, value in source.items():
                if isinstance(value, dict):
                    for job in _pipeline_jobs({pipeline: value}):
                        yield relative, pipeline, job


def pipeline_jobs(items):
    """Every job a pipeline of this project runs, once each, in order."""
    return list(dict.fromkeys(job for _, _, job in _pipeline_entries(items)))


def frozen_jobs(items):
    local_jobs = {c['name']: c for _, k, c in items if k == 'job'}
    return [freeze.freeze(name, local_jobs, _UPSTREAM)
            for name in pipeline_jobs(items)
            if name in local_jobs or name in _UPSTREAM['jobs']]


def freeze_problems(root, items):
    nodesets = {c['name']: c for _, k, c in items if k == 'nodeset'}
    found = []
    frozen_list = frozen_jobs(items)
    envs = [e for frozen in frozen_list if freeze.is_tox_job(frozen)
            for e in freeze.tox_envs_of(frozen)]
    if envs:
        freeze.read_tox_envs(root, envs)
    for frozen in frozen_list:
        found += freeze.problems(frozen, root, nodesets, _UPSTREAM)
    return found


def validate(root):
    """Problems found (one line each); empty when the configuration is
    valid."""
    try:
        items = load(root)
    except ValueError as exc:
        return [str(exc)]
    problems = (zuul_problems(items) + reference_problems(root, items)
                + shipped_defaults_problems(root, items)
                + profile_problems(items) + python_problems(root, items))
    if not problems:    # freezing needs references that resolve
        problems += freeze_problems(root, items)
    return problems


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    show = '--report' in argv
    argv = [a for a in argv if a != '--report']
    if len(argv) > 1 or any(a.startswith('-') for a in argv):
        sys.stderr.write('usage: python -m tools.zuulcheck.validate '
                         '[--report] [REPOSITORY_ROOT]\n')
        return 2
    root = argv[0] if argv else '.'
    problems = validate(root)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    items = load(root)
    frozen = frozen_jobs(items)
    if show:
        nodesets = {c['name']: c for _, k, c in items if k == 'nodeset'}
        for job in frozen:
            print('\n'.join(freeze.report(job, root, nodesets, _UPSTREAM)))
    print('zuul.d: %d items valid (Zuul\'s loader and schemas, references, '
          'shipped defaults, plugin Python syntax); %d pipeline jobs frozen '
          'and checked' % (len(items), len(frozen)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
