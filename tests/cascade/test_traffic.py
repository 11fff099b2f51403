"""An operating point replayed over traffic by the replay engine: both calls billed, the draft
carried into the retry, which requests escalate chosen honestly (a seeded draw, or the log's own
score — never the logged quality), savings by feature with intervals, quality labelled as carried over."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.replay.conftest import one_row
from workbench.core.cascade.traffic import TrafficProjection, draw_scores, traffic_savings
from workbench.core.replay import replay

STEP = {"policy": "cascade", "cheap": "gpt-4o-mini", "strong": "gpt-4o", "escalate_below": 0.5}


@pytest.fixture(scope="module")
def week():
    return pd.read_parquet(ROOT / "sample_data" / "requests.parquet")


@pytest.fixture(scope="module")
def monday(week):
    """The sample week's first day (≈ 8,400 requests, 2,300 on gpt-4.1)."""
    return week[week["ts"] < pd.Timestamp("2025-11-04", tz="UTC")].reset_index(drop=True)


def _three():
    return pd.concat([one_row(request_id="good", router_score=0.9, quality=0.9),
                      one_row(request_id="bad", router_score=0.2, quality=0.9),
                      one_row(request_id="other", model="claude-3-haiku", cached_input_tokens=0, router_score=0.1)],
                     ignore_index=True)


def test_cascade_policy_bills_the_attempt_and_the_draft(frozen_book):
    r = replay(_three(), [{**STEP, "score": "router_score"}], frozen_book, bootstrap=0)
    f = r.frame.set_index("request_id")
    # good: gpt-4o-mini 1000 × 0.15 + 1000 × 0.075 + 400 × 0.60 = 465 per 1M
    # bad: gpt-4o with the draft: (2000 + 400 + 20 − 1000 cached) × 2.50 + 1000 × 1.25 + 400 × 10 = 8,800,
    #      plus the gpt-4o-mini attempt 465 = 9,265 per 1M; other (not on gpt-4o): untouched
    assert f["cost_pusd"]["good"] == 465_000_000 and f["cost_pusd"]["bad"] == 9_265_000_000
    assert f["cost_pusd"]["other"] == f["baseline_pusd"]["other"]
    assert f["replayed_model"].to_dict() == {"good": "gpt-4o-mini", "bad": "gpt-4o", "other": "claude-3-haiku"}
    assert f["step1_keep_pusd"]["bad"] == 465_000_000 and pd.isna(f["step1_keep_pusd"]["other"])
    # the kept answer has no outcome for gpt-4o-mini: its quality is unknown (never the strong label)
    assert pd.isna(f["quality"]["good"]) and f["quality"]["bad"] == 0.9 and f["outcome"]["good"] == "fallback"


def test_cheap_answers_from_the_outcomes_table(frozen_book):
    """A shadow run of the cheap model: its output tokens price the kept answer, the draft and the attempt."""
    outcomes = pd.DataFrame({"request_id": ["good", "bad"], "model": ["gpt-4o-mini"] * 2,
                             "output_tokens": [100, 100], "quality": [0.7, 0.3]})
    r = replay(_three(), [{**STEP, "score": "router_score"}], frozen_book, bootstrap=0, outcomes=outcomes)
    f = r.frame.set_index("request_id")
    # good: 1000 × 0.15 + 1000 × 0.075 + 100 × 0.60 = 285; bad: (2000 + 100 + 20 − 1000) × 2.5 + 1250 + 4000
    # = 8,050 + the attempt 285 = 8,335; the escalated request keeps its logged answer (tokens, quality)
    assert f["cost_pusd"]["good"] == 285_000_000 and f["cost_pusd"]["bad"] == 8_335_000_000
    assert f["quality"]["good"] == 0.7 and f["quality"]["bad"] == 0.9 and f["output_tokens"]["bad"] == 400
    assert f["outcome"].to_dict() == {"good": "outcome", "bad": "logged", "other": "logged"}


def test_a_sweep_of_the_threshold_equals_each_replay(frozen_book):
    log = pd.concat([one_row(request_id=f"r{i}", router_score=i / 10, quality=0.8) for i in range(10)],
                    ignore_index=True)
    stack = [{**STEP, "score": "router_score"}]
    values = [0.0, 0.25, 0.5, 1.0]
    from workbench.core.replay import prepare_sweep
    with prepare_sweep(log, stack, frozen_book, step=1, param="escalate_below") as prepared:
        assert prepared.fast
        points = prepared.evaluate(values)
    for v, point in zip(values, points):
        r = replay(log, [{**stack[0], "escalate_below": v}], frozen_book, bootstrap=0)
        assert point["replayed_pusd"] == int(r.frame["cost_pusd"].sum())
        assert point["replayed_quality"] == pytest.approx(r.replayed_quality)


def test_projection_equals_the_engine_replay_at_every_rate(real_book, monday):
    p = TrafficProjection(monday, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1")
    attach = pd.DataFrame({"request_id": monday["request_id"], "cascade_score": draw_scores(monday["request_id"])})
    rates = [0.0, 0.3, 1.0]
    swept = p.sweep_rates(rates)
    for rate, point in zip(rates, swept):
        r = replay(monday, [{"policy": "cascade", "cheap": "gpt-4.1-mini", "strong": "gpt-4.1",
                             "escalate_below": rate}], real_book, attach=attach, bootstrap=0)
        np.testing.assert_array_equal(p.cost(rate), r.frame["cost_pusd"].to_numpy())     # to the pico-dollar
        at = p.at(rate)
        assert at["cascade_pusd"] == point["replayed_pusd"] == int(r.frame["cost_pusd"].sum())
        by = r.frame.groupby("feature")[["baseline_pusd", "cost_pusd"]].sum()
        saved = {f["feature"]: f["saved_usd_per_day"] for f in at["by_feature"]}
        for feature, row in by.iterrows():
            assert saved[feature] == pytest.approx((row["baseline_pusd"] - row["cost_pusd"]) / 1e12 / at["days"])


def test_which_requests_escalate_is_a_seeded_draw_not_the_logged_quality(real_book, monday):
    """The defect: the old projection escalated the lowest-logged-quality requests. The log's quality
    is the strong model's answer, not a signal about the cheap one: it must not choose."""
    p = TrafficProjection(monday, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1")
    flipped = monday.assign(quality=1 - monday["quality"])
    q = TrafficProjection(flipped, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1")
    np.testing.assert_array_equal(p.escalate(0.3), q.escalate(0.3))
    shuffled = TrafficProjection(monday.sample(frac=1, random_state=1), real_book, cheap="gpt-4.1-mini",
                                 strong="gpt-4.1")
    assert shuffled.at(0.3)["cascade_pusd"] == p.at(0.3)["cascade_pusd"]       # keyed by request id, not row
    other = TrafficProjection(monday, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1", seed=7)
    assert (other.escalate(0.3) != p.escalate(0.3)).any()
    at = p.at(0.3)
    assert "seeded random draw (seed 0)" in at["escalation_method"]
    n = at["cascaded_requests"]
    assert abs(at["escalated_requests"] - 0.3 * n) < 4 * np.sqrt(n * 0.3 * 0.7)     # Binomial(n, 0.3)


def test_draw_interval_matches_the_spread_over_seeds(real_book, monday):
    p = TrafficProjection(monday, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1")
    lo, hi = p.at(0.3)["ci95"]["draw"]
    ids = monday["request_id"]
    order = pd.Series(np.arange(len(ids)), index=ids.astype(str))
    rows = order.reindex(monday["request_id"].astype(str)).to_numpy()    # the projection keeps the log's order
    saved = []
    for seed in range(1, 301):
        u = draw_scores(ids, seed)[rows]
        cost = np.where(p.on_strong & (u < 0.3), p.escalated, p.kept)
        saved.append((p.baseline.sum() - cost.sum()) / 1e12 * 30 / p.days)
    q_lo, q_hi = np.quantile(saved, [0.025, 0.975])
    width = hi - lo
    assert width > 0 and abs(q_lo - lo) < 0.2 * width and abs(q_hi - hi) < 0.2 * width


def test_a_logged_router_score_decides_deterministically(real_book, monday):
    scored = monday.assign(router_score=np.linspace(0, 1, len(monday)))
    p = TrafficProjection(scored, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1", score_column="router_score")
    esc = p.escalate(0.25)
    on = p.on_strong
    assert esc.sum() == pytest.approx(0.25 * on.sum(), abs=1)
    s = scored["router_score"].to_numpy()
    assert s[esc].max() < s[on & ~esc].min()                  # the lowest-scored candidates escalate
    at = p.at(0.25)
    assert at["ci95"]["draw"] is None and "router_score" in at["escalation_method"]
    with pytest.raises(ValueError, match="score column 'nope'"):
        TrafficProjection(monday, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1", score_column="nope")


def test_sample_week_savings_by_feature_with_the_quality_change_labelled(real_book, week):
    r = traffic_savings(week, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1", escalation_rate=0.3,
                        rate_ci=[0.25, 0.35], quality_change=-0.024, quality_ci=[-0.04, -0.01],
                        labelled="RouteLLM MMLU, held-out split")
    assert r["days"] == 7
    assert sum(f["saved_usd_per_month"] for f in r["by_feature"]) == pytest.approx(r["saved_usd_per_month"])
    assert r["saved_usd_per_month"] == pytest.approx(r["saved_usd_per_day"] * 30)
    saved = {f["feature"]: f for f in r["by_feature"]}
    assert saved["support_chat"]["saved_usd_per_month"] == 0 and saved["classification"]["cascaded_requests"] == 0
    assert saved["rag_answer"]["saved_usd_per_month"] > 0
    assert 0.28 < r["escalation_rate_on_traffic"] < 0.32
    lo, hi = r["ci95"]["draw"]
    assert lo < r["saved_usd_per_month"] < hi
    rlo, rhi = r["ci95"]["rate"]                             # escalating 35 % saves less than 25 %
    assert rlo < r["saved_usd_per_month"] < rhi
    assert r["quality_change"] == -0.024 and r["quality_change_ci95"] == [-0.04, -0.01]
    assert r["quality_change_on_traffic"] == pytest.approx(-0.024 * r["cascaded_requests"] / r["requests"])
    assert saved["support_chat"]["quality_change_on_feature"] == 0
    assert "carried over from the labelled set" in r["quality_note"] and "not measured" in r["quality_note"]
    with pytest.raises(ValueError, match="no request of the log went to"):
        traffic_savings(week, real_book, cheap="gpt-4.1-mini", strong="gpt-4o", escalation_rate=0.3)


def test_a_policy_file_can_name_the_cascade(tmp_path, run_cli):
    """A fresh process finds ``cascade`` through the registry's discovery; the score is a log column."""
    from tests.conftest import FROZEN_PRICES

    log = pd.concat([one_row(request_id="good", router_score=0.9), one_row(request_id="bad", router_score=0.2)],
                    ignore_index=True)
    log.to_parquet(tmp_path / "log.parquet")
    (tmp_path / "stack.yaml").write_text(
        "policies:\n  - {policy: cascade, cheap: gpt-4o-mini, strong: gpt-4o, escalate_below: 0.5, score: router_score}\n")
    r = run_cli("replay", str(tmp_path / "log.parquet"), "--policy", str(tmp_path / "stack.yaml"),
                "--prices", str(FROZEN_PRICES), "--bootstrap", "0", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["replayed_usd"] == pytest.approx((465 + 9_265) / 1e6)   # the costs of the first test, in $
    assert "cascade" in run_cli("replay", "--list-policies").stdout
