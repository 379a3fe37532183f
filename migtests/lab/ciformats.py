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

"""Results in the formats CI systems read: JUnit XML (Jenkins, GitLab,
Zuul's test-result pages) and a subunit v2 stream (stestr, subunit2html),
one test per matrix or upgrade cell, per conformance row, per Tempest test
of a job -- its failure message the cell's reason.

The XML is written with the standard library: OpenStack's
global-requirements (openstack/requirements, checked by this project's
check-requirements job) lists no JUnit library; python-subunit, which
writes the stream, it does."""

import dataclasses
import datetime
import os
from xml.etree import ElementTree

import subunit

# A cell's outcome (report.Cell) as a test status: an unexpected refusal
# and a cell the lab could not run are failures too.
STATUS = {'ok': 'success', 'failed': 'fail', 'refused': 'fail',
          'not run': 'fail', 'FAILED': 'fail', 'SKIPPED': 'skip'}


@dataclasses.dataclass(frozen=True)
class Outcome:
    group: str          # JUnit's classname; the subunit id's first part
    name: str
    status: str         # 'success', 'fail' or 'skip'
    message: str = ''
    seconds: float = 0.0

    @property
    def id(self):
        return '%s.%s' % (self.group, self.name)


def of_cells(results):
    """A matrix's or an upgrade cloud's results.json, as outcomes: its
    cells, then its conformance rows."""
    found = [Outcome('%s_to_%s' % (c['source'], c['destination']),
                     c['case'], STATUS[c['outcome']],
                     c.get('error') or ('' if c['outcome'] == 'ok'
                                        else c['outcome']),
                     c.get('migration_seconds', 0.0))
             for c in results['cells']]
    found += [Outcome('conformance.%s' % r['suite'], r['row'],
                      'success' if r['agrees'] else 'fail',
                      '' if r['agrees'] else 'real %s; simulated %s'
                      % (r['real'], r['simulated']))
              for r in results.get('conformance', ())]
    return found


def of_job(record):
    """A job's results.json, as outcomes: each driver's Tempest tests (the
    job's subunit streams are Tempest's own, one per driver)."""
    return [Outcome(driver + '.' + group, name,
                    STATUS.get(t['status'], 'success'),
                    t.get('failure') or t.get('reason', ''),
                    t.get('seconds', 0.0))
            for driver, run in record['runs'].items()
            for t in run['tests'] for group, name in [_split(t['id'])]]


def _split(test_id):
    """(class, test) of a Tempest test id; a class skipped or failed in
    setUpClass as (class, 'setUpClass')."""
    if test_id.startswith('setUpClass ('):
        return test_id[len('setUpClass ('):].rstrip(')'), 'setUpClass'
    return tuple(test_id.split('[')[0].rsplit('.', 1))


def write(prefix, title, outcomes, stream=True):
    """``prefix``results.xml and (``stream``) ``prefix``results.subunit,
    each replaced whole."""
    failures = sum(o.status == 'fail' for o in outcomes)
    skipped = sum(o.status == 'skip' for o in outcomes)
    seconds = '%.3f' % sum(o.seconds for o in outcomes)
    root = ElementTree.Element('testsuites', name=title,
                               tests=str(len(outcomes)),
                               failures=str(failures), errors='0',
                               skipped=str(skipped), time=seconds)
    suite = ElementTree.SubElement(root, 'testsuite', name=title,
                                   tests=str(len(outcomes)),
                                   failures=str(failures), errors='0',
                                   skipped=str(skipped), time=seconds)
    for outcome in outcomes:
        case = ElementTree.SubElement(suite, 'testcase', name=outcome.name,
                                      classname=outcome.group,
                                      time='%.3f' % outcome.seconds)
        if outcome.status == 'fail':
            failure = ElementTree.SubElement(
                case, 'failure', message=outcome.message.splitlines()[0]
                if outcome.message else 'failed')
            failure.text = outcome.message
        elif outcome.status == 'skip':
            ElementTree.SubElement(case, 'skipped', message=outcome.message)
    tree = ElementTree.ElementTree(root)
    ElementTree.indent(tree)
    tree.write(prefix + 'results.xml.tmp', encoding='utf-8',
               xml_declaration=True)
    os.replace(prefix + 'results.xml.tmp', prefix + 'results.xml')
    if not stream:
        return
    with open(prefix + 'results.subunit.tmp', 'wb') as f:
        stream = subunit.StreamResultToBytes(f)
        now = datetime.datetime.now(datetime.timezone.utc)
        for outcome in outcomes:
            stream.status(test_id=outcome.id, test_status='inprogress',
                          timestamp=now)
            stream.status(test_id=outcome.id, test_status=outcome.status,
                          file_name='reason' if outcome.message else None,
                          file_bytes=outcome.message.encode()
                          if outcome.message else None,
                          mime_type='text/plain; charset=utf8'
                          if outcome.message else None,
                          eof=bool(outcome.message), timestamp=now)
    os.replace(prefix + 'results.subunit.tmp', prefix + 'results.subunit')
