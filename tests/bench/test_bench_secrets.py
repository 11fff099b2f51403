"""API keys are read from the environment and sent, but never printed, stored in results or notebook outputs."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from workbench.bench import create_backend, make_requests
from workbench.bench.harness import LoadSpec, RunConfig, run_benchmark
from workbench.bench.results import save_run, scrub_secrets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def key() -> str:
    return "sk-test-" + secrets.token_hex(16)


def _all_text(path: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(path.rglob("*")) if p.is_file())


@pytest.mark.parametrize("backend,env_name", [("openai", "OPENAI_API_KEY"), ("ollama", "BENCH_TEST_API_KEY")])
def test_cli_sends_the_key_but_never_prints_or_saves_it(run_cli, fault_server, tmp_path, key, backend, env_name):
    before = len(fault_server.seen_headers)
    args = ["bench", "--backend", backend, "--base-url", fault_server.url, "--model", "ok", "--requests", "2",
            "--dataset", "synthetic", "--save", str(tmp_path), "--gpu-usd-per-hour", "1", "--json"]
    if backend == "ollama":
        args += ["--api-key-env", env_name]
    res = run_cli(*args, env={env_name: key})
    assert res.returncode == 0, res.stderr
    sent = [h.get("Authorization") or h.get("authorization") for h in fault_server.seen_headers[before:]]
    assert f"Bearer {key}" in sent  # the key was read from the environment and used
    assert key not in res.stdout and key not in res.stderr
    assert key not in _all_text(tmp_path)
    out = json.loads(res.stdout)
    assert out["environment"]["backend"]["api_key_env"] == env_name
    assert out["environment"]["backend"]["api_key_set"] is True


def test_a_server_echoing_the_key_in_errors_is_redacted(run_cli, fault_server, tmp_path, key):
    res = run_cli("bench", "--backend", "openai", "--base-url", fault_server.url, "--model", "leak", "--requests", "2",
                  "--dataset", "synthetic", "--save", str(tmp_path), "--json", env={"OPENAI_API_KEY": key})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["errors_by_reason"] == {"http_500": 2}
    assert key not in res.stdout and key not in res.stderr and key not in _all_text(tmp_path)
    assert "[redacted]" in _all_text(tmp_path)


def test_library_results_never_hold_the_key(fault_server, tmp_path, key, monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_TOKEN", key)
    b = create_backend("openai", fault_server.url, "leak", api_key_env="MY_PROVIDER_TOKEN")
    run = run_benchmark(b, make_requests("synthetic", 2, input_tokens=8, max_output_tokens=4),
                        RunConfig(levels=(LoadSpec(requests=2),), warmup_requests=0))
    assert key not in json.dumps(run.to_dict())
    save_run(run, tmp_path)
    assert key not in _all_text(tmp_path)
    assert key not in repr(b.info()) and key not in repr(vars(b))
    ob = create_backend("ollama", fault_server.url, "ok", api_key_env="MY_PROVIDER_TOKEN")
    ob.describe()
    assert key not in repr(vars(ob)) and key not in repr(ob.info())


def test_scrub_secrets_replaces_credential_like_env_values(monkeypatch, key):
    monkeypatch.setenv("SOME_API_KEY", key)
    assert scrub_secrets({"a": [f"x {key} y"]}) == {"a": ["x [redacted] y"]}


def test_app_notebook_outputs_hold_no_key(key, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OLLAMA_API_KEY", key)
    path = ROOT / "notebooks" / "apps" / "local_vs_hosted.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    text = nbformat.writes(nb)
    assert "error" not in [o.get("output_type") for c in nb.cells for o in c.get("outputs", [])]
    assert key not in text
    assert os.environ["OPENAI_API_KEY"] == key  # the kernel had it in its environment
