"""Ingestion speed: a 1M-line OpenAI-style JSONL log through ``load_log``, against a naive loop.

Generates the log in a temporary folder (request body with chat messages + chat.completion response
with ``usage`` and cached tokens; ~1% bad lines: malformed JSON, negative tokens, unknown models,
duplicate ids), times :func:`workbench.io.traffic.load_log` on it, and times the obvious
alternative -- ``json.loads`` per line into dicts, then ``pandas.DataFrame`` -- on a subset,
extrapolated to the full size (the naive loop does no validation at all, so it flatters itself).
Peak memory is the process's max RSS (``resource.getrusage``), measured in fresh subprocesses.

    python benchmarks/bench_ingest.py [--lines 1000000] [--baseline-lines 100000]

Target (issue 5): <= 20 s for 1M lines.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 20.0

SYSTEMS = [
    "You are a helpful travel search assistant. Answer briefly and cite prices in EUR.",
    "You are a support agent for Acme Cloud. Be polite, concise and never promise refunds.",
    "You summarise legal documents for non-lawyers in plain English, in at most five bullet points.",
]
QUESTIONS = [
    "Find me a flight from Berlin to Lisbon next Friday, morning departure, one checked bag please.",
    "My invoice for October shows a charge twice; can you check what happened and fix it?",
    "Summarise clause 4 of the attached services agreement and flag anything unusual about liability.",
    "What is the cheapest way to get from the airport to the old town late at night?",
]
MODELS = ["gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1"]


def generate(path: Path, lines: int) -> None:
    """Write ``lines`` OpenAI-style log lines; every 100th line is bad in one of four ways."""
    base = 1_730_797_200  # 2024-11-05T09:00:00Z
    with open(path, "w", encoding="utf-8") as fh:
        buf = []
        for i in range(lines):
            sysp, q, model = SYSTEMS[i % 3], QUESTIONS[i % 4], MODELS[i % 4]
            prompt_tokens = 200 + (i * 37) % 3000
            cached = (prompt_tokens // 1024) * 1024 if i % 3 == 0 else 0
            completion = 20 + (i * 13) % 400
            rid = f"req-{i:07d}"
            bad = i % 100 == 99
            kind = (i // 100) % 4
            if bad and kind == 1:
                prompt_tokens = -prompt_tokens
            if bad and kind == 2:
                model = "gpt-4o-mimi"
            if bad and kind == 3:
                rid = f"req-{i - 1:07d}"
            hh, mm, ss = 9 + (i // 3_600_000) % 10, (i // 60_000) % 60, (i // 1000) % 60
            rec = {
                "request_id": rid,
                "timestamp": f"2024-11-05T{hh:02d}:{mm:02d}:{ss:02d}.{i % 1000:03d}Z",
                "tenant": f"tenant-{i % 17}",
                "feature": ("search", "support", "legal")[i % 3],
                "user": f"u-{i % 5000}",
                "latency_ms": 300 + (i * 7) % 2000,
                "request": {"model": model, "messages": [{"role": "system", "content": sysp},
                                                         {"role": "user", "content": q}]},
                "response": {
                    "id": f"chatcmpl-{i:08x}", "object": "chat.completion", "created": base + i // 1000,
                    "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Here is what I found."},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                              "total_tokens": prompt_tokens + completion,
                              "prompt_tokens_details": {"cached_tokens": cached}},
                },
            }
            line = json.dumps(rec)
            if bad and kind == 0:
                line = line[: len(line) // 2]  # truncated line: malformed JSON
            buf.append(line)
            if len(buf) == 50_000:
                fh.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            fh.write("\n".join(buf) + "\n")


CHILD_LOAD = """
import json, resource, sys, time
from workbench.io.traffic import load_log
from workbench.io.pricesheets import load_prices
book = load_prices()
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c, t = cpu(), time.perf_counter()
r = load_log(sys.argv[1], "openai-jsonl", book=book)
dt, dc = time.perf_counter() - t, cpu() - c
print(json.dumps({"seconds": dt, "cpu": dc, "kept": len(r.frame), "rejected": r.rejected_count, "rows": r.rows_read,
                  "summary": r.summary(), "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_NAIVE = """
import json, resource, sys, time, itertools
import pandas as pd
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
n = int(sys.argv[2])
c, t = cpu(), time.perf_counter()
rows = []
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in itertools.islice(fh, n):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        u = d["response"]["usage"]
        rows.append({"request_id": d["request_id"], "ts": d["timestamp"], "tenant": d["tenant"],
                     "feature": d["feature"], "user": d["user"], "model": d["response"]["model"],
                     "prompt": json.dumps(d["request"]["messages"]),
                     "input_tokens": u["prompt_tokens"], "output_tokens": u["completion_tokens"],
                     "cached_input_tokens": u["prompt_tokens_details"]["cached_tokens"],
                     "latency_ms": d["latency_ms"]})
df = pd.DataFrame(rows)
df["ts"] = pd.to_datetime(df["ts"], utc=True)
dt, dc = time.perf_counter() - t, cpu() - c
print(json.dumps({"seconds": dt, "cpu": dc, "rows": len(df),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_child(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--baseline-lines", type=int, default=100_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        path = Path(tmp) / "requests.jsonl"
        t = time.perf_counter()
        generate(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.lines:,} lines ({size_mb:,.0f} MB) in {time.perf_counter() - t:.1f} s")

        load = os.getloadavg()[0]
        print(f"machine:    {os.cpu_count()} CPUs, load average {load:.1f} before the run "
              "(wall times stretch when other processes share the CPUs; CPU seconds do not)")
        ours = run_child(CHILD_LOAD, str(path))
        print(f"load_log:   {ours['seconds']:6.2f} s wall, {ours['cpu']:6.2f} s CPU  "
              f"{args.lines / ours['seconds']:>10,.0f} lines/s  {size_mb / ours['seconds']:6.0f} MB/s  "
              f"peak RSS {ours['maxrss_mb']:,.0f} MB")
        print(f"            {ours['summary']}")
        n = min(args.baseline_lines, args.lines)
        naive = run_child(CHILD_NAIVE, str(path), str(n))
        scale = args.lines / n
        naive_wall, naive_cpu = naive["seconds"] * scale, naive["cpu"] * scale
        print(f"naive loop: {naive['seconds']:6.2f} s wall, {naive['cpu']:6.2f} s CPU for {n:,} lines -> "
              f"{naive_wall:6.2f} s wall, {naive_cpu:6.2f} s CPU extrapolated to {args.lines:,} "
              f"(json.loads per line + DataFrame, no validation; peak RSS {naive['maxrss_mb']:,.0f} MB "
              f"for {n:,} lines)")
        print(f"ratio:      naive / load_log = {naive_wall / ours['seconds']:.2f}x wall, "
              f"{naive_cpu / ours['cpu']:.2f}x CPU (load_log also validates every row and builds the report)")
        verdict = "PASS" if ours["seconds"] <= TARGET_S else "FAIL"
        print(f"target:     <= {TARGET_S:.0f} s for 1M lines: {verdict} "
              f"({ours['seconds'] / TARGET_S:.2f} of the budget wall, {ours['cpu'] / TARGET_S:.2f} in CPU seconds); "
              f"peak RSS / file size = {ours['maxrss_mb'] / size_mb:.2f}")
        return 0 if verdict == "PASS" or args.lines != 1_000_000 else 1


if __name__ == "__main__":
    sys.exit(main())
