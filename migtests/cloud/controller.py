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

"""Processes in the cloud's controller namespace: the small surface the
cloud's services (services.py) and Ceph (ceph.py) are started through.

One-shot commands (``manage``) and long-running services (``service``,
recorded by the lab, stopped by PID at teardown) run in the lab's service
namespace, each with its log in the results directory; ``await_ready``
polls for readiness and names a service that died meanwhile, with its
log's first error and last lines.
"""

import json
import os
import subprocess
import sys

from migtests.lab import system
from migtests.lab.system import LabError


class CloudError(LabError):
    """A step of the cloud failed; one line naming it (and its log)."""


class Controller:
    def __init__(self, lab, workdir, logs, venv):
        self.lab = lab
        self.workdir = workdir      # the services' working directory
        self.logs = logs
        self.venv = venv

    def log(self, name):
        return os.path.join(self.logs, name + '.log')

    def tail(self, name, lines=3):
        """The log's first error line (if any) and its last lines."""
        try:
            with open(self.log(name), errors='replace') as f:
                text = [line.strip() for line in f.read().splitlines()
                        if line.strip()]
        except FileNotFoundError:
            text = []
        errors = [line for line in text if ' ERROR ' in line]
        # The exception itself says more than the traceback's first line.
        raised = [line for line in errors
                  if 'Error:' in line or 'Exception:' in line]
        errors = raised[-1:] or errors[:1]
        return ' | '.join(errors + text[-lines:]) or '(empty log)'

    def bin(self, program):
        """A program of the cloud's venv (else from PATH)."""
        path = os.path.join(self.venv, 'bin', program)
        return path if os.path.exists(path) else program

    def env(self, **extra):
        env = dict(os.environ, **extra)
        env.pop('OS_CLOUD', None)
        return env

    def command(self, argv):
        """``argv`` as run in the controller's namespace."""
        return system.in_netns(self.lab.storage_ns, argv)

    def manage(self, name, argv, timeout=600):
        """A one-shot command in the controller's namespace."""
        argv = [self.bin(argv[0])] + list(argv[1:])
        with open(self.log(name), 'a') as log:
            log.write('$ %s\n' % ' '.join(argv))
            log.flush()
            try:
                proc = subprocess.run(
                    self.command(argv), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                    env=self.env())
            except subprocess.TimeoutExpired:
                raise CloudError('%s: no end after %d s (log %s)' % (
                    name, timeout, self.log(name))) from None
        if proc.returncode != 0:
            raise CloudError('%s failed (exit %d): %s [log %s]' % (
                name, proc.returncode, self.tail(name), self.log(name)))

    def service(self, name, argv, host=None, env=None):
        """Start a long-running service, recorded; readiness: await_ready.
        ``host``: in that lab host's namespaces instead."""
        return self.lab.spawn(name, argv, self.log(name), host=host,
                              env=env or self.env(), cwd=self.workdir)

    def await_ready(self, what, pending, processes, timeout=120):
        """Poll ``pending()`` (what is not there yet) until it is empty;
        a process of ``processes`` that dies meanwhile is named at once,
        with its log's first error and last lines."""
        last = {'pending': None}

        def done():
            for name, process in processes.items():
                if not process.alive():
                    raise CloudError('%s exited: %s [log %s]' % (
                        name, self.tail(name), self.log(name)))
            last['pending'] = pending()
            return not last['pending']
        try:
            system.wait_for(done, timeout, interval=0.5, what=what)
        except CloudError:
            raise
        except LabError:
            raise CloudError('%s: still waiting after %d s for %s' % (
                what, timeout, ', '.join(map(str, last['pending'])))) \
                from None

    def port_pending(self, port):
        return [] if self.lab.listening(port) else ['port %d' % port]

    def catalog(self, step, site_json):
        """A step through the APIs (migtests.cloud.catalog), run in the
        controller's namespace; its answer."""
        name = 'catalog-' + step
        with open(self.log(name), 'a') as log:
            proc = subprocess.run(
                self.command([sys.executable, '-m',
                              'migtests.cloud.catalog', step]),
                input=json.dumps(site_json), stdout=subprocess.PIPE,
                stderr=log, text=True, timeout=300, env=self.env())
        if proc.returncode != 0:
            raise CloudError('%s failed: %s [log %s]' % (
                name, self.tail(name, 2), self.log(name)))
        return json.loads(proc.stdout)
