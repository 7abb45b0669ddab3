"""suites/parser_findings.yaml loads; a broken entry is one clear error naming the file and field."""
import pytest

from lfm_conformance.parsers import parser_findings

GOOD = {"id": "content_joined_with_newline", "parser": "tools", "property": "test_text_around_tool_calls_is_content",
        "check": "c", "owner": "vllm/lfm2-tool-parser", "model_output": "ab", "delta_texts": ["a", "b"],
        "expected": "e", "observed": "o"}


def test_recorded_findings_load_and_each_has_an_input_class():
    ids = {f["id"] for f in parser_findings.load()}
    assert ids == set(parser_findings.INPUT_CLASSES)


@pytest.mark.parametrize("change, message", [
    ({"parser": "vision"}, r"\[0\]\.parser: 'vision' is not allowed; allowed values: tools, reasoning"),
    ({"delta_texts": ["a", "c"]}, "delta_texts do not concatenate to model_output"),
    ({"id": "unknown_class"}, "no input class"),
])
def test_broken_entry_is_one_clear_error(tmp_path, change, message):
    import yaml

    path = tmp_path / "parser_findings.yaml"
    path.write_text(yaml.safe_dump([{**GOOD, **change}]))
    with pytest.raises(ValueError, match=message) as info:
        parser_findings.load(path)
    assert str(path) in str(info.value)
