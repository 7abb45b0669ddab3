"""Secrets never reach a report: values of key/token variables, --api-key flags, Bearer headers, HF tokens."""
import pytest

from lfm_conformance.serving import redact


@pytest.mark.parametrize("name", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY", "VLLM_API_KEY",
                                  "MY_SERVICE_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "GITHUB_TOKEN",
                                  "AWS_SECRET_ACCESS_KEY", "SOME_APIKEY"])
def test_values_of_key_and_token_variables_are_masked(monkeypatch, name):
    monkeypatch.setenv(name, "s3cr3t-value-123")
    assert redact.redact("sent s3cr3t-value-123 twice: s3cr3t-value-123") == "sent *** twice: ***"


@pytest.mark.parametrize("name", ["TOKENIZERS_PARALLELISM", "PYTEST_CURRENT_TEST", "VLLM_CPU_KVCACHE_SPACE"])
def test_ordinary_variables_are_left_alone(monkeypatch, name):
    monkeypatch.setenv(name, "a-long-ordinary-value")
    assert redact.redact("a-long-ordinary-value") == "a-long-ordinary-value"


def test_short_values_of_names_that_merely_look_secret_are_kept(monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    assert redact.redact("exit code 1") == "exit code 1"


def test_flags_headers_and_token_shapes_are_masked():
    text = "--api-key abc --api-key=def Authorization: Bearer ghi hf_" + "a" * 34
    assert redact.redact(text) == "--api-key *** --api-key=*** Authorization: Bearer *** ***"


def test_explicit_secrets_and_structures(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf-secret-from-env")
    doc = {"a": ["key k1 and hf-secret-from-env"], "b": {"c": "k1"}, "n": 3, "none": None}
    assert redact.redact_tree(doc, ["k1"]) == {"a": ["key *** and ***"], "b": {"c": "***"}, "n": 3, "none": None}


def test_scrub_files_rewrites_only_files_with_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    (tmp_path / "logs").mkdir()
    leaky, clean = tmp_path / "logs" / "server.log", tmp_path / "junit.xml"
    leaky.write_text("non-default args: {'api_key': ['sk-test-0123456789']}\n")
    clean.write_text("<testsuite/>")
    assert redact.scrub_files(tmp_path) == [leaky]
    assert leaky.read_text() == "non-default args: {'api_key': ['***']}\n" and clean.read_text() == "<testsuite/>"
