"""Tempest plugin entry point: migtests' live and block migration tests."""

import os

from tempest.test_discover import plugins

from migtests import config


class MigtestsTempestPlugin(plugins.TempestPlugin):
    def load_tests(self):
        top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return os.path.join(top, 'migtests', 'api'), top

    def register_opts(self, conf):
        config.register_opts(conf)

    def get_opt_lists(self):
        return [(group.name, opts) for group, opts in config.list_opts()]
