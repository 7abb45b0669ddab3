"""The pytest glue: the plugin (matrix-driven parametrization, markers, servers per configuration,
known deviations, results at the end), the perf opt-in and the streaming helper the suites use.
The top layer: may import every other subpackage; nothing imports it but conftest, suites, tests."""
