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

"""The counter guest as a whole-disk bootable image for Glance.

The lab's kernel + initramfs (migtests.lab.guestimage), put on a FAT16
partition behind an MBR with SYSLINUX, so that SeaBIOS boots it and Nova
needs no ``kernel_id``/``ramdisk_id``: AKI/ARI images trip Nova's deep image
inspection in live migration (doc/source/cloud.md, known issues).  Built
from Debian's syslinux, mtools, dosfstools and fdisk, as files only:
nothing is mounted and no loop device is used.
"""

import hashlib
import os
import shutil
import sys
import tempfile

from migtests import command
from migtests.lab import guestimage
from migtests.lab.system import LabError
from migtests.lab.system import run

SIZE_MIB = 64
PARTITION_START = 2048                       # sectors of 512 bytes: 1 MiB
OFFSET_BYTES = PARTITION_START * 512
MBR_CODE = '/usr/lib/syslinux/mbr/mbr.bin'   # Debian syslinux-common
DISK_ID = '0x6d696774'                       # "migt"
# The guest holds its ballast of random data and, for QEMU 7.2 whose TCG
# dirty tracking is unreliable, never rewrites memory.
COMMAND_LINE = guestimage.command_line(dirty_mib=0)

SYSLINUX_CFG = '''\
SERIAL 0 115200
DEFAULT counter
PROMPT 0
TIMEOUT 0
LABEL counter
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND %s
''' % COMMAND_LINE


def build(cache_dir, source=None):
    """The cached raw disk image (path), built first if needed; the guest's
    packages from ``source`` (guestimage.DebianSource) when given."""
    image = guestimage.build(cache_dir, source)
    digest = hashlib.sha256()
    for path in (image.kernel, image.initrd):
        with open(path, 'rb') as f:
            digest.update(f.read())
    digest.update(SYSLINUX_CFG.encode())
    final = os.path.join(cache_dir, 'disk-%s.raw'
                         % digest.hexdigest()[:12])
    if os.path.exists(final):
        return final
    work = tempfile.mkdtemp(prefix='disk-build-', dir=cache_dir)
    try:
        _assemble(work, image)
        os.rename(os.path.join(work, 'disk.raw'), final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _assemble(work, image):
    if not os.path.exists(MBR_CODE):
        raise LabError('%s missing: install syslinux-common (bindep -b '
                       'cloud)' % MBR_CODE)
    disk = os.path.join(work, 'disk.raw')
    with open(disk, 'wb') as f:
        f.truncate(SIZE_MIB * 1024 * 1024)
    # One bootable FAT16 (type 6) partition from 1 MiB to the end; a fixed
    # disk identifier (sfdisk draws one at random otherwise), so that the
    # same packages give the same image, byte for byte.
    run(['sfdisk', '-q', disk], input='label: dos\nlabel-id: %s\n%d,,6,*\n'
        % (DISK_ID, PARTITION_START))
    with open(MBR_CODE, 'rb') as f:
        boot_code = f.read(440)
    with open(disk, 'r+b') as f:
        f.write(boot_code)
    env = dict(os.environ, SOURCE_DATE_EPOCH='0', MTOOLS_SKIP_CHECK='1')
    # mkfs.fat: --offset in sectors, the block count in KiB.
    blocks_kib = (SIZE_MIB * 1024 * 1024 - OFFSET_BYTES) // 1024
    run(['mkfs.fat', '-F', '16', '-n', 'MIGTESTS', '--invariant',
         '--offset', str(PARTITION_START), disk, str(blocks_kib)], env=env)
    config = os.path.join(work, 'syslinux.cfg')
    with open(config, 'w') as f:
        f.write(SYSLINUX_CFG)
    # mcopy and syslinux take the partition's offset in bytes.
    target = '%s@@%d' % (disk, OFFSET_BYTES)
    for source, name in ((image.kernel, 'vmlinuz'),
                         (image.initrd, 'initrd.img'),
                         (config, 'syslinux.cfg')):
        run(['mcopy', '-i', target, source, '::' + name], env=env)
    run(['syslinux', '--install', '--offset', str(OFFSET_BYTES), disk],
        env=env)


def main(argv=None, prog='python -m migtests.cloud.diskimage'):
    """Build the image and print its path: what a Zuul node runs before it
    uploads the counter image to Glance (devstack/plugin.sh)."""
    parser = command.Parser(
        prog=prog,
        description='Build the whole-disk counter guest image (raw) and '
                    'print its path.')
    parser.add_argument('cache_dir', help='where the image is cached')
    parser.add_argument('--debian-mirror', metavar='URL',
                        help="Debian's packages from this mirror, for a "
                             'machine whose apt is not Debian\'s')
    parser.add_argument('--debian-security-mirror', metavar='URL',
                        help="Debian's security archive (default: the "
                             "mirror's sibling, URL-security)")
    parser.add_argument('--debian-suite', default='bookworm',
                        help='the Debian suite of the guest kernel and '
                             'busybox (default: %(default)s)')
    try:
        args = parser.parse_args(argv)
    except command.BadInput as exc:
        command.error(prog, exc)
        return command.EXIT_BAD_INPUT
    source = guestimage.DebianSource(
        args.debian_mirror, args.debian_suite,
        args.debian_security_mirror) if args.debian_mirror else None
    try:
        os.makedirs(args.cache_dir, exist_ok=True)
        print(build(os.path.abspath(args.cache_dir), source))
    except (LabError, OSError) as exc:
        command.error(prog, exc)
        return command.EXIT_FAILED
    return command.EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
