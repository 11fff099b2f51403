"""Score once, sweep cheaply: the sorted-cumsum sweep equals the per-threshold evaluation, costs
follow the cascade rules by hand, metrics match hand-worked curves, routers never see their label."""
from __future__ import annotations

import numpy as np
import pytest

from tests.cascade.conftest import EVALDATA
from workbench.core.cascade import CascadeCosts, EvalDataError, Target, TierPrice, score, simulate
from workbench.core.cascade.evalset import EvalSet, split_mask
from workbench.core.cascade.metrics import frontier_metrics, oracle, upper_hull
from workbench.core.cascade.signals import classify_query, get_signal, targets
from workbench.core.cascade.sweep import Prepared, evaluate, loop_sweep, step_arrays, step_keys, threshold_grid
from workbench.io.evaldata import load_long_csv, tier_prices

MINI, FOUR_O = TierPrice("gpt-4o-mini", 0.15, 0.60, "frozen"), TierPrice("gpt-4o", 2.50, 10.00, "frozen")


def synthetic(n=500, k=3, seed=1) -> EvalSet:
    rng = np.random.default_rng(seed)
    q = (rng.random((n, k)) < np.linspace(0.5, 0.9, k)).astype(float)
    tin = rng.integers(10, 3000, (n, k))
    tout = rng.integers(1, 800, (n, k))
    sig = {"logprob": -rng.random((n, k)), "self_check": rng.random((n, k))}
    return EvalSet("syn", np.array([f"r{i}" for i in range(n)], dtype=object), [f"prompt {i}" for i in range(n)],
                   tuple(f"m{j}" for j in range(k)), q, tin, tout, sig)


@pytest.fixture(scope="module")
def small():
    return load_long_csv(EVALDATA / "long_small.csv").for_tiers(["gpt-4o-mini", "gpt-4o"])


@pytest.mark.parametrize("mode,signal", [("route", "random"), ("cascade", "logprob"), ("cascade", "self_check")])
def test_sorted_sweep_equals_one_evaluation_per_threshold(mode, signal):
    es = synthetic()
    prices = [TierPrice("m0", 0.1, 0.4, "t"), TierPrice("m1", 1, 4, "t"), TierPrice("m2", 10, 30, "t")]
    s = score(es, ["m0", "m1", "m2"], prices, signal, mode=mode)
    grid = threshold_grid(s.keys, 101)
    fast = s.prepared.curve(grid)
    slow = loop_sweep(*s.base, s.keys, grid)
    np.testing.assert_allclose(fast["quality"], slow["quality"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast["usd"], slow["usd"], rtol=1e-12)
    np.testing.assert_array_equal(fast["escalation_rate"], slow["escalation_rate"])
    assert fast["escalation_rate"][0] == 0 and fast["escalation_rate"][-1] == 1


def test_cascade_bills_the_failed_attempt_and_the_draft_by_hand(small):
    # threshold -0.5 on the cheap model's logprob escalates q2 (-1.2), q4 (-0.7), q9 (-0.9)
    s = score(small, small.models, [MINI, FOUR_O], "logprob")
    tier, q, usd = evaluate(*s.base, s.keys, -0.5)
    assert tier.tolist() == [0, 1, 0, 1, 1]
    # per 1M: q1 1000×0.15+100×0.6 = 210; q3 81; q2 480 + (2000+300+20)×2.5 + 400×10 = 10,280;
    # q4 810 + (3000+600+20)×2.5 + 7000 = 16,860; q9 84 + (400+40+20)×2.5 + 600 = 1,834
    assert (usd * 1e6).round(6).tolist() == [210, 10280, 81, 16860, 1834]
    assert q.mean() == pytest.approx(4.9 / 5)
    no_draft = score(small, small.models, [MINI, FOUR_O], "logprob", costs=CascadeCosts(carry_draft=False))
    assert (evaluate(*no_draft.base, no_draft.keys, -0.5)[2] * 1e6).round(6).tolist() == [210, 9480, 81, 15310, 1684]


def test_self_check_is_priced_on_every_checked_request():
    es = synthetic(n=50, k=2)
    prices = [TierPrice("m0", 1.0, 2.0, "t"), TierPrice("m1", 10.0, 20.0, "t")]
    s = score(es, ["m0", "m1"], prices, "self_check")
    _, _, usd = evaluate(*s.base, s.keys, -1.0)                        # nobody escalates
    tin, tout = es.input_tokens[:, 0], es.output_tokens[:, 0]
    expect = (tin * 1.0 + tout * 2.0 + (tin + tout + 40) * 1.0 + 3 * 2.0) / 1e6
    np.testing.assert_allclose(usd, expect, rtol=1e-12)


def test_route_end_points_equal_the_single_models_exactly():
    es = synthetic(k=2)
    prices = [TierPrice("m0", 0.3, 1.2, "t"), TierPrice("m1", 3, 12, "t")]
    r = simulate(es, ["m0", "m1"], prices, "length", bootstrap=0)
    lo, hi = r["frontier"][0], r["frontier"][-1]
    for point, model in ((lo, "m0"), (hi, "m1")):
        assert point["quality"] == r["baselines"][model]["quality"]
        assert point["usd"] == r["baselines"][model]["usd"]                 # exact: pico-dollar integers


def test_oracle_takes_the_cheapest_tier_that_gets_it_right():
    q = np.array([[1, 1], [0, 1], [0, 0], [1, 0]], dtype=float)
    c = np.array([[1, 10], [1, 10], [1, 10], [1, 10]])
    tier, quality, usd = oracle(q, c)
    assert tier.tolist() == [0, 1, 0, 0] and quality.tolist() == [1, 1, 0, 1] and usd.tolist() == [1, 10, 1, 1]


def test_metrics_on_hand_worked_curves():
    # the random router's straight line recovers half the gap on average
    usd = np.linspace(1, 11, 11)
    q = np.linspace(0.6, 0.8, 11)
    m = frontier_metrics(usd, q, (1, 0.6), (11, 0.8))
    assert m["apgr"] == pytest.approx(0.5) and m["aiq"] == pytest.approx(0.7)
    assert m["usd_at_50pct_gap"] == pytest.approx(6) and m["usd_at_80pct_gap"] == pytest.approx(9)
    # a router that reaches the strong quality at $3: PGR ramps 0→1 over $1–3, then 1 until $11
    m = frontier_metrics(np.array([1, 3, 11.0]), np.array([0.6, 0.8, 0.8]), (1, 0.6), (11, 0.8))
    assert m["apgr"] == pytest.approx((0.5 * 2 + 8) / 10)
    assert m["usd_at_50pct_gap"] == pytest.approx(2.0)
    # the hull bridges a dip: points (1, .6), (2, .6), (3, .8) → hull is the straight segment
    hx, hy = upper_hull(np.array([1, 2, 3.0]), np.array([0.6, 0.6, 0.8]))
    assert hx.tolist() == [1, 3] and hy.tolist() == [0.6, 0.8]


def test_classify_query_is_the_route_policys_classifier():
    from workbench.core.replay.reference import classify
    from workbench.core.replay.registry import make_policy
    route = make_policy("route", rules=[{"tier": "light", "model": "gpt-4o-mini"}])
    for prompt, tokens in (("hi", 10), ("please compare a and b", 100), ("word " * 25, 100), ("short", 600),
                           ("x", 20_000), ("  reset  my password  ", 40), ("Explain why the sky is blue", 9)):
        assert classify_query(prompt, tokens) == classify(route, prompt, tokens)


def test_learned_routers_never_score_a_request_with_its_own_label():
    # features that identify each request and labels that are pure noise: a model that saw the label
    # would score it (almost) perfectly; out-of-fold scores carry no information
    n = 400
    es = synthetic(n=n, k=2, seed=3)
    td = es.for_tiers(["m0", "m1"])
    X = np.eye(n)
    y = targets(td)[:, 0]
    for name in ("knn", "logreg"):
        s = get_signal(name).fn(td, features=X)[:, 0]
        pos, neg = s[y == 1][:, None], s[y == 0][None, :]
        auc = (pos > neg).mean() + 0.5 * (pos == neg).mean()
        assert auc < 0.65, (name, auc)          # in-sample scores would rank the labels almost perfectly


def test_learned_routers_learn_a_real_signal():
    n = 600
    es = synthetic(n=n, k=2, seed=4)
    td = es.for_tiers(["m0", "m1"])
    y = targets(td)[:, 0]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 8))
    X[:, 0] += 3 * y
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    prices = [TierPrice("m0", 0.3, 1.2, "t"), TierPrice("m1", 3, 12, "t")]
    for name in ("knn", "logreg"):
        r = simulate(td, ["m0", "m1"], prices, name, features=X, bootstrap=0)
        rnd = simulate(td, ["m0", "m1"], prices, "random", bootstrap=0)
        assert r["apgr"] > rnd["apgr"] + 0.2, name


def test_split_is_stable_disjoint_and_shown():
    ids = np.array([f"id{i}" for i in range(2000)], dtype=object)
    a = split_mask(ids, 0.5, seed=0)
    assert 900 < a.sum() < 1100
    np.testing.assert_array_equal(split_mask(ids[::-1], 0.5, 0)[::-1], a)        # order-independent
    r = simulate(synthetic(k=2), ["m0", "m1"], [MINI, FOUR_O], "random", bootstrap=0)
    sp = r["split"]
    assert sp["calibrate_n"] + sp["test_n"] == r["n"] and r["operating_point"]["test"]["n"] == sp["test_n"]


def test_operating_point_by_quality_and_by_budget():
    es = synthetic(n=2000, k=2)
    prices = [TierPrice("m0", 0.3, 1.2, "t"), TierPrice("m1", 3, 12, "t")]
    r = simulate(es, ["m0", "m1"], prices, "length", target=Target("quality", 0.75), bootstrap=0)
    op = r["operating_point"]
    assert op["target_met_on_calibration"] and op["calibrate"]["quality"] >= 0.75
    r2 = simulate(es, ["m0", "m1"], prices, "length", target=Target("budget", 5_000), requests_per_day=10_000,
                  bootstrap=0)
    op2 = r2["operating_point"]
    assert op2["calibrate"]["usd_per_request"] * 30 * 10_000 <= 5_000 + 1e-9
    pj = op2["projection"]
    assert pj["usd_per_month"] == pytest.approx(op2["test"]["usd_per_request"] * 300_000)


def test_answer_signals_need_the_data_and_a_cascade(small):
    with pytest.raises(EvalDataError, match="signals present: logprob"):
        score(small, small.models, [MINI, FOUR_O], "confidence")
    with pytest.raises(EvalDataError, match="needs mode 'cascade'"):
        score(small, small.models, [MINI, FOUR_O], "logprob", mode="route")
    with pytest.raises(EvalDataError, match="unknown signal 'knm'.*did you mean knn"):
        score(small, small.models, [MINI, FOUR_O], "knm")


def test_escalation_warnings_use_the_seeds_levels(mmlu_small, real_book):
    prices = tier_prices(mmlu_small.models, real_book, day="2025-01-01")
    r = simulate(mmlu_small, list(mmlu_small.models), prices, "rules", target=Target("gap", 0.9), bootstrap=0)
    esc = r["escalation_by_route"]
    assert esc["overall_level"] == ("red" if esc["overall"] > 0.20 else "amber" if esc["overall"] > 0.15 else "ok")
    for row in esc["by_class"]:
        assert row["warning"] == (row["route"] == "light" and row["escalation_rate"] > 0.40)
    assert {g["route"] for g in esc["by_group"]["subject"]} == {"abstract_algebra", "anatomy", "college_physics",
                                                                  "marketing"}
    for ex in r["examples_trusted_and_wrong"]:
        assert ex["quality"]["mistralai/Mixtral-8x7B-Instruct-v0.1"] < ex["quality"]["gpt-4-1106-preview"]


def test_bootstrap_intervals_bracket_the_point_estimates(mmlu_small, real_book):
    prices = tier_prices(mmlu_small.models, real_book, day="2025-01-01")
    r = simulate(mmlu_small, list(mmlu_small.models), prices, "random", bootstrap=100)
    lo, hi = r["ci95"]["aiq"]
    assert lo <= r["aiq"] <= hi and hi - lo < 0.1
    t = r["operating_point"]["test"]
    assert t["ci95"]["quality"][0] <= t["quality"] <= t["ci95"]["quality"][1]


def test_random_baseline_is_the_straight_line_in_dollars():
    es = synthetic(k=2)
    prices = [TierPrice("m0", 0.3, 1.2, "t"), TierPrice("m1", 3, 12, "t")]
    r = simulate(es, ["m0", "m1"], prices, "length", bootstrap=0)
    lo, hi = r["random"][0], r["random"][-1]
    cheap, strong = r["baselines"]["m0"], r["baselines"]["m1"]
    assert (lo["usd"], lo["quality"]) == pytest.approx((cheap["usd"], cheap["quality"]))
    assert (hi["usd"], hi["quality"]) == pytest.approx((strong["usd"], strong["quality"]))
    mid = r["random"][5]
    assert mid["usd"] == pytest.approx((cheap["usd"] + strong["usd"]) / 2)
