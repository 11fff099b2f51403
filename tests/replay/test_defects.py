"""The five defects of issue 10, each reproduced: every test here failed on the first-generation engine."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import pytest

from tests.replay import plugin_policies  # noqa: F401  (registers the test cache and cascade)
from tests.replay.conftest import one_row, rows
from workbench.core.replay import Param, Policy, Reason, register_policy, replay
from workbench.core.replay.pricing import BLOCKED, CALLED, FATE

ROOT = Path(__file__).resolve().parents[2]


# 1. a kernel without a partition key is one partition on every engine ------------------------
def first_n(n: int):
    def fn(arrays, starts):
        called = arrays[FATE] == CALLED
        admitted = np.cumsum(called) <= n
        return {"refuse": (called & ~admitted).astype(np.int8)}
    return fn


@register_policy
class _FirstN(Policy):
    name = "test_first_n"
    summary = "test only: admit the first N requests of the whole log"
    stateful = True
    params = (Param("n", "int", "requests admitted", minimum=0),)

    def reasons(self):
        return (Reason("blocked: beyond the first N", kind="blocked"),)

    def apply(self, ctx):
        frame = ctx.run_kernel(ctx.frame, [], [FATE], {"refuse": nw.Int8}, first_n(self.p["n"]))
        hit = nw.col("refuse") == 1
        return frame.with_columns(**{FATE: nw.when(hit).then(nw.lit(BLOCKED, nw.Int8)).otherwise(nw.col(FATE)),
                                     ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))}
                                  ).drop("refuse")


@pytest.fixture(scope="module")
def big_log():
    """150,000 requests: more than one DuckDB streaming batch (~122,880 rows)."""
    n = 150_000
    return pd.DataFrame({"request_id": np.char.add("q", np.arange(n).astype(str)),
                         "ts": pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(np.arange(n) // 2, unit="s"),
                         "model": "gpt-4o-mini", "input_tokens": np.full(n, 10), "output_tokens": np.full(n, 5)})


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_kernel_without_partition_key_sees_the_whole_log(big_log, book, engine):
    r = replay(big_log, [{"policy": "test_first_n", "n": 1000}], book, engine=engine, bootstrap=0)
    assert r.blocked_requests == 149_000
    r.close()


# 2. a request refused by a budget writes no cache entry -----------------------------------------
def test_refused_miss_feeds_no_later_hit_same_day(run):
    # cache_only: a(0) admitted; b(1) passes the $0.01 cap → refused, so b(2) has nothing to hit
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    log = rows(*({"ts": t0 + pd.Timedelta(seconds=s), "prompt": p} for s, p in ((0, "a"), (1, "b"), (2, "b"))))
    r = run(log, [{"policy": "test_exact_cache", "ttl_s": 60}, {"policy": "daily_budget", "usd": 0.01,
                                                                   "action": "cache_only"}])
    assert r.frame["fate"].tolist() == ["called", "blocked", "blocked"]


@pytest.mark.parametrize("engine", ["polars", "pandas", "duckdb"])
def test_refused_miss_feeds_no_later_hit_across_midnight(run, engine):
    log = rows({"ts": pd.Timestamp("2025-03-01T23:59:00Z"), "prompt": "a"},
               {"ts": pd.Timestamp("2025-03-01T23:59:30Z"), "prompt": "b"},
               {"ts": pd.Timestamp("2025-03-02T00:00:10Z"), "prompt": "b"})
    r = run(log, [{"policy": "test_exact_cache", "ttl_s": 3600}, {"policy": "daily_budget", "usd": 0.01}],
            engine=engine)
    # the second b is a miss on a new day (under its cap): called and billed, not served free
    assert r.frame["fate"].tolist() == ["called", "blocked", "called"]
    assert r.summary["replayed_pusd"] == 2 * 7_750_000_000
    r.close()


# 3. cost_on follows the move rule (cached tokens billed as input) or raises ---------------------
def test_cost_on_bills_cached_tokens_as_input_on_a_model_without_cache_price(run):
    # gpt-4o 2000 in (1000 cached) + 400 out = 7,750,000,000 pUSD; the claude-3-haiku first call has
    # no cached-input price: 2000 × 0.25 + 400 × 1.25 = 1,000,000,000 pUSD (not the -1 sentinel)
    r = run(one_row(quality=0.1), [{"policy": "test_cascade", "cheap": "claude-3-haiku", "strong": "gpt-4o",
                                    "threshold": 0.5}])
    assert r.frame["cost_pusd"].tolist() == [8_750_000_000]


def test_cost_on_without_a_price_that_day_names_request_model_and_day(run):
    # the frozen sheet prices claude-3-haiku from 2024-03-13, gpt-4o-mini only from 2024-07-18
    log = one_row(ts=pd.Timestamp("2024-06-01T12:00:00Z"), model="claude-3-haiku", cached_input_tokens=0, quality=0.1)
    with pytest.raises(ValueError, match=r"r1.*gpt-4o-mini.*2024-06-01"):
        run(log, [{"policy": "test_cascade", "cheap": "gpt-4o-mini", "strong": "claude-3-haiku", "threshold": 0.5}])


# 4. duplicate policy names, whatever the order ------------------------------------------------
@pytest.mark.parametrize("discover_first", [False, True])
def test_plugin_cannot_take_a_builtin_name(discover_first):
    code = textwrap.dedent(f"""
        from workbench.core.replay import Policy, register_policy, get_policy, list_policies
        if {discover_first}:
            list_policies()
        class Fake(Policy):
            name = "route"
        try:
            register_policy(Fake)
        except ValueError as e:
            print("refused:", e)
        print(get_policy("route").__module__)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "refused: policy name 'route' is already registered" in out.stdout
    assert out.stdout.strip().endswith("workbench.core.replay.policies.route")


# 5. the CLI reads a canonical Parquet log without pandas -----------------------------------------
def test_cli_hands_parquet_to_the_engine_unread(tmp_path):
    import argparse

    from workbench.cli.replay import Bar, _load
    path = tmp_path / "log.parquet"
    one_row().to_parquet(path)
    for engine in (None, "polars", "duckdb"):
        args = argparse.Namespace(log=str(path), format=None, engine=engine, memory_limit=None, model=None, spark_master=None,
                                  strict=False)
        assert _load(args, None, Bar(False)) == (str(path), 0)
