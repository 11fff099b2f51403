"""The ``cascade`` replay policy: requests that went to ``strong`` try ``cheap`` first and escalate
when their score is below ``escalate_below``.

The score is a per-request column of the log or attached to the replay (``replay(..., attach=…)``):
a router's score logged by the application, or — when the log has none — the seeded draw of
:func:`workbench.core.cascade.traffic.draw_scores` (uniform in [0, 1), so ``escalate_below`` is the
share of those requests that escalate). Nothing about the traffic's answers is assumed known.

* A request answered by ``cheap`` moves there (``ctx.move_to``): its output tokens and quality come
  from the per-model outcomes table where it has that (request, cheap) pair, otherwise the logged
  output tokens are kept and its quality becomes unknown (the engine's fallback, counted).
* An escalated request stays on ``strong`` with its logged answer, pays the cheap attempt on top
  (``_extra``), and its retry carries the rejected draft: the cheap answer's output tokens plus
  ``draft_note_tokens`` are added to its input.
* ``outputs()``: ``keep_pusd`` — what the request would cost answered by ``cheap`` — so one replay
  at ``escalate_below`` above every score prices both paths of every request (a projection that
  follows a slider needs no other replay). ``sweeper``: a sweep over ``escalate_below`` is one
  numpy comparison per value.
"""
from __future__ import annotations

import narwhals.stable.v2 as nw
import numpy as np

from workbench.core.replay import Param, Policy, Reason, register_policy, state_arrays
from workbench.core.replay.pricing import BATCH, CACHED, EXTRA, IN, MODEL, OUT, QUALITY, SOURCE, WRITE

DEFAULT_SCORE = "cascade_score"


@register_policy
class Cascade(Policy):
    name = "cascade"
    summary = ("cheap model first for requests that went to the strong one; escalate those whose score (a log or "
               "attached column) is below a threshold (both calls billed, the draft carried into the retry)")
    bills_extra = True
    params = (Param("cheap", "model", "the first tier"),
              Param("strong", "model", "the model the requests went to, and the escalation tier"),
              Param("escalate_below", "float", "escalate a request whose score is below this"),
              Param("score", "str", "per-request score column (of the log, or attached)", default=DEFAULT_SCORE),
              Param("draft_note_tokens", "int", "tokens of the rejection note added to a retry", default=20,
                    minimum=0, maximum=10_000))

    def requires(self):
        return {self.p["score"]}

    def target_models(self):
        return {self.p["cheap"]: "cheap", self.p["strong"]: "strong"}

    def reasons(self):
        return (Reason(f"answered by {self.p['cheap']}", kind="moved"),
                Reason(f"escalated to {self.p['strong']}: the {self.p['cheap']} attempt is billed and its draft "
                       "carried as input", kind="escalated"))

    def outputs(self):
        return {"keep_pusd": nw.Int64}

    def _state(self, ctx, escalate: nw.Expr, keep_quality: str | None = None) -> nw.LazyFrame:
        """The state after the step when the rows of ``escalate`` (among those on ``strong``) escalate."""
        cand, up = ctx.private("candidate"), ctx.private("escalate")
        kept = [MODEL, CACHED, WRITE, BATCH, OUT, SOURCE] + ([QUALITY] if ctx.has_quality else [])
        saved = {c: ctx.private(f"logged{c}") for c in kept}
        first, keep = ctx.private("first"), ctx.output("keep_pusd")
        frame = ctx.frame.with_columns(**{v: nw.col(k) for k, v in saved.items()},
                                       **{cand: ctx.called & ctx.model_in([self.p["strong"]], "strong")})
        frame = frame.with_columns(**{up: nw.col(cand) & escalate.fill_null(False)})   # decided on the logged state
        on_strong, esc = nw.col(cand), nw.col(up)
        _, moved = ctx.move_to(on_strong, self.p["cheap"], "cheap")   # every candidate answered by cheap first
        frame = ctx.cost_on(frame.with_columns(**moved), self.p["cheap"], first, "cheap")
        if keep_quality:     # the quality of cheap's answer (the kept path), for a sweep
            frame = frame.with_columns(**{keep_quality: ctx.quality.cast(nw.Float64)})
        back = {c: nw.when(esc).then(nw.col(v)).otherwise(nw.col(c)) for c, v in saved.items()}
        back[IN] = nw.when(esc).then(nw.col(IN) + nw.col(OUT) + self.p["draft_note_tokens"]).otherwise(nw.col(IN))
        back[EXTRA] = nw.when(esc).then(nw.col(EXTRA) + nw.col(first)).otherwise(nw.col(EXTRA))
        back[keep] = nw.when(on_strong).then(nw.col(first) + nw.col(EXTRA)).otherwise(nw.lit(None, nw.Int64))
        back[ctx.act] = nw.when(esc).then(nw.lit(2, nw.Int8)).when(on_strong).then(nw.lit(1, nw.Int8)) \
            .otherwise(nw.lit(0, nw.Int8))
        return frame.with_columns(**back).drop(first, cand, up, *saved.values())

    def apply(self, ctx):
        return self._state(ctx, nw.col(self.p["score"]) < self.p["escalate_below"])

    def sweeper(self, ctx, param):
        """Score once: both paths of every request priced in one pass, then a comparison per value."""
        if param != "escalate_below":
            return None
        run = ctx._run
        kq = ctx.private("keep_q")
        priced = run.price(self._state(ctx, nw.lit(True), kq), "_cascade_all")
        a = state_arrays(ctx, priced, {"cost": ctx.cost, "esc": nw.col("_cascade_all"),
                                       "keep": nw.col(ctx.output("keep_pusd")).fill_null(-1),
                                       "score": nw.col(self.p["score"]).cast(nw.Float64),
                                       "q": ctx.quality.cast(nw.Float64), "kept_q": nw.col(kq)})
        keep = a["keep"].astype(np.int64)
        on_strong = keep >= 0
        score = a["score"]
        q_logged, kept_q = (a["q"], a["kept_q"]) if ctx.has_quality else (None, None)

        def decide(value):
            esc = on_strong & (score < value)       # NaN scores compare False: not escalated
            cost = np.where(esc, a["esc"], np.where(on_strong, keep, a["cost"])).astype(np.int64)
            if q_logged is None:
                return cost, None
            return cost, np.where(esc | ~on_strong, q_logged, kept_q)
        return decide
