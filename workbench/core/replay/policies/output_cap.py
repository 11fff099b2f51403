"""``output_cap``: enforce ``max_tokens`` server-side — generated tokens above the cap are not billed."""
from __future__ import annotations

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param
from workbench.core.replay.pricing import AOUT, OUT
from workbench.core.replay.policies._common import FEATURES_ALL, code_where, needs_feature
from workbench.core.replay.registry import Policy, Reason, register_policy


@register_policy
class OutputCap(Policy):
    name = "output_cap"
    summary = "cap output tokens at max_output_tokens (max_tokens enforced server-side)"
    params = (
        Param("max_output_tokens", "int", "largest number of output tokens a request may generate",
              minimum=1, maximum=1_000_000, example=512),
        FEATURES_ALL,
    )

    def requires(self) -> set[str]:
        return needs_feature(self.p["features"])

    def reasons(self):
        return (Reason(f"output capped at {self.p['max_output_tokens']} tokens", kind="capped"),)

    def sweeper(self, ctx, param):
        """Score once: each request's cost with 0 output tokens and its price per output token
        (long-context tiers depend on input only, so cost is linear in output tokens)."""
        if param != "max_output_tokens" or AOUT in ctx.rates.kinds:  # audio output: not linear in the cap
            return None
        import numpy as np

        from workbench.core.replay.context import price_into
        from workbench.core.replay.sweep import state_arrays
        run = ctx._run
        eligible = ctx.private("eligible")
        out = ctx.private("out")
        frame = ctx.frame.with_columns(**{eligible: ctx.called & ctx.isin("feature", self.p["features"]),
                                          out: nw.col(OUT)})
        at0 = price_into(run.backend, frame.with_columns(**{OUT: nw.lit(0, nw.Int64)}), run.rates_frame,
                         run.rates, "_at0", run.has_extra)
        at1 = price_into(run.backend, at0.with_columns(**{OUT: nw.lit(1, nw.Int64)}), run.rates_frame,
                         run.rates, "_at1", run.has_extra)
        a = state_arrays(ctx, at1, {"cost": ctx.cost, "at0": nw.col("_at0"), "rate": nw.col("_at1") - nw.col("_at0"),
                                    "out": nw.col(out), "eligible": nw.col(eligible),
                                    "q": ctx.quality.cast(nw.Float64)})
        has_q = ctx.has_quality

        def decide(value):
            cut = a["eligible"] & (a["out"] > value)
            cost = np.where(cut, a["at0"] + int(value) * a["rate"], a["cost"]).astype(np.int64)
            return cost, (a["q"] if has_q else None)
        return decide

    def apply(self, ctx):
        cap = self.p["max_output_tokens"]
        hit = ctx.called & ctx.isin("feature", self.p["features"]) & (nw.col(OUT) > cap)
        return ctx.frame.with_columns(**{
            OUT: nw.when(hit).then(nw.lit(cap, nw.Int64)).otherwise(nw.col(OUT)),
            ctx.act: code_where(hit),
        })
