"""Benchmark the replay engine: routing + batch + output cap + tenant quota + org daily budget.

Run: ``python benchmarks/bench_replay.py [--rows 1000000] [--big-rows 10000000] [--loop-rows 100000]``

Scenarios, each in a fresh child process so its peak RSS (VmHWM) is its own:

* ``inmem``  — ``--rows`` requests built in memory as a Polars frame, replayed on the Polars engine.
  Target: ≤ 2 s and ≤ 1 GB peak RSS at 1M rows.
* ``ooc``    — ``--big-rows`` requests written as Parquet (1M-row files) to a temporary directory,
  replayed on DuckDB with ``memory_limit=1GB`` from the files. Target: ≤ 90 s at 10M rows.
* ``loop``   — the plain-Python reference replay (one Python loop per policy over row dicts) on the
  first ``--loop-rows`` requests of the in-memory log, the row-loop baseline for the speed-up ratios.

Dollar caps are calibrated for 1M requests over 14 days and scaled with the row count, so the
budgets bind on some days and tenants in every scenario.

Synthetic traffic: 14 UTC days of March 2025, 40 tenants (the largest with ~44 % of rows), 7
features, the frozen test price sheet's 4 models, prompts from 240 templates (light, standard and
heavy by the seed's classifier), 5 % validation retries. Generation time is not counted. The
timings include reading the input, validation, pricing of every step, the per-request frame,
totals, waterfall, budget timeline and a 1000-resample bootstrap.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRICES = ROOT / "tests" / "fixtures" / "prices"
FEATURES = np.array(["chat", "search", "autocomplete", "summarize", "reports", "nightly-eval", "extract"])
FEATURE_P = np.array([0.30, 0.20, 0.15, 0.12, 0.08, 0.05, 0.10])
MODELS = np.array(["gpt-4o", "gpt-4o-mini", "claude-3-haiku", "tiered-sonnet"])
MODEL_P = np.array([0.45, 0.25, 0.10, 0.20])
STACK = {
    "name": "benchmark stack",
    "policies": [
        {"policy": "route", "plans": {"t000": "enterprise", "t001": "enterprise", "t002": "pro"},
         "default_plan": "free",
         "rules": [{"plan": "enterprise", "model": "gpt-4o", "max_input_tokens": 50_000},
                   {"feature": ["autocomplete"], "model": "claude-3-haiku"},
                   {"tier": "light", "model": "gpt-4o-mini"},
                   {"plan": "free", "from_model": ["gpt-4o", "tiered-sonnet"], "model": "gpt-4o-mini"}]},
        {"policy": "batch", "features": ["reports", "nightly-eval"]},
        {"policy": "output_cap", "max_output_tokens": 800},
        {"policy": "tenant_quota", "limit": 0.6, "plans": {"t000": "enterprise", "t001": "enterprise"},
         "plan_limits": {"enterprise": 200.0}, "action": "downgrade", "downgrade_to": "gpt-4o-mini",
         "alerts": [0.5, 0.8]},
        {"policy": "daily_budget", "usd": 230.0, "action": "block", "alerts": [0.5, 0.8, 0.95]},
    ],
}


def make_stack(rows: int) -> dict:
    """The benchmark stack with its dollar caps scaled to the traffic (calibrated at 1M rows over
    14 days, so the budgets bind on some days and tenants at any size)."""
    scale = rows / 1_000_000
    policies = []
    for p in STACK["policies"]:
        p = dict(p)
        for key in ("usd", "limit"):
            if key in p:
                p[key] = p[key] * scale
        if "plan_limits" in p:
            p["plan_limits"] = {k: v * scale for k, v in p["plan_limits"].items()}
        policies.append(p)
    return {**STACK, "policies": policies}


def _templates(rng: np.random.Generator) -> np.ndarray:
    light = ["where is my order", "reset my password please", "what are your opening hours", "cancel it",
             "thanks", "track package {i}", "is item {i} in stock", "hello there"]
    standard = ["Summarize the following support ticket and list the customer's three main complaints "
                "with a short recommendation for each of them {i}",
                "Write a polite reply to this customer email about a delayed refund and offer a coupon "
                "for the next purchase on order {i} including tracking details and apology",
                "Extract the invoice number, the total amount, the currency and the due date from this "
                "document and return them as JSON with keys number total currency due {i}"]
    heavy = ["Compare the two contract drafts below and explain why clause {i} changes the liability",
             "Design a migration plan for our billing service and analyze the risks of each step {i}",
             "Implement a function that parses these logs and explain why the parser fails on line {i}"]
    out = []
    for i in range(80):
        out.append(light[i % len(light)].format(i=i))
        out.append(standard[i % len(standard)].format(i=i))
        out.append(heavy[i % len(heavy)].format(i=i))
    return np.array(out)


def make_frame(n: int, seed: int = 7, offset: int = 0):
    """``n`` synthetic canonical requests as a Polars DataFrame (ids offset by ``offset``)."""
    import polars as pl
    rng = np.random.default_rng(seed + offset)
    tenants = np.array([f"t{i:03d}" for i in range(40)])
    weights = np.r_[0.44, np.full(39, 0.56 / 39)]
    start = np.datetime64("2025-03-01T00:00:00", "us")
    ts = start + (rng.random(n) * 14 * 86_400e6).astype("timedelta64[us]")
    model_idx = rng.choice(4, n, p=MODEL_P)
    inp = np.minimum(rng.lognormal(7.4, 1.0, n).astype(np.int64) + 20, 400_000)
    cacheable = model_idx != 2  # claude-3-haiku has no cached-input price in the sheet
    cached = np.where(cacheable & (rng.random(n) < 0.3), inp // 2, 0)
    write = np.where((model_idx == 3) & (cached == 0) & (rng.random(n) < 0.2), inp // 4, 0)
    prompts = _templates(rng)

    def pick(values, index):  # gather from a small Series: no n-long numpy string array
        return pl.Series(values.tolist(), dtype=pl.String).gather(index)

    return pl.DataFrame({
        "request_id": pl.select(pl.format("r{}", pl.int_range(offset, offset + n, dtype=pl.Int64))).to_series(),
        "ts": pl.Series(ts).dt.replace_time_zone("UTC"),
        "tenant": pick(tenants, rng.choice(40, n, p=weights)),
        "feature": pick(FEATURES, rng.choice(len(FEATURES), n, p=FEATURE_P)),
        "model": pick(MODELS, model_idx),
        "prompt": pick(prompts, rng.integers(0, len(prompts), n)),
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "cache_write_tokens": write,
        "output_tokens": np.minimum(rng.lognormal(5.5, 0.9, n).astype(np.int64) + 1, 16_000),
        "status": pick(np.array(["ok"]), np.zeros(n, dtype=np.int64)),
        "attempt": np.where(rng.random(n) < 0.05, 2, 1),
    })


def reset_peak_rss() -> None:
    """Start VmHWM again from the current RSS (Linux), so a peak excludes the data generation."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- child scenarios ---------------------------------------------------------------------------
def child(args) -> dict:
    from workbench.core.replay import PolicyStack, replay
    from workbench.io.pricesheets import load_prices
    book = load_prices(PRICES)
    rows = {"inmem": args.rows, "ooc": args.big_rows, "loop": args.loop_rows}[args.child]
    stack = PolicyStack.from_dict(make_stack(rows))
    if args.child == "inmem":
        frame = make_frame(args.rows)
        reset_peak_rss()
        base_rss = peak_rss_mb()
        t = time.perf_counter()
        result = replay(frame, stack, book, engine="polars")
        seconds = time.perf_counter() - t
    elif args.child == "ooc":
        t = time.perf_counter()
        result = replay(args.path, stack, book, engine="duckdb", memory_limit="1GB", temp_dir=args.tmp)
        seconds = time.perf_counter() - t
        base_rss = float("nan")
    else:  # loop
        from workbench.core.replay.reference import reference_replay
        frame = make_frame(args.rows).head(args.loop_rows).to_pandas()  # a subset of the in-memory log
        t = time.perf_counter()
        ref = reference_replay(frame, stack, book)
        seconds = time.perf_counter() - t
        return {"seconds": seconds, "rows": args.loop_rows, "peak_rss_mb": peak_rss_mb(),
                "replayed_usd": ref["totals"][-1] / 1e12, "baseline_usd": ref["totals"][0] / 1e12}
    d = result.to_dict()
    return {"seconds": seconds, "rows": d["requests"], "peak_rss_mb": peak_rss_mb(), "input_rss_mb": base_rss,
            "baseline_usd": d["baseline_usd"], "replayed_usd": d["replayed_usd"], "savings_pct": d["savings_pct"],
            "blocked": d["blocked_requests"], "downgraded": d["downgraded_requests"],
            "events": len(d["budget"]["events"]), "ci95_pct": d["ci95"]["savings_pct"]}


def run_child(*extra: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child {extra} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_parquet(directory: Path, rows: int, chunk: int = 1_000_000) -> float:
    t = time.perf_counter()
    for i, start in enumerate(range(0, rows, chunk)):
        make_frame(min(chunk, rows - start), offset=start).write_parquet(directory / f"part-{i:04d}.parquet")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--loop-rows", type=int, default=100_000)
    ap.add_argument("--skip-ooc", action="store_true")
    ap.add_argument("--child", choices=("inmem", "ooc", "loop"))
    ap.add_argument("--path")
    ap.add_argument("--tmp")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    print(f"replay benchmark: {os.cpu_count()} CPUs; stack = "
          + " → ".join(p["policy"] for p in STACK["policies"]))
    loop = run_child("--child", "loop", "--loop-rows", str(args.loop_rows), "--rows", str(args.rows))
    loop_per_row = loop["seconds"] / loop["rows"]
    print(f"plain-Python loop  {loop['rows']:>11,} rows  {loop['seconds']:7.2f} s  "
          f"({loop_per_row * 1e6:.1f} µs/row)  peak RSS {loop['peak_rss_mb']:,.0f} MB")

    mem = run_child("--child", "inmem", "--rows", str(args.rows))
    per_row = mem["seconds"] / mem["rows"]
    print(f"polars in memory   {mem['rows']:>11,} rows  {mem['seconds']:7.2f} s  peak RSS {mem['peak_rss_mb']:,.0f} MB "
          f"(input frame alone {mem['input_rss_mb']:,.0f} MB)")
    print(f"    savings {mem['savings_pct']:.1f}% (95% CI {mem['ci95_pct'][0]:.1f}–{mem['ci95_pct'][1]:.1f}), "
          f"{mem['blocked']:,} blocked, {mem['downgraded']:,} downgraded, {mem['events']} budget events")
    print(f"    ratios: time {mem['seconds'] / 2.0:.2f} of the 2 s target, memory {mem['peak_rss_mb'] / 1024:.2f} "
          f"of the 1 GB target, {loop_per_row / per_row:,.0f}× faster per row than the Python loop")

    if not args.skip_ooc:
        with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
            data = Path(tmp) / "log"
            data.mkdir()
            gen = write_parquet(data, args.big_rows)
            size = sum(f.stat().st_size for f in data.iterdir()) / 2**20
            print(f"generated {args.big_rows:,} rows as Parquet ({size:,.0f} MB) in {gen:.1f} s (not counted)")
            big = run_child("--child", "ooc", "--path", str(data / "*.parquet"), "--tmp", tmp,
                            "--big-rows", str(args.big_rows))
            per_row_big = big["seconds"] / big["rows"]
            print(f"duckdb 1GB limit   {big['rows']:>11,} rows  {big['seconds']:7.2f} s  "
                  f"peak RSS {big['peak_rss_mb']:,.0f} MB")
            print(f"    savings {big['savings_pct']:.1f}%, {big['blocked']:,} blocked, "
                  f"{big['downgraded']:,} downgraded, {big['events']} budget events")
            print(f"    ratios: time {big['seconds'] / 90:.2f} of the 90 s target, "
                  f"{loop_per_row / per_row_big:,.0f}× faster per row than the Python loop "
                  f"(which would take ~{loop_per_row * big['rows'] / 60:,.0f} min)")


if __name__ == "__main__":
    main()
