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

"""The house's layering, read from the sources: no import cycle anywhere
(function-local imports included), and each layer imports only the ones
below it: reference <- lab <- cloud; the Tempest plugin beside them."""

import ast
import os

from tempest.lib import decorators
import testtools

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PACKAGES = ('reference', 'migtests')


def _module_of(path):
    relative = os.path.relpath(path, ROOT)[:-len('.py')]
    parts = relative.split(os.sep)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def import_graph():
    """module -> the project's modules it imports, anywhere in it."""
    modules = {}
    for package in PACKAGES:
        for directory, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(directory, name)
                    modules[_module_of(path)] = path
    graph = {}
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + ['%s.%s' % (node.module, a.name)
                                         for a in node.names]
            else:
                continue
            found.update(n for n in names if n in modules and n != module)
        graph[module] = found
    return graph


def cycles(graph):
    """Every strongly connected group of more than one module."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


class TestLayout(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.graph = import_graph()

    @decorators.idempotent_id('6b0c7e8a-3f1d-4c2e-9a5b-8d7e6f5a4b31')
    def test_no_import_cycle(self):
        self.assertEqual([], cycles(self.graph))

    @decorators.idempotent_id('7c1d8f9b-4a2e-4d3f-8b6c-9e8f7a6b5c42')
    def test_a_cycle_is_found(self):
        # The check itself: a cycle through a function-local import counts.
        self.assertEqual([['a', 'b', 'c']], cycles(
            {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}))

    @decorators.idempotent_id('8d2e9a0c-5b3f-4e4a-9c7d-0f9a8b7c6d53')
    def test_each_layer_imports_only_those_below(self):
        plugin = ('migtests.api', 'migtests.common', 'migtests.config',
                  'migtests.plugin', 'migtests.services')
        forbidden = {
            'reference': ('migtests',),
            'migtests.lab': ('migtests.cloud',) + plugin,
            'migtests.cloud': plugin,
        }
        forbidden.update({p: ('migtests.lab', 'migtests.cloud', 'reference')
                          for p in plugin})
        wrong = sorted(
            (module, target) for module, targets in self.graph.items()
            for layer, below in forbidden.items()
            if module == layer or module.startswith(layer + '.')
            for target in targets
            if any(target == b or target.startswith(b + '.')
                   for b in below))
        self.assertEqual([], wrong)
