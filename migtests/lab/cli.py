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

"""migtests-lab: bring the lab up or down, show it, benchmark it.

    migtests lab up [--name N] [--hosts N]   start a lab and leave it running
    migtests lab status [--name N]           what runs (JSON)
    migtests lab down [--name N]             stop everything it started
    migtests lab bench [--output FILE]       real-migration figures (own lab)
    migtests lab soak [--rounds N] [--seed S]  up and down under random kills
    migtests lab repro FINDING [--suites A,B]  a libvirt/QEMU finding, again
    migtests lab debs --suites CANDIDATE --into DIR  the .deb files the
                                             candidate installed, into DIR

Exit status: 0 done (repro: the defect showed), 1 a lab step failed, soak
left something behind or repro did not show the defect (one line on
stderr), 2 bad input, 130 interrupted.
"""

import json
import os
import sys

from migtests import command
from migtests.lab import bench
from migtests.lab import chroots
from migtests.lab.lab import Lab
from migtests.lab import repro
from migtests.lab import soak
from migtests.lab import sourcebuild
from migtests.lab.system import LabError


def build_parser(prog='migtests-lab'):
    parser = command.Parser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=('up', 'down', 'status', 'bench',
                                            'soak', 'repro', 'debs'))
    parser.add_argument('finding', nargs='?', choices=sorted(repro.REPROS),
                        help='the finding to reproduce (repro)')
    parser.add_argument('--suites', metavar='SOURCE,DESTINATION',
                        help='other suites than the finding\'s (repro); '
                        'the candidate (debs); each %s' % chroots.HELP)
    parser.add_argument('--into', metavar='DIR', help='where the '
                        'candidate\'s .deb files go (debs)')
    parser.add_argument('--name', default='lab', help='lab name (up to 6 '
                        'letters or digits)')
    parser.add_argument('--hosts', type=int, default=2, choices=range(2, 9),
                        metavar='2..8', help='libvirt hosts (up)')
    parser.add_argument('--output', default=os.path.join('results',
                                                         'lab-bench.json'),
                        help='JSON figures (bench; default: %(default)s, '
                        'under the working directory)')
    parser.add_argument('--count', type=int, default=10,
                        help='ping-pong migrations (bench)')
    parser.add_argument('--rounds', type=int, default=10, choices=range(
        1, 1001), metavar='1..1000', help='rounds (soak)')
    parser.add_argument('--seed', type=int, default=1, help='seed of the '
                        'random kills (soak)')
    sourcebuild.add_arguments(parser)
    return parser


def _suites(text):
    """Suites or candidates, checked; BadInput."""
    try:
        return chroots.known([s.strip() for s in text.split(',')
                              if s.strip()])
    except chroots.BadSuite as exc:
        raise command.BadInput(str(exc)) from None


def main(argv=None, prog='migtests-lab'):
    try:
        args = build_parser(prog).parse_args(argv)
        suites = None
        if args.command == 'repro':
            if not args.finding:
                raise command.BadInput('repro needs a finding: %s'
                                       % ', '.join(sorted(repro.REPROS)))
            if args.suites:
                suites = _suites(args.suites)
                if len(suites) != 2:
                    raise command.BadInput('--suites takes SOURCE,'
                                           'DESTINATION')
            sourcebuild.use(args)
            skipped = chroots.unavailable(
                suites or repro.REPROS[args.finding].suites)
            if skipped:
                raise command.BadInput(sorted(skipped.values())[0])
        if args.command == 'debs':
            suites = _suites(args.suites or '')
            if len(suites) != 1 or not chroots.suite(suites[0]).base \
                    or not args.into:
                raise command.BadInput('debs takes --suites CANDIDATE '
                                       '(BASE+SOURCE...) and --into DIR')
        if os.geteuid() != 0:
            raise command.BadInput('the lab needs root (network namespaces, '
                                   'mounts)')
    except command.BadInput as exc:
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    try:
        if args.command == 'debs':
            debs = chroots.download(Lab(args.name).cache, suites[0],
                                    args.into)
            print('%d .deb files of %s in %s' % (len(debs), suites[0],
                                                 args.into))
            return command.EXIT_OK
        if args.command == 'repro':
            return command.EXIT_OK if repro.run(args.finding, suites) \
                else command.EXIT_FAILED
        if args.command == 'bench':
            print(bench.render(bench.run(args.output, count=args.count)))
            print('figures written to %s' % args.output)
            return command.EXIT_OK
        if args.command == 'soak':
            rounds = soak.run(args.rounds, args.seed)
            dirty = [r for r in rounds if r.leftovers]
            if dirty:
                raise LabError('%d of %d rounds left something behind'
                               % (len(dirty), len(rounds)))
            print('%d rounds, nothing left behind' % len(rounds))
            return command.EXIT_OK
        lab = Lab(args.name, hosts=args.hosts)
        if args.command == 'up':
            lab.up()
            print(json.dumps(lab.status(), indent=1))
            for host in lab.hosts:
                print('%s: %s (address %s)'
                      % (host.name, host.uri, host.address))
        elif args.command == 'down':
            lab.down()
            leftovers = lab.leftovers()
            if leftovers:
                raise LabError('left behind: %s' % ', '.join(leftovers))
            print('lab %s is down' % args.name)
        else:
            print(json.dumps(lab.status(), indent=1))
    except chroots.BadSuite as exc:     # a candidate that does not install
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    except LabError as exc:
        command.error(prog, exc)
        return command.EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write('%s: interrupted; run "%s down --name %s" to clean '
                         'up\n' % (prog, prog, args.name))
        return command.EXIT_INTERRUPTED
    return command.EXIT_OK
