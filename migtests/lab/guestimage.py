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

"""A tiny real Linux guest: Debian's cloud kernel + a busybox initramfs.

Built from Debian packages without installing them (``apt-get download``,
``dpkg-deb --fsys-tarfile``), cached, and replaced atomically.  The guest's
/init prints one boot line, keeps rewriting a buffer in RAM (so live
migration always has dirty pages to chase) and prints an increasing counter
on the serial console: the counter carrying on after a migration proves the
guest was not rebooted.  The initramfs (newc cpio) is written with
libarchive, the well-kept archive library, through libarchive-c.
"""

import dataclasses
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

from migtests import console
from migtests.lab import system
from migtests.lab.system import LabError
from migtests.lab.system import run


# The modules /dev/vd* needs, and /dev/sr0 (a config drive: Nova attaches
# it as an IDE CD-ROM on its default x86 machine type 'pc'; the cloud kernel
# has no AHCI for q35's SATA); their dependencies are added from .modinfo.
_MODULES = ('virtio_pci', 'virtio_blk', 'ata_piix', 'sr_mod')
# Where the kernel package keeps them and everything they depend on.
_MODULE_DIRS = ('/drivers/virtio/', '/drivers/block/', '/drivers/ata/',
                '/drivers/scsi/', '/drivers/cdrom/')

_INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "%(boot)s"
for m in %(modules)s; do insmod /lib/modules/$m.ko 2>/dev/null; done
# migtests.ballast=N: N MiB of random data written once, so that every
# migration has real memory to copy (a bandwidth limit then holds the job
# in pre-copy long enough to act on it) without the guest dirtying pages
# while it moves.
ballast=$(sed -n 's/.*migtests\.ballast=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$ballast" ] && [ "$ballast" -gt 0 ]; then
    mkdir -p /run/ballast
    mount -t tmpfs -o size=$((ballast + 4))m tmpfs /run/ballast
    dd if=/dev/urandom of=/run/ballast/a bs=1M count=$ballast 2>/dev/null
fi
# migtests.dirty=N on the kernel command line: rewrite N MiB of RAM in a loop.
dirty=$(sed -n 's/.*migtests\.dirty=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$dirty" ] && [ "$dirty" -gt 0 ]; then
    mkdir -p /run/dirty
    mount -t tmpfs -o size=$((dirty * 2 + 8))m tmpfs /run/dirty
    dd if=/dev/urandom of=/run/dirty/a bs=1M count=$dirty 2>/dev/null
    ( while :; do cp /run/dirty/a /run/dirty/b; done ) &
fi
# A second disk (an attached volume) carries a counter of its own, at a
# sector clear of the lab's test pattern, read and written past the page
# cache: it goes on after a migration only if the volume came along.
n=0
while :; do
    n=$((n + 1))
    echo "%(count)s $n"
    if [ -b /dev/vdb ]; then
        v=$(dd if=/dev/vdb bs=512 skip=%(sector)d count=1 iflag=direct \
            2>/dev/null | tr -dc 0-9)
        v=$(( ${v:-0} + 1 ))
        printf '%%-511s\n' "$v" | dd of=/dev/vdb bs=512 seek=%(sector)d \
            count=1 conv=notrunc oflag=direct 2>/dev/null \
            && echo "%(volume)s $v"
    fi
    # A CD-ROM (a config drive): its ISO 9660 volume label and the
    # checksum of all of it, read past the page cache every 25 counts, so
    # that what the destination's disk holds after a migration shows.
    if [ -b /dev/sr0 ] && [ $((n %% 25)) -eq 1 ]; then
        label=$(dd if=/dev/sr0 bs=2048 skip=16 count=1 iflag=direct \
            2>/dev/null | dd bs=1 skip=40 count=32 2>/dev/null \
            | tr -dc 'A-Za-z0-9_.-')
        sum=$(dd if=/dev/sr0 bs=2048 iflag=direct 2>/dev/null | sha256sum)
        echo "%(config)s label=${label:--} sha256=${sum%%%% *}"
    fi
    usleep 200000
done
'''


# MiB of random data a guest that does not dirty memory holds in RAM
# (written once at boot): at the fault tests' 4 MiB/s the job stays in
# pre-copy for seconds, not a moment.
BALLAST_MIB = 32


def command_line(dirty_mib=0):
    """The kernel command line the init above reads.  A dirtying guest
    holds its own random data: ballast on top of it ran a 128 MiB guest out
    of memory (QEMU >= 10 hosts)."""
    return ('console=ttyS0 quiet panic=-1 migtests.dirty=%d '
            'migtests.ballast=%d' % (dirty_mib,
                                     0 if dirty_mib else BALLAST_MIB))


@dataclasses.dataclass(frozen=True)
class GuestImage:
    kernel: str
    initrd: str


@dataclasses.dataclass(frozen=True)
class DebianSource:
    """Debian's packages from a mirror, for a machine whose own apt has
    none: an Ubuntu CI node builds the same guest from Debian's kernel and
    busybox, trusting Debian's archive key (debian-archive-keyring)."""
    mirror: str
    suite: str
    # The security archive (where Debian's current kernel is): by default
    # the mirror's sibling, as Debian's own archives are laid out
    # (.../debian and .../debian-security).
    security: str = None
    keyring: str = '/usr/share/keyrings/debian-archive-keyring.gpg'

    def sources(self):
        """The sources.list lines: the suite and its updates from the
        mirror, its security updates from the security archive."""
        security = self.security or self.mirror.rstrip('/') + '-security'
        return ''.join('deb [signed-by=%s] %s %s main\n' % (
            self.keyring, url.rstrip('/'), suites) for url, suites in (
                (self.mirror, '%s %s-updates' % (self.suite, self.suite)),
                (security, '%s-security' % self.suite)))

    def apt_options(self, root):
        """apt-get options for a package list of its own under ``root``:
        the machine's sources, pins and package state are not read."""
        if not os.path.exists(self.keyring):
            raise LabError('%s missing: install debian-archive-keyring'
                           % self.keyring)
        for sub in ('state/lists/partial', 'cache/archives/partial',
                    'parts'):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        sources = os.path.join(root, 'sources.list')
        with open(sources, 'w') as f:
            f.write(self.sources())
        parts = os.path.join(root, 'parts')
        return ['-o', 'Dir::Etc::sourcelist=' + sources,
                '-o', 'Dir::Etc::sourceparts=' + parts,
                '-o', 'Dir::Etc::preferences=/dev/null',
                '-o', 'Dir::Etc::preferencesparts=' + parts,
                '-o', 'Dir::State=' + os.path.join(root, 'state'),
                '-o', 'Dir::Cache=' + os.path.join(root, 'cache'),
                '-o', 'APT::Sandbox::User=root']


def _download(package, directory, options=()):
    """``package``'s .deb in ``directory``, by ``apt-get download`` with
    the machine's package lists or those ``options`` name."""
    cmd = ['apt-get'] + list(options)
    if run(cmd + ['download', package], cwd=directory, timeout=300,
           check=False).returncode != 0:
        # A machine whose package lists were never fetched knows no package.
        run(cmd + ['update', '-q'], timeout=300)
        proc = run(cmd + ['download', package], cwd=directory, timeout=300,
                   check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ['no output'])[-1]
            raise LabError('apt-get download %s failed: %s' % (package, last))
    debs = glob.glob(os.path.join(directory, '%s_*.deb' % package))
    if not debs:
        raise LabError('apt-get download %s produced no package' % package)
    return debs[0]


def _kernel_package(directory, options=()):
    """The versioned image package the linux-image-cloud-amd64 meta needs."""
    meta = _download('linux-image-cloud-amd64', directory, options)
    depends = run(['dpkg-deb', '-f', meta, 'Depends']).stdout
    match = re.search(r'(linux-image-[0-9][^\s,|]*-cloud-amd64)', depends)
    if not match:
        raise LabError('cannot find the kernel package in %r' % depends)
    return _download(match.group(1), directory, options)


def _members(deb, wanted):
    """The files of a .deb matching ``wanted(name)``: name -> bytes."""
    found = {}
    with tempfile.TemporaryFile() as tar_file:
        try:
            subprocess.run(['dpkg-deb', '--fsys-tarfile', deb],
                           stdout=tar_file, stderr=subprocess.PIPE,
                           check=True, timeout=300)
        except subprocess.CalledProcessError as exc:
            raise LabError('dpkg-deb cannot read %s: %s' % (
                deb, exc.stderr.decode(errors='replace').strip())) from None
        tar_file.seek(0)
        with tarfile.open(fileobj=tar_file) as tar:
            for member in tar:
                if member.isfile() and wanted(member.name):
                    found[member.name] = tar.extractfile(member).read()
    return found


def _depends(module_bytes):
    match = re.search(rb'depends=([\w,-]*)\x00', module_bytes)
    return [d for d in (match.group(1).decode().split(',') if match else [])
            if d]


def _module_order(modules, wanted):
    """Dependencies first, each module once."""
    order = []

    def visit(name):
        if name in order:
            return
        if name not in modules:
            raise LabError('kernel module %s not found in the package' % name)
        for dep in _depends(modules[name]):
            visit(dep)
        order.append(name)
    for name in wanted:
        visit(name)
    return order


def _write_initramfs(path, busybox, modules, order):
    import libarchive  # the lab extra; imported here so that listing
    # tools (check-uuid) can import this module without it
    init = (_INIT % {'boot': console.BOOT_MARK,
                     'count': console.COUNT_PREFIX,
                     'volume': console.VOLUME_PREFIX,
                     'config': console.CONFIG_DRIVE_PREFIX,
                     'sector': console.VOLUME_SECTOR,
                     'modules': ' '.join(order)}).encode()
    # Every entry dated 0 and gzip without a name or date: the same
    # packages give the same initramfs, byte for byte.
    fixed = {'mtime': 0, 'atime': 0, 'ctime': 0}
    with libarchive.file_writer(path, 'cpio_newc', 'gzip',
                                options='gzip:!timestamp') as archive:
        for directory in ('bin', 'dev', 'proc', 'sys', 'run', 'tmp', 'lib',
                          'lib/modules'):
            archive.add_file_from_memory(directory, 0, b'', filetype=0o040000,
                                         permission=0o755, **fixed)
        archive.add_file_from_memory('init', len(init), init,
                                     permission=0o755, **fixed)
        archive.add_file_from_memory('bin/busybox', len(busybox), busybox,
                                     permission=0o755, **fixed)
        for name in order:
            data = modules[name]
            archive.add_file_from_memory('lib/modules/%s.ko' % name,
                                         len(data), data, permission=0o644,
                                         **fixed)


def build(cache_dir, source=None):
    """The cached guest image, built first if needed: from the machine's
    own apt, or from ``source`` (a DebianSource) where the machine is not
    Debian."""
    recipe = hashlib.sha256(repr((
        _INIT, _MODULES, _MODULE_DIRS, console.BOOT_MARK,
        console.COUNT_PATTERN, console.VOLUME_PATTERN, console.VOLUME_SECTOR,
        console.CONFIG_DRIVE_PREFIX)).encode()).hexdigest()
    final = os.path.join(cache_dir, 'guest-' + recipe[:12])
    image = GuestImage(os.path.join(final, 'vmlinuz'),
                       os.path.join(final, 'initrd.img'))
    if os.path.exists(image.kernel) and os.path.exists(image.initrd):
        return image
    with system.cache_lock(final):
        if not (os.path.exists(image.kernel)
                and os.path.exists(image.initrd)):
            _build(final, source)
    return image


def _build(final, source):
    cache_dir = os.path.dirname(final)
    work = tempfile.mkdtemp(prefix='guest-build-', dir=cache_dir)
    try:
        options = source.apt_options(os.path.join(work, 'apt')) \
            if source else ()
        kernel_deb = _kernel_package(work, options)
        files = _members(kernel_deb, lambda n: '/boot/vmlinuz-' in n or (
            n.endswith('.ko') and any(d in n for d in _MODULE_DIRS)))
        kernel = next(data for name, data in files.items()
                      if '/boot/vmlinuz-' in name)
        modules = {os.path.basename(n)[:-3]: d for n, d in files.items()
                   if n.endswith('.ko')}
        busybox = _members(_download('busybox-static', work, options),
                           lambda n: n.endswith('/bin/busybox'))
        if not busybox:
            raise LabError('busybox-static has no /bin/busybox')
        with open(os.path.join(work, 'vmlinuz'), 'wb') as f:
            f.write(kernel)
        _write_initramfs(os.path.join(work, 'initrd.img'),
                         next(iter(busybox.values())), modules,
                         _module_order(modules, _MODULES))
        for deb in glob.glob(os.path.join(work, '*.deb')):
            os.unlink(deb)
        shutil.rmtree(os.path.join(work, 'apt'), ignore_errors=True)
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
