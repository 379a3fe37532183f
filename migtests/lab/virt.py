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

"""The libvirt binding, imported on first use, and bounded calls to it.

The lab's modules import without python3-libvirt (the unit tests and every
``--help`` run where it is absent); whatever talks to libvirt asks
``libvirt()`` for the module.
"""

import importlib
import threading


def libvirt():
    """The libvirt module (imported once, by Python, on the first call)."""
    return importlib.import_module('libvirt')


def answers(conn, timeout=5.0):
    """Whether a libvirt connection still reaches a working daemon.  A
    hung daemon never answers, and without a client event loop libvirt's
    keepalive does not end the call: it is bounded here."""
    def ask():
        try:
            conn.getLibVersion()
            return True
        except libvirt().libvirtError:
            return False
    return within(timeout, ask)


def connects(host, timeout):
    """Whether the host's daemon accepts a new connection within
    ``timeout`` seconds (a hung daemon would block the caller for ever)."""
    def attempt():
        try:
            host.connect().close()
            return True
        except Exception:
            return False
    return within(timeout, attempt)


def within(timeout, call):
    """``call()``'s result if it returns within ``timeout`` seconds, else
    False; the call is left to end in its own (daemon) thread."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(call()),
                              daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def job_type(domain):
    """The domain's current job type (VIR_DOMAIN_JOB_*); raises
    libvirtError when the domain is gone."""
    module = libvirt()
    return domain.jobStats().get('type', module.VIR_DOMAIN_JOB_NONE)


def idle_job(kind):
    module = libvirt()
    return kind in (module.VIR_DOMAIN_JOB_NONE,
                    module.VIR_DOMAIN_JOB_COMPLETED)
