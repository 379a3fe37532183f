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

"""Steps the cloud takes through its own APIs (openstacksdk).

Run inside the controller's network namespace, where the APIs listen:
``python -m migtests.cloud.catalog STEP`` with the site as JSON on stdin;
prints a JSON result.
Steps: ``apis``, ``computes``, ``hypervisors`` (what is not there yet: the
caller polls), ``keystone`` (service project, users, roles, catalog),
``resources`` (image and flavors).
"""

import json
import sys

from migtests.cloud import configs


def connect(site):
    import openstack
    return openstack.connect(
        auth_url=site['auth_url'], username='admin',
        password=site['password'], project_name='admin',
        user_domain_name='Default', project_domain_name='Default',
        region_name=configs.REGION, identity_api_version='3')


def apis(conn, site):
    """The APIs that do not answer yet (uwsgi loads its app after it
    listens); ``conn`` is unused: keystone itself may not answer yet."""
    import urllib.error
    import urllib.request
    pending = []
    for name in site['services']:
        url = 'http://%s:%d/' % (site['address'], configs.PORTS[name])
        try:
            urllib.request.urlopen(url, timeout=5).close()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                pending.append(name)
        except OSError:
            pending.append(name)
    return {'pending': pending}


def keystone(conn, site):
    identity = conn.identity
    project = identity.find_project('service') or identity.create_project(
        name='service', domain_id='default')
    roles = {r.name: r for r in identity.roles()}
    if 'service' not in roles:
        roles['service'] = identity.create_role(name='service')
    for name in [u for u in configs.SERVICE_USERS
                 if u in site['services']]:
        user = identity.find_user(name) or identity.create_user(
            name=name, password=site['password'], domain_id='default',
            default_project_id=project.id)
        for role in ('admin', 'service'):
            identity.assign_project_role_to_user(project, user, roles[role])
    for name, (kinds, path) in configs.CATALOG.items():
        if name not in site['services']:
            continue
        url = 'http://%s:%d%s' % (site['address'], configs.PORTS[name],
                                  path)
        for kind in kinds:
            service_name = kind if len(kinds) > 1 else name
            service = identity.find_service(service_name) or \
                identity.create_service(name=service_name, type=kind)
            have = {e.interface for e in identity.endpoints(
                service_id=service.id)}
            for interface in ('public', 'internal', 'admin'):
                if interface not in have:
                    identity.create_endpoint(
                        service_id=service.id, url=url, interface=interface,
                        region_id=configs.REGION)
    return {'service_project': project.id}


def computes(conn, site):
    """The compute hosts whose nova-compute is not up yet; with ``since``
    (seconds since the epoch) in the site, also those that have not
    reported since then (a restarted service)."""
    since = site.get('since')
    found = {s.host for s in conn.compute.services(binary='nova-compute')
             if s.state == 'up' and (since is None or _reported_since(
                 s.updated_at, since))}
    return {'pending': sorted(set(site['computes']) - found)}


def _reported_since(updated_at, since):
    """Whether Nova's ``updated_at`` (UTC, no zone) is at or after
    ``since``."""
    import datetime
    if not updated_at:
        return False
    when = datetime.datetime.fromisoformat(updated_at).replace(
        tzinfo=datetime.timezone.utc)
    return when.timestamp() >= since


def hypervisors(conn, site):
    """Compute hosts not yet in the cell's hypervisors and placement."""
    found = {h.name for h in conn.compute.hypervisors()}
    providers = {p['name'] for p in conn.placement.get(
        '/resource_providers').json()['resource_providers']}
    return {'pending': sorted(set(site['computes']) - (found & providers))}


def volumes(conn, site):
    """cinder-volume, if it is not up yet."""
    up = [s for s in conn.block_storage.services()
          if s.binary == 'cinder-volume' and s.state == 'up']
    return {'pending': [] if up else ['cinder-volume']}


def resources(conn, site):
    image = conn.image.find_image('migtests-counter')
    if image is None:
        image = conn.image.create_image(
            name='migtests-counter', filename=site['disk_image'],
            disk_format='raw', container_format='bare',
            visibility='public', wait=True)
    flavors = {}
    for name, ram in (('migtests-128', 128), ('migtests-128-alt', 128)):
        flavor = conn.compute.find_flavor(name) or conn.compute.create_flavor(
            name=name, ram=ram, vcpus=1, disk=1)
        flavors[name] = flavor.id
    return {'image': image.id, 'flavor': flavors['migtests-128'],
            'flavor_alt': flavors['migtests-128-alt']}


STEPS = {'apis': apis, 'keystone': keystone, 'computes': computes,
         'hypervisors': hypervisors, 'volumes': volumes,
         'resources': resources}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in STEPS:
        sys.stderr.write('usage: catalog {%s} < SITE_JSON\n'
                         % ','.join(STEPS))
        return 2
    site = json.load(sys.stdin)
    conn = None if argv[0] == 'apis' else connect(site)
    result = STEPS[argv[0]](conn, site)
    json.dump(result, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
