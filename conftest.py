"""lfm-conformance: the plugin in lfm_conformance/harness/plugin.py drives every suite from matrix.yaml."""
pytest_plugins = ["lfm_conformance.harness.plugin", "lfm_conformance.harness.perf_optin"]
