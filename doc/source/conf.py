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

"""Sphinx configuration of migtests' documentation (tox -e docs)."""

extensions = [
    'openstackdocstheme',
    # The [libvirt] options the reference driver reads and the [migtests]
    # Tempest options, rendered from their definitions in the code.
    'oslo_config.sphinxext',
    # The pages are Markdown, as the README they grew from.
    'myst_parser',
    # Diagrams drawn from their description at build time (Graphviz's dot,
    # bindep profile doc).
    'sphinx.ext.graphviz',
]

graphviz_output_format = 'svg'

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
project = 'migtests'
copyright = 'migtests developers'
exclude_patterns = ['_build']

# openstackdocstheme
openstackdocs_repo_name = 'openstack/migtests'
openstackdocs_use_storyboard = False
openstackdocs_auto_name = False
html_theme = 'openstackdocs'

# Markdown headings get anchors, so pages can link to sections.
myst_heading_anchors = 3
