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

"""nova-compute, with the reference driver where Nova's loader finds it.

Nova 34 loads ``[DEFAULT] compute_driver`` only from inside ``nova.virt``
(nova/virt/driver.py, load_compute_driver: ``'nova.virt.%s' %
compute_driver``), so a driver of another package cannot be named by its
own path.  This entry point runs Nova's own nova-compute with
``reference.nova_driver`` known as ``nova.virt.reference_libvirt``:

    python -m reference.nova_compute --config-file /etc/nova/nova.conf
    [DEFAULT] compute_driver = reference_libvirt.ReferenceLibvirtDriver

(in place of the nova-compute command of the service unit; everything
else is Nova's).
"""

import sys

ALIAS = 'nova.virt.reference_libvirt'
COMPUTE_DRIVER = 'reference_libvirt.ReferenceLibvirtDriver'


def main():
    # Nova's own starter first: it patches the threading backend before
    # anything of Nova is imported.
    from nova.cmd import compute
    from reference import nova_driver
    sys.modules[ALIAS] = nova_driver
    return compute.main()


if __name__ == '__main__':
    sys.exit(main())
