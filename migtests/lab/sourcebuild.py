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

"""libvirt releases older than Debian's archive, built from source as lab
suites.

Debian's archive starts at libvirt 7.0 (bullseye); the platform of the
2016 failure ran 1.2.17 and 1.3.1 (Ubuntu 16.04's).  Each is built from
libvirt's own release commit and the gnulib commit it pins, out of tree in
a build chroot (a copy of the base suite's chroot with the build tools),
and installed into a copy of the base suite's chroot whose own libvirt is
removed: a lab host on that chroot runs the built libvirtd with the base
suite's QEMU.  Nothing is built or installed on the machine itself; the
build is cached by its source commits and recipe.

The sources are git repositories, given on the command line or in the
environment (SOURCE_ENV): libvirt's (its upstream repository, or any
mirror holding the release commit) and gnulib's.  Without them the suites
are skipped, said in one line (NoSource).
"""

import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import time

from migtests.lab import system
from migtests.lab.system import LabError
from migtests.lab.system import run


@dataclasses.dataclass(frozen=True)
class Release:
    version: str
    commit: str     # libvirt's "Release of libvirt-VERSION" commit
    gnulib: str     # the gnulib commit that commit pins (its .gnulib)

    @property
    def name(self):
        return 'libvirt-' + self.version


# The commits: ``git log --grep 'Release of libvirt-'`` and ``git ls-tree
# COMMIT .gnulib`` in libvirt's repository (tags v1.2.17, v1.3.1).
RELEASES = {r.name: r for r in (
    Release('1.2.17', '845184b2fd88f44080427d50329e02e8aa4fef8e',
            'f39477dba778e99392948dd3dd19ec0d46aee932'),
    Release('1.3.1', '8fd68675e2b5eed5b2aae636544a0a80f9fc70e9',
            '6cc32c63e80bc1a30c521b2f07f2b54909b59892'),
)}

# The suite whose toolchain builds them and whose QEMU runs under them:
# the oldest in the lab (QEMU 5.2; its GCC 10 and glibc 2.31 are the
# closest to 2015's that Debian's archive still has).
BASE = 'bullseye'

SOURCE_ENV = {'libvirt': 'MIGTESTS_LIBVIRT_SOURCE',
              'gnulib': 'MIGTESTS_GNULIB_SOURCE'}

# libvirt's bootstrap.conf buildreq and configure.ac, as bullseye packages
# them.  rpcgen is in bullseye's libc-dev-bin; python-is-python2: the
# build's generators are Python 2 programs run as "python".
BUILD_PACKAGES = (
    'build-essential', 'autoconf', 'automake', 'libtool', 'autopoint',
    'gettext', 'pkg-config', 'git', 'patch', 'xsltproc', 'libxml2-utils',
    'libxml-xpath-perl', 'python-is-python2', 'libxml2-dev', 'libyajl-dev',
    'libgnutls28-dev', 'libtirpc-dev', 'libnl-3-dev', 'libnl-route-3-dev',
    'libdevmapper-dev', 'libpciaccess-dev', 'libreadline-dev')

# What the built libvirt links against, kept when Debian's libvirt is
# removed from the runtime chroot.
RUNTIME_PACKAGES = (
    'libxml2', 'libyajl2', 'libgnutls30', 'libtirpc3', 'libnl-3-200',
    'libnl-route-3-200', 'libdevmapper1.02.1', 'libpciaccess0',
    'libreadline8')
# The base suite's libvirt, removed (QEMU does not depend on it).
REMOVED = ('libvirt0',)

# glibc 2.28 removed libio.h, which the pinned gnulib's stdio helpers
# read: gnulib's own fix, taken from the gnulib repository at build time
# (commit 4af4a4a71827, "fflush: adjust to glibc 2.28 libio.h removal"),
# for the files libvirt's gnulib modules use.
GNULIB_FIX = '4af4a4a71827c0bc5e0ec67af23edef4f15cee8e'
GNULIB_FIX_FILES = ('lib/fflush.c', 'lib/fpurge.c', 'lib/freading.c',
                    'lib/fseeko.c', 'lib/stdio-impl.h')

# A 2015 tree on GCC 10 / glibc 2.31, each flag with why.  No flag and no
# patch touches migration code.
CFLAGS = (
    ('-O2 -g0', 'optimised, without debug information: a faster build'),
    ('-fcommon', 'GCC 10 defaults to -fno-common; libvirt 1.x and its '
     'gnulib define some variables in headers'),
    ('-D_GNU_SOURCE', 'glibc declares secure_getenv only with it'),
    ('-include sys/sysmacros.h', 'glibc 2.28 stopped declaring major() and '
     'minor() through sys/types.h'),
    ('-include sys/uio.h', 'writev is used where only the old headers '
     'declared it'),
    ('-I/usr/include/tirpc', 'glibc 2.26 dropped Sun RPC: libtirpc has '
     'the XDR headers the remote protocol needs'),
    ('-Werror=implicit-function-declaration -Werror=int-conversion',
     'an undeclared function returning a pointer is truncated to int: '
     'libvirtd crashed at start (in virFindFileInPath) before '
     '-D_GNU_SOURCE; such a build now fails instead'),
)
LIBS = (('-ltirpc', 'the XDR routines, from libtirpc'),)
# The QEMU driver, the remote daemon and the directory storage backend
# (config drives are copied through it); no network driver (it would make
# a bridge and firewall rules at start), nothing else of the host.
CONFIGURE = (
    '--prefix=/usr', '--sysconfdir=/etc', '--localstatedir=/var',
    '--with-qemu', '--with-remote', '--with-libvirtd', '--with-storage-dir',
    '--with-init-script=none', '--disable-werror',
    '--without-network', '--without-interface', '--without-pm-utils',
    '--without-libpcap', '--without-macvtap', '--without-virtualport',
    '--without-storage-fs',
    '--without-xen', '--without-libxl', '--without-lxc', '--without-vbox',
    '--without-esx', '--without-hyperv', '--without-vmware',
    '--without-openvz', '--without-uml', '--without-phyp',
    '--without-bhyve', '--without-vz',
    '--without-xenapi', '--without-sasl', '--without-polkit',
    '--without-selinux', '--without-apparmor', '--without-audit',
    '--without-dtrace', '--without-systemd-daemon', '--without-netcf',
    '--without-udev', '--without-hal', '--without-firewalld',
    '--without-wireshark-dissector', '--without-numactl',
    '--without-capng', '--without-fuse', '--without-avahi',
    '--without-sanlock', '--without-storage-lvm',
    '--without-storage-iscsi', '--without-storage-scsi',
    '--without-storage-mpath', '--without-storage-disk',
    '--without-storage-rbd', '--without-storage-sheepdog',
    '--without-storage-gluster', '--without-storage-zfs')

MARKER = '.migtests-source.json'    # the build's record, in the chroot


class NoSource(LabError):
    """A source-built suite whose sources are not on this machine: skipped
    (one line), not an error."""


def release(name):
    return RELEASES.get(name)


def sources(given=None):
    """{'libvirt': DIR, 'gnulib': DIR}: ``given`` where set, else the
    environment's."""
    given = given or {}
    return {what: given.get(what) or os.environ.get(env, '')
            for what, env in SOURCE_ENV.items()}


def add_arguments(parser):
    """--libvirt-source DIR and --gnulib-source DIR on a command line."""
    for what, env in SOURCE_ENV.items():
        parser.add_argument('--%s-source' % what, metavar='DIR',
                            help='a git repository of %s, for the suites '
                            'built from source (%s); default: $%s' % (
                                what, ', '.join(RELEASES), env))


def use(args):
    """The sources given on the command line, for this run (and the
    processes it starts)."""
    for what, env in SOURCE_ENV.items():
        if getattr(args, what + '_source', None):
            os.environ[env] = os.path.abspath(getattr(args,
                                                      what + '_source'))


def _has(repository, commit):
    if not repository or not os.path.isdir(repository):
        return False
    return run(['git', '-C', repository, 'cat-file', '-e',
                commit + '^{commit}'], check=False,
               timeout=60).returncode == 0


def missing(name, given=None):
    """Why the suite cannot be built here ('' when it can): its sources
    are absent or lack its commits."""
    chosen = RELEASES[name]
    where = sources(given)
    for what, commit in (('libvirt', chosen.commit),
                         ('gnulib', chosen.gnulib)):
        if not _has(where[what], commit):
            return ('%s: skipped, no %s source with commit %s (%s DIR or '
                    '--%s-source DIR: a git repository of %s)' % (
                        name, what, commit[:12], SOURCE_ENV[what], what,
                        what))
    if not _has(where['gnulib'], GNULIB_FIX):
        return ('%s: skipped, the gnulib source lacks commit %s (its fix '
                'for glibc 2.28)' % (name, GNULIB_FIX[:12]))
    return ''


def recipe_key(chosen):
    """The build's identity: its commits and everything of its recipe."""
    text = json.dumps([dataclasses.asdict(chosen), BASE, BUILD_PACKAGES,
                       GNULIB_FIX, GNULIB_FIX_FILES, CFLAGS, LIBS,
                       CONFIGURE, RUNTIME_PACKAGES, REMOVED])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chroot_name(name):
    return '%s-%s' % (name, recipe_key(RELEASES[name]))


BUILD_MARKER = '.migtests-build-tools'     # the build tools installed


def build_root(cache_dir, base):
    """A copy of the base suite's chroot (``base``) with the build tools
    (cached)."""
    final = os.path.join(cache_dir, 'chroots', 'build-%s' % BASE)
    marker = os.path.join(final, BUILD_MARKER)
    with system.cache_lock(final):
        if os.path.exists(marker):
            with open(marker) as f:
                if f.read().split() == list(BUILD_PACKAGES):
                    return final
        work = final + '.building'
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        try:
            run(['cp', '-a', '--reflink=auto', base, work], timeout=900)
            system.in_chroot(work, system.apt_install(BUILD_PACKAGES),
                             timeout=1800)
            with open(os.path.join(work, BUILD_MARKER), 'w') as f:
                f.write(' '.join(BUILD_PACKAGES) + '\n')
            os.rename(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return final


def _timed(steps, what, function, *args, **kw):
    start = time.monotonic()
    result = function(*args, **kw)
    steps.append([what, round(time.monotonic() - start, 1)])
    return result


def _shell(root, script, timeout=3600):
    """A build step in the build chroot; its output's end on failure."""
    proc = system.in_chroot(root, script, timeout=timeout, check=False)
    if proc.returncode:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
        raise LabError('building libvirt failed (exit %d) in: %s: %s' % (
            proc.returncode, script.split('&&')[0].strip()[:80],
            ' | '.join(tail)))
    return proc


def _stage(cache_dir, chosen, base):
    """Build the release in the build chroot; return the directory its
    ``make install`` filled and the steps' times."""
    steps = []
    root = _timed(steps, 'build chroot (%s + tools)' % BASE, build_root,
                  cache_dir, base)
    where = sources()
    key = recipe_key(chosen)
    inside = '/build/%s-%s' % (chosen.name, key)
    top = root + inside
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(top + '/src/.gnulib')

    def export(repository, commit, directory):
        archive = run(['git', '-C', repository, 'archive', '--format=tar',
                       commit], timeout=600, text=False).stdout
        run(['tar', '-x', '-C', directory], input=archive, timeout=600,
            text=False)

    def sources_out():
        export(where['libvirt'], chosen.commit, top + '/src')
        export(where['gnulib'], chosen.gnulib, top + '/src/.gnulib')
        fix = run(['git', '-C', where['gnulib'], 'show', '--format=',
                   GNULIB_FIX, '--'] + list(GNULIB_FIX_FILES),
                  timeout=60).stdout
        run(['patch', '-p1', '-s', '-d', top + '/src/.gnulib'], input=fix,
            timeout=60)
    _timed(steps, 'sources (git archive) and gnulib fix', sources_out)
    # bootstrap: gnulib from the exported tree, no network (no po files,
    # no git); its python-config check serves the Python binding, a
    # separate project since libvirt 1.2.0.
    _timed(steps, 'bootstrap', _shell, root,
           'cd %s/src && PYTHON_CONFIG=true ./bootstrap --no-git '
           '--gnulib-srcdir=.gnulib --skip-po' % inside)
    cflags = ' '.join(flag for flag, _ in CFLAGS)
    libs = ' '.join(flag for flag, _ in LIBS)
    _timed(steps, 'configure', _shell, root,
           'mkdir -p %s/out && cd %s/out && ../src/configure %s CFLAGS=%s '
           'LIBS=%s' % (inside, inside, ' '.join(CONFIGURE),
                        shlex.quote(cflags), shlex.quote(libs)))
    jobs = os.cpu_count() or 1
    _timed(steps, 'make -j%d' % jobs, _shell, root,
           'cd %s/out && make -j%d >make.log 2>&1 || { tail -20 make.log; '
           'exit 1; }' % (inside, jobs))
    _timed(steps, 'make install (staged)', _shell, root,
           'cd %s/out && make install DESTDIR=%s/stage >install.log 2>&1 '
           '|| { tail -20 install.log; exit 1; }' % (inside, inside))
    return top, steps


def cached(final):
    return os.path.exists(os.path.join(final, MARKER))


def build(cache_dir, name, base, final):
    """The runtime chroot of a source-built suite at ``final`` (the
    caller holds its lock), over ``base``, the base suite's chroot.
    NoSource when the sources are absent."""
    chosen = RELEASES[name]
    why = missing(name)
    if why:
        raise NoSource(why)
    start = time.monotonic()
    top, steps = _stage(cache_dir, chosen, base)
    work = final + '.building'
    shutil.rmtree(work, ignore_errors=True)
    try:
        def runtime():
            run(['cp', '-a', '--reflink=auto', base, work], timeout=900)
            system.in_chroot(work, system.apt_install(RUNTIME_PACKAGES)
                             + ' && DEBIAN_FRONTEND=noninteractive apt-get '
                             '%s purge -y -q %s' % (system.APT_LOCK_WAIT,
                                                    ' '.join(REMOVED)),
                             timeout=900)
            # var/run is the chroot's link to /run: libvirtd makes its
            # directories there at start, the staged ones are not needed.
            shutil.rmtree(top + '/stage/var/run', ignore_errors=True)
            run(['cp', '-a', top + '/stage/.', work], timeout=600)
            system.in_chroot(work, 'ldconfig && libvirtd --version')
        _timed(steps, 'runtime chroot (%s, its libvirt removed, the build '
               'installed)' % BASE, runtime)
        record = {'release': dataclasses.asdict(chosen),
                  'key': recipe_key(chosen), 'steps': steps,
                  'seconds': round(time.monotonic() - start, 1)}
        with open(os.path.join(work, MARKER), 'w') as f:
            json.dump(record, f, indent=1)
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(top, ignore_errors=True)
    return final


def record(root):
    """The build's record in a runtime chroot, or None."""
    try:
        with open(os.path.join(root, MARKER)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
