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

"""What every migtests command keeps: its errors one line on stderr,
"PROG: error: MESSAGE", and its exit status one of these.  The planner's
own command (reference.cli) keeps the same, on its own (the reference
never imports migtests)."""

import argparse
import sys

EXIT_OK = 0
EXIT_FAILED = 1         # it ran, and something failed
EXIT_BAD_INPUT = 2      # nothing was run
EXIT_REFUSED = 3        # the plan is a refusal (migtests plan)
EXIT_INTERRUPTED = 130  # SIGINT / SIGTERM: everything started was stopped


class BadInput(Exception):
    """Input the command cannot run with: one line, exit 2."""


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are BadInput, for the command to print
    as every other error."""

    def error(self, message):
        raise BadInput(message)


def error(prog, message):
    """Print one error line for ``prog``; newlines in ``message`` are
    folded."""
    sys.stderr.write('%s: error: %s\n' % (prog, ' '.join(
        str(message).split())))
