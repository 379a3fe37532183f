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

import importlib.metadata
import re
import sys

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


def require(command, *extras):
    absent = {extra: missing(extra) for extra in extras}
    absent = {extra: names for extra, names in absent.items() if names}
    if absent:
        sys.stderr.write('%s: needs the %s extra%s (not installed: %s): pip '
                         'install "migtests[%s]"\n' % (
                             command, ' and '.join(absent),
                             's' if len(absent) > 1 else '',
                             ', '.join(n for names in absent.values()
                                       for n in names),
                             ','.join(extras)))
        sys.exit(2)


def lab():
    require('migtests-lab', 'lab')
    from migtests.lab import cli
    cli.run()


def matrix():
    require('migtests-matrix', 'lab')
    from migtests.lab import matrix_cli
    matrix_cli.run()


def job():
    require('migtests-job', 'lab', 'cloud')
    from migtests.cloud import job
    sys.exit(job.main())
