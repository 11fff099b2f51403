"""Typed step reports: generic layers read kinds, actions and limits, never free-form keys."""
from __future__ import annotations

import pandas as pd
import pytest

from tests.replay.conftest import rows
from workbench.core.replay import Event, Policy, PolicyError, Reason, register_policy


def test_budget_reports_typed_events_limits_and_counts(run):
    log = rows(*({"output_tokens": 400} for _ in range(4)))
    r = run(log, [{"policy": "tenant_quota", "limit": 0.02, "limits": {"beta": 1.0}, "action": "downgrade",
                   "downgrade_to": "gpt-4o-mini", "alerts": [0.5]},
                  {"policy": "daily_budget", "usd": 0.012, "action": "block", "alerts": []}])
    stops = [(e["kind"], e["action"], e["step"]) for e in r.events if e["kind"] == "stop"]
    assert sorted(stops, key=lambda s: s[2]) == [("stop", "downgrade", 1), ("stop", "block", 2)]
    assert {(lim["scope"], lim["period"], lim["unit"], lim["value"], lim.get("tenant")) for lim in r.limits} == {
        ("tenant", "day", "usd", 1.0, "beta"), ("tenant", "day", "usd", 0.02, None), ("org", "day", "usd", 0.012, None)}
    assert r.steps[0]["counts"] == {"downgraded": 2} and r.summary["downgraded_requests"] == 2
    assert r.steps[1]["counts"] == {"blocked": r.blocked_requests} and r.blocked_requests > 0


def test_old_summarize_hook_and_bad_kinds_are_refused():
    with pytest.raises(PolicyError, match="replaced by report"):
        @register_policy
        class _Old(Policy):
            name = "test_old_summarize"

            def summarize(self, ctx, frame):
                return {}
    with pytest.raises(ValueError, match="reason kind"):
        Reason("x", kind="teleported")
    with pytest.raises(ValueError, match="event kind"):
        Event("boom", "x", ts=str(pd.Timestamp(0)), request_id="r")


def test_stateless_policy_may_not_couple_requests(run):
    import narwhals.stable.v2 as nw

    @register_policy
    class _Sneaky(Policy):
        name = "test_sneaky_window"

        def reasons(self):
            return (Reason("x"),)

        def apply(self, ctx):
            frame = ctx.window(ctx.frame, {"n": nw.col("_in").cum_sum().over(order_by=ctx.order_by)}, ["_in"])
            return frame.with_columns(**{ctx.act: nw.lit(0, nw.Int8)})
    with pytest.raises(PolicyError, match="declare stateful = True"):
        run(rows({}), [{"policy": "test_sneaky_window"}])


def test_quality_beside_cost_in_totals_groups_interval_and_waterfall(run):
    from tests.replay.conftest import make_log
    log = make_log(300, seed=8)
    log["quality"] = [None if i % 4 == 0 else 0.5 + (i % 5) / 10 for i in range(len(log))]
    r = run(log, [{"policy": "output_cap", "max_output_tokens": 200},
                  {"policy": "daily_budget", "usd": 0.2}], bootstrap=300)
    labelled = log["quality"].notna()
    assert r.baseline_quality == pytest.approx(log.loc[labelled, "quality"].mean(), rel=1e-9)
    cap, budget = r.waterfall
    assert cap["quality_lost"] == 0 and budget["quality_lost"] > 0  # blocked labelled requests count 0
    assert r.replayed_quality == pytest.approx(r.baseline_quality - budget["quality_lost"], rel=1e-9)
    lo, hi = r.ci95["quality"]["replayed_mean"]
    assert lo <= r.replayed_quality <= hi and r.ci95["quality"]["change"][1] <= 0
    feats = {f["feature"]: f for f in r.summary["by_feature"]}
    assert all(0 <= f["replayed_quality"] <= 1 for f in feats.values())
    assert r.frame["quality"].isna().sum() == (~labelled).sum()
