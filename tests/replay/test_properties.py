"""The replay invariants as property tests (hypothesis):

1. a hard cap is never exceeded (``block`` / ``cache_only`` budgets, ``budget_fill``);
2. removing a policy never changes a request it did not touch — except through a later budget's
   shared spend, so rows in a budget partition (day, tenant-day …) holding a touched row are left
   out, transitively, as docs/replay-semantics.md states;
3. the baseline replay (empty stack) reproduces the logged cost.

40 examples each by default; ``REPLAY_EXAMPLES=400`` for a longer search (passes, ~70 s).
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core.frame_cost import price_frame
from workbench.core.replay import PolicyStack, replay
from workbench.core.replay.pricing import usd_to_units

SETTINGS = settings(max_examples=int(__import__("os").environ.get("REPLAY_EXAMPLES", 40)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-haiku", "tiered-sonnet", "gpt-4o-2024-08-06")
PROMPTS = ("hi", "compare the two plans please", "where is my order", None, "design a system " * 6)


@st.composite
def logs(draw, max_rows: int = 30) -> pd.DataFrame:
    n = draw(st.integers(0, max_rows))
    rows = []
    for i in range(n):
        model = draw(st.sampled_from(MODELS))
        inp = draw(st.one_of(st.integers(0, 8_000), st.integers(190_000, 230_000)) if model == "tiered-sonnet"
                   else st.integers(0, 8_000))
        cached = 0 if model == "claude-3-haiku" else draw(st.integers(0, inp))
        write = draw(st.integers(0, inp - cached)) if model == "tiered-sonnet" else 0
        rows.append({
            "request_id": f"r{i:03d}",
            "ts": pd.Timestamp("2025-03-01", tz="UTC") + pd.Timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)) // 240 * 240),
            "tenant": draw(st.sampled_from(["a", "b", "c", None])),
            "feature": draw(st.sampled_from(["chat", "search", "reports"])),
            "model": model, "prompt": draw(st.sampled_from(PROMPTS)),
            "input_tokens": inp, "cached_input_tokens": cached, "cache_write_tokens": write,
            "output_tokens": draw(st.integers(0, 4_000)),
            "status": draw(st.sampled_from(["ok", "ok", "error"])),
            "attempt": draw(st.integers(1, 3)),
            "tags": json.dumps({"logical_id": f"L{draw(st.integers(0, max(1, n // 2)))}"}),
        })
    frame = pd.DataFrame(rows, columns=["request_id", "ts", "tenant", "feature", "model", "prompt", "input_tokens",
                                        "cached_input_tokens", "cache_write_tokens", "output_tokens", "status",
                                        "attempt", "tags"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    for c in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "attempt"):
        frame[c] = frame[c].astype("int64")
    for c in ("request_id", "tenant", "feature", "model", "prompt", "status", "tags"):
        frame[c] = frame[c].astype("string")
    return frame


money = st.sampled_from([0.0, 0.001, 0.01, 0.03, 0.1, 1.0])
STATELESS = st.one_of(
    st.builds(lambda n: {"policy": "output_cap", "max_output_tokens": n}, st.integers(1, 3000)),
    st.builds(lambda f: {"policy": "batch", "features": f}, st.sampled_from([["reports"], "all"])),
    st.builds(lambda r, s: {"policy": "compress", "rate": r, "share": s}, st.sampled_from([0.1, 0.5, 0.9]),
              st.sampled_from([0.5, 1.0])),
    st.builds(lambda a: {"policy": "drop_retries", "after": a}, st.sampled_from([["ok"], "all"])),
    st.builds(lambda m: {"policy": "route", "plans": {"a": "gold"},
                         "rules": [{"plan": "gold", "model": "gpt-4o"}, {"tier": "light", "model": m},
                                   {"min_input_tokens": 5000, "model": "claude-3-haiku"}]},
              st.sampled_from(["gpt-4o-mini", "tiered-sonnet"])),
)
HARD = st.one_of(
    st.builds(lambda u, a: {"policy": "daily_budget", "usd": u, "action": a}, money, st.sampled_from(["block", "cache_only"])),
    st.builds(lambda u, a: {"policy": "tenant_quota", "limit": u, "limits": {"b": u / 2}, "action": a}, money,
              st.sampled_from(["block", "cache_only"])),
    st.builds(lambda t: {"policy": "tenant_quota", "unit": "tokens", "limit": t}, st.integers(0, 20_000)),
    st.builds(lambda u, s: {"policy": "budget_fill", "usd": u, "scope": s}, money, st.sampled_from(["org", "tenant"])),
)
ANY = st.one_of(STATELESS, HARD, st.builds(
    lambda u: {"policy": "daily_budget", "usd": u, "action": "downgrade", "downgrade_to": "gpt-4o-mini"}, money))


def _run(log, policies, book):
    return replay(log, {"policies": policies}, book, bootstrap=0)


def _spent(frame: pd.DataFrame, keys: list[str], tokens: bool = False) -> pd.Series:
    day = frame["ts"].dt.tz_convert("UTC").dt.date
    value = (frame["input_tokens"] + frame["output_tokens"]).where(frame["fate"] == "called", 0) if tokens \
        else frame["cost_pusd"]
    cols = [frame[k].fillna("(none)") if k == "tenant" else day for k in keys]
    return value.groupby(cols).sum() if len(frame) else pd.Series(dtype="int64")


@SETTINGS
@given(log=logs(), prefix=st.lists(STATELESS, max_size=3), cap=HARD)
def test_a_hard_cap_is_never_exceeded(frozen_book, log, prefix, cap):
    result = _run(log, [*prefix, cap], frozen_book)
    frame = result.frame
    name = cap["policy"]
    if name == "daily_budget":
        assert (_spent(frame, ["day"]) <= usd_to_units(cap["usd"])).all()
    elif name == "budget_fill":
        keys = ["day"] if cap["scope"] == "org" else ["tenant", "day"]
        assert (_spent(frame, keys) <= usd_to_units(cap["usd"])).all()
    elif cap.get("unit") == "tokens":
        assert (_spent(frame, ["tenant", "day"], tokens=True) <= cap["limit"]).all()
    else:
        spent = _spent(frame, ["tenant", "day"])
        for (tenant, _day), value in spent.items():
            limit = cap["limits"]["b"] if tenant == "b" else cap["limit"]
            assert value <= usd_to_units(limit), (tenant, value)


PARTITIONS = {
    "daily_budget": lambda p: ["day"],
    "tenant_quota": lambda p: ["tenant", "month" if p.get("period") == "month" else "day"],
    "budget_fill": lambda p: ["day"] if p.get("scope", "org") == "org" else ["tenant", "day"],
}


@SETTINGS
@given(log=logs(), policies=st.lists(ANY, min_size=1, max_size=4), data=st.data())
def test_removing_a_policy_never_changes_requests_it_did_not_touch(frozen_book, log, policies, data):
    index = data.draw(st.integers(0, len(policies) - 1))
    stack = PolicyStack.from_dict({"policies": policies})
    full = _run(log, policies, frozen_book).frame.set_index("request_id")
    without = _run(log, stack.without(index).to_dict()["policies"], frozen_book).frame.set_index("request_id")
    changing = {i for i, r in enumerate(stack[index].reasons(), 1) if r.changes}
    tainted = full[f"act{index + 1}_{stack[index].name}"].isin(changing)
    keys = pd.DataFrame({"tenant": full["tenant"].fillna("(none)"), "day": full["ts"].dt.date,
                         "month": full["ts"].dt.strftime("%Y-%m")}, index=full.index)
    for later in policies[index + 1:]:  # a later budget couples the rows of its partitions
        if later["policy"] in PARTITIONS:
            cols = PARTITIONS[later["policy"]](later)
            hit = keys[tainted].groupby(cols).size().index
            tainted = tainted | keys.set_index(cols).index.isin(hit)
    clean = full.index[~np.asarray(tainted)]
    state = ["replayed_model", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "batch",
             "fate", "cost_pusd"]
    pd.testing.assert_frame_equal(full.loc[clean, state], without.loc[clean, state])


@SETTINGS
@given(log=logs(max_rows=40))
def test_baseline_replay_reproduces_the_logged_cost(frozen_book, log):
    result = _run(log, [], frozen_book)
    assert result.summary["replayed_pusd"] == result.summary["baseline_pusd"]
    assert result.savings_usd == 0 and result.waterfall == []
    priced = price_frame(log, frozen_book)
    assert abs(result.baseline_usd - priced["cost_usd"].sum()) <= 1e-9 * max(1.0, priced["cost_usd"].sum())
    mine = result.frame.set_index("request_id")["cost_usd"].sort_index()
    theirs = priced.set_index("request_id")["cost_usd"].sort_index()
    pd.testing.assert_series_equal(mine, theirs, check_names=False, rtol=1e-12, check_index_type=False)
