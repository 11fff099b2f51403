"""Record the sample benchmark runs shipped in ``sample_data/bench`` (real runs on this machine).

Starts a llama.cpp server (llama-cpp-python, SmolLM2-135M Q4_1, 1 thread) on a free loopback port, runs
the OpenAI-compatible backend against it at several concurrency levels, then starts the test-only Ollama
bridge in front of the same server and runs the ``ollama`` backend through it. Both servers are stopped
by PID at the end.

    .venv/bin/python scripts/record_bench_sample.py [--out sample_data/bench] [--requests 8]

Needs ``scripts/install_llama_server.sh`` first and the shared data folder (Bitext prompts).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.bench import LoadSpec, RunConfig, SLO, create_backend, make_requests, run_benchmark, save_run  # noqa: E402
from workbench.bench.local_server import LlamaServer, free_port, stop_process, wait_http_ok  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "sample_data" / "bench"))
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--max-output-tokens", type=int, default=32)
    p.add_argument("--concurrency", default="1,2,4")
    a = p.parse_args(argv)
    levels = [int(x) for x in a.concurrency.split(",")]
    prompts = make_requests("bitext", max(a.requests, 4), max_output_tokens=a.max_output_tokens, seed=7)
    slo = SLO(ttft_ms=2000.0, tpot_ms=50.0)
    config = RunConfig(levels=tuple(LoadSpec(concurrency=c, requests=a.requests) for c in levels),
                       warmup_requests=1, request_timeout_s=120.0, seed=7, slo=slo)

    def progress(r, k, n):
        print(f"  {r.level}: {k}/{n} {'ok' if r.ok else r.error_reason} ttft={r.ttft_ms or 0:.0f}ms", flush=True)

    with LlamaServer() as srv:
        print(f"llama.cpp server pid {srv.pid} on {srv.url}", flush=True)
        with create_backend("openai", srv.base_url, srv.alias) as backend:
            run = run_benchmark(backend, prompts, config, server_settings=srv.settings(), progress=progress)
        paths = save_run(run, a.out, stem="openai-llamacpp-smollm2-135m")
        print("saved", *paths)

        port = free_port()
        bridge = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "bench" / "ollama_bridge.py"), "--upstream", srv.url,
             "--upstream-model", srv.alias, "--name", "smollm2:135m", "--model-path", str(srv.model_path),
             "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_http_ok(f"http://127.0.0.1:{port}/api/tags", 30, bridge)
            settings = {**srv.settings(), "ollama_api": "tests/bench/ollama_bridge.py (Ollama wire protocol "
                                                        "in front of the llama.cpp server; no Ollama binary here)"}
            with create_backend("ollama", f"http://127.0.0.1:{port}", "smollm2:135m") as backend:
                run = run_benchmark(backend, prompts, RunConfig(
                    levels=tuple(LoadSpec(concurrency=c, requests=a.requests) for c in levels[:2]),
                    warmup_requests=1, request_timeout_s=120.0, seed=7, slo=slo),
                    server_settings=settings, progress=progress)
            paths = save_run(run, a.out, stem="ollama-bridge-smollm2-135m")
            print("saved", *paths)
        finally:
            stop_process(bridge)
    return 0


if __name__ == "__main__":
    sys.exit(main())
