"""Both backends against a real local runtime: llama.cpp's server with SmolLM2-135M (and the Ollama bridge)."""

from __future__ import annotations

import statistics

import httpx
import pytest

from workbench.bench import LoadSpec, RunConfig, SLO, create_backend, make_requests, run_benchmark
from workbench.bench.harness import execute_one

MAX_TOKENS = 8


@pytest.fixture(scope="module")
def prompts():
    return make_requests("bitext", 6, max_output_tokens=MAX_TOKENS, seed=3)


def test_openai_backend_against_llama_cpp(llama_server, prompts):
    backend = create_backend("openai", llama_server.base_url, llama_server.alias, timeout_s=60)
    cfg = RunConfig(levels=(LoadSpec(concurrency=1, requests=3), LoadSpec(concurrency=2, requests=3)),
                    warmup_requests=1, request_timeout_s=60, slo=SLO(ttft_ms=60_000, tpot_ms=10_000))
    with backend:
        run = run_benchmark(backend, prompts, cfg, server_settings=llama_server.settings())
    assert run.cold_start is not None and run.cold_start.ok and run.cold_start.phase == "cold"
    assert [r.phase for r in run.warmup] == ["warmup"]
    assert [lv.spec.label for lv in run.levels] == ["c1", "c2"]
    for lv in run.levels:
        s = lv.summary
        assert s["requests"] == 3 and s["errors"] == 0, s["errors_by_reason"]
        assert s["ttft_ms"]["p50"] > 0 and s["itl_ms"]["p50"] > 0 and s["e2e_ms"]["p50"] >= s["ttft_ms"]["p50"]
        assert s["output_tokens_per_s"] > 0 and s["goodput_fraction"] == 1.0
    for r in run.measured():
        assert r.ok and r.finish_reason in ("length", "stop")
        assert 1 <= r.chunks <= MAX_TOKENS and len(r.itl_ms) == r.chunks - 1
        # llama.cpp's server sends no usage in streams: tokens are counted and tagged so
        assert r.output_tokens_source == "usage" or r.output_tokens_source.startswith("counted:")
        assert r.input_tokens > 0 and r.input_tokens_source
        assert r.tpot_ms is None or r.tpot_ms > 0
    env = run.environment
    assert env["backend"]["backend"] == "openai" and env["backend"]["model"] == llama_server.alias
    assert [m["id"] for m in env["server"]["models"]] == [llama_server.alias]
    assert env["server"]["settings"]["n_threads"] == "1"
    assert env["machine"]["cpu_count"] >= 1


def test_ollama_backend_through_the_bridge_reads_server_timings(ollama_bridge, prompts):
    backend = create_backend("ollama", ollama_bridge.url, ollama_bridge.model, timeout_s=60)
    cfg = RunConfig(levels=(LoadSpec(concurrency=1, requests=4),), warmup_requests=1, request_timeout_s=60)
    with backend:
        run = run_benchmark(backend, prompts, cfg)
    s = run.summary()
    assert s["requests"] == 4 and s["errors"] == 0, s["errors_by_reason"]
    assert s["output_tokens_source"] == {"usage": 4} and s["input_tokens_source"] == {"usage": 4}
    diffs = []
    for r in run.measured():
        assert r.output_tokens == r.chunks  # eval_count: one token per streamed chunk
        assert r.server_prompt_eval_ms > 0 and r.server_eval_ms > 0 and r.server_load_ms is not None
        assert r.server_total_ms >= r.server_ttft_ms > 0
        assert r.server_output_tokens_per_s > 0
        # the client's TTFT includes the server's time to first token plus loopback transfer
        diffs.append(r.ttft_ms - r.server_ttft_ms)
    assert min(diffs) > -1.0
    assert statistics.median(diffs) < 25.0, diffs  # the benchmark quotes the precise figure (≤ 5 ms)
    assert s["server"]["ttft_ms"]["p50"] > 0
    models = run.environment["server"]["models"]
    assert models[0]["model"] == ollama_bridge.model and models[0]["details"]["format"] == "gguf"


def test_ollama_generate_endpoint(ollama_bridge, prompts):
    backend = create_backend("ollama", ollama_bridge.url, ollama_bridge.model, endpoint="generate")
    r = execute_one(backend, prompts[0], request_timeout_s=60)
    assert r.ok and r.output_tokens_source == "usage" and r.output_tokens == r.chunks >= 1


def test_the_bridge_speaks_ollamas_wire_format(ollama_bridge):
    """What the harness cannot tell from Ollama: NDJSON lines with Ollama's fields and nanosecond timings."""
    import json

    tags = httpx.get(f"{ollama_bridge.url}/api/tags", timeout=10).json()
    assert tags["models"][0]["name"] == ollama_bridge.model
    body = {"model": ollama_bridge.model, "messages": [{"role": "user", "content": "Hi"}],
            "options": {"num_predict": 3, "temperature": 0}}
    with httpx.stream("POST", f"{ollama_bridge.url}/api/chat", json=body, timeout=60) as r:
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(x) for x in r.iter_lines() if x]
    assert all(set(["model", "created_at", "message", "done"]) <= set(x) for x in lines)
    assert [x["done"] for x in lines] == [False] * (len(lines) - 1) + [True]
    final = lines[-1]
    for key in ("done_reason", "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration",
                "eval_count", "eval_duration"):
        assert key in final
    assert final["eval_count"] == len(lines) - 1 <= 3 and final["done_reason"] in ("length", "stop")
    assert isinstance(final["eval_duration"], int) and final["total_duration"] > final["eval_duration"]
    missing = httpx.post(f"{ollama_bridge.url}/api/chat", json={**body, "model": "nope"}, timeout=10)
    assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_open_loop_poisson_against_the_real_server(llama_server, prompts):
    backend = create_backend("openai", llama_server.base_url, llama_server.alias)
    cfg = RunConfig(levels=(LoadSpec(concurrency=2, requests=3, rate=4.0, max_duration_s=30),), warmup_requests=0,
                    cold_start=False, request_timeout_s=60)
    run = run_benchmark(backend, prompts, cfg)
    lv = run.levels[0]
    assert lv.spec.mode == "poisson" and lv.summary["requests"] == 3 and lv.summary["errors"] == 0
    assert [r.scheduled_s for r in lv.results] == sorted(r.scheduled_s for r in lv.results)
