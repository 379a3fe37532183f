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

"""Console scripts of the parts behind an extra.

``pip install migtests`` is the Tempest plugin and the reference driver;
the lab (``migtests[lab]``) and the local cloud (``migtests[lab,cloud]``)
bring more.  Each script checks that its extras are installed before it
imports anything of them, and otherwise says in one line which extra to
install (exit 2), instead of a ModuleNotFoundError traceback.  The extras'
contents are read from the installed metadata (setup.cfg), not repeated.
"""

import importlib
import importlib.metadata
import re
import sys

from migtests import command

_NAME = re.compile(r'\s*([A-Za-z0-9][A-Za-z0-9._-]*)')


def _installed(name):
    try:
        importlib.metadata.version(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def missing(extra, requirements=None):
    """The distributions of ``extra`` that are not installed."""
    if requirements is None:
        requirements = importlib.metadata.requires('migtests') or []
    wanted = [r for r in requirements if re.search(
        r'''extra\s*==\s*['"]%s['"]''' % re.escape(extra), r)]
    return [_NAME.match(r).group(1) for r in wanted
            if not _installed(_NAME.match(r).group(1))]


def require(prog, *extras):
    absent = {extra: missing(extra) for extra in extras}
    absent = {extra: names for extra, names in absent.items() if names}
    if absent:
        command.error(prog, 'needs the %s extra%s (not installed: %s): pip '
                      'install "migtests[%s]"' % (
                          ' and '.join(absent),
                          's' if len(absent) > 1 else '',
                          ', '.join(n for names in absent.values()
                                    for n in names),
                          ','.join(extras)))
        sys.exit(command.EXIT_BAD_INPUT)


# The subcommands of ``migtests``: the extras each needs, the module
# whose main(argv, prog) runs it, and what it does.
SUBCOMMANDS = {
    'plan': ((), 'reference.cli', 'the reference driver\'s plan for a '
             'migration between two libvirt/QEMU hosts, or its refusal'),
    'lab': (('lab',), 'migtests.lab.cli', 'real libvirt hosts on this '
            'machine: up, status, down, bench, soak'),
    'matrix': (('lab',), 'migtests.lab.matrix_cli', 'the upgrade matrix '
               'across Debian\'s libvirt/QEMU, or what changed between two '
               'runs'),
    'job': (('lab', 'cloud'), 'migtests.cloud.job', 'the Zuul job\'s '
            'scenarios on a local two-compute OpenStack cloud'),
    'upgrade': (('lab', 'cloud'), 'migtests.cloud.rolling', 'the local '
                'cloud with its computes on every pair of suites: the '
                'rolling-upgrade report'),
    'compare': (('lab', 'cloud'), 'migtests.cloud.migrations', 'the two '
                'drivers\' comparison of a job run, written again'),
    'image': (('lab', 'cloud'), 'migtests.cloud.diskimage', 'build the '
              'counter guest\'s whole-disk image for Glance'),
}


def _dispatch(name, argv, prog=None):
    extras, module, _ = SUBCOMMANDS[name]
    prog = prog or 'migtests %s' % name
    require(prog, *extras)
    return importlib.import_module(module).main(argv, prog)


def main(argv=None):
    """migtests SUBCOMMAND [ARGS]: every command of the project."""
    argv = sys.argv[1:] if argv is None else list(argv)
    width = max(map(len, SUBCOMMANDS))
    usage = 'usage: migtests SUBCOMMAND [ARGS] (migtests SUBCOMMAND --help)'
    if not argv:
        command.error('migtests', 'a subcommand is needed: %s (migtests '
                      '--help)' % ', '.join(SUBCOMMANDS))
        return command.EXIT_BAD_INPUT
    if argv[0] in ('-h', '--help'):
        print('\n'.join([usage, '', 'subcommands:'] + [
            '  %-*s  %s' % (width, name, about)
            for name, (_, _, about) in SUBCOMMANDS.items()] + [
            '', 'Exit status: 0 done, 1 a run that failed, 2 bad input, 3 a '
            'refused plan, 130 interrupted. Results go under --output '
            '(default: results/ of the working directory).']))
        return command.EXIT_OK
    if argv[0] not in SUBCOMMANDS:
        command.error('migtests', 'unknown subcommand %r: choose from %s'
                      % (argv[0], ', '.join(SUBCOMMANDS)))
        return command.EXIT_BAD_INPUT
    return _dispatch(argv[0], argv[1:])


# The older console scripts, kept for the README's and tox's commands.
def lab():
    return _legacy('lab')


def matrix():
    return _legacy('matrix')


def job():
    return _legacy('job')


def _legacy(name):
    return _dispatch(name, sys.argv[1:], 'migtests-%s' % name)
