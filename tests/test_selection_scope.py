"""A run narrowed on the command line is a selection (INCOMPLETE): -m, -k, --deselect, and suite files or
node ids named. `suites` itself (./run conformance) or `tests suites` (./run tests) is the whole suite."""
from types import SimpleNamespace

import pytest

from lfm_conformance.report import results
from tests import results_factory as rf

ROOT, SUITES = results.ROOT, results.ROOT / "suites"
NODE = "suites/test_loading.py::test_first_request_returns_text[LFM2.5-230M-cpu]"


@pytest.mark.parametrize("args, where, selected", [
    (["suites"], ROOT, []),
    (["tests", "suites"], ROOT, []),
    (["suites/"], ROOT, []),
    ([str(SUITES)], ROOT, []),
    (["."], ROOT, []),
    (["."], SUITES, []),
    (["tests/test_results.py"], ROOT, []),
    (["suites/test_loading.py"], ROOT, ["suites/test_loading.py"]),
    ([NODE], ROOT, [NODE]),
    (["tests", "suites/test_loading.py"], ROOT, ["suites/test_loading.py"]),
    (["suites", NODE], ROOT, []),  # the whole suite named too
    (["test_loading.py"], SUITES, ["test_loading.py"]),
])
def test_named_suite_parts_are_a_selection_and_the_whole_suite_is_not(args, where, selected):
    assert results.suite_paths(args, where) == selected


def _config(args=("suites",), markexpr="", keyword="", deselect=None):
    return SimpleNamespace(option=SimpleNamespace(markexpr=markexpr, keyword=keyword), args=list(args),
                           invocation_params=SimpleNamespace(dir=ROOT),
                           getoption=lambda name, default=None: deselect if name == "deselect" else default)


def test_selection_records_deselected_suite_checks_only():
    sel = results.selection(_config(deselect=[NODE, "tests/test_results.py::test_x"]))
    assert sel == {"markers": None, "keywords": None, "deselected": [NODE], "paths": []}
    assert results.selection(_config(["tests", "suites"])) == {"markers": None, "keywords": None, "deselected": [],
                                                               "paths": []}


@pytest.mark.parametrize("selection, text", [
    ({"deselected": [NODE]}, f"--deselect {NODE}"),
    ({"paths": ["suites/test_loading.py", NODE]}, f"suites/test_loading.py {NODE}"),
    ({"markers": "model_230m"}, "-m 'model_230m'"),
])
def test_a_selection_makes_the_run_incomplete(selection, text):
    doc = rf.doc()
    doc["runs"][0]["selection"] = {"markers": None, "keywords": None, "deselected": [], "paths": [], **selection}
    summary = results.summarize(doc)
    assert summary["verdict"] == "INCOMPLETE"
    assert f"a selection of the checks ({text})" in summary["scope"]


def test_the_whole_suite_is_no_selection():
    doc = rf.doc()
    doc["runs"][0]["selection"] = results.selection(_config(["tests", "suites"]))
    assert not any(g.startswith("a selection") for g in results.summarize(doc)["scope"])
