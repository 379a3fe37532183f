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

"""What nova-compute really ran with: its own option dump, against Nova's
defaults.

    python -m migtests.cloud.optiondump LOG

``LOG`` is nova-compute's log (its journal on a devstack node).  At start
nova-compute logs every option with its value (oslo.config's
``log_opt_values``, at DEBUG, which devstack turns on); the last value
logged of each ``[libvirt] live_migration_*`` option is compared with the
default of the installed Nova.  Prints a JSON object {option: {"ran":
value, "default": value}} of those that differ and exits 1 when there are
any, 2 when the log holds no dump (nova-compute never started, or not at
DEBUG).
"""

import json
import re
import sys

# "libvirt.live_migration_uri     = None" as log_opt_values writes it
# (%-30s = %s), after whatever prefix the log line has.
_DUMPED = re.compile(r'\blibvirt\.(live_migration_\w+)\s+= (.*?)\s*'
                     r'(?:log_opt_values\b.*)?$')


def dumped(lines):
    """{option: value as logged}, the last dump's value of each."""
    found = {}
    for line in lines:
        match = _DUMPED.search(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def differences(ran, defaults):
    """{option: {'ran', 'default'}} where the logged value is not the
    default as log_opt_values would print it."""
    return {option: {'ran': value, 'default': str(defaults.get(option))}
            for option, value in sorted(ran.items())
            if value != str(defaults.get(option))}


def nova_defaults():
    """{option: default} of Nova's [libvirt] live_migration_* options."""
    from nova.conf import libvirt
    return {opt.dest: opt.default for opts in libvirt.list_opts().values()
            for opt in opts if opt.dest.startswith('live_migration_')}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print('usage: python -m migtests.cloud.optiondump LOG',
              file=sys.stderr)
        return 2
    try:
        with open(argv[0], errors='replace') as f:
            ran = dumped(f)
    except OSError as exc:
        print('optiondump: %s' % exc, file=sys.stderr)
        return 2
    if not ran:
        print('optiondump: no [libvirt] live_migration_* option in %s: '
              'nova-compute did not log its options (not started, or not '
              'at DEBUG)' % argv[0], file=sys.stderr)
        return 2
    found = differences(ran, nova_defaults())
    print(json.dumps(found, indent=1, sort_keys=True))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
