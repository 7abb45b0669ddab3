"""lfm-conformance: the plugin in lfm_conformance/plugin.py drives every suite from matrix.yaml."""
pytest_plugins = ["lfm_conformance.plugin", "lfm_conformance.perf_optin"]
