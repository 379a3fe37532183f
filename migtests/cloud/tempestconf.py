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

"""tempest.conf for the local cloud, from the Zuul job definition.

The job's test selection (``tempest_test_regex``) and its Tempest settings
(``devstack_local_conf`` -> ``test-config`` -> ``$TEMPEST_CONFIG``) are read
from ``zuul.d/``, following the job's parents inside this repository, so
that the local run and the gate run the same tests with the same settings.
What only the local cloud knows (endpoints, credentials, image and flavor
ids) is added; where the local cloud lacks a service the job turns on, the
setting is turned off and the reason recorded, so that the skips name it.
"""

import glob
import os

import yaml

from migtests.cloud import configs

DEFAULT_JOB = 'migtests-multinode'


class JobError(Exception):
    """The Zuul job cannot be read; one line saying why."""


def load_jobs(zuul_dir):
    jobs = {}
    for path in sorted(glob.glob(os.path.join(zuul_dir, '*.yaml'))):
        with open(path) as f:
            try:
                documents = yaml.safe_load(f) or []
            except yaml.YAMLError as exc:
                raise JobError('%s: not YAML: %s' % (
                    path, str(exc).splitlines()[0])) from None
        for item in documents:
            if isinstance(item, dict) and 'job' in item:
                jobs[item['job']['name']] = item['job']
    return jobs


def merge(base, override):
    """Zuul's variable inheritance: dicts merge, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def job_vars(jobs, name):
    """The job's vars with those of its parents defined here merged in."""
    if name not in jobs:
        raise JobError('no job %r in zuul.d (jobs: %s)'
                       % (name, ', '.join(sorted(jobs))))
    chain, current = [], name
    while current in jobs:
        if current in chain:
            raise JobError('job %r: its parents loop' % name)
        chain.append(current)
        current = jobs[current].get('parent')
    result = {}
    for job_name in reversed(chain):
        result = merge(result, jobs[job_name].get('vars') or {})
    return result


def selection(variables):
    regex = variables.get('tempest_test_regex')
    if not regex:
        raise JobError('the job sets no tempest_test_regex')
    return regex


def exclusion(variables):
    """The job's exclude regex (tempest_exclude_regex), or None."""
    return variables.get('tempest_exclude_regex') or None


def min_passed(variables):
    """How many of the plugin's tests must pass (migtests_min_passed)."""
    return int(variables.get('migtests_min_passed') or 0)


def job_settings(variables):
    """{section: {option: value}} the job writes into tempest.conf."""
    test_config = (variables.get('devstack_local_conf') or {}).get(
        'test-config') or {}
    return test_config.get('$TEMPEST_CONFIG') or {}


def compose(job, cloud, services):
    """Merge the job's settings with the local cloud's.

    ``cloud``: {section: {option: value}} only the cloud knows; ``services``:
    {service: reason or None}, None when the cloud runs it.  Returns
    (settings, adjustments): each adjustment names a job setting the cloud
    could not honour and why.
    """
    settings = merge(job, cloud)
    adjustments = []
    available = settings.setdefault('service_available', {})
    for service, reason in sorted(services.items()):
        wanted = available.get(service)
        available[service] = reason is None
        if reason is not None and wanted:
            adjustments.append('[service_available] %s = false: %s'
                               % (service, reason))
    return settings, adjustments


def write(settings, path):
    configs.write({section: dict(sorted(options.items()))
                   for section, options in sorted(settings.items())}, path)
