"""Faults become per-request errors with a reason; runs finish within their bounds; nothing hangs."""

from __future__ import annotations

import time

import pytest

from workbench.bench import LoadSpec, RunConfig, create_backend, make_requests, run_benchmark
from workbench.bench.faults import classify
from workbench.bench.harness import execute_one, run_level

BACKENDS = ["openai", "ollama"]


@pytest.fixture(scope="module")
def request_():
    return make_requests("synthetic", 1, input_tokens=8, max_output_tokens=8)[0]


def one(fault_server, backend, model, req, timeout_s=1.0, budget_s=5.0):
    b = create_backend(backend, fault_server.url, model, timeout_s=timeout_s, connect_timeout_s=1.0)
    t0 = time.monotonic()
    r = execute_one(b, req, request_timeout_s=budget_s)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_healthy_fake_stream_is_ok(fault_server, backend, request_):
    r, _ = one(fault_server, backend, "ok", request_)
    assert r.ok and r.error_reason is None and r.chunks == 5 and len(r.itl_ms) == 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model,reason,status", [("http429", "http_429", 429), ("http500", "http_500", 500)])
def test_http_errors(fault_server, backend, model, reason, status, request_):
    r, elapsed = one(fault_server, backend, model, request_)
    assert not r.ok and r.error_reason == reason and r.http_status == status
    assert r.ttft_ms is None and r.output_tokens == 0
    assert elapsed < 2.0  # no retries


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", ["cut", "cut-clean"])
def test_stream_cut_midway_keeps_what_arrived(fault_server, backend, model, request_):
    r, _ = one(fault_server, backend, model, request_)
    assert not r.ok and r.error_reason == "stream_cut", r.error_message
    assert r.chunks == 3 and r.ttft_ms is not None  # the partial stream is still recorded


@pytest.mark.parametrize("backend", BACKENDS)
def test_server_that_never_answers_times_out(fault_server, backend, request_):
    r, elapsed = one(fault_server, backend, "hang", request_, timeout_s=0.5)
    assert not r.ok and r.error_reason == "timeout", r.error_message
    assert 0.4 < elapsed < 3.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_trickling_stream_hits_the_total_deadline(fault_server, backend, request_):
    r, elapsed = one(fault_server, backend, "slow", request_, timeout_s=2.0, budget_s=1.0)
    assert not r.ok and r.error_reason == "deadline"
    assert elapsed < 2.5 and r.chunks >= 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_connection_refused(closed_port, backend, request_):
    b = create_backend(backend, f"http://127.0.0.1:{closed_port}", "x", timeout_s=1.0, connect_timeout_s=1.0)
    t0 = time.monotonic()
    r = execute_one(b, request_)
    assert not r.ok and r.error_reason == "connection_refused", r.error_message
    assert time.monotonic() - t0 < 2.0


def test_ollama_error_object_inside_the_stream(fault_server, request_):
    r, _ = one(fault_server, "ollama", "error-line", request_)
    assert not r.ok and r.error_reason == "server_error" and "crashed" in r.error_message


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_against_a_hanging_server_finishes_within_its_bounds(fault_server, backend):
    prompts = make_requests("synthetic", 4, input_tokens=8, max_output_tokens=4)
    b = create_backend(backend, fault_server.url, "hang", timeout_s=0.5, connect_timeout_s=0.5)
    cfg = RunConfig(levels=(LoadSpec(concurrency=2, requests=6, max_duration_s=1.0),), warmup_requests=1,
                    cold_start=True, request_timeout_s=0.5)
    t0 = time.monotonic()
    run = run_benchmark(b, prompts, cfg)
    elapsed = time.monotonic() - t0
    # cold (0.5) + warm-up (0.5) + level: duration 1.0 + one request timeout 0.5 (+ slack for describe/CPU)
    assert elapsed < 6.0
    s = run.summary()
    assert s["requests"] >= 2 and s["errors"] == s["requests"] and s["errors_by_reason"] == {"timeout": s["requests"]}
    assert run.cold_start.error_reason == "timeout"


def test_open_loop_against_a_mix_of_faults_records_each_reason(fault_server, closed_port):
    prompts = make_requests("synthetic", 1, input_tokens=8, max_output_tokens=4)
    reasons = {}
    for model in ("http429", "http500", "cut", "ok"):
        b = create_backend("openai", fault_server.url, model, timeout_s=1.0)
        lv = run_level(b, prompts, LoadSpec(concurrency=2, requests=5, rate=50.0, burstiness=0.5,
                                            max_duration_s=2.0), request_timeout_s=1.0)
        reasons[model] = lv.summary["errors_by_reason"]
        assert lv.summary["requests"] + lv.not_sent == 5
    assert reasons["http429"] == {"http_429": 5}
    assert reasons["http500"] == {"http_500": 5}
    assert reasons["cut"] == {"stream_cut": 5}
    assert reasons["ok"] == {}


def test_classify_unknown_exception_is_error():
    f = classify(RuntimeError("something odd"))
    assert f.reason == "error" and "something odd" in f.message
