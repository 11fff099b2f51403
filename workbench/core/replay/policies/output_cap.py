"""``output_cap``: enforce ``max_tokens`` server-side — generated tokens above the cap are not billed."""
from __future__ import annotations

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param
from workbench.core.replay.pricing import OUT
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
        return (Reason(f"output capped at {self.p['max_output_tokens']} tokens"),)

    def apply(self, ctx):
        cap = self.p["max_output_tokens"]
        hit = ctx.called & ctx.isin("feature", self.p["features"]) & (nw.col(OUT) > cap)
        return ctx.frame.with_columns(**{
            OUT: nw.when(hit).then(nw.lit(cap, nw.Int64)).otherwise(nw.col(OUT)),
            ctx.act: code_where(hit),
        })
