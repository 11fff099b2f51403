"""Golden numbers recomputed by hand from the frozen sheet (tests/fixtures/prices/frozen.yaml).

gpt-4o from 2024-10-02: $2.50 in, $10 out, $1.25 cached, batch $1.25 / $5.00.
gpt-4o-mini: $0.15 / $0.60, cached $0.075, batch $0.075 / $0.30. claude-3-haiku: $0.25 / $1.25.
tiered-sonnet (2025): $3 / $15, cached $0.30, write $3.75; above 200k input: $6 / $22.50.
Money is compared exactly in pico-dollars (1 USD = 1e12 pUSD).
"""
from __future__ import annotations

import pandas as pd
import pytest

from tests.replay.conftest import one_row, rows

USD = 10**12


def usd(x: str) -> int:
    from decimal import Decimal
    return int(Decimal(x) * USD)


def final(result) -> list[int]:
    return [int(v) for v in result.frame["cost_pusd"]]


def test_baseline_row_cost(run):
    # 1000 uncached × 2.50 + 1000 cached × 1.25 + 400 out × 10 = 7750 per 1M → $0.00775
    r = run(one_row())
    assert r.summary["baseline_pusd"] == r.summary["replayed_pusd"] == usd("0.00775")
    assert r.waterfall == [] and r.savings_usd == 0


@pytest.mark.parametrize("policy, expected, touched", [
    # output 400 → 100: 2500 + 1250 + 1000 = 4750
    ({"policy": "output_cap", "max_output_tokens": 100}, "0.00475", 1),
    ({"policy": "output_cap", "max_output_tokens": 400}, "0.00775", 0),
    # batch: 1000 × 1.25 + 1000 × 1.25 × (1.25/2.50) + 400 × 5 = 1250 + 625 + 2000 = 3875
    ({"policy": "batch", "features": ["chat"]}, "0.003875", 1),
    ({"policy": "batch", "features": "all"}, "0.003875", 1),
    ({"policy": "batch", "features": ["reports"]}, "0.00775", 0),
    # mini: 1000 × 0.15 + 1000 × 0.075 + 400 × 0.60 = 150 + 75 + 240 = 465
    ({"policy": "route", "rules": [{"model": "gpt-4o-mini"}]}, "0.000465", 1),
    # haiku has no cached price: the whole prompt is billed as input, 2000 × 0.25 + 400 × 1.25 = 1000
    ({"policy": "route", "rules": [{"feature": "chat", "model": "claude-3-haiku"}]}, "0.001", 1),
    ({"policy": "route", "rules": [{"feature": "search", "model": "claude-3-haiku"}]}, "0.00775", 0),
    # compress half of the uncached tokens by half: 1000 → 750; 1875 + 1250 + 4000 = 7125
    ({"policy": "compress", "rate": 0.5, "share": 0.5}, "0.007125", 1),
    # compress the cached prefix by 10%: 1000 → 900 cached, input 1900: 2500 + 1125 + 4000 = 7625
    ({"policy": "compress", "rate": 0.1, "parts": ["cached"]}, "0.007625", 1),
    ({"policy": "compress", "rate": 0.5, "min_input_tokens": 5000}, "0.00775", 0),
    ({"policy": "drop_retries"}, "0.00775", 0),  # attempt 1 is not a retry
])
def test_single_policy(run, policy, expected, touched):
    r = run(one_row(), [policy])
    assert r.summary["replayed_pusd"] == usd(expected)
    assert r.waterfall[0]["savings_pusd"] == usd("0.00775") - usd(expected)
    assert r.waterfall[0]["requests_touched"] == touched


def test_long_context_tier_and_batch(run):
    # 250,000 > 200k: the whole request at $6 / $22.50: 1,500,000 + 22,500 per 1M = $1.5225
    log = one_row(model="sonnet-test", input_tokens=250_000, cached_input_tokens=0, output_tokens=1000)
    assert run(log).summary["baseline_pusd"] == usd("1.5225")
    # batch has no tier in the sheet: batch input replaces the tiered input ($1.50), output $7.50
    assert run(log, [{"policy": "batch", "features": "all"}]).summary["replayed_pusd"] == usd("0.3825")
    # 200,000 is not above the threshold: $3 / $15
    assert run(one_row(model="tiered-sonnet", input_tokens=200_000, cached_input_tokens=0,
                       output_tokens=0)).summary["baseline_pusd"] == usd("0.6")


def test_cache_write_tokens(run):
    # 1000 uncached × 3 + 500 written × 3.75 + 100 out × 15 = 3000 + 1875 + 1500 = 6375
    log = one_row(model="tiered-sonnet", input_tokens=1500, cached_input_tokens=0, cache_write_tokens=500,
                  output_tokens=100)
    assert run(log).summary["baseline_pusd"] == usd("0.006375")
    # moved to gpt-4o (no cache-write price): all 1500 as plain input: 3750 + 1000 = 4750
    r = run(log, [{"policy": "route", "rules": [{"model": "gpt-4o"}]}])
    assert r.summary["replayed_pusd"] == usd("0.00475")
    assert r.frame["cache_write_tokens"].tolist() == [0]


def test_route_first_matching_rule_wins_and_reasons(run):
    log = rows({"feature": "search", "input_tokens": 100, "cached_input_tokens": 0, "prompt": "hi"},
               {"feature": "chat", "input_tokens": 3000, "cached_input_tokens": 0,
                "prompt": "Please COMPARE the plans"},
               {"feature": "chat", "input_tokens": 3000, "cached_input_tokens": 0, "prompt": None,
                "tenant": "bigco"},
               {"feature": "chat", "input_tokens": 30_000, "cached_input_tokens": 0, "prompt": "x"})
    stack = [{"policy": "route", "plans": {"bigco": "enterprise"},
              "rules": [{"tier": "light", "model": "gpt-4o-mini", "name": "light"},
                        {"keywords": ["compare"], "model": "tiered-sonnet"},
                        {"plan": "enterprise", "model": "gpt-4o"},
                        {"tier": "heavy", "model": "claude-3-haiku"}]}]
    r = run(log, stack)
    assert r.frame["replayed_model"].tolist() == ["gpt-4o-mini", "tiered-sonnet", "gpt-4o", "claude-3-haiku"]
    assert r.frame["act1_route"].tolist() == [1, 2, 0, 4]  # row 3 already on gpt-4o: untouched
    d = r.decisions()
    assert d["reason"].tolist()[0].startswith("rule 1 (light): tier = light → gpt-4o-mini")
    assert "prompt mentions compare" in d["reason"].tolist()[1]


def test_classifier_follows_the_seed(run, book):
    from workbench.core.replay import make_policy
    from workbench.core.replay.reference import classify
    p = make_policy("route", rules=[{"model": "gpt-4o"}])
    assert classify(p, "where is my order", 100) == "light"
    assert classify(p, "where is my order", 600) == "standard"
    assert classify(p, "compare a and b " + "w " * 30, 100) == "heavy"
    assert classify(p, "Design it", 100) == "light"       # the seed checks light first
    assert classify(p, "w " * 30, 20_000) == "heavy"
    assert classify(p, None, 100) == "standard"
    assert classify(p, "   ", 100) == "light"             # no words


def test_batch_skips_models_without_batch_price(run):
    r = run(one_row(model="claude-3-haiku", cached_input_tokens=0), [{"policy": "batch", "features": "all"}])
    assert r.savings_usd == 0 and r.frame["batch"].tolist() == [False]
    step = r.steps[0]
    assert step["requests_touched"] == 0
    assert step["decisions"] == [{"code": 2, "reason": "async feature, but the model has no batch price: "
                                  "left real-time", "kind": "note", "changes": False, "requests": 1}]


def test_route_after_batch_to_model_without_batch_goes_real_time(run):
    stack = [{"policy": "batch", "features": "all"}, {"policy": "route", "rules": [{"model": "claude-3-haiku"}]}]
    r = run(one_row(cached_input_tokens=0), stack)
    assert r.frame["batch"].tolist() == [False]
    assert r.summary["replayed_pusd"] == usd("0.001")  # 2000 × 0.25 + 400 × 1.25


def test_drop_retries_only_after_an_answered_attempt(run):
    log = rows({"tags": '{"logical_id": "A"}', "status": "ok", "attempt": 1},
               {"tags": '{"logical_id": "A"}', "status": "ok", "attempt": 2},      # validation retry
               {"tags": '{"logical_id": "B"}', "status": "error", "attempt": 1},
               {"tags": '{"logical_id": "B"}', "status": "ok", "attempt": 2},      # needed retry
               {"tags": "not json", "status": "ok", "attempt": 2})                 # cannot link
    r = run(log, [{"policy": "drop_retries"}])
    assert r.frame["fate"].tolist() == ["called", "removed", "called", "called", "called"]
    assert r.frame["act1_drop_retries"].tolist() == [0, 1, 0, 0, 2]
    r = run(log, [{"policy": "drop_retries", "after": "all"}])
    assert r.frame["fate"].tolist() == ["called", "removed", "called", "removed", "removed"]
    r = run(log, [{"policy": "drop_retries", "after": ["ok", "error"]}])
    assert r.frame["fate"].tolist() == ["called", "removed", "called", "removed", "called"]


def test_ties_are_ordered_by_request_id(run):
    same = pd.Timestamp("2025-03-01T08:00:00Z")
    # 100,000 input tokens on gpt-4o = $0.25 each; cap $0.30: the first in (ts, id) order passes
    log = rows({"request_id": "b", "ts": same, "input_tokens": 100_000, "cached_input_tokens": 0, "output_tokens": 0},
               {"request_id": "a", "ts": same, "input_tokens": 100_000, "cached_input_tokens": 0, "output_tokens": 0})
    r = run(log, [{"policy": "daily_budget", "usd": 0.30}])
    assert r.frame["request_id"].tolist() == ["a", "b"]   # per-request frame in processing order
    assert r.frame["fate"].tolist() == ["called", "blocked"]


def test_days_are_utc(run):
    # 23:30 at UTC-2 on Feb 28 is Mar 1 01:30 UTC: the same UTC day as the second request
    log = rows({"ts": pd.Timestamp("2025-02-28T23:30:00-02:00").tz_convert("UTC"), "input_tokens": 100_000,
                "cached_input_tokens": 0, "output_tokens": 0},
               {"ts": pd.Timestamp("2025-03-01T05:00:00Z"), "input_tokens": 100_000, "cached_input_tokens": 0,
                "output_tokens": 0})
    r = run(log, [{"policy": "daily_budget", "usd": 0.30}])
    assert r.frame["fate"].tolist() == ["called", "blocked"]
