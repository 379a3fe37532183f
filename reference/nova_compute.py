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
