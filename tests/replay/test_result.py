"""The result object: serialisation round trip, waterfall arithmetic, intervals, decisions,
progress and interruption."""
from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pytest

from tests.replay.conftest import make_log
from tests.replay.test_conformance import FULL_STACK
from workbench.core.replay import ReplayResult, replay

CONTRACT_KEYS = ("requests", "rejected_rows", "baseline_usd", "replayed_usd", "savings_usd", "savings_pct",
                 "waterfall", "blocked_requests", "ci95")


@pytest.fixture(scope="module")
def result(frozen_book):
    return replay(make_log(300, seed=11), FULL_STACK, frozen_book, bootstrap=500, seed=1)


def test_contract_keys_and_json(result):
    d = result.to_dict()
    for key in CONTRACT_KEYS:
        assert key in d
    assert json.loads(json.dumps(d)) == d  # plain JSON, no custom types
    assert d["savings_usd"] == pytest.approx(d["baseline_usd"] - d["replayed_usd"])
    assert d["savings_pct"] == pytest.approx(100 * d["savings_usd"] / d["baseline_usd"])


def test_round_trip(result):
    d = result.to_dict()
    again = ReplayResult.from_dict(json.loads(json.dumps(d)))
    assert again.to_dict() == d and again == result
    with_rows = result.to_dict(include_requests=True)
    back = ReplayResult.from_dict(json.loads(json.dumps(with_rows)))
    assert back.to_dict(include_requests=True) == with_rows
    assert len(back.frame) == result.requests
    with pytest.raises(ValueError, match="not a replay result"):
        ReplayResult.from_dict({"requests": 1})


def test_waterfall_adds_up_exactly(result):
    w = result.waterfall
    assert sum(step["savings_pusd"] for step in w) == result.summary["baseline_pusd"] - result.summary["replayed_pusd"]
    assert w[0]["before_usd"] == result.baseline_usd and w[-1]["after_usd"] == result.replayed_usd
    for a, b in zip(w, w[1:]):
        assert a["after_usd"] == b["before_usd"]
    assert [s["step"] for s in w] == list(range(1, len(FULL_STACK["policies"]) + 1))


def test_bootstrap_interval(result, frozen_book):
    ci = result.ci95
    assert ci["unit"] == "tenant-day" and ci["resamples"] == 500 and ci["clusters"] == 15
    lo, hi = ci["savings_usd"]
    assert lo <= result.savings_usd <= hi
    assert ci["savings_pct"][0] <= result.savings_pct <= ci["savings_pct"][1]
    again = replay(make_log(300, seed=11), FULL_STACK, frozen_book, bootstrap=500, seed=1)
    assert again.ci95 == ci  # deterministic for a seed
    assert replay(make_log(300, seed=11), [], frozen_book, bootstrap=200).ci95["savings_usd"] == [0.0, 0.0]


def test_per_tenant_and_feature_totals(result):
    assert sum(t["requests"] for t in result.summary["by_tenant"]) == result.requests
    assert sum(t["baseline_usd"] for t in result.summary["by_feature"]) == pytest.approx(result.baseline_usd)
    assert sum(t["replayed_usd"] for t in result.summary["by_tenant"]) == pytest.approx(result.replayed_usd)
    assert "(none)" in {t["tenant"] for t in result.summary["by_tenant"]}


def test_decisions_explain_every_touched_request(result):
    d = result.decisions()
    assert list(d.columns) == ["request_id", "step", "policy", "label", "code", "reason", "changes"]
    counts = d[d["changes"]].groupby("step").size().to_dict()
    assert counts == {s["step"]: s["requests_touched"] for s in result.steps if s["requests_touched"]}
    assert set(d["reason"]) >= {"retry kept: previous attempt not found by tags.logical_id"}


def test_decisions_in_the_callers_kind(frozen_book):
    log = pl.from_pandas(make_log(50))
    r = replay(log, [{"policy": "output_cap", "max_output_tokens": 10}], frozen_book, bootstrap=0)
    assert isinstance(r.frame, pl.DataFrame) and isinstance(r.decisions(), pl.DataFrame)
    none = replay(log, [{"policy": "output_cap", "max_output_tokens": 100_000}], frozen_book, bootstrap=0)
    assert none.decisions().shape[0] == 0


def test_empty_log(frozen_book):
    empty = make_log(5).head(0)
    r = replay(empty, FULL_STACK, frozen_book)
    assert r.requests == 0 and r.baseline_usd == 0 and r.savings_pct == 0 and len(r.frame) == 0
    assert r.ci95["savings_usd"] is None


def test_progress_is_reported_per_step(frozen_book):
    seen = []
    replay(make_log(30), FULL_STACK, frozen_book, bootstrap=0, progress=lambda d, t, label: seen.append((d, t, label)))
    total = len(FULL_STACK["policies"]) + 2
    assert [s[0] for s in seen] == list(range(0, total + 1)) and {s[1] for s in seen} == {total}
    assert seen[-1][2] == "done" and "route" in seen[3][2]


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_interrupt_leaves_nothing_behind(frozen_book, tmp_path, engine):
    log = make_log(60)
    before = log.copy()

    def stop(done, total, label):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(log, FULL_STACK, frozen_book, engine=engine, temp_dir=str(tmp_path), progress=stop)
    pd.testing.assert_frame_equal(log, before)
    assert list(tmp_path.iterdir()) == []  # the DuckDB spill database is gone


def test_unpriceable_requests_are_named(frozen_book):
    log = make_log(20)
    log.loc[3, "ts"] = pd.Timestamp("2023-01-01", tz="UTC")
    log.loc[3, "model"] = "gpt-4o-mini"
    with pytest.raises(ValueError, match=r"cannot price request '.*' after the logged traffic: model gpt-4o-mini "
                                         r"on 2023-01-01: it has no price on that day"):
        replay(log, [], frozen_book)
    bad = make_log(20)
    bad.loc[0, "cached_input_tokens"] = bad.loc[0, "input_tokens"] + 1
    with pytest.raises(ValueError, match="cached \\+ cache-write tokens above input tokens"):
        replay(bad, [], frozen_book)
    dup = pd.concat([make_log(3), make_log(3)])
    with pytest.raises(ValueError, match="request_id is not unique"):
        replay(dup, [], frozen_book)


def test_totals_only_replay_skips_the_per_request_frame(frozen_book):
    from tests.replay.conftest import make_log
    from workbench.core.replay import replay
    log = make_log(50, seed=4)
    full = replay(log, [{"policy": "output_cap", "max_output_tokens": 100}], frozen_book, bootstrap=0)
    lean = replay(log, [{"policy": "output_cap", "max_output_tokens": 100}], frozen_book, bootstrap=0, per_request=False)
    assert lean.frame is None and lean.to_dict() == full.to_dict()
