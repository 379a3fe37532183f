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

A *candidate* is a published suite with packages of its own over it, the
way a distribution validates an update before it ships it: named
``BASE+SOURCE[+SOURCE...]`` (or ``LABEL=BASE+SOURCE...``) wherever a suite
is named, where a SOURCE is an apt suite of the same mirror
(``bookworm+bookworm-backports``) or a directory of ``.deb`` files (a path:
it holds a ``/``).  Its chroot is a copy of the base suite's with the
sources added and preferred (apt pinning), the lab's packages installed by
apt's own resolver (a directory becomes a local repository), and is cached
under the hash of the candidate's content: a changed ``.deb`` makes a new
chroot.  Its libvirt and QEMU versions are read from the chroot.
"""

import dataclasses
import functools
import glob
import hashlib
import json
import os
import re
import shutil

from migtests.lab import sourcebuild
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
    # A candidate only: the published suite it stands on, its sources (apt
    # suites, and directories of .deb files as absolute paths) and the
    # hash of its content (its chroot's name).
    base: str = ''
    sources: tuple = ()
    key: str = ''
    # Built from source (migtests.lab.sourcebuild): its release's version,
    # over the chroot of ``bootstrap``'s suite.
    built: str = ''

    @property
    def all_packages(self):
        return PACKAGES + self.packages

    @property
    def apt_suites(self):
        return tuple(s for s in self.sources if not s.startswith('/'))

    @property
    def directories(self):
        return tuple(s for s in self.sources if s.startswith('/'))


class BadSuite(LabError):
    """A suite or candidate that cannot be used, known before any lab
    starts: an unknown name, a directory without packages, packages that do
    not install.  The command lines answer it with exit 2."""


# libvirt's storage driver (reference.act.copy_file copies config drives
# through it): part of libvirt-daemon up to bookworm, its own package in
# trixie and sid (Debian's Packages lists of each suite).
_STORAGE = ('libvirt-daemon-driver-storage',)
# A candidate's libvirt may be packaged as a later suite's: these are
# installed over any base where the candidate's apt knows them (bookworm's
# libvirt 9.0 has no such package; bookworm-backports' 11.3 has, and
# without it config drives do not copy: lab case block-with-config-drive,
# measured on bookworm+bookworm-backports).
SPLIT_OUT = _STORAGE


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


_CANDIDATE = re.compile(r'^(?:(?P<label>[A-Za-z0-9][\w.-]*)=)?'
                        r'(?P<base>[a-z]+)\+(?P<sources>.+)$')
_APT_SUITE = re.compile(r'^[a-z][a-z0-9.-]*$')
HELP = ('a published suite (%s) or a candidate BASE+SOURCE[+SOURCE...], '
        'optionally LABEL=BASE+SOURCE..., where a SOURCE is an apt suite of '
        'the mirror (bookworm-backports) or a directory of .deb files'
        % ', '.join(SUITES))


def suite(name, cache=None):
    """The Suite called ``name``: a published one, or a candidate (BadSuite
    if neither).  With ``cache``, a candidate's chroot is built first (when
    not cached) and its libvirt and QEMU versions are read from it."""
    if name in SUITES:
        return SUITES[name]
    if name in sourcebuild.RELEASES:
        chosen = sourcebuild.RELEASES[name]
        built = Suite(name, chosen.version, SUITES[sourcebuild.BASE].qemu,
                      sourcebuild.BASE, built=chosen.version)
        if cache is None:
            return built
        return dataclasses.replace(built, **versions(build(cache, name)))
    candidate = _candidate(_LABELS.get(name, name))
    if cache is None:
        return candidate
    root = build(cache, name)
    return dataclasses.replace(candidate, **versions(root))


def known(names):
    """The names checked (BadSuite, one line), each as the rest of the run
    calls it: a candidate by its label when it has one."""
    return [suite(name).name for name in names]


def unavailable(names):
    """{name: why} of the source-built suites among ``names`` whose sources
    are not on this machine: skipped, each said in one line."""
    why = {name: sourcebuild.missing(name) for name in names
           if name in sourcebuild.RELEASES}
    return {name: text for name, text in why.items() if text}


# A candidate's label: the expression it stands for, in this process.
_LABELS = {}


@functools.lru_cache(maxsize=None)
def _candidate(name):
    match = _CANDIDATE.match(name)
    if not match:
        raise BadSuite('unknown suite %s: %s' % (name, HELP))
    base = match.group('base')
    if base not in SUITES:
        raise BadSuite('candidate %s: its base %r is not a published suite '
                       '(%s)' % (name, base, ', '.join(SUITES)))
    # The content: what it installs from (and how), hashed into its name.
    sources, content = [], [base, ' '.join(SUITES[base].all_packages
                                           + SPLIT_OUT)]
    for source in match.group('sources').split('+'):
        if '/' in source:
            directory = os.path.abspath(source)
            sources.append(directory)
            content += ['%s %s' % (os.path.basename(deb), _sha256(deb))
                        for deb in _debs(name, directory)]
        elif _APT_SUITE.match(source):
            sources.append(source)
            content.append(source)
        else:
            raise BadSuite('candidate %s: %r is neither an apt suite '
                           '(e.g. %s-backports) nor a directory (a path '
                           'with a /)' % (name, source, base))
    published = SUITES[base]
    label = match.group('label')
    if label in SUITES:
        raise BadSuite('candidate label %s is a published suite\'s name'
                       % label)
    if label and _LABELS.setdefault(label, name) != name:
        raise BadSuite('candidate label %s stands for %s already'
                       % (label, _LABELS[label]))
    return dataclasses.replace(
        published, name=label or name, libvirt='', qemu='', base=base,
        sources=tuple(sources), key=hashlib.sha256(
            '\n'.join(content).encode()).hexdigest()[:16])


def _debs(name, directory):
    """The directory's .deb files, each checked to be a Debian package."""
    if not os.path.isdir(directory):
        raise BadSuite('candidate %s: %s is not a directory'
                       % (name, directory))
    debs = sorted(glob.glob(os.path.join(directory, '*.deb')))
    if not debs:
        raise BadSuite('candidate %s: %s holds no .deb file'
                       % (name, directory))
    for deb in debs:
        try:
            run(['dpkg-deb', '--field', deb, 'Package'], timeout=60)
        except LabError:
            raise BadSuite('candidate %s: %s is not a Debian package'
                           % (name, deb)) from None
    return debs


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def installed(root):
    """{package: version} of what dpkg installed under ``root`` ('/': the
    machine), read from its database without entering it."""
    proc = run(['dpkg-query', '--admindir', os.path.join(root, 'var/lib/dpkg'),
                '-W', '-f', '${db:Status-Abbrev}\t${Package}\t${Version}\n'],
               timeout=60)
    found = {}
    for line in proc.stdout.splitlines():
        status, package, version = line.split('\t')
        if status.startswith('ii'):
            found[package] = version
    return found


def upstream(version):
    """The upstream part of a Debian version: '1:10.0.2+ds-2~bpo12+1' is
    '10.0.2'."""
    version = version.split(':', 1)[-1]
    match = re.match(r'[0-9]+(?:\.[0-9]+)*', version)
    return match.group(0) if match else version


# Whose version a suite's "libvirt" and "QEMU" are.
VERSION_PACKAGES = {'libvirt': 'libvirt-daemon', 'qemu': 'qemu-system-x86'}


def versions(root):
    """{'libvirt': .., 'qemu': ..} installed in a chroot (upstream parts);
    a libvirt built from source is its release's."""
    found = installed(root)
    got = {what: upstream(found[package]) if package in found else ''
           for what, package in VERSION_PACKAGES.items()}
    built = sourcebuild.record(root)
    if built:
        got['libvirt'] = built['release']['version']
    return got


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
    return _root(cache_dir, suite)


def _root(cache_dir, name):
    """A chroot's place in the cache, even the machine's own suite's (a
    candidate's base)."""
    if name in SUITES:
        return os.path.join(cache_dir, 'chroots', name)
    if name in sourcebuild.RELEASES:
        return os.path.join(cache_dir, 'chroots',
                            sourcebuild.chroot_name(name))
    candidate = suite(name)
    return os.path.join(cache_dir, 'chroots', 'candidate-%s-%s' % (
        candidate.base, candidate.key))


# Commands in a chroot and apt's command line: system's, shared with the
# suites built from source.
_in_chroot = system.in_chroot
APT_LOCK_WAIT = system.APT_LOCK_WAIT
_install = system.apt_install


def _mark(root, packages):
    """The chroot is complete, with these packages."""
    with open(os.path.join(root, MARKER), 'w') as f:
        f.write(' '.join(packages) + '\n')


def build(cache_dir, name):
    """The chroot of a suite or candidate, built first when it is not
    cached; None for the machine's own suite."""
    candidate = suite(name)
    if path(cache_dir, name) is None:
        return None
    return _built(cache_dir, candidate)


def _built(cache_dir, chosen):
    final = _root(cache_dir, chosen.name)
    # Matrix pairs sharing a suite build it once: the others wait here.
    with system.cache_lock(final):
        if chosen.built:
            if sourcebuild.cached(final):
                return final
            base = _built(cache_dir, SUITES[sourcebuild.BASE])
            return sourcebuild.build(cache_dir, chosen.name, base, final)
        if not chosen.base:
            return _build(chosen, final)
        if os.path.exists(os.path.join(final, MARKER)):
            return final
        # The base's own lock is taken inside this one, never the other
        # way round: no two builders wait for each other.
        base = _built(cache_dir, SUITES[chosen.base])
        return _build_candidate(chosen, base, final)


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
        # One line a suite: "deb URI SUITE COMPONENT..." (sources.list(5)).
        with open(os.path.join(work, 'etc/apt/sources.list'), 'w') as f:
            f.write(''.join('deb %s %s main\n' % (source, name) for name in
                            (suite.bootstrap,) + suite.extra))
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


# The candidate's sources preferred over the base suite's: apt then takes
# their version of every package it installs (apt_preferences(5); 990 is
# what ``apt-get -t`` gives a target release; origin "" is a local
# file: repository).
CANDIDATE_PRIORITY = 990
LOCAL_REPOSITORY = 'var/local/migtests-candidate'


def _build_candidate(candidate, base, final):
    """A copy of the base's chroot with the candidate's sources added and
    preferred, the lab's packages (and every package of its directories
    that the base has) installed by apt; verified to hold the candidate's
    versions.  BadSuite if its packages do not install."""
    work = final + '.building'
    shutil.rmtree(work, ignore_errors=True)
    try:
        run(['cp', '-a', '--reflink=auto', base, work], timeout=900)
        os.remove(os.path.join(work, MARKER))
        lines, pins, wanted = [], [], {}
        for suite_name in candidate.apt_suites:
            lines.append('deb %s %s main' % (mirror(), suite_name))
            pins.append('Pin: release n=%s' % suite_name)
        for i, directory in enumerate(candidate.directories):
            inside = '%s/%d' % (LOCAL_REPOSITORY, i)
            os.makedirs(os.path.join(work, inside))
            for deb in _debs(candidate.name, directory):
                shutil.copy(deb, os.path.join(work, inside))
            index = run(['dpkg-scanpackages', '--multiversion', '.'],
                        cwd=os.path.join(work, inside), timeout=300)
            with open(os.path.join(work, inside, 'Packages'), 'w') as f:
                f.write(index.stdout)
            wanted.update(_index(index.stdout))
            lines.append('deb [trusted=yes] file:/%s ./' % inside)
        if candidate.directories:
            pins.append('Pin: origin ""')
        with open(os.path.join(work, 'etc/apt/sources.list.d/'
                               'migtests-candidate.list'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        with open(os.path.join(work, 'etc/apt/preferences.d/'
                               'migtests-candidate'), 'w') as f:
            f.write('\n\n'.join(
                'Package: *\n%s\nPin-Priority: %d' % (pin, CANDIDATE_PRIORITY)
                for pin in pins) + '\n')
        before = installed(base)
        packages = list(candidate.all_packages) + sorted(
            p for p in wanted if p in before
            and p not in candidate.all_packages)
        proc = _in_chroot(work, _install(packages, SPLIT_OUT), check=False)
        if proc.returncode:
            raise BadSuite('candidate %s: its packages do not install over '
                           '%s: %s' % (candidate.name, candidate.base,
                                       _apt_error(proc.stdout
                                                  + proc.stderr)))
        _verify(candidate, before, installed(work), wanted)
        _mark(work, candidate.all_packages)
        with open(os.path.join(work, '.migtests-candidate.json'), 'w') as f:
            json.dump(dataclasses.asdict(candidate), f, indent=1)
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def _apt_error(output):
    """What apt said went wrong: the first unmet dependency and the first
    error, not its last warning."""
    lines = [line.strip() for line in output.splitlines()]
    unmet = [line for line in lines if re.search(r' : (Pre-)?Depends: ',
                                                 line)]
    errors = [line for line in lines if line.startswith('E: ')]
    return '; '.join(unmet[:1] + errors[:1]) or (lines or ['?'])[-1]


def _index(text):
    """{package: version} of a Packages index."""
    found, package = {}, None
    for line in text.splitlines():
        if line.startswith('Package: '):
            package = line.split(None, 1)[1]
        elif line.startswith('Version: ') and package:
            found[package] = line.split(None, 1)[1]
    return found


def _verify(candidate, before, after, wanted):
    """The candidate is what was asked for: each package of its
    directories that is installed has the directory's version, and libvirt
    or QEMU changed (a candidate that changes neither tests nothing)."""
    for package, version in sorted(wanted.items()):
        if package in after and after[package] != version:
            raise BadSuite('candidate %s: %s stayed at %s, not its %s (a '
                           'version apt does not prefer: lower than the '
                           'base\'s, or equal to it)' % (
                               candidate.name, package, after[package],
                               version))
    changed = [p for p in VERSION_PACKAGES.values()
               if before.get(p) != after.get(p)]
    if not changed:
        raise BadSuite('candidate %s changes neither libvirt (%s %s) nor '
                       'QEMU (%s %s) of %s' % (
                           candidate.name, VERSION_PACKAGES['libvirt'],
                           after.get(VERSION_PACKAGES['libvirt']),
                           VERSION_PACKAGES['qemu'],
                           after.get(VERSION_PACKAGES['qemu']),
                           candidate.base))


def download(cache_dir, name, directory):
    """The .deb files a candidate installed over its base (every package
    whose version differs from the base chroot's), downloaded by apt into
    ``directory``: the same candidate as a directory.  Returns their
    names."""
    candidate = suite(name)
    if not candidate.base:
        raise BadSuite('%s is a published suite, not a candidate' % name)
    root = build(cache_dir, name)
    base = _built(cache_dir, SUITES[candidate.base])
    before, after = installed(base), installed(root)
    changed = sorted('%s=%s' % (package, version)
                     for package, version in after.items()
                     if before.get(package) != version)
    os.makedirs(directory, exist_ok=True)
    inside = 'tmp/migtests-download'
    with system.cache_lock(root):
        shutil.rmtree(os.path.join(root, inside), ignore_errors=True)
        os.makedirs(os.path.join(root, inside))
        try:
            _in_chroot(root, 'cd /%s && apt-get download -q %s'
                       % (inside, ' '.join(changed)))
            debs = sorted(os.listdir(os.path.join(root, inside)))
            for deb in debs:
                shutil.move(os.path.join(root, inside, deb), directory)
        finally:
            shutil.rmtree(os.path.join(root, inside), ignore_errors=True)
    return debs
