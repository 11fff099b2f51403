"""Benchmark the replay engine: routing + batch + output cap + tenant quota + org daily budget.

Run: ``python benchmarks/bench_replay.py [--rows 1000000] [--big-rows 10000000] [--loop-rows 100000]``

Scenarios, each in a fresh child process so its peak RSS (VmHWM) is its own:

* ``inmem``  — ``--rows`` requests built in memory as a Polars frame, replayed on the Polars engine.
  Target: ≤ 2 s and ≤ 1 GB peak RSS at 1M rows.
* ``ooc``    — ``--big-rows`` requests written as Parquet (1M-row files) to a temporary directory,
  replayed on DuckDB with ``memory_limit=1GB`` from the files. Target: ≤ 90 s at 10M rows.
* ``loop``   — the strongest plain alternatives a user would write (``benchmarks/replay_peers.py``):
  a straightforward pandas ``itertuples`` loop over ``--loop-rows`` requests (with the engine on
  the same rows), and hand-written DuckDB SQL for the same stack at ``--rows`` and ``--big-rows``
  (same 1 GB limit). Each peer's replayed dollars are checked against the engine's.
* ``sweep``  — 100 daily caps over ``--sweep-rows`` requests: one prepared sweep vs 100 replays,
  identical results checked value by value. Target ≤ 1 s.
* ``cli``    — ``workbench replay`` on a ``--rows`` Parquet log: whole-process peak RSS. Target ≤ 1 GB.

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
    rows = {"inmem": args.rows, "sql": args.rows, "ooc": args.big_rows, "ooc_sql": args.big_rows,
            "loop": args.loop_rows, "sweep": args.sweep_rows}[args.child]
    config = make_stack(rows)
    stack = PolicyStack.from_dict(config)
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
    elif args.child in ("sql", "ooc_sql"):
        from benchmarks.replay_peers import duckdb_sql
        source = args.path if args.child == "ooc_sql" else make_frame(args.rows).to_arrow()
        reset_peak_rss()
        t = time.perf_counter()
        usd = duckdb_sql(source, config, book, memory_limit="1GB" if args.child == "ooc_sql" else None)
        return {"seconds": time.perf_counter() - t, "rows": rows, "replayed_usd": usd, "peak_rss_mb": peak_rss_mb()}
    elif args.child == "sweep":
        return sweep_child(args, book)
    else:  # loop: the straightforward pandas itertuples loop, and the engine on the same rows
        from benchmarks.replay_peers import pandas_loop
        frame = make_frame(args.loop_rows).to_pandas()
        t = time.perf_counter()
        usd = pandas_loop(frame, config, book)
        loop_s = time.perf_counter() - t
        t = time.perf_counter()
        engine = replay(frame, stack, book, engine="polars")
        engine_s = time.perf_counter() - t
        return {"seconds": loop_s, "engine_seconds": engine_s, "rows": args.loop_rows, "replayed_usd": usd,
                "engine_usd": engine.replayed_usd}
    d = result.to_dict()
    return {"seconds": seconds, "rows": d["requests"], "peak_rss_mb": peak_rss_mb(), "input_rss_mb": base_rss,
            "baseline_usd": d["baseline_usd"], "replayed_usd": d["replayed_usd"], "savings_pct": d["savings_pct"],
            "blocked": d["blocked_requests"], "downgraded": d["downgraded_requests"],
            "events": len(d["budget"]["events"]), "ci95_pct": d["ci95"]["savings_pct"]}


def sweep_child(args, book) -> dict:
    """100 caps of the daily budget over a small log: one prepared sweep vs 100 replays (Polars)."""
    from workbench.core.replay import prepare_sweep, replay
    frame = make_frame(args.sweep_rows)
    config = make_stack(args.sweep_rows)
    step = len(config["policies"])
    cap = config["policies"][-1]["usd"]
    values = [round(cap * (0.2 + 1.6 * i / (args.sweep_values - 1)), 6) for i in range(args.sweep_values)]
    t = time.perf_counter()
    with prepare_sweep(frame, config, book, step=step, param="usd", engine="polars") as prepared:
        points = prepared.evaluate(values)
        fast = prepared.fast
    sweep_s = time.perf_counter() - t
    t = time.perf_counter()
    same = True
    for value, pt in zip(values, points):
        policies = [dict(p) for p in config["policies"]]
        policies[-1]["usd"] = value
        one = replay(frame, {"policies": policies}, book, engine="polars", bootstrap=0)
        same &= one.summary["replayed_pusd"] == pt["replayed_pusd"]
    replays_s = time.perf_counter() - t
    return {"rows": args.sweep_rows, "values": len(values), "sweep_seconds": sweep_s, "replays_seconds": replays_s,
            "identical": bool(same), "fast": fast}


def cli_peak(path: str, rows: int) -> dict:
    """``workbench replay`` on a Parquet log as a user runs it: whole-process peak RSS (wait4)."""
    import yaml
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(make_stack(rows), f)
    cmd = [sys.executable, "-m", "workbench.cli", "replay", path, "--policy", f.name,
           "--prices", str(PRICES), "--json"]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    out, err = proc.communicate()
    _, status, usage = os.wait4(proc.pid, 0) if proc.returncode is None else (0, 0, None)
    seconds = time.perf_counter() - t
    os.unlink(f.name)
    if proc.returncode:
        raise SystemExit(f"workbench replay failed:\n{err.decode()}")
    import resource
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if usage is None else usage.ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb": peak, "replayed_usd": json.loads(out)["replayed_usd"]}


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


def _same(a: float, b: float) -> str:
    return "same dollars" if abs(a - b) <= 1e-9 * max(1.0, abs(b)) else f"DIFFERENT dollars ({a:.6f} vs {b:.6f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--loop-rows", type=int, default=100_000)
    ap.add_argument("--sweep-rows", type=int, default=15_000)
    ap.add_argument("--sweep-values", type=int, default=100)
    ap.add_argument("--skip-ooc", action="store_true")
    ap.add_argument("--child", choices=("inmem", "ooc", "loop", "sql", "ooc_sql", "sweep"))
    ap.add_argument("--path")
    ap.add_argument("--tmp")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return

    print(f"replay benchmark: {os.cpu_count()} CPUs; stack = "
          + " → ".join(p["policy"] for p in STACK["policies"]))
    loop = run_child("--child", "loop", "--loop-rows", str(args.loop_rows))
    print(f"pandas itertuples loop {loop['rows']:>9,} rows  {loop['seconds']:7.2f} s "
          f"({loop['seconds'] / loop['rows'] * 1e6:.1f} µs/row); engine (Polars) on the same rows "
          f"{loop['engine_seconds']:.2f} s → engine/loop time {loop['engine_seconds'] / loop['seconds']:.2f} "
          f"[{_same(loop['replayed_usd'], loop['engine_usd'])}]")

    mem = run_child("--child", "inmem", "--rows", str(args.rows))
    sql = run_child("--child", "sql", "--rows", str(args.rows))
    print(f"engine, Polars         {mem['rows']:>9,} rows  {mem['seconds']:7.2f} s  peak RSS {mem['peak_rss_mb']:,.0f} MB "
          f"(input frame alone {mem['input_rss_mb']:,.0f} MB)")
    print(f"    savings {mem['savings_pct']:.1f}% (95% CI {mem['ci95_pct'][0]:.1f}–{mem['ci95_pct'][1]:.1f}), "
          f"{mem['blocked']:,} blocked, {mem['downgraded']:,} downgraded, {mem['events']} budget events")
    print(f"hand-written DuckDB SQL {sql['rows']:>8,} rows  {sql['seconds']:7.2f} s (totals only) "
          f"[{_same(sql['replayed_usd'], mem['replayed_usd'])}]")
    loop_1m = loop["seconds"] / loop["rows"] * mem["rows"]
    print(f"    ratios at {mem['rows']:,} rows: engine/SQL time {mem['seconds'] / sql['seconds']:.2f}, "
          f"engine/pandas-loop time {mem['seconds'] / loop_1m:.3f} (loop extrapolated from {loop['rows']:,} rows); "
          f"engine memory {mem['peak_rss_mb'] / 1024:.2f} of the 1 GB target")

    sw = run_child("--child", "sweep", "--sweep-rows", str(args.sweep_rows), "--sweep-values", str(args.sweep_values))
    print(f"sweep: {sw['values']} daily caps over {sw['rows']:,} requests: prepared sweep {sw['sweep_seconds']:.3f} s "
          f"({'score once' if sw['fast'] else 'replaying'}), {sw['values']} replays {sw['replays_seconds']:.2f} s → "
          f"sweep/replays time {sw['sweep_seconds'] / sw['replays_seconds']:.4f}; "
          f"{'identical to every replay' if sw['identical'] else 'DIFFERENT from the replays'}; "
          f"{sw['sweep_seconds']:.2f} of the 1 s target")

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        one = Path(tmp) / "one.parquet"
        make_frame(args.rows).write_parquet(one)
        cli = cli_peak(str(one), args.rows)
        print(f"CLI `workbench replay` {args.rows:>9,} rows from Parquet: {cli['seconds']:.1f} s, whole-process peak RSS "
              f"{cli['peak_rss_mb']:,.0f} MB → {cli['peak_rss_mb'] / 1024:.2f} of the 1 GB target "
              f"[{_same(cli['replayed_usd'], mem['replayed_usd'])}]")
        if not args.skip_ooc:
            data = Path(tmp) / "log"
            data.mkdir()
            gen = write_parquet(data, args.big_rows)
            size = sum(f.stat().st_size for f in data.iterdir()) / 2**20
            print(f"generated {args.big_rows:,} rows as Parquet ({size:,.0f} MB) in {gen:.1f} s (not counted)")
            big = run_child("--child", "ooc", "--path", str(data / "*.parquet"), "--tmp", tmp,
                            "--big-rows", str(args.big_rows))
            bsql = run_child("--child", "ooc_sql", "--path", str(data / "*.parquet"), "--big-rows", str(args.big_rows))
            print(f"engine, DuckDB 1GB     {big['rows']:>9,} rows  {big['seconds']:7.2f} s  "
                  f"whole-process peak RSS {big['peak_rss_mb']:,.0f} MB ({big['peak_rss_mb'] / 1024:.2f} of 1 GB)")
            print(f"hand-written SQL 1GB   {bsql['rows']:>9,} rows  {bsql['seconds']:7.2f} s  peak RSS "
                  f"{bsql['peak_rss_mb']:,.0f} MB [{_same(bsql['replayed_usd'], big['replayed_usd'])}]")
            print(f"    ratio at {big['rows']:,} rows: engine/SQL time {big['seconds'] / bsql['seconds']:.2f}")
    def who(ratio: float, peer: str) -> str:
        return f"the engine wins ({1 / ratio:.1f}× faster)" if ratio < 1 else f"{peer} wins ({ratio:.2f}× faster)"
    print("who wins: vs the pandas loop " + who(loop["engine_seconds"] / loop["seconds"], "the loop")
          + f"; vs hand-written SQL at {mem['rows']:,} rows " + who(mem["seconds"] / sql["seconds"], "SQL")
          + " — SQL computes the totals only (no per-request decisions, events, waterfall or interval); "
          + f"a sweep beats repeated replays {sw['replays_seconds'] / sw['sweep_seconds']:,.0f}×.")


if __name__ == "__main__":
    main()
