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

"""A simulated ``libvirt`` Python module for the unit tests.

It mimics the parts of the binding the act layer uses (constants,
``libvirtError``, ``virConnect``, ``virDomain``) so tests can put it in
``sys.modules['libvirt']``; its migrations are decided by the behaviour
table of reference.behaviour (re-exported here for the tests).
"""

from reference.behaviour import BEHAVIOUR  # noqa: F401
from reference.behaviour import Call
from reference.behaviour import DAEMON_DIED  # noqa: F401
from reference.behaviour import evaluate
from reference.behaviour import Outcome  # noqa: F401
from reference.versions import FLAG_SINCE

# Values of libvirt's enums (libvirt-domain.h, virerror.h).
VIR_MIGRATE_LIVE = 1 << 0
VIR_MIGRATE_PEER2PEER = 1 << 1
VIR_MIGRATE_TUNNELLED = 1 << 2
VIR_MIGRATE_PERSIST_DEST = 1 << 3
VIR_MIGRATE_UNDEFINE_SOURCE = 1 << 4
VIR_MIGRATE_PAUSED = 1 << 5
VIR_MIGRATE_NON_SHARED_DISK = 1 << 6
VIR_MIGRATE_NON_SHARED_INC = 1 << 7
VIR_MIGRATE_CHANGE_PROTECTION = 1 << 8
VIR_MIGRATE_UNSAFE = 1 << 9
VIR_MIGRATE_OFFLINE = 1 << 10
VIR_MIGRATE_COMPRESSED = 1 << 11
VIR_MIGRATE_ABORT_ON_ERROR = 1 << 12
VIR_MIGRATE_AUTO_CONVERGE = 1 << 13
VIR_MIGRATE_RDMA_PIN_ALL = 1 << 14
VIR_MIGRATE_POSTCOPY = 1 << 15
VIR_MIGRATE_TLS = 1 << 16
VIR_MIGRATE_PARALLEL = 1 << 17
VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES = 1 << 18
VIR_MIGRATE_POSTCOPY_RESUME = 1 << 19
VIR_MIGRATE_ZEROCOPY = 1 << 20

VIR_ERR_INTERNAL_ERROR = 1
VIR_ERR_NO_SUPPORT = 3
VIR_ERR_INVALID_ARG = 8
VIR_ERR_OPERATION_FAILED = 9
VIR_ERR_SYSTEM_ERROR = 38
VIR_ERR_AUTH_FAILED = 45
VIR_ERR_NO_STORAGE_POOL = 49
VIR_ERR_OPERATION_INVALID = 55
VIR_ERR_CONFIG_UNSUPPORTED = 67
VIR_ERR_ARGUMENT_UNSUPPORTED = 74
VIR_ERR_OPERATION_ABORTED = 78
VIR_ERR_MIGRATE_UNSAFE = 81
VIR_ERR_OPERATION_UNSUPPORTED = 84

# virDomainGetJobStats: the statistics of the last completed job.
VIR_DOMAIN_JOB_STATS_COMPLETED = 1 << 0

FLAG_VALUES = {name: globals()[name] for name in FLAG_SINCE}


def flag_names(value):
    return frozenset(n for n, bit in FLAG_VALUES.items() if value & bit)


# --- the parts of the libvirt Python module that the act layer uses -------

class libvirtError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self._code, self._message = code, message

    def get_error_code(self):
        return self._code

    def get_error_message(self):
        return self._message


class virConnect:
    def __init__(self, host, kvm=False):
        self.host = host
        self._kvm = kvm

    def getLibVersion(self):
        v = self.host.libvirt
        return v.major * 1000000 + v.minor * 1000 + v.micro

    def getVersion(self):
        v = self.host.qemu
        return v.major * 1000000 + v.minor * 1000 + v.micro

    def getType(self):
        return 'QEMU'

    def virConnResetLastError(self):
        pass

    def virConnGetLastError(self):
        return None     # errors here always carry their message

    def getCapabilities(self):
        domains = "<domain type='qemu'/>" + (
            "<domain type='kvm'/>" if self._kvm else '')
        return ("<capabilities><guest><os_type>hvm</os_type>"
                "<arch name='x86_64'>%s</arch></guest></capabilities>"
                % domains)


class virDomain:
    """A guest on a simulated host; migrations are decided by BEHAVIOUR.

    ``world`` maps destination URIs to the destination's HostCapabilities.
    ``missing_apis`` names APIs the simulated binding or daemon lacks.
    """

    def __init__(self, host, world, disks=(), shared_storage=False,
                 paused=False, guest_hypervisor='qemu', missing_apis=()):
        self.host, self.world = host, world
        self.disks, self.shared_storage = tuple(disks), shared_storage
        self.paused, self.guest_hypervisor = paused, guest_hypervisor
        self.missing_apis = frozenset(missing_apis)
        self.migrations = []     # (api, uri, Outcome) of accepted calls
        self.max_downtime = []   # values passed to migrateSetMaxDowntime

    def __getattribute__(self, name):
        if name in object.__getattribute__(self, 'missing_apis'):
            raise AttributeError(name)
        return object.__getattribute__(self, name)

    def connect(self):
        return virConnect(self.host)

    def _migrate(self, api, uri, params, flags):
        call = Call(self.host, self.world[uri], flag_names(flags), params,
                    self.disks, self.shared_storage, self.paused,
                    self.guest_hypervisor, api)
        outcome = evaluate(call)
        if outcome.error:
            raise libvirtError(globals()[outcome.error], outcome.message)
        self.migrations.append((api, uri, outcome))

    def migrateToURI3(self, dconnuri, params, flags):
        self._migrate('migrateToURI3', dconnuri, params, flags)

    def migrateToURI2(self, dconnuri, miguri, dxml, flags, dname, bandwidth):
        params = {k: v for k, v in (('migrate_uri', miguri),
                                    ('destination_xml', dxml),
                                    ('destination_name', dname),
                                    ('bandwidth', bandwidth)) if v}
        self._migrate('migrateToURI2', dconnuri, params, flags)

    def migrateToURI(self, duri, flags, dname, bandwidth):
        params = {k: v for k, v in (('destination_name', dname),
                                    ('bandwidth', bandwidth)) if v}
        self._migrate('migrateToURI', duri, params, flags)

    def migrateSetMaxDowntime(self, downtime, flags=0):
        self.max_downtime.append(downtime)

    def abortJob(self):
        raise libvirtError(VIR_ERR_OPERATION_INVALID,
                           'operation invalid: no job is active')
