"""Conformance: one small log through every engine and input kind equals the plain-Python
reference replay exactly (integer pico-dollars), request by request."""
from __future__ import annotations

import duckdb
import pandas as pd
import polars as pl
import pytest

from tests.replay.conftest import make_log
from workbench.core.frame_cost import price_frame
from workbench.core.replay import PolicyStack, replay
from workbench.core.replay.reference import reference_replay

FULL_STACK = {"policies": [
    {"policy": "drop_retries"},
    {"policy": "route", "plans": {"acme": "enterprise", "beta": "free"}, "default_plan": "pro",
     "rules": [{"plan": "enterprise", "from_model": ["gpt-4o-mini"], "model": "gpt-4o"},
               {"tier": "light", "model": "gpt-4o-mini"},
               {"keywords": ["quarterly", "parser"], "feature": ["reports", "extract"], "model": "claude-3-haiku"},
               {"tier": ["heavy"], "max_input_tokens": 100_000, "model": "tiered-sonnet"},
               {"plan": ["free", "pro"], "min_input_tokens": 4000, "model": "gpt-4o-mini"}]},
    {"policy": "batch", "features": ["reports"]},
    {"policy": "output_cap", "max_output_tokens": 1500, "features": ["chat", "search"]},
    {"policy": "compress", "rate": 0.4, "share": 0.5, "parts": ["uncached", "cached"], "min_input_tokens": 1000},
    {"policy": "tenant_quota", "unit": "tokens", "limit": 40_000, "limits": {"acme": 60_000}, "action": "downgrade",
     "downgrade_to": "gpt-4o-mini"},
    {"policy": "tenant_quota", "limit": 0.3, "action": "cache_only", "period": "month"},
    {"policy": "daily_budget", "usd": 0.35, "alerts": [0.25, 0.5, 0.9]},
    {"policy": "budget_fill", "usd": 0.05, "scope": "tenant"},
]}


@pytest.fixture(scope="module")
def log():
    return make_log(400, seed=3)


@pytest.fixture(scope="module")
def reference(log, frozen_book):
    return reference_replay(log, FULL_STACK, frozen_book)


def _inputs(log):
    arrow = pl.from_pandas(log).to_arrow()
    return {
        "pandas": lambda: log,
        "polars": lambda: pl.from_pandas(log),
        "polars-lazy": lambda: pl.from_pandas(log).lazy(),
        "pyarrow": lambda: arrow,
        "duckdb": lambda: duckdb.connect().from_arrow(arrow),
    }


@pytest.mark.parametrize("engine, kind", [
    ("polars", "pandas"), ("polars", "polars"), ("polars", "polars-lazy"), ("polars", "duckdb"),
    ("pandas", "pandas"), ("pandas", "polars"),
    ("duckdb", "pandas"), ("duckdb", "duckdb"), ("duckdb", "pyarrow"),
])
def test_engine_equals_reference(log, reference, frozen_book, engine, kind):
    result = replay(_inputs(log)[kind](), FULL_STACK, frozen_book, engine=engine, bootstrap=0)
    totals = [result.summary["baseline_pusd"]]
    for step in result.waterfall:
        totals.append(totals[-1] - step["savings_pusd"])
    assert totals == reference["totals"]
    frame = result.frame
    # the per-request frame comes back in the caller's kind
    expected_type = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "polars-lazy": pl.LazyFrame}.get(kind)
    if expected_type is not None:
        assert isinstance(frame, expected_type)
    got = pl.from_pandas(frame) if isinstance(frame, pd.DataFrame) else (
        frame.collect() if isinstance(frame, pl.LazyFrame) else frame.pl() if kind == "duckdb"
        else pl.from_arrow(frame) if kind == "pyarrow" else frame)
    assert got["request_id"].to_list() == list(reference["rows"])  # processing order
    ref_rows = list(reference["rows"].values())
    assert got["cost_pusd"].to_list() == [r["cost"] for r in ref_rows]
    assert got["replayed_model"].to_list() == [r["model"] for r in ref_rows]
    assert got["fate"].to_list() == [["called", "cache_hit", "blocked", "removed"][r["fate"]] for r in ref_rows]
    for k, step in enumerate(FULL_STACK["policies"], 1):
        assert got[f"act{k}_{step['policy']}"].to_list() == [r["acts"][k - 1] for r in ref_rows], step
    assert got["input_tokens"].to_list() == [r["in"] for r in ref_rows]
    assert got["output_tokens"].to_list() == [r["out"] for r in ref_rows]
    result.close()


def test_stack_exercises_every_policy(reference):
    """The conformance stack is only worth something if each step changes some requests."""
    acts = [r["acts"] for r in reference["rows"].values()]
    for k, step in enumerate(FULL_STACK["policies"]):
        assert any(a[k] for a in acts), f"step {k + 1} ({step['policy']}) touched nothing"
    fates = {r["fate"] for r in reference["rows"].values()}
    assert {0, 2, 3} <= fates


def test_baseline_agrees_with_price_frame(log, frozen_book):
    """The engine's integer pricing and price_frame's float pricing agree to float rounding."""
    result = replay(log, [], frozen_book, bootstrap=0)
    priced = price_frame(log, frozen_book).set_index("request_id")["cost_usd"]
    mine = result.frame.set_index("request_id")["baseline_usd"]
    pd.testing.assert_series_equal(mine.sort_index(), priced.sort_index(), check_names=False, rtol=1e-12)
    assert (result.frame["cost_pusd"] == result.frame["baseline_pusd"]).all()


def test_batch_pricing_agrees_with_price_frame(log, frozen_book):
    batchable = log[log["model"].isin(["gpt-4o", "gpt-4o-mini", "gpt-4o-2024-08-06", "tiered-sonnet", "sonnet-test"])]
    result = replay(batchable, [{"policy": "batch", "features": "all"}], frozen_book, bootstrap=0)
    priced = price_frame(batchable.assign(batch=True), frozen_book).set_index("request_id")["cost_usd"]
    mine = result.frame.set_index("request_id")["cost_usd"]
    pd.testing.assert_series_equal(mine.sort_index(), priced.sort_index(), check_names=False, rtol=1e-9)


def test_input_is_not_modified(log, frozen_book):
    before = log.copy()
    replay(log, FULL_STACK, frozen_book, bootstrap=0)
    pd.testing.assert_frame_equal(log, before)


def test_duckdb_memory_limit_and_parquet_path(log, frozen_book, reference, tmp_path):
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    result = replay(str(path), PolicyStack.from_dict(FULL_STACK), frozen_book, memory_limit="256MB",
                    temp_dir=str(tmp_path), bootstrap=0)
    assert result.summary["engine"] == "duckdb"
    assert result.summary["replayed_pusd"] == reference["totals"][-1]
    assert type(result.frame).__name__ == "DuckDBPyRelation"
    assert result.frame.aggregate("count(*)").fetchall()[0][0] == len(log)
    result.close()
    assert not any(tmp_path.glob("wb-replay-*")), "temporary database left behind"
