"""`workbench bench` — the scripted-check contract, against the real servers; bad input exits 2."""

from __future__ import annotations

import json

import pytest

CONTRACT = ("requests", "errors", "ttft_ms", "itl_ms", "output_tokens_per_s")


def _check_contract(out: dict, requests: int) -> None:
    for key in CONTRACT:
        assert key in out, key
    assert out["requests"] == requests
    for key in ("ttft_ms", "itl_ms"):
        assert set(out[key]) >= {"p50", "p90", "p99"}


def test_cli_openai_contract_with_cost(run_cli, llama_server, tmp_path):
    res = run_cli("bench", "--backend", "openai", "--base-url", llama_server.base_url, "--model", llama_server.alias,
                  "--requests", "3", "--concurrency", "1", "--max-output-tokens", "6", "--dataset", "bitext",
                  "--gpu-usd-per-hour", "0.5", "--hosted", "gpt-4o-mini", "--server-setting", "runtime=llama.cpp",
                  "--save", str(tmp_path), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    _check_contract(out, 3)
    assert out["errors"] == 0 and out["output_tokens_per_s"] > 0
    assert out["ttft_ms"]["p50"] > 0 and out["itl_ms"]["p50"] > 0
    # usd_per_mtok_output recomputed from the measured throughput
    assert out["usd_per_mtok_output"] == pytest.approx(0.5 / (3600 * out["output_tokens_per_s"]) * 1e6)
    assert out["usd_per_mtok_total"] == pytest.approx(0.5 / (3600 * out["total_tokens_per_s"]) * 1e6)
    assert out["break_even"][0]["model"] == "gpt-4o-mini"
    assert "not comparable" in out["quality_warning"]
    assert out["environment"]["server"]["settings"] == {"runtime": "llama.cpp"}
    saved = sorted(p.suffix for p in tmp_path.iterdir())
    assert saved == [".csv", ".json"]


def test_cli_ollama_contract_two_levels(run_cli, ollama_bridge):
    res = run_cli("bench", "--backend", "ollama", "--base-url", ollama_bridge.url, "--model", ollama_bridge.model,
                  "--requests", "2", "--concurrency", "1,2", "--max-output-tokens", "5", "--dataset", "synthetic",
                  "--input-tokens", "12", "--warmup", "0", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    _check_contract(out, 4)  # over both levels
    assert [lv["spec"]["label"] for lv in out["levels"]] == ["c1", "c2"]
    assert all(lv["summary"]["requests"] == 2 for lv in out["levels"])
    assert "usd_per_mtok_output" not in out  # only with a price
    assert out["server"]["ttft_ms"]["p50"] > 0


def test_cli_human_output(run_cli, llama_server):
    res = run_cli("bench", "--backend", "openai", "--base-url", llama_server.base_url, "--model", llama_server.alias,
                  "--requests", "1", "--max-output-tokens", "3", "--dataset", "synthetic", "--warmup", "0",
                  "--no-cold-start", "--hardware", "cpu-m7g-large")
    assert res.returncode == 0, res.stderr
    assert "ttft p50" in res.stdout and "/1M output tokens" in res.stdout and "not comparable" in res.stdout


def test_cli_connection_refused_is_recorded_not_raised(run_cli, closed_port):
    res = run_cli("bench", "--backend", "openai", "--base-url", f"http://127.0.0.1:{closed_port}/v1", "--model", "m",
                  "--requests", "3", "--dataset", "synthetic", "--json", "--gpu-usd-per-hour", "1")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["requests"] == 3 and out["errors"] == 3
    assert out["errors_by_reason"] == {"connection_refused": 3}
    assert out["usd_per_mtok_output"] is None
    again = run_cli("bench", "--backend", "openai", "--base-url", f"http://127.0.0.1:{closed_port}/v1", "--model",
                    "m", "--requests", "1", "--dataset", "synthetic", "--fail-on-errors", "--json")
    assert again.returncode == 1


@pytest.mark.parametrize("args,fragment", [
    (["--backend", "nope"], "invalid choice"),
    (["--concurrency", "0"], "concurrency"),
    (["--concurrency", "a,b"], "concurrency"),
    (["--requests", "-3"], "requests"),
    (["--max-output-tokens", "0"], "max-output-tokens"),
    (["--base-url", "not-a-url"], "base URL"),
    (["--hardware", "no-such-gpu"], "unknown hardware preset"),
    (["--utilisation", "1.5"], "utilisation"),
    (["--gpu-usd-per-hour", "-1"], "gpu-usd-per-hour"),
    (["--hosted", "gpt-4o-mini"], "--hosted needs"),
    (["--gpu-usd-per-hour", "1", "--hosted", "no-such-model"], "unknown hosted model"),
])
def test_cli_bad_input_is_one_line_exit_2(run_cli, closed_port, args, fragment):
    base = ["bench", "--backend", "openai", "--base-url", f"http://127.0.0.1:{closed_port}", "--model", "m"]
    res = run_cli(*base, *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], res.stderr
    assert res.stdout == ""
