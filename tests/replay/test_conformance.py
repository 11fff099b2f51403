"""Conformance: one small log through every engine and input kind equals the plain-Python
reference replay exactly (integer pico-dollars), request by request."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from tests.replay import plugin_policies  # noqa: F401  (registers test_exact_cache)
from tests.replay.conftest import make_log
from workbench.core.frame_cost import price_frame
from workbench.core.replay import PolicyStack, replay
from workbench.core.replay.pricing import FATES
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


# -- second generation: quality, per-model outcomes, cache + budget in one pass ---------------------
@pytest.fixture(scope="module")
def labelled(log):
    rng = np.random.default_rng(7)
    q = np.round(rng.random(len(log)), 3)
    return log.assign(quality=np.where(rng.random(len(log)) < 0.2, np.nan, q))


@pytest.fixture(scope="module")
def outcomes(labelled):
    """Eval data for about half of the (request, model) pairs the stack can move requests to."""
    rng = np.random.default_rng(11)
    rows_ = [(rid, m, int(rng.integers(0, 2000)), float(np.round(rng.random(), 3)))
             for rid in labelled["request_id"] for m in ("gpt-4o", "gpt-4o-mini", "claude-3-haiku", "tiered-sonnet")
             if rng.random() < 0.5]
    return pd.DataFrame(rows_, columns=["request_id", "model", "output_tokens", "quality"])


def _same_quality(got, want) -> bool:
    return all((g is None or g != g) if w is None else g == w for g, w in zip(got, want))


@pytest.mark.parametrize("engine", ["polars", "pandas", "duckdb"])
def test_quality_and_outcomes_equal_reference(labelled, outcomes, frozen_book, engine):
    ref = reference_replay(labelled, FULL_STACK, frozen_book, outcomes=outcomes)
    result = replay(labelled, FULL_STACK, frozen_book, engine=engine, outcomes=outcomes, bootstrap=0)
    got = pl.from_pandas(result.frame)
    rows_ = list(ref["rows"].values())
    assert got["cost_pusd"].to_list() == [r["cost"] for r in rows_]
    assert got["output_tokens"].to_list() == [r["out"] for r in rows_]
    assert _same_quality(got["quality"].to_list(), [r["q"] for r in rows_])
    assert got["outcome"].to_list() == [("logged", "outcome", "fallback")[r["src"]] for r in rows_]
    assert {r["src"] for r in rows_} == {0, 1, 2} and any(r["q"] == 0.0 and r["fate"] == 2 for r in rows_)
    assert result.baseline_quality == pytest.approx(ref["quality"][0], rel=1e-12)
    assert result.replayed_quality == pytest.approx(ref["quality"][-1], rel=1e-12)
    lost = [w["quality_lost"] for w in result.waterfall]
    assert lost == pytest.approx([a - b for a, b in zip(ref["quality"], ref["quality"][1:])], rel=1e-9, abs=1e-12)


def test_a_log_without_labels_reports_no_quality(log, frozen_book):
    result = replay(log, FULL_STACK, frozen_book, bootstrap=200)
    assert result.baseline_quality is None and result.replayed_quality is None
    assert result.quality["labelled"] is False and "no quality labels" in result.quality["note"]
    assert all(w["quality_lost"] is None for w in result.waterfall)
    assert "quality" not in result.ci95


CACHE_BUDGET = [{"policy": "test_exact_cache", "ttl_s": 7200},
                {"policy": "tenant_quota", "limit": 0.12, "action": "block"},
                {"policy": "daily_budget", "usd": 0.45, "action": "cache_only"}]


def one_pass(log, book):
    """The rule in one sequential pass: lookup, then each budget; only an answered miss writes."""
    from collections import defaultdict

    from workbench.core.replay.reference import _Ref, _rows, quality_rule
    ref = _Ref(_rows(log, book), book, "5m")
    entries, quota, daily = {}, defaultdict(int), defaultdict(int)
    ttl = pd.Timedelta(seconds=CACHE_BUDGET[0]["ttl_s"])
    for r in ref.rows:
        e = entries.get(r["prompt"])
        hit = e is not None and r["ts"] < e[0] + ttl
        if hit:
            r["fate"], r["q"] = 1, e[1]
        quota[r["tenant"], r["day"]] += ref.cost(r)
        if quota[r["tenant"], r["day"]] > 120_000_000_000 and r["fate"] in (0, 1):
            r["fate"] = 2
        daily[r["day"]] += ref.cost(r)
        if daily[r["day"]] > 450_000_000_000 and r["fate"] == 0:
            r["fate"] = 2
        if not hit and r["fate"] == 0:
            entries[r["prompt"]] = (r["ts"], r["q"])
        r["cost"] = ref.cost(r)
        quality_rule(r)
    return ref.rows


@pytest.mark.parametrize("engine", ["polars", "pandas", "duckdb"])
def test_cache_and_budget_equal_one_sequential_pass(labelled, frozen_book, engine):
    want = one_pass(labelled, frozen_book)
    result = replay(labelled, CACHE_BUDGET, frozen_book, engine=engine, bootstrap=0)
    got = pl.from_pandas(result.frame)
    assert got["fate"].to_list() == [FATES[r["fate"]] for r in want]
    assert got["cost_pusd"].to_list() == [r["cost"] for r in want]
    assert _same_quality(got["quality"].to_list(), [r["q"] for r in want])
    assert {r["fate"] for r in want} == {0, 1, 2}
