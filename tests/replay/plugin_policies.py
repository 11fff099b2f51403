"""Plugin policies shared by the replay tests, written as a new module of
``workbench/core/replay/policies`` would be, against the public engine API only: a quality-aware
cascade (both calls billed, through ``ctx.cost_on`` and ``_extra``) and an exact-TTL response cache
(the chain semantics of the design note; a sequential kernel that writes entries only from
``ctx.may_write`` rows and reports the request each hit reused). One module, imported under one
name, so each registers once."""
from __future__ import annotations

import narwhals.stable.v2 as nw
import numpy as np

from workbench.core.replay import Param, Policy, Reason, register_policy
from workbench.core.replay.pricing import CACHE_HIT, CALLED, FATE, MODEL, QUALITY


@register_policy
class _Cascade(Policy):
    """Try the cheap model; escalate to the strong one when the logged quality is below the
    threshold. An escalated request pays for both calls."""
    name = "test_cascade"
    summary = "test only: cheap first, escalate on a low quality score"
    bills_extra = True
    params = (Param("cheap", "model", "first model"), Param("strong", "model", "escalation model"),
              Param("threshold", "float", "escalate below this quality", minimum=0, maximum=1))

    def target_models(self):
        return {self.p["cheap"]: "cheap", self.p["strong"]: "strong"}

    def reasons(self):
        return (Reason(f"answered by {self.p['cheap']}", kind="moved"),
                Reason(f"escalated to {self.p['strong']}; the {self.p['cheap']} call is billed too", kind="escalated"))

    def apply(self, ctx):
        first = ctx.private("first")
        frame = ctx.cost_on(ctx.frame, self.p["cheap"], first, "cheap")
        escalate = ctx.called & (ctx.quality < self.p["threshold"]).fill_null(False)
        target = nw.when(escalate).then(nw.lit(ctx.code(self.p["strong"], "strong"), nw.Int32)) \
            .otherwise(nw.lit(ctx.code(self.p["cheap"], "cheap"), nw.Int32))
        _, cols = ctx.move_to(ctx.called, target)
        cols[ctx.extra] = nw.when(escalate).then(nw.col(ctx.extra) + nw.col(first)).otherwise(nw.col(ctx.extra))
        cols[ctx.act] = nw.when(escalate).then(nw.lit(2, nw.Int8)).when(ctx.called & (nw.col(MODEL) != cols[MODEL])) \
            .then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))
        return frame.with_columns(**cols).drop(first)


def ttl_chain(ttl_us: int):
    """Exact TTL cache per key: a miss writes an entry that expires ttl after it; a hit does not
    refresh it. So each miss is the first request at least ttl after the previous written miss.
    Only ``may_write`` rows write (a request refused by a later budget got no answer)."""
    def fn(arrays, starts):
        t = arrays["ts"].astype("datetime64[us]").astype(np.int64).tolist()
        called, may = (arrays[FATE] == CALLED).tolist(), arrays["may"].tolist()
        ids, q = arrays["request_id"], arrays[QUALITY] if QUALITY in arrays else None
        hit, source = np.zeros(len(t), dtype=np.int8), np.full(len(t), None, dtype=object)
        quality = np.full(len(t), np.nan) if q is None else q.astype(np.float64).copy()
        bounds = starts.tolist() + [len(t)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            written = None
            for i in range(a, b):
                if not called[i]:
                    continue  # a blocked or removed request writes no entry
                if written is not None and t[i] < t[written] + ttl_us:
                    hit[i], source[i] = 1, ids[written]
                    quality[i] = quality[written]  # the reused answer's quality
                elif may[i]:
                    written = i
        return {"hit": hit, "source": source, "hq": quality}
    return fn


@register_policy
class _ExactCache(Policy):
    name = "test_exact_cache"
    summary = "test only: exact-prompt response cache with a TTL"
    stateful = True
    caches_answers = True
    params = (Param("ttl_s", "float", "entry lifetime in seconds", minimum=0, exclusive_minimum=True),)

    def requires(self):
        return {"prompt"}

    def reasons(self):
        return (Reason("served from the response cache", kind="cache_hit"),)

    def outputs(self):
        return {"source": nw.String}

    def apply(self, ctx):
        frame = ctx.frame.with_columns(may=ctx.may_write, **({QUALITY: ctx.quality} if ctx.has_quality else {}))
        frame = ctx.run_kernel(frame, ["prompt"], ["ts", FATE, "may", "request_id", *([QUALITY] if ctx.has_quality else [])],
                               {"hit": nw.Int8, "source": nw.String, "hq": nw.Float64},
                               ttl_chain(round(self.p["ttl_s"] * 1e6)))
        hit = (nw.col("hit") == 1) & ctx.called
        cols = {FATE: nw.when(hit).then(nw.lit(CACHE_HIT, nw.Int8)).otherwise(nw.col(FATE)),
                ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8)),
                ctx.output("source"): nw.when(hit).then(nw.col("source"))}
        if ctx.has_quality:
            cols[QUALITY] = nw.when(hit).then(nw.col("hq")).otherwise(nw.col(QUALITY))
        return frame.with_columns(**cols).drop("hit", "source", "hq", "may")
