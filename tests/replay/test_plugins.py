"""The policy interface is enough for the cache and cascade issues, without touching the engine: a
quality-aware cascade and an exact-TTL response cache (in ``plugin_policies.py``, shared with the
conformance tests), an outcome-aware model move, a router on an attached score column, and a sweep —
each in a few lines."""
from __future__ import annotations

import narwhals.stable.v2 as nw
import pandas as pd
import pytest

from tests.replay import plugin_policies  # noqa: F401  (the cascade and the exact cache)
from tests.replay.conftest import one_row, rows
from workbench.core.replay import Param, Policy, Reason, prepare_sweep, register_policy, replay
from workbench.core.replay.pricing import CACHE_HIT, FATE


def test_cascade_bills_both_calls(run):
    log = pd.concat([one_row(request_id="good", quality=0.9), one_row(request_id="bad", quality=0.2)],
                    ignore_index=True)  # quality-aware: escalates on the log's quality labels
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


def test_exact_cache_reports_the_reused_request_and_its_quality(run):
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    log = rows(*({"ts": t0 + pd.Timedelta(seconds=s), "prompt": "same", "quality": q} for s, q in ((0, 0.9), (5, 0.1))))
    r = run(log, [{"policy": "test_exact_cache", "ttl_s": 10}])
    assert pd.isna(r.frame["step1_source"].iloc[0]) and r.frame["step1_source"].iloc[1] == "r01"
    assert r.frame["quality"].tolist() == [0.9, 0.9]  # the hit gets the reused answer's quality
    assert r.steps[0]["counts"] == {"cache_hit": 1}
    assert (r.baseline_quality, r.replayed_quality) == (pytest.approx(0.5), pytest.approx(0.9))


def test_outcome_aware_move(run):
    """Routing to gpt-4o-mini uses gpt-4o-mini's outcome where the eval data has it."""
    log = rows({"quality": 0.9}, {"quality": 0.8})
    outcomes = pd.DataFrame({"request_id": ["r01"], "model": ["gpt-4o-mini"], "output_tokens": [100], "quality": [0.4]})
    r = run(log, [{"policy": "route", "rules": [{"model": "gpt-4o-mini"}]}], outcomes=outcomes)
    assert r.frame["output_tokens"].tolist() == [100, 400]           # r02: logged tokens kept …
    assert r.frame["outcome"].tolist() == ["outcome", "fallback"]    # … and flagged
    assert r.frame["quality"].tolist()[0] == 0.4 and pd.isna(r.frame["quality"].tolist()[1])
    assert r.summary["outcomes"] == {"outcome": 1, "fallback": 1}


@register_policy
class _ScoreRouter(Policy):
    """Route to the cheap model when an attached router score is below a threshold."""
    name = "test_score_router"
    summary = "test only: route on an attached score"
    params = (Param("threshold", "float", "cheap below this score", minimum=0, maximum=1),)

    def requires(self):
        return {"router_score"}

    def target_models(self):
        return {"gpt-4o-mini": "threshold"}

    def reasons(self):
        return (Reason("score below threshold: gpt-4o-mini", kind="moved"),)

    def apply(self, ctx):
        changed, cols = ctx.move_to(ctx.called & (nw.col("router_score") < self.p["threshold"]).fill_null(False),
                                    "gpt-4o-mini")
        return ctx.frame.with_columns(**cols, **{ctx.act: nw.when(changed).then(nw.lit(1, nw.Int8))
                                                 .otherwise(nw.lit(0, nw.Int8))})


def test_attached_score_column(run):
    scores = pd.DataFrame({"request_id": ["r01", "r02"], "router_score": [0.2, 0.7]})
    r = run(rows({}, {}, {}), [{"policy": "test_score_router", "threshold": 0.5}], attach=scores)
    assert r.frame["replayed_model"].tolist() == ["gpt-4o-mini", "gpt-4o", "gpt-4o"]  # r03: no score
    assert r.summary["attached"] == ["router_score"]


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_sweep_equals_replays(book, engine):
    log = rows(*({"quality": q} for q in (0.9, 0.5, 0.7, 0.3)))
    stack = [{"policy": "test_score_router", "threshold": 0.5}, {"policy": "daily_budget", "usd": 0.02}]
    scores = pd.DataFrame({"request_id": ["r01", "r02", "r03", "r04"], "router_score": [0.1, 0.9, 0.4, 0.6]})
    with prepare_sweep(log, stack, book, step=2, param="usd", attach=scores, engine=engine) as prepared:
        points = prepared.evaluate([0.001, 0.01, 0.02, 1.0])
        assert prepared.fast
    for pt in points:
        one = replay(log, [stack[0], {**stack[1], "usd": pt["value"]}], book, attach=scores, bootstrap=0)
        assert (pt["replayed_pusd"], pt["replayed_quality"]) == (one.summary["replayed_pusd"], one.replayed_quality)


@register_policy
class _NearDuplicate(Policy):
    """A toy semantic cache: served from cache when an earlier request's embedding is close enough.
    The matrix stays a numpy array; the frame carries only each request's row in it."""
    name = "test_near_duplicate"
    summary = "test only: cache hit when cosine similarity to an earlier request ≥ threshold"
    stateful = True
    params = (Param("threshold", "float", "cosine similarity", minimum=0, maximum=1),)

    def requires(self):
        return {"emb"}

    def reasons(self):
        return (Reason("near-duplicate of an earlier request", kind="cache_hit"),)

    def apply(self, ctx):
        import numpy as np
        matrix, threshold = ctx.array("emb"), self.p["threshold"]

        def fn(arrays, starts):
            rows_ = arrays["emb"]
            hit = np.zeros(len(rows_), dtype=np.int8)
            for i in range(1, len(rows_)):
                if rows_[i] == rows_[i] and (matrix[rows_[:i][rows_[:i] == rows_[:i]].astype(int)]
                                             @ matrix[int(rows_[i])] >= threshold).any():
                    hit[i] = 1
            return {"hit": hit}
        frame = ctx.run_kernel(ctx.frame, [], ["emb"], {"hit": nw.Int8}, fn)
        hit = (nw.col("hit") == 1) & ctx.called
        return frame.with_columns(**{FATE: nw.when(hit).then(nw.lit(CACHE_HIT, nw.Int8)).otherwise(nw.col(FATE)),
                                     ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))}
                                  ).drop("hit")


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_attached_array_stays_outside_the_frame(run, engine):
    import numpy as np

    from workbench.core.replay import AttachedArray
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.995, 0.0998]])  # r03 ≈ r01; r04 has no embedding
    r = run(rows({}, {}, {}, {}), [{"policy": "test_near_duplicate", "threshold": 0.99}], engine=engine,
            attach={"emb": AttachedArray(["r01", "r02", "r03"], emb)})
    assert r.frame["fate"].tolist() == ["called", "called", "cache_hit", "called"]
    r.close()
