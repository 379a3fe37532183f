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

"""nova-compute with a record of every migration call it makes to libvirt.

    python -m migtests.cloud.recorded_compute RECORD DRIVER --config-file F

Runs Nova's own nova-compute (DRIVER ``upstream``) or the reference driver
through its entry point (``reference``), with libvirt's migrateToURI3,
migrateToURI2 and migrateToURI wrapped: each call appends one JSON line to
RECORD -- the domain's UUID, the API, the URI, the flags by name, the
parameters (the XML documents only by their length) and libvirt's answer --
then goes through unchanged.  What libvirt received is then known for both
drivers, to compare them (job.py).
"""

import inspect
import json
import sys
import threading
import time

from reference import model

APIS = ('migrateToURI3', 'migrateToURI2', 'migrateToURI')
_XML = ('destination_xml', 'persistent_xml', 'dxml')


def flag_names(libvirt, value):
    """VIR_MIGRATE_* names of the bits set in ``value``."""
    names = sorted(
        (getattr(libvirt, name), name) for name in dir(libvirt)
        if name.startswith(model.FLAG_PREFIX)
        and isinstance(getattr(libvirt, name), int)
        and bin(getattr(libvirt, name)).count('1') == 1)
    return [name for bit, name in names if value & bit]


def _plain(value):
    if isinstance(value, str) and value.lstrip().startswith('<'):
        return '<xml, %d characters>' % len(value)
    return value


def wrap(libvirt, record):
    """Wrap the migration APIs of libvirt.virDomain, appending to
    ``record`` (a path)."""
    lock = threading.Lock()

    def recorder(api, original):
        signature = inspect.signature(original)

        def call(domain, *args, **kwargs):
            # Bound as libvirt's own method binds them: Nova passes
            # keywords (params=, flags=), the reference positions.
            bound = signature.bind(domain, *args, **kwargs)
            bound.apply_defaults()
            given = dict(bound.arguments)
            if api == 'migrateToURI3':
                params = dict(given.get('params') or {})
            elif api == 'migrateToURI2':
                params = {'migrate_uri': given.get('miguri'),
                          'dxml': given.get('dxml'),
                          'bandwidth': given.get('bandwidth')}
            else:
                params = {'bandwidth': given.get('bandwidth')}
            entry = {'time': time.time(), 'uuid': domain.UUIDString(),
                     'name': domain.name(), 'api': api,
                     'uri': given.get('dconnuri') or given.get('duri'),
                     'flags': flag_names(libvirt, given.get('flags') or 0),
                     'params': {k: _plain(v) for k, v in params.items()
                                if v is not None}}
            try:
                result = original(domain, *args, **kwargs)
                entry['result'] = 'ok'
                return result
            except libvirt.libvirtError as exc:
                entry['result'] = exc.get_error_message()
                raise
            finally:
                with lock, open(record, 'a') as f:
                    f.write(json.dumps(entry) + '\n')
        return call
    for api in APIS:
        original = getattr(libvirt.virDomain, api, None)
        if original is not None:
            setattr(libvirt.virDomain, api, recorder(api, original))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    record, driver = argv[:2]
    sys.argv = [sys.argv[0]] + argv[2:]
    # Nova's own starter first (it patches threading before any of Nova).
    from nova.cmd import compute
    import libvirt  # noqa: H306 -- after Nova's starter, on purpose
    wrap(libvirt, record)
    if driver == 'reference':
        from reference import nova_compute
        return nova_compute.main()
    return compute.main()


if __name__ == '__main__':
    sys.exit(main())
