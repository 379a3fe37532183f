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

"""Debian suite chroots: other libvirt/QEMU versions for lab hosts.

Each suite is bootstrapped with debootstrap from the machine's own Debian
mirror (read from its apt sources), gets libvirt and QEMU installed, and
is cached; a build happens in a temporary directory and is renamed into
place only when complete, so a half-built chroot is never used.  Package
installation runs in a private mount namespace (proc, sys, dev mounted
there only).
"""

import dataclasses
import glob
import os
import re
import shutil

from migtests.lab import system
from migtests.lab.system import LabError
from migtests.lab.system import run

# qemu-block-extra: QEMU's RBD driver, for the local cloud's Cinder volumes
# (Ceph) on a compute whose QEMU is the chroot's.
PACKAGES = ('libvirt-daemon', 'libvirt-daemon-driver-qemu', 'qemu-system-x86',
            'qemu-utils', 'qemu-block-extra')
MARKER = '.migtests-complete'       # holds the packages installed


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    libvirt: str        # the versions it ships (Debian archive, lab.md)
    qemu: str
    bootstrap: str      # debootstrap script (no 'forky' script: use sid)
    extra: tuple = ()   # further apt source suites, e.g. security updates
    expired_release_ok: bool = False
    packages: tuple = ()    # further packages of this suite only

    @property
    def all_packages(self):
        return PACKAGES + self.packages


# libvirt's storage driver (reference.act.copy_file copies config drives
# through it): part of libvirt-daemon up to bookworm, its own package in
# trixie and sid (Debian's Packages lists of each suite).
_STORAGE = ('libvirt-daemon-driver-storage',)


SUITES = {s.name: s for s in (
    Suite('bullseye', '7.0.0', '5.2', 'bullseye',
          extra=('bullseye-updates',)),
    Suite('bookworm', '9.0.0', '7.2', 'bookworm',
          extra=('bookworm-updates',)),
    Suite('trixie', '11.3.0', '10.0', 'trixie', extra=('trixie-updates',),
          packages=_STORAGE),
    Suite('sid', '12.8.0', '11.1', 'sid', expired_release_ok=True,
          packages=_STORAGE),
)}


def mirror():
    """The Debian mirror this machine's apt is configured with."""
    candidates = []
    for path in ['/etc/apt/sources.list'] + sorted(
            glob.glob('/etc/apt/sources.list.d/*')):
        try:
            with open(path) as f:
                text = f.read()
        except (FileNotFoundError, IsADirectoryError):
            continue
        candidates += re.findall(r'^URIs:\s*(\S+/debian)/?\s*$', text, re.M)
        candidates += re.findall(r'^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s',
                                 text, re.M)
    if not candidates:
        raise LabError('no Debian mirror in the apt sources of this machine')
    return candidates[0]


def machine_suite():
    """The Debian suite the machine itself runs (its codename)."""
    try:
        with open('/etc/os-release') as f:
            match = re.search(r'^VERSION_CODENAME=(\w+)', f.read(), re.M)
    except FileNotFoundError:
        return None
    return match.group(1) if match else None


def path(cache_dir, suite):
    """Where the suite's chroot is; None for the machine's own suite,
    whose libvirt and QEMU the lab uses directly."""
    if suite == machine_suite():
        return None
    return os.path.join(cache_dir, 'chroots', suite)


def _in_chroot(root, command, timeout=900):
    """Run a shell command inside the chroot, in a private mount namespace."""
    script = ('set -e; mount -t proc proc {r}/proc; '
              'mount -t sysfs sysfs {r}/sys; '
              'mount --rbind /dev {r}/dev; mount --make-rslave {r}/dev; '
              'mount -t tmpfs tmpfs {r}/run; '
              'exec chroot {r} sh -c "$0"').format(r=root)
    return run(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                script, command], timeout=timeout)


# Should anything else hold the chroot's dpkg lock, apt waits for it
# (apt >= 1.9.11: every suite here) rather than failing at once.
APT_LOCK_WAIT = '-o DPkg::Lock::Timeout=600'


def _install(packages):
    return ('apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get '
            '%s install -y -q --no-install-recommends %s && apt-get clean'
            % (APT_LOCK_WAIT, ' '.join(packages)))


def _mark(root, packages):
    """The chroot is complete, with these packages."""
    with open(os.path.join(root, MARKER), 'w') as f:
        f.write(' '.join(packages) + '\n')


def build(cache_dir, name):
    """The chroot of a suite, built first when it is not cached."""
    if name not in SUITES:
        raise LabError('unknown suite %r: choose from %s'
                       % (name, ', '.join(SUITES)))
    final = path(cache_dir, name)
    if final is None:
        return None
    # Matrix pairs sharing a suite build it once: the others wait here.
    with system.cache_lock(final):
        return _build(SUITES[name], final)


def _build(suite, final):
    marker = os.path.join(final, MARKER)
    if os.path.exists(marker):
        with open(marker) as f:
            installed = f.read().split()
        missing = [p for p in suite.all_packages if p not in installed]
        if missing:
            # A chroot cached before a package joined the list: add it in
            # place; the marker says so only once it is installed.
            _in_chroot(final, _install(missing))
            _mark(final, suite.all_packages)
        return final
    os.makedirs(os.path.dirname(final), exist_ok=True)
    free = shutil.disk_usage(os.path.dirname(final)).free
    if free < 2 * 1024 ** 3:
        raise LabError('%s has %.1f GiB free; a chroot needs about 1 GiB'
                       % (os.path.dirname(final), free / 1024 ** 3))
    work = final + '.building'
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)
    source = mirror()
    try:
        run(['debootstrap', '--variant=minbase', suite.bootstrap, work,
             source], timeout=900)
        suites = ' '.join((suite.bootstrap,) + suite.extra)
        with open(os.path.join(work, 'etc/apt/sources.list'), 'w') as f:
            f.write('deb %s %s main\n' % (source, suites))
        if suite.expired_release_ok:
            with open(os.path.join(work, 'etc/apt/apt.conf.d/90valid'),
                      'w') as f:
                f.write('Acquire::Check-Valid-Until "false";\n')
        with open(os.path.join(work, 'usr/sbin/policy-rc.d'), 'w') as f:
            f.write('#!/bin/sh\nexit 101\n')
        os.chmod(os.path.join(work, 'usr/sbin/policy-rc.d'), 0o755)
        _in_chroot(work, _install(suite.all_packages))
        # libvirt looks these up at start even when qemu.conf says root.
        _in_chroot(work, 'getent group kvm || groupadd -r kvm; '
                   'getent group libvirt-qemu || groupadd -r libvirt-qemu; '
                   'getent passwd libvirt-qemu || useradd -r -g libvirt-qemu '
                   '-d /nonexistent -s /usr/sbin/nologin libvirt-qemu')
        _mark(work, suite.all_packages)
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final
