"""Benchmark the Spark engine beside Polars and DuckDB, and what a month of traffic would take.

Run: ``python benchmarks/bench_spark.py [--rows 100000,1000000,10000000] [--kernels-at 1000000] [--master local[2]] [--json-out F]``

For each size, the same synthetic log as ``bench_replay.py`` (14 days, 40 tenants, the largest with
~44 % of rows) is written as Parquet parts, and each engine replays it **from the Parquet files**,
reading them itself, in a fresh child process (so its peak memory is its own):

* ``polars`` and ``duckdb`` (the strongest local peers; DuckDB without a memory limit, on all
  the machine's cores as Polars),
* ``spark`` on ``--master`` (``local[2]`` here): the session start and a 10k-row warm-up replay
  are timed apart; the replay time is the whole ``replay()`` call; memory is the driver's Python peak RSS and the driver JVM's
  peak RSS (in local mode the JVM is also the executor).

Besides wall time, each replay's **CPU time** is measured: user + system seconds of the child and
every process under it (the JVM, Spark's Python workers, reaped ones included), from /proc. On a
shared machine the wall time moves with the others' load; the CPU seconds are the work done, and
they are what the month estimate scales.

The stack is bench_replay's (route, batch, output cap, tenant quota, org daily budget). At the
sizes in ``--kernels-at`` (default: the smallest), the stateful kernels are then timed on Spark as extra steps — ``budget_fill`` per (tenant, day) and
an exact TTL response cache per prompt (the test plugin) — and each kernel function alone on the
largest partition it meets (the biggest tenant-day, the most frequent prompt), giving its
per-partition cost.

At the end: ratios against the fastest peer, and the 1-billion-request estimate from the measured
per-row work and the partition plan (see ``estimate``).
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

from benchmarks.bench_replay import PRICES, make_frame, make_stack, peak_rss_mb, write_parquet  # noqa: E402

KERNELS = {
    "budget_fill": {"policy": "budget_fill", "usd": 40.0, "scope": "tenant"},
    "exact_cache": {"policy": "test_exact_cache", "ttl_s": 300},
}


def tree_cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of a process and every process under it, reaped children
    included (Linux /proc): the work done, whatever else loads the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0, [pid or os.getpid()]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:  # the process ended meanwhile: its parent's cutime has it
            continue
    return total / tick


def timed(fn) -> tuple[object, float, float]:
    """``fn()``, its wall seconds and its CPU seconds (this process and all under it)."""
    c, t = tree_cpu_s(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, tree_cpu_s() - c


def _jvm_peak_mb(spark) -> float:
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def child(args) -> dict:
    from workbench.core.replay import replay
    from workbench.io.pricesheets import load_prices
    book = load_prices(PRICES)
    rows = args.n
    stack = make_stack(rows)
    if args.child in ("polars", "duckdb"):
        r, wall, cpu = timed(lambda: replay(args.path, stack, book, engine=args.child, bootstrap=0, per_request=False))
        return {"seconds": wall, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(),
                "replayed_pusd": r.summary["replayed_pusd"]}
    from tests.replay import plugin_policies  # noqa: F401  (registers test_exact_cache)
    from workbench.core.replay.spark_backend import spark_session
    t = time.perf_counter()
    spark = spark_session(args.master, {"spark.ui.enabled": "false", "spark.driver.memory": args.driver_memory,
                                        "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
                                        # let both cores read a 1M-row file (~35 MB)
                                        "spark.sql.files.maxPartitionBytes": "8m"})
    spark.sparkContext.setLogLevel("ERROR")
    start_s = time.perf_counter() - t
    out = {"start_seconds": start_s}
    # warm-up (JVM JIT, Python workers, shipping the code): a 10k-row replay of the same stack
    # with a kernel, not timed — the first replay of a session is otherwise ~1.5x slower
    t = time.perf_counter()
    warm = {"policies": [*stack["policies"], dict(KERNELS["budget_fill"])]}
    replay(make_frame(10_000), warm, book, engine="spark", bootstrap=0, per_request=False)
    out["warmup_seconds"] = time.perf_counter() - t
    r, wall, cpu = timed(lambda: replay(args.path, stack, book, engine="spark", bootstrap=0, per_request=False))
    out.update(seconds=wall, cpu_seconds=cpu, replayed_pusd=r.summary["replayed_pusd"])
    # the org daily budget alone (read, price, one window per UTC day): bounds what one day costs
    _, wall, cpu = timed(lambda: replay(args.path, {"policies": [stack["policies"][-1]]}, book, engine="spark",
                                        bootstrap=0, per_request=False))
    out.update(budget_only_seconds=wall, budget_only_cpu_seconds=cpu)
    if args.kernels:
        for name, policy in KERNELS.items():
            with_kernel = {"policies": [*stack["policies"], dict(policy)]}
            if name == "budget_fill":
                with_kernel["policies"][-1]["usd"] = policy["usd"] * rows / 1_000_000
            _, wall, cpu = timed(lambda: replay(args.path, with_kernel, book, engine="spark", bootstrap=0,
                                                per_request=False))
            out.update({f"with_{name}_seconds": wall, f"with_{name}_cpu_seconds": cpu})
    out.update(peak_rss_mb=peak_rss_mb(), jvm_peak_mb=_jvm_peak_mb(spark),
               partitions=spark.read.parquet(args.path).rdd.getNumPartitions())
    return out


def kernel_costs(rows: int) -> dict:
    """Each kernel function alone on the largest partition it meets at ``rows`` requests."""
    import polars as pl

    from tests.replay.plugin_policies import ttl_chain
    from workbench.core.replay.policies.budget_fill import fill_kernel
    frame = make_frame(rows).with_columns(day=pl.col("ts").dt.date())
    sizes = frame.group_by("tenant", "day").len().sort("len", descending=True)
    tenant, day, n_td = sizes.row(0)
    part = frame.filter((pl.col("tenant") == tenant) & (pl.col("day") == day)).sort("ts", "request_id")
    cost = (part["input_tokens"] * 2_500_000).to_numpy()
    t = time.perf_counter()
    fill_kernel(40 * 10**12)({"cost": cost}, np.zeros(1, dtype=np.int64))
    fill_s = time.perf_counter() - t
    by_prompt = frame.group_by("prompt").len().sort("len", descending=True)
    prompt, n_p = by_prompt.row(0)
    part = frame.filter(pl.col("prompt") == prompt).sort("ts", "request_id")
    arrays = {"ts": part["ts"].dt.replace_time_zone(None).to_numpy(), "_fate": np.zeros(n_p, dtype=np.int8),
              "may": np.ones(n_p, dtype=bool), "request_id": part["request_id"].to_numpy()}
    t = time.perf_counter()
    ttl_chain(300 * 10**6)(arrays, np.zeros(1, dtype=np.int64))
    cache_s = time.perf_counter() - t
    return {"largest_tenant_day_rows": n_td, "budget_fill_s": fill_s, "budget_fill_us_per_row": fill_s / n_td * 1e6,
            "largest_prompt_rows": n_p, "exact_cache_s": cache_s, "exact_cache_us_per_row": cache_s / n_p * 1e6,
            "tenant_day_partitions": sizes.height, "prompt_partitions": by_prompt.height,
            "largest_tenant_share": float(frame.group_by("tenant").len()["len"].max() / rows)}


def run_child(*extra: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"child {extra} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def estimate(spark_runs: dict[int, dict], kc: dict, cores: int, month_rows: int = 10**9, days: int = 30) -> list[str]:
    """A 1-billion-request month on N executor cores, from the measured per-row work.

    Work per row (core-seconds) is the slope of the replay's CPU seconds between the smallest and
    the largest measured size (fixed costs — planning, job start-up — fall out of the slope); the
    CPU seconds, not the wall time, since others share this machine. Two floors: (1) the largest
    window partition runs on one core: the org daily budget orders each UTC day on its own (1/days
    of the month per task), the tenant quota each (tenant, day) (the largest tenant's share); (2)
    the ordering shuffle moves every row once per window or kernel step."""
    sizes = sorted(spark_runs)

    def slope(key: str) -> float:
        wall = not key.endswith("cpu_seconds")
        if len(sizes) >= 2:
            a, b = sizes[0], sizes[-1]
            return (spark_runs[b][key] - spark_runs[a][key]) / (b - a) * (cores if wall else 1)
        return spark_runs[sizes[0]][key] / sizes[0] * (cores if wall else 1)

    per_row, per_row_budget = slope("cpu_seconds"), slope("budget_only_cpu_seconds")
    wall_row = slope("seconds")
    day_rows = month_rows / days
    tenant_day = day_rows * kc["largest_tenant_share"]
    lines = [f"measured work: {per_row * 1e6:.1f} CPU-µs per request (slope of CPU seconds over {sizes[0]:,}→"
             f"{sizes[-1]:,} rows; the wall-time slope × {cores} cores gives {wall_row * 1e6:.1f} µs)",
             f"1B requests in {days} days: total work {per_row * month_rows / 3600:,.0f} core-hours; "
             f"largest window partitions: a UTC day of the org budget = {day_rows / 1e6:.1f}M rows, "
             f"the largest tenant-day = {tenant_day / 1e6:.1f}M rows ({kc['largest_tenant_share']:.0%} of a day)"]
    # the largest single partition runs on one core: a UTC day through the org budget's window,
    # at the measured per-row work of a replay with that budget alone (read + price + window: an
    # upper bound of the window's own share)
    floor = day_rows * per_row_budget
    lines.append(f"org daily budget alone: {per_row_budget * 1e6:.1f} CPU-µs per request → one UTC day "
                 f"({day_rows / 1e6:.1f}M rows) on one core ≤ {floor / 60:,.0f} min")
    for n in (8, 32, 128, 512):
        t = max(per_row * month_rows / n, floor)
        lines.append(f"  {n:>4} cores: ≈ {t / 60:,.0f} min"
                     + ("  (bound by the largest partition: one UTC day of the org budget on one core)"
                        if t == floor else ""))
    lines.append(f"the org daily budget can use at most {days} cores (one per day): beyond that only more "
                 f"days or a smaller window helps; tenant-scoped steps parallelise over tenant-days, led by "
                 f"the largest tenant's {tenant_day / 1e6:.1f}M-row days. The kernels cost "
                 f"{kc['budget_fill_us_per_row']:.2f} µs/row (budget_fill) and {kc['exact_cache_us_per_row']:.2f} "
                 f"µs/row (exact cache) in the Python worker: a largest tenant-day of {tenant_day / 1e6:.1f}M rows "
                 f"is {tenant_day * kc['budget_fill_us_per_row'] / 1e6:.0f} s of budget_fill on one core.")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1000000,10000000", help="comma-separated sizes")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--kernels-at", help="comma-separated sizes at which to time the kernel steps on Spark "
                                         "(default: the smallest of --rows)")
    ap.add_argument("--skip-kernels", action="store_true", help="time no kernel step on Spark")
    ap.add_argument("--json-out", help="also write every measurement to this JSON file")
    ap.add_argument("--child", choices=("polars", "duckdb", "spark"))
    ap.add_argument("--kernels", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--path")
    ap.add_argument("--n", type=int)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    sizes = [int(s) for s in args.rows.split(",")]
    kernels_at = set() if args.skip_kernels else \
        {int(s) for s in args.kernels_at.split(",")} if args.kernels_at else {min(sizes)}
    cores = int(args.master[len("local["):-1]) if args.master.startswith("local[") and args.master[6:-1].isdigit() \
        else os.cpu_count()
    spark_runs: dict[int, dict] = {}
    report: dict = {"master": args.master, "driver_memory": args.driver_memory, "cpu_count": os.cpu_count(),
                    "load_before": os.getloadavg(), "sizes": {}}
    common = ["--master", args.master, "--driver-memory", args.driver_memory,
              "--shuffle-partitions", str(args.shuffle_partitions)]
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        for n in sizes:
            folder = Path(tmp) / f"log-{n}"
            folder.mkdir()
            write_parquet(folder, n)
            res = {e: run_child("--child", e, "--path", str(folder), "--n", str(n), *common,
                                *(["--kernels"] if e == "spark" and n in kernels_at else []))
                   for e in ("polars", "duckdb", "spark")}
            spark_runs[n] = res["spark"]
            report["sizes"][n] = {**res, "load_after": os.getloadavg()}
            same = len({r["replayed_pusd"] for r in res.values()}) == 1
            s = res["spark"]
            print(f"\n{n:,} requests from Parquet ({s['partitions']} input partitions), {args.master}; "
                  f"{'same pico-dollars on all three' if same else 'DIFFERENT totals: ' + str({e: r['replayed_pusd'] for e, r in res.items()})}"
                  f"; load average {os.getloadavg()[1]:.1f} on {os.cpu_count()} cores")
            for e in ("polars", "duckdb"):
                print(f"  {e:<7} {res[e]['seconds']:7.1f} s  {res[e]['cpu_seconds']:7.1f} CPU-s   "
                      f"peak {res[e]['peak_rss_mb']:6.0f} MB")
            print(f"  spark   {s['seconds']:7.1f} s  {s['cpu_seconds']:7.1f} CPU-s   driver Python peak "
                  f"{s['peak_rss_mb']:6.0f} MB, driver JVM peak {s['jvm_peak_mb']:6.0f} MB   "
                  f"(+ {s['start_seconds']:.1f} s session start)")
            for e in ("polars", "duckdb"):
                print(f"  spark / {e}: {s['seconds'] / res[e]['seconds']:.1f}x the time, "
                      f"{s['cpu_seconds'] / res[e]['cpu_seconds']:.1f}x the CPU")
            for name in KERNELS:
                if f"with_{name}_seconds" in s:
                    extra = s[f"with_{name}_seconds"] - s["seconds"]
                    extra_cpu = s[f"with_{name}_cpu_seconds"] - s["cpu_seconds"]
                    print(f"  + {name} step on spark: {s[f'with_{name}_seconds']:.1f} s "
                          f"({extra:+.1f} s, {extra / s['seconds']:+.0%} over the stack; {extra_cpu:+.1f} CPU-s, "
                          f"{extra_cpu / n * 1e6:+.2f} CPU-µs per request)")
    at = max(kernels_at & set(sizes), default=min(sizes))
    kc = kernel_costs(at)
    report["kernels_alone"] = {"rows": at, **kc}
    print(f"\nkernels alone (driver, one partition): budget_fill {kc['budget_fill_us_per_row']:.2f} µs/row on the "
          f"largest tenant-day ({kc['largest_tenant_day_rows']:,} rows, {kc['budget_fill_s'] * 1e3:.1f} ms); "
          f"exact cache {kc['exact_cache_us_per_row']:.2f} µs/row on the most frequent prompt "
          f"({kc['largest_prompt_rows']:,} rows, {kc['exact_cache_s'] * 1e3:.1f} ms); "
          f"{kc['tenant_day_partitions']} tenant-days, {kc['prompt_partitions']} prompts at {at:,} rows")
    s = spark_runs[at]
    for name, parts in (("budget_fill", kc["tenant_day_partitions"]), ("exact_cache", kc["prompt_partitions"])):
        if f"with_{name}_cpu_seconds" in s:  # the whole step on Spark: shuffle, sort, Arrow, kernel
            extra = s[f"with_{name}_cpu_seconds"] - s["cpu_seconds"]
            print(f"{name} as a Spark step at {at:,} rows: {extra:+.1f} CPU-s over the stack = "
                  f"{extra / parts * 1e3:+.1f} CPU-ms per key partition ({parts} partitions), "
                  f"{extra / at * 1e6:+.2f} CPU-µs per request")
    lines = estimate(spark_runs, kc, cores)
    report["estimate"] = lines
    print("\n" + "\n".join(lines))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
