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

"""A cloud half upgraded: computes whose libvirt and QEMU come from
different Debian suites (the lab's suite chroots), nova-compute the job's.

Versions are data: each suite's libvirt and QEMU from chroots.SUITES (a
candidate's read from its chroot, built before anything starts), the
minimum a Nova series accepts from Nova itself (its libvirt driver's
MIN_LIBVIRT_VERSION / MIN_QEMU_VERSION), so a suite below it is refused
before anything starts rather than met as a nova-compute that exits.
"""

import dataclasses
import os
import warnings

from migtests.lab import chroots
from migtests.lab import lab
from migtests.lab.system import LabError
from reference.versions import Version

# What a mixed cloud runs instead of the job's selection: the job's
# scenarios pick their destination among both computes, and a migration
# from the newer compute to the older one is refused by Nova by design.
MODULE = 'migtests.api.compute.test_rolling_upgrade.'
CLASS = 'RollingUpgradeTest'
REGEX = '^' + MODULE.replace('.', r'\.')


def nova_minimum():
    """(Nova's version, its minimum libvirt, its minimum QEMU)."""
    with warnings.catch_warnings():
        # Nova's import chain warns that eventlet is deprecated.
        warnings.simplefilter('ignore')
        from nova.virt.libvirt import driver
        from nova import version  # noqa: H306 (Nova's own, after its driver)
    return (version.version_string(), driver.MIN_LIBVIRT_VERSION,
            driver.MIN_QEMU_VERSION)


def parse(text, default=None):
    """The suites of ``--computes SUITE,SUITE``, checked: known, two, and
    not below the Nova series' minimum; raises LabError (one line)."""
    if not text:
        own = default or chroots.machine_suite()
        return (own, own)
    suites = tuple(s.strip() for s in text.split(','))
    if len(suites) != 2 or not all(suites):
        raise LabError('--computes %s: two suites, e.g. bookworm,trixie'
                       % text)
    try:
        suites = tuple(chroots.known(suites))
    except chroots.BadSuite as exc:
        raise LabError('--computes: %s' % exc) from None
    nova, libvirt, qemu = nova_minimum()
    for name in suites:
        # A candidate's versions are its chroot's: built here, before the
        # cloud (BadSuite if its packages do not install).
        chosen = chroots.suite(name, CACHE)
        if Version.parse(chosen.libvirt) < libvirt or \
                Version.parse(chosen.qemu) < qemu:
            raise LabError(
                '--computes: %s has libvirt %s / QEMU %s, below nova %s\'s '
                'minimum (libvirt %s, QEMU %s): its nova-compute would not '
                'start' % (name, chosen.libvirt, chosen.qemu, nova,
                           Version(*libvirt), Version(*qemu)))
    return suites


def mixed(suites):
    return len(set(suites)) > 1


# The chroots' cache of the cloud's lab (its default root).
CACHE = os.path.join(lab.DEFAULT_ROOT, 'cache')


def suite(name):
    """The suite's or candidate's chroots.Suite, with its versions."""
    return chroots.suite(name, CACHE)


def describe(suites):
    """'compute1 bookworm (libvirt 9.0.0, QEMU 7.2), compute2 ...'."""
    return ', '.join('compute%d %s (libvirt %s, QEMU %s)' % (
        i + 1, s, suite(s).libvirt, suite(s).qemu)
        for i, s in enumerate(suites))


def profile_for(profile, suites):
    """The run's profile on computes of ``suites``: a mixed cloud runs the
    rolling-upgrade scenarios, under shipped defaults only."""
    if not mixed(suites):
        return profile
    if not profile.shipped_defaults:
        raise LabError('--computes %s with --profile %s: a mixed cloud runs '
                       'its scenarios under shipped defaults only'
                       % (','.join(suites), profile.name))
    return dataclasses.replace(
        profile, regex=REGEX, min_passed=len(SCENARIOS),
        why=profile.why + '; computes on %s' % describe(suites))


# --- every pair (migtests.cloud.rolling: tox -e upgrade) -------------------
# Each mixed-cloud scenario as a cell of the report: which direction it
# moves a guest in, and what it shows.  A mixed cloud's run wants all of
# them to pass.
SCENARIOS = {
    'test_older_to_newer_keeps_running': ('older-to-newer', 'guest keeps '
                                          'running'),
    'test_older_to_newer_with_attached_volume': ('older-to-newer',
                                                 'attached volume'),
    'test_newer_to_older_is_refused': ('newer-to-older', 'refused by Nova'),
}
TITLE = 'A rolling upgrade half done: Nova live migration between computes ' \
    'on different libvirt/QEMU'
ABOUT = ('each cell: the mixed-cloud scenarios that passed / run, with '
         'Nova\'s shipped defaults, per driver (upstream: Nova\'s own; '
         'reference: the reference driver inside nova-compute); from the '
         'older compute to the newer the guest must move and keep running, '
         'from the newer to the older Nova must refuse')


def pairs(suites):
    """Every unordered pair, older suite first (one cloud each: its two
    computes give both directions)."""
    return [(a, b) for i, a in enumerate(suites) for b in suites[i + 1:]]


def _scenarios(tests):
    """(test, scenario name) of a run's tests of the rolling-upgrade class
    (full ids, with their tags): a class that did not set up stands for
    each of its scenarios; a test of the class that is no scenario here is
    an error, never dropped."""
    for test in tests:
        test_id = test['id']
        if test_id == 'setUpClass (%s%s)' % (MODULE, CLASS):
            yield from ((test, name) for name in SCENARIOS)
            continue
        if not test_id.startswith(MODULE + CLASS + '.'):
            continue
        name = test_id.split('[')[0].rsplit('.', 1)[-1]
        if name not in SCENARIOS:
            raise LabError('rolling upgrade: %s is not a scenario of the '
                           'report (add it to upgrade.SCENARIOS)' % test_id)
        yield test, name


def cells(run_results, pair):
    """The report's cells (report.Cell fields) from one pair's
    results.json."""
    older, newer = sorted(pair, key=lambda s: Version.parse(
        suite(s).qemu))
    ends = {'older-to-newer': (older, newer),
            'newer-to-older': (newer, older)}
    found = []
    for driver, run in (run_results.get('runs') or {}).items():
        calls = {}
        for call in run.get('migrations') or []:
            calls.setdefault(call['test'], []).append(call)
        for test, name in _scenarios(run['tests']):
            direction, case = SCENARIOS[name]
            source, destination = ends[direction]
            mine = calls.get('%s.%s' % (CLASS, name), [])
            outcome = {'ok': 'ok', 'FAILED': 'failed'}.get(
                test['status'], 'not run')
            error = ''
            if outcome == 'failed':
                failed = [c['result'] for c in mine if c['result'] != 'ok']
                error = ('libvirt: %s' % failed[-1]) if failed else \
                    'see tempest-%s.log' % driver
            elif outcome == 'not run':
                error = test.get('reason') or 'skipped'
            refused = direction == 'newer-to-older' and outcome == 'ok'
            found.append(dict(
                source=source, destination=destination,
                case='%s: %s' % (driver, case), outcome=outcome,
                flags=mine[-1]['flags'] if mine else [],
                migration_seconds=test.get('seconds', 0.0), error=error,
                note='Nova refused, as designed: the instance requires a '
                     'newer hypervisor version' if refused else ''))
    return found
