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
