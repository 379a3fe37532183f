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

"""The guest's serial console as evidence: a counter that must carry on.

The lab's guest (and the image the local cloud boots) prints one boot line
and then an increasing counter; with an attached volume, also the counter
it keeps on that volume.  After a live migration the counter must
continue where it was -- a higher value, no second boot line -- or the
guest was restarted, not migrated.
"""

import re

COUNT_PREFIX = 'MIGTESTS-COUNT'
COUNT_PATTERN = COUNT_PREFIX + r' (\d+)'
BOOT_MARK = 'MIGTESTS-BOOT'
# With a second disk (an attached volume) the guest also keeps a counter
# on that disk, at this 512-byte sector (8 MiB in), and prints each value.
VOLUME_PREFIX = 'MIGTESTS-VOLUME'
VOLUME_PATTERN = VOLUME_PREFIX + r' (\d+)'
VOLUME_SECTOR = 16384
# With a CD-ROM (a config drive) the guest prints, every few seconds, its
# ISO 9660 volume label ('-' if none) and the SHA-256 of all its bytes,
# read past the guest's page cache.
CONFIG_DRIVE_PREFIX = 'MIGTESTS-CONFIG-DRIVE'
CONFIG_DRIVE_PATTERN = (CONFIG_DRIVE_PREFIX
                        + r' label=(\S+) sha256=([0-9a-f]{64})')
# What the guest prints when it read nothing at all.
EMPTY_SHA256 = ('e3b0c44298fc1c149afbf4c8996fb924'
                '27ae41e4649b934ca495991b7852b855')


def config_drives(text, pattern=CONFIG_DRIVE_PATTERN):
    """Every (label, sha256) the guest printed of its config drive."""
    return re.findall(pattern, text or '')


def counters(text, pattern=COUNT_PATTERN):
    """Every counter value printed, in order."""
    return [int(value) for value in re.findall(pattern, text or '')]


def boots(text, mark=BOOT_MARK):
    """How many times the guest printed its boot line."""
    return (text or '').count(mark)


def not_continued(last_before, after_text, pattern=COUNT_PATTERN,
                  mark=BOOT_MARK):
    """Why ``after_text`` does not continue a count that was at
    ``last_before``, or None when it does."""
    values = counters(after_text, pattern)
    if not values:
        return 'no counter printed after the migration'
    if boots(after_text, mark):
        return 'the guest booted again (%r printed)' % mark
    if values[0] <= last_before:
        return ('the counter restarted: %d after the migration, %d before'
                % (values[0], last_before))
    if values != sorted(values):
        return 'the counter went backwards: %s' % values
    return None


def not_kept_running(last_before, text, pattern=COUNT_PATTERN,
                     mark=BOOT_MARK):
    """Why the console of a guest that never left its host (``text``: all
    of it, its first boot included) does not show the count carrying on
    past ``last_before``, or None when it does."""
    values = counters(text, pattern)
    if boots(text, mark) > 1:
        return 'the guest booted again (%r printed %d times)' % (
            mark, boots(text, mark))
    if not values or values[-1] <= last_before:
        return 'no counter above %d: %s' % (last_before, values[-3:])
    if values != sorted(values):
        return 'the counter went backwards: %s' % values
    return None
