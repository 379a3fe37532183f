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

"""CI's closing line, "N passed, N failed", read from the subunit streams
the tests wrote: every run of the stestr repository (.stestr) and each
Tempest stream of the job (results/job/tempest-<driver>.subunit).

    python -m tools.citotals .stestr results/job

A test counts once per stream, by its last status: success and expected
failure pass; failure, unexpected success, and a test that started and
never ended fail; skips count in neither.
"""

import glob
import os
import sys

import subunit
import testtools

# Every subunit v2 packet starts with this byte.
_V2_SIGNATURE = b'\xb3'
PASSED = frozenset({'success', 'xfail'})
FAILED = frozenset({'fail', 'uxsuccess', 'inprogress'})


def streams(paths):
    """The subunit files under ``paths``: an stestr repository's numbered
    runs, a directory's *.subunit files, or files named."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted((p for p in glob.glob(os.path.join(path, '*'))
                             if os.path.basename(p).isdigit()),
                            key=lambda p: int(os.path.basename(p)))
            found += sorted(glob.glob(os.path.join(path, '*.subunit')))
        elif os.path.isfile(path):
            found.append(path)
    return found


def statuses(path):
    """test id -> its last status in one stream."""
    last = {}

    def ended(test):
        if test['status'] != 'exists':
            last[test['id']] = test['status']
    result = testtools.StreamToDict(ended)
    result.startTestRun()
    with open(path, 'rb') as f:
        if f.peek(1)[:1] == _V2_SIGNATURE:
            subunit.ByteStreamToStreamResult(
                f, non_subunit_name='stdout').run(result)
        else:   # stestr's repository keeps its runs as subunit v1
            subunit.ProtocolTestCase(f).run(
                testtools.ExtendedToStreamDecorator(result))
    result.stopTestRun()
    return last


def totals(paths):
    passed = failed = 0
    for path in streams(paths):
        found = statuses(path).values()
        passed += sum(s in PASSED for s in found)
        failed += sum(s in FAILED for s in found)
    return passed, failed


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print('usage: python -m tools.citotals PATH...', file=sys.stderr)
        return 2
    print('%d passed, %d failed' % totals(argv))
    return 0


if __name__ == '__main__':
    sys.exit(main())
