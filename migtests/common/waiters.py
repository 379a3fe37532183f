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

"""Waiting for servers and volumes, on tempest.lib and tempest.config.

Tempest's own waiters (tempest.common.waiters) are not among the interfaces
Tempest offers plugins (its doc/source/plugins/plugin.rst), so the plugin
keeps these.  Each waits at most ``[compute] build_timeout`` (volumes:
``[volume] build_timeout``), polling every ``build_interval``, and says on
timeout what it saw last.
"""

import time

from tempest import config
from tempest.lib import exceptions

CONF = config.CONF


class ServerError(exceptions.TempestException):
    message = ('server %(server_id)s went to ERROR while waiting for '
               '%(status)s (fault: %(fault)s)')


class VolumeError(exceptions.TempestException):
    message = ('volume %(volume_id)s went to %(seen)s while waiting for '
               '%(status)s')


def _poll(read, done, what, timeout, interval):
    """Call ``read`` until ``done`` of what it returned is true; the last
    reading.  ``done`` may raise to stop early."""
    deadline = time.monotonic() + timeout
    while True:
        seen = read()
        if done(seen):
            return seen
        if time.monotonic() >= deadline:
            raise exceptions.TimeoutException(
                '%s not reached in %d s; last seen: %s'
                % (what, timeout, seen))
        time.sleep(interval)


def wait_for_server_status(client, server_id, status):
    """Until the server shows ``status`` with no task under way (a server
    still migrating shows ACTIVE with task_state 'migrating')."""
    def reached(server):
        if server['status'] == 'ERROR' and status != 'ERROR':
            raise ServerError(server_id=server_id, status=status,
                              fault=server.get('fault', {}).get('message'))
        return (server['status'] == status
                and server.get('OS-EXT-STS:task_state') is None)
    return _poll(lambda: _server_state(client, server_id), reached,
                 'server %s %s' % (server_id, status),
                 CONF.compute.build_timeout, CONF.compute.build_interval)


def _server_state(client, server_id):
    server = client.show_server(server_id)['server']
    return {key: server.get(key) for key in
            ('status', 'OS-EXT-STS:task_state', 'fault')}


def wait_for_server_deletion(client, server_id):
    """Until the server is gone, whatever state it was in (a server left in
    ERROR is deleted too)."""
    def read():
        try:
            return client.show_server(server_id)['server']['status']
        except exceptions.NotFound:
            return None
    _poll(read, lambda status: status is None,
          'deletion of server %s' % server_id,
          CONF.compute.build_timeout, CONF.compute.build_interval)


def wait_for_volume_status(client, volume_id, status):
    """Until the volume shows ``status``; an error status stops it."""
    def reached(seen):
        if seen.startswith('error') and not status.startswith('error'):
            raise VolumeError(volume_id=volume_id, status=status, seen=seen)
        return seen == status
    _poll(lambda: client.show_volume(volume_id)['volume']['status'],
          reached, 'volume %s %s' % (volume_id, status),
          CONF.volume.build_timeout, CONF.volume.build_interval)
