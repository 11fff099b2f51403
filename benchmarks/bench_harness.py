"""Benchmark the benchmark harness: overhead per streamed token, and TTFT against the server's own timing.

Run: ``python benchmarks/bench_harness.py [--tokens 2000] [--repeat 5] [--ttft-requests 20] [--real]``

1. **Overhead per streamed token.** A fake stream server (a separate process, so it does not share the
   client's GIL) streams ``--tokens`` tokens as fast as it can, in both wire protocols (OpenAI SSE and
   Ollama NDJSON). The same streams are consumed by

   * raw ``httpx`` (``iter_lines`` + ``json.loads`` per line — the least a client can do),
   * the raw official client (``openai`` / ``ollama``, iterating the stream, nothing else),
   * the harness (:func:`workbench.bench.harness.execute_one` with the matching backend: per-token timing,
     inter-token gaps, text kept, token counting at the end).

   Per-token cost is wall time / tokens (best and median of ``--repeat`` runs, interleaved round-robin so
   that other load on the machine hits every consumer alike); the harness overhead is the harness
   per-token time minus the raw client's. Target: ≤ 1 ms per token.

2. **TTFT vs the server's own timing.** The fake server waits ``--prefill-ms`` before the first token
   (a simulated prefill) and records, server-side, the time from reading the request to flushing the
   first token; the harness's TTFT is compared request by request. Target: within 5 ms on loopback.
   With ``--real`` (needs ``scripts/install_llama_server.sh``) the same comparison runs against the real
   llama.cpp server through the Ollama-protocol bridge of the tests, whose ``load_duration +
   prompt_eval_duration`` is the server-side time to first token.

Figures are printed side by side and written to ``benchmarks/results/bench_harness.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# ---------------------------------------------------------------------------------------------------
# The fake stream server (run in its own process with --serve PORT)
# ---------------------------------------------------------------------------------------------------

_TIMINGS: list[float] = []
_LOCK = threading.Lock()


class _StreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _json(self, obj, status=200):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        if self.path == "/stats":
            with _LOCK:
                data = list(_TIMINGS)
                _TIMINGS.clear()
            self._json({"server_ttft_ms": data})
        elif self.path.startswith("/v1/models"):
            self._json({"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "bench"}]})
        elif self.path == "/api/tags":
            self._json({"models": [{"name": "fake:latest", "model": "fake:latest", "size": 0, "digest": "0",
                                    "details": {"format": "gguf"}}]})
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self):  # noqa: N802
        t0 = time.perf_counter_ns()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        model = str(body.get("model", "fake"))
        # model "fake-N-D": N tokens, D ms before the first one
        parts = model.split(":")[0].split("-")
        n = int(parts[1]) if len(parts) > 1 else 100
        prefill_ms = float(parts[2]) if len(parts) > 2 else 0.0
        openai = self.path.startswith("/v1/")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if openai else "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if prefill_ms:
            time.sleep(prefill_ms / 1000.0)  # the simulated prefill
        w = self.wfile
        first_ns = None
        if openai:
            head = b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"fake","choices":[{"index":0,"delta":{"content":" tok'
            tail = b'"},"finish_reason":null}]}\n\n'
        else:
            head = b'{"model":"fake:latest","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":" tok'
            tail = b'"},"done":false}\n'
        for i in range(n):
            data = head + str(i).encode() + tail
            w.write(b"%x\r\n%s\r\n" % (len(data), data))
            w.flush()
            if first_ns is None:
                first_ns = time.perf_counter_ns()
        t_end = time.perf_counter_ns()
        if openai:
            fin = (b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"fake","choices":[{"index":0,'
                   b'"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":7,"completion_tokens":%d,'
                   b'"total_tokens":%d}}\n\ndata: [DONE]\n\n' % (n, n + 7))
        else:
            fin = json.dumps({
                "model": "fake:latest", "created_at": "2024-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "length",
                "total_duration": t_end - t0, "load_duration": 0, "prompt_eval_count": 7,
                "prompt_eval_duration": (first_ns or t_end) - t0, "eval_count": n,
                "eval_duration": t_end - (first_ns or t_end)}).encode() + b"\n"
        w.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(fin), fin))
        w.flush()
        with _LOCK:
            _TIMINGS.append(((first_ns or t_end) - t0) / 1e6)


def serve(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _StreamHandler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


# ---------------------------------------------------------------------------------------------------
# Consumers
# ---------------------------------------------------------------------------------------------------

def raw_httpx(url: str, path: str, body: dict) -> int:
    import httpx

    n = 0
    with httpx.Client(timeout=60) as c, c.stream("POST", url + path, json=body) as r:
        for line in r.iter_lines():
            if not line:
                continue
            if line.startswith("data: "):
                line = line[6:]
                if line == "[DONE]":
                    break
            obj = json.loads(line)
            if obj.get("choices") and obj["choices"][0]["delta"].get("content") or \
                    (obj.get("message") or {}).get("content"):
                n += 1
    return n


def raw_openai(url: str, model: str) -> int:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    n = 0
    for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                max_tokens=100000, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            n += 1
    client.close()
    return n


def raw_ollama(url: str, model: str) -> int:
    import ollama

    client = ollama.Client(host=url)
    n = 0
    for part in client.chat(model, messages=[{"role": "user", "content": "hi"}], stream=True):
        if part.message.content:
            n += 1
    return n


def harness(backend_name: str, url: str, model: str):
    from workbench.bench import create_backend, make_requests
    from workbench.bench.harness import execute_one

    backend = create_backend(backend_name, url, model)
    req = make_requests("synthetic", 1, input_tokens=4, max_output_tokens=100000)[0]
    r = execute_one(backend, req, request_timeout_s=120)
    backend.close()
    assert r.ok, r.error_message
    return r


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def per_token_us(consumers: dict, tokens: int, repeat: int) -> dict:
    """µs per token for each consumer: best and median of ``repeat`` runs, interleaved round-robin so that
    load from other processes on the machine hits every consumer alike."""
    for fn, args in consumers.values():
        fn(*args)  # warm-up (imports, first connection)
    times: dict[str, list[float]] = {name: [] for name in consumers}
    for _ in range(repeat):
        for name, (fn, args) in consumers.items():
            dt, _ = timed(fn, *args)
            times[name].append(dt / tokens * 1e6)
    return {name: {"best": min(v), "median": statistics.median(v)} for name, v in times.items()}


def overhead(url: str, tokens: int, repeat: int) -> dict:
    model = f"fake-{tokens}-0"
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    return {
        "openai": per_token_us({
            "raw httpx": (raw_httpx, (url, "/v1/chat/completions", body)),
            "raw openai client": (raw_openai, (url, model)),
            "harness (openai backend)": (harness, ("openai", url, model)),
        }, tokens, repeat),
        "ollama": per_token_us({
            "raw httpx": (raw_httpx, (url, "/api/chat", body)),
            "raw ollama client": (raw_ollama, (url, model)),
            "harness (ollama backend)": (harness, ("ollama", url, model)),
        }, tokens, repeat),
    }


def ttft_vs_server(url: str, backend_name: str, n: int, prefill_ms: float) -> dict:
    import httpx

    from workbench.bench import create_backend, make_requests
    from workbench.bench.harness import execute_one

    httpx.get(url + "/stats")  # clear
    backend = create_backend(backend_name, url, f"fake-20-{prefill_ms:g}")
    req = make_requests("synthetic", 1, input_tokens=4, max_output_tokens=20)[0]
    execute_one(backend, req)  # warm-up: connection set up
    httpx.get(url + "/stats")
    client = [execute_one(backend, req).ttft_ms for _ in range(n)]
    server = httpx.get(url + "/stats").json()["server_ttft_ms"]
    backend.close()
    diffs = [c - s for c, s in zip(client, server)]
    return {"client_ttft_ms_median": statistics.median(client), "server_ttft_ms_median": statistics.median(server),
            "diff_ms_median": statistics.median(diffs), "diff_ms_p90": sorted(diffs)[int(0.9 * (len(diffs) - 1))],
            "diff_ms_max": max(diffs), "n": len(diffs)}


def ttft_vs_real_server(n: int) -> dict:
    from workbench.bench import LoadSpec, RunConfig, create_backend, make_requests, run_benchmark
    from workbench.bench.local_server import LlamaServer, free_port, stop_process, wait_http_ok

    with LlamaServer() as srv:
        port = free_port()
        bridge = subprocess.Popen([sys.executable, str(ROOT / "tests" / "bench" / "ollama_bridge.py"), "--upstream",
                                   srv.url, "--upstream-model", srv.alias, "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/api/tags", 30, bridge)
            backend = create_backend("ollama", f"http://127.0.0.1:{port}", "smollm2:135m")
            run = run_benchmark(backend, make_requests("bitext", n, max_output_tokens=4, seed=1),
                                RunConfig(levels=(LoadSpec(concurrency=1, requests=n),), warmup_requests=1))
        finally:
            stop_process(bridge)
    diffs = [r.ttft_ms - r.server_ttft_ms for r in run.measured() if r.ok]
    return {"client_ttft_ms_median": statistics.median(r.ttft_ms for r in run.measured()),
            "server_ttft_ms_median": statistics.median(r.server_ttft_ms for r in run.measured()),
            "diff_ms_median": statistics.median(diffs), "diff_ms_p90": sorted(diffs)[int(0.9 * (len(diffs) - 1))],
            "diff_ms_max": max(diffs), "n": len(diffs)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--tokens", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--ttft-requests", type=int, default=20)
    p.add_argument("--prefill-ms", type=float, default=50.0)
    p.add_argument("--real", action="store_true", help="also compare TTFT against the real llama.cpp server")
    a = p.parse_args(argv)
    if a.serve is not None:
        serve(a.serve)
        return 0

    from workbench.bench.local_server import free_port, stop_process

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # "listening PORT": the server is up
        url = f"http://127.0.0.1:{port}"
        over = overhead(url, a.tokens, a.repeat)
        ttft = {be: ttft_vs_server(url, be, a.ttft_requests, a.prefill_ms) for be in ("openai", "ollama")}
    finally:
        stop_process(proc)
    real = ttft_vs_real_server(a.ttft_requests) if a.real else None

    print(f"Harness overhead per streamed token ({a.tokens} tokens/stream, {a.repeat} interleaved runs; "
          "µs/token, best / median)")
    result = {"tokens": a.tokens, "repeat": a.repeat, "overhead_us_per_token": over, "ttft": ttft, "ttft_real": real,
              "load_avg_1m": round(os.getloadavg()[0], 2)}
    for proto, rows in over.items():
        raw_client = [v for k, v in rows.items() if k.startswith("raw ") and "httpx" not in k][0]
        h = [v for k, v in rows.items() if k.startswith("harness")][0]
        print(f"  {proto:<7} " + "  ".join(f"{k}: {v['best']:6.1f} / {v['median']:6.1f}" for k, v in rows.items()))
        d_best, d_med = h["best"] - raw_client["best"], h["median"] - raw_client["median"]
        print(f"          harness - raw client: {d_best:+.1f} µs best, {d_med:+.1f} µs median "
              f"({d_best / 1000:+.3f} / {d_med / 1000:+.3f} ms per token; target ≤ 1 ms); "
              f"harness / raw client {h['best'] / raw_client['best']:.2f}x (best)")
        result.setdefault("harness_overhead_ms_per_token", {})[proto] = {"best": d_best / 1000, "median": d_med / 1000}
    print(f"machine load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"TTFT: harness vs the server's own time to first token ({a.ttft_requests} requests, "
          f"{a.prefill_ms:g} ms simulated prefill, loopback)")
    for proto, t in ttft.items():
        print(f"  {proto:<7} client {t['client_ttft_ms_median']:7.2f} ms  server {t['server_ttft_ms_median']:7.2f} ms"
              f"  diff median {t['diff_ms_median']:+.2f} ms  p90 {t['diff_ms_p90']:+.2f}  max {t['diff_ms_max']:+.2f}"
              f"  (target within 5 ms)")
    if real:
        print(f"  real llama.cpp via Ollama protocol: client {real['client_ttft_ms_median']:.1f} ms  server "
              f"{real['server_ttft_ms_median']:.1f} ms  diff median {real['diff_ms_median']:+.2f} ms  p90 "
              f"{real['diff_ms_p90']:+.2f}  max {real['diff_ms_max']:+.2f}  (n={real['n']})")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_harness.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
