"""The policy interface is enough for the cache and cascade issues: two policies written here, as
a new module would, without touching the engine — a cascade (both calls billed, through
``ctx.cost_on`` and ``_extra``) and an exact-TTL response cache (chain semantics of the design
note, as a sequential per-partition kernel through ``ctx.run_kernel``)."""
from __future__ import annotations

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd
import pytest

from tests.replay.conftest import one_row, rows
from workbench.core.replay import Param, Policy, Reason, register_policy
from workbench.core.replay.pricing import CACHE_HIT, CALLED, FATE, MODEL


@register_policy
class _Cascade(Policy):
    """Try the cheap model; escalate to the strong one when the logged quality is below the
    threshold. An escalated request pays for both calls."""
    name = "test_cascade"
    summary = "test only: cheap first, escalate on a low quality score"
    bills_extra = True
    params = (Param("cheap", "model", "first model"), Param("strong", "model", "escalation model"),
              Param("threshold", "float", "escalate below this quality", minimum=0, maximum=1))

    def requires(self):
        return {"quality"}

    def target_models(self):
        return {self.p["cheap"]: "cheap", self.p["strong"]: "strong"}

    def reasons(self):
        return (Reason(f"answered by {self.p['cheap']}"),
                Reason(f"escalated to {self.p['strong']}; the {self.p['cheap']} call is billed too"))

    def apply(self, ctx):
        first = ctx.private("first")
        frame = ctx.cost_on(ctx.frame, self.p["cheap"], first, "cheap")
        escalate = ctx.called & (nw.col("quality") < self.p["threshold"]).fill_null(False)
        target = nw.when(escalate).then(nw.lit(ctx.code(self.p["strong"], "strong"), nw.Int32)) \
            .otherwise(nw.lit(ctx.code(self.p["cheap"], "cheap"), nw.Int32))
        _, cols = ctx.move_to(ctx.called, target)
        cols[ctx.extra] = nw.when(escalate).then(nw.col(ctx.extra) + nw.col(first)).otherwise(nw.col(ctx.extra))
        cols[ctx.act] = nw.when(escalate).then(nw.lit(2, nw.Int8)).when(ctx.called & (nw.col(MODEL) != cols[MODEL])) \
            .then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))
        return frame.with_columns(**cols).drop(first)


def ttl_chain(ttl_us: int):
    """Exact TTL cache per key: a miss writes an entry that expires ttl after it; a hit does not
    refresh it. So each miss is the first request at least ttl after the previous miss."""
    def fn(arrays, starts):
        t = arrays["ts"].astype("datetime64[us]").astype(np.int64).tolist()
        called = (arrays[FATE] == CALLED).tolist()
        hit = np.zeros(len(t), dtype=np.int8)
        bounds = starts.tolist() + [len(t)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            written = None
            for i in range(a, b):
                if not called[i]:
                    continue  # a blocked or removed request writes no entry
                if written is not None and t[i] < written + ttl_us:
                    hit[i] = 1
                else:
                    written = t[i]
        return {"hit": hit}
    return fn


@register_policy
class _ExactCache(Policy):
    name = "test_exact_cache"
    summary = "test only: exact-prompt response cache with a TTL"
    stateful = True
    params = (Param("ttl_s", "float", "entry lifetime in seconds", minimum=0, exclusive_minimum=True),)

    def requires(self):
        return {"prompt"}

    def reasons(self):
        return (Reason("served from the response cache"),)

    def apply(self, ctx):
        frame = ctx.run_kernel(ctx.frame, ["prompt"], ["ts", FATE], {"hit": nw.Int8},
                               ttl_chain(round(self.p["ttl_s"] * 1e6)))
        hit = (nw.col("hit") == 1) & ctx.called
        return frame.with_columns(**{FATE: nw.when(hit).then(nw.lit(CACHE_HIT, nw.Int8)).otherwise(nw.col(FATE)),
                                     ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))}
                                  ).drop("hit")


def test_cascade_bills_both_calls(run):
    log = pd.concat([one_row(request_id="good", quality=0.9), one_row(request_id="bad", quality=0.2)],
                    ignore_index=True)
    r = run(log, [{"policy": "test_cascade", "cheap": "gpt-4o-mini", "strong": "gpt-4o", "threshold": 0.5}])
    # good: gpt-4o-mini 1000 × 0.15 + 1000 × 0.075 + 400 × 0.60 = 465 per 1M
    # bad: gpt-4o 7750 + the gpt-4o-mini attempt 465 = 8215 per 1M
    assert r.frame.set_index("request_id")["cost_pusd"].to_dict() == {"good": 465_000_000, "bad": 8_215_000_000}
    assert r.frame["act1_test_cascade"].tolist() == [2, 1]
    assert r.waterfall[0]["savings_pusd"] == 2 * 7_750_000_000 - 465_000_000 - 8_215_000_000


@pytest.mark.parametrize("engine", ["polars", "pandas", "duckdb"])
def test_exact_ttl_cache_follows_the_chain(run, engine):
    # the design note's example: ttl 10 s, requests at 0, 9, 12, 21 s: 12 is a miss (10 s after
    # the miss at 0), 21 a hit of the entry written at 12; bucketing by t // ttl gets 21 wrong
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    log = rows(*({"ts": t0 + pd.Timedelta(seconds=s), "prompt": "same"} for s in (0, 9, 12, 21)),
               {"ts": t0 + pd.Timedelta(seconds=5), "prompt": "other"})
    r = run(log, [{"policy": "test_exact_cache", "ttl_s": 10}], engine=engine)
    fates = dict(zip(r.frame["request_id"], r.frame["fate"]))
    assert fates == {"r01": "called", "r05": "called", "r02": "cache_hit", "r03": "called", "r04": "cache_hit"}
    assert r.replayed_usd == pytest.approx(3 * 0.00775)


def test_cache_then_budget_counts_only_what_is_billed(run):
    # cache hits cost nothing, so a $0.02 daily cap lets two misses through ($0.00775 each) and
    # blocks the third; the hit in between is served
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    log = rows(*({"ts": t0 + pd.Timedelta(seconds=s), "prompt": p} for s, p in
                 ((0, "a"), (1, "a"), (2, "b"), (3, "c"))))
    r = run(log, [{"policy": "test_exact_cache", "ttl_s": 60}, {"policy": "daily_budget", "usd": 0.02,
                                                                   "action": "cache_only"}])
    assert r.frame["fate"].tolist() == ["called", "cache_hit", "called", "blocked"]
