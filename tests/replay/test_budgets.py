"""Budget semantics with hand-computed numbers: hard stop, alerts, downgrade, cache-only, token
quotas, plans, month periods, and the sequential ``budget_fill``.

Every request is gpt-4o (2025 price: $2.50 per 1M input) with only input tokens, so
``cost = tokens × 2.5e-6``: 100,000 tokens = $0.25, 20,000 tokens = $0.05.
"""
from __future__ import annotations

import narwhals.stable.v2 as nw
import pandas as pd
import pytest

from tests.replay.conftest import rows
from workbench.core.replay import Policy, Reason, register_policy
from workbench.core.replay.pricing import CACHE_HIT, FATE

USD = 10**12


def req(usd: float, **kw) -> dict:
    return {"input_tokens": round(usd * 400_000), "cached_input_tokens": 0, "output_tokens": 0, **kw}


def costs(r) -> list[float]:
    return [round(v, 6) for v in r.frame["cost_usd"]]


def test_daily_budget_hard_stop_and_alerts(run):
    log = pd.concat([rows(req(.25), req(.25), req(.25), req(.05)), rows(req(.25, request_id="n1"), day="2025-03-02")],
                    ignore_index=True)
    r = run(log, [{"policy": "daily_budget", "usd": 0.60, "alerts": [0.5, 0.8]}])
    # spend .25 .50 | .75 > .60: the third and everything after it that day is blocked (even $0.05)
    assert r.frame["fate"].tolist() == ["called", "called", "blocked", "blocked", "called"]
    assert costs(r) == [0.25, 0.25, 0, 0, 0.25]
    assert r.replayed_usd == pytest.approx(0.75) and r.blocked_requests == 2
    events = [(e["event"], e["request_id"], e["scope"], e["period"], round(e["spend"], 6)) for e in r.budget["events"]]
    # 50 % ($0.30) and 80 % ($0.48) are both first reached by the second request (spend $0.50)
    assert events == [("alert 50%", "r02", "org", "2025-03-01", 0.5), ("alert 80%", "r02", "org", "2025-03-01", 0.5),
                      ("hard stop", "r03", "org", "2025-03-01", 0.5)]
    assert r.budget["events"][2]["cap"] == pytest.approx(0.6)
    assert r.budget["by_tenant"] == [{"step": 1, "policy": "daily_budget", "label": "daily_budget", "tenant": "acme",
                                      "period": "2025-03-01", "blocked": 2, "saved_usd": 0.30}]
    d = r.decisions()
    assert d["request_id"].tolist() == ["r03", "r04"]
    assert d["reason"].iloc[0] == "blocked: org daily budget $0.60 reached (hard stop)"


def test_spend_equal_to_the_cap_is_allowed(run):
    r = run(rows(req(.25), req(.25), req(.25)), [{"policy": "daily_budget", "usd": 0.50}])
    assert r.frame["fate"].tolist() == ["called", "called", "blocked"]


def test_budget_fill_lets_later_smaller_requests_through(run):
    log = rows(req(.25), req(.50), req(.25), req(.25))
    fill = run(log, [{"policy": "budget_fill", "usd": 0.60}])
    assert fill.frame["fate"].tolist() == ["called", "blocked", "called", "blocked"]
    assert fill.replayed_usd == pytest.approx(0.50)
    stop = run(log, [{"policy": "daily_budget", "usd": 0.60}])
    assert stop.frame["fate"].tolist() == ["called", "blocked", "blocked", "blocked"]
    by_tenant = run(log.assign(tenant=["a", "b", "a", "b"]), [{"policy": "budget_fill", "usd": 0.60, "scope": "tenant"}])
    assert by_tenant.frame["fate"].tolist() == ["called", "called", "called", "blocked"]


def test_tenant_quota_usd_per_tenant_limits(run):
    log = rows(*[req(.25, tenant=t) for t in ("acme", "beta", "acme", "beta", "acme", "beta")])
    r = run(log, [{"policy": "tenant_quota", "limit": 1.0, "limits": {"acme": 0.30}}])
    assert r.frame["fate"].tolist() == ["called", "called", "blocked", "called", "blocked", "called"]
    tenants = {row["tenant"]: row["blocked"] for row in r.budget["by_tenant"]}
    assert tenants == {"acme": 2}
    stops = [e for e in r.budget["events"] if e["event"] == "hard stop"]
    assert [(e["scope"], e["request_id"]) for e in stops] == [("acme", "r03")]


def test_tenant_quota_plans_and_default(run):
    log = rows(*[req(.25, tenant=t) for t in ("acme", "beta", "gamma")] * 3)
    stack = [{"policy": "tenant_quota", "plans": {"acme": "pro", "beta": "free"},
              "plan_limits": {"pro": 0.6, "free": 0.3}, "default_plan": "free"}]
    r = run(log, stack)
    # acme (pro, $0.60): 2 of 3; beta (free, $0.30) and gamma (unlisted → free): 1 of 3
    served = r.frame.groupby("tenant")["fate"].apply(lambda s: int((s == "called").sum())).to_dict()
    assert served == {"acme": 2, "beta": 1, "gamma": 1}


def test_token_quota_downgrade(run):
    log = rows(*[req(.25, tenant="acme")] * 3, req(.25, tenant="beta"))
    stack = [{"policy": "tenant_quota", "unit": "tokens", "limit": 150_000, "action": "downgrade",
              "downgrade_to": "gpt-4o-mini", "alerts": [0.5]}]
    r = run(log, stack)
    # acme: 100k tokens pass; 200k and 300k > 150k → gpt-4o-mini at $0.15 per 1M: $0.015 each
    assert r.frame["replayed_model"].tolist() == ["gpt-4o", "gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert costs(r) == [0.25, 0.015, 0.015, 0.25]
    assert r.summary["downgraded_requests"] == 2 and r.blocked_requests == 0
    ev = [(e["event"], e["scope"], e["request_id"], e["spend"]) for e in r.budget["events"]]
    # alert at 75,000 tokens: acme's first request reaches 100,000
    assert ev == [("alert 50%", "acme", "r01", 100_000), ("downgrade starts", "acme", "r02", 100_000),
                  ("alert 50%", "beta", "r04", 100_000)]


def test_month_period(run):
    log = pd.concat([rows(req(.25), day=d) for d in ("2025-03-01", "2025-03-15", "2025-03-31", "2025-04-01")],
                    ignore_index=True).assign(request_id=lambda f: [f"m{i}" for i in range(len(f))])
    r = run(log, [{"policy": "tenant_quota", "limit": 0.6, "period": "month"}])
    assert r.frame["fate"].tolist() == ["called", "called", "blocked", "called"]
    # April starts afresh ($0.25 of $0.60 is below the 50 % alert)
    assert [(e["event"], e["period"]) for e in r.budget["events"]] == [
        ("alert 50%", "2025-03"), ("alert 80%", "2025-03"), ("hard stop", "2025-03")]


@register_policy
class _MarkHits(Policy):
    """A stand-in response cache for the test: prompts equal to 'hit' are served from it."""
    name = "test_mark_hits"
    summary = "test only"

    def reasons(self):
        return (Reason("served from the response cache"),)

    def apply(self, ctx):
        hit = ctx.called & (nw.col("prompt") == "hit").fill_null(False)
        return ctx.frame.with_columns(**{FATE: nw.when(hit).then(nw.lit(CACHE_HIT, nw.Int8)).otherwise(nw.col(FATE)),
                                         ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))})

    def requires(self):
        return {"prompt"}


def test_cache_only_serves_cache_hits_block_refuses_them(run):
    log = rows(req(.25), req(.25), req(.25, prompt="hit"), req(.25))
    cache_only = run(log, [{"policy": "test_mark_hits"}, {"policy": "daily_budget", "usd": 0.3, "action": "cache_only"}])
    assert cache_only.frame["fate"].tolist() == ["called", "blocked", "cache_hit", "blocked"]
    block = run(log, [{"policy": "test_mark_hits"}, {"policy": "daily_budget", "usd": 0.3, "action": "block"}])
    assert block.frame["fate"].tolist() == ["called", "blocked", "blocked", "blocked"]
    assert cache_only.replayed_usd == block.replayed_usd == pytest.approx(0.25)
    assert [e["event"] for e in cache_only.budget["events"]][-1] == "cache-only starts"


def test_budget_sees_the_cost_after_earlier_steps(run):
    # routing to gpt-4o-mini first makes each request $0.015: all fit under $0.05
    log = rows(req(.25), req(.25), req(.25))
    r = run(log, [{"policy": "route", "rules": [{"model": "gpt-4o-mini"}]}, {"policy": "daily_budget", "usd": 0.05}])
    assert r.blocked_requests == 0
    r = run(log, [{"policy": "daily_budget", "usd": 0.05}, {"policy": "route", "rules": [{"model": "gpt-4o-mini"}]}])
    assert r.blocked_requests == 3
    assert [w["policy"] for w in r.waterfall] == ["daily_budget", "route"]
    assert r.waterfall[0]["savings_usd"] == pytest.approx(0.75) and r.waterfall[1]["savings_usd"] == 0
