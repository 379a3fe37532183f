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

import json
import sys
import threading
import time

APIS = ('migrateToURI3', 'migrateToURI2', 'migrateToURI')
_XML = ('destination_xml', 'persistent_xml', 'dxml')


def flag_names(libvirt, value):
    """VIR_MIGRATE_* names of the bits set in ``value``."""
    names = sorted(
        (getattr(libvirt, name), name) for name in dir(libvirt)
        if name.startswith('VIR_MIGRATE_')
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
        def call(domain, *args):
            if api == 'migrateToURI3':
                uri, params, flags = args[0], dict(args[1]), args[2]
            elif api == 'migrateToURI2':
                uri, flags = args[0], args[3]
                params = {'migrate_uri': args[1], 'dxml': args[2],
                          'bandwidth': args[5] if len(args) > 5 else 0}
            else:
                uri, flags = args[0], args[1]
                params = {'bandwidth': args[3] if len(args) > 3 else 0}
            entry = {'time': time.time(), 'uuid': domain.UUIDString(),
                     'name': domain.name(), 'api': api, 'uri': uri,
                     'flags': flag_names(libvirt, flags),
                     'params': {k: _plain(v) for k, v in params.items()
                                if v is not None}}
            try:
                result = original(domain, *args)
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
