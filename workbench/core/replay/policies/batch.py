"""``batch``: asynchronous features go through the batch API at batch prices."""
from __future__ import annotations

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param
from workbench.core.replay.pricing import BATCH, MODEL
from workbench.core.replay.registry import Policy, Reason, register_policy


@register_policy
class Batch(Policy):
    name = "batch"
    summary = "send the requests of async features to the batch API (batch prices, ~24 h turnaround)"
    params = (
        Param("features", "strings_or_all", "async features whose requests can wait for a batch "
              "(a list, or all)", example=["reports", "nightly-eval"], values_from="feature",
              start={"values_matching": ["nightly", "batch", "report", "summar", "eval"], "otherwise": "all"}),
    )

    def requires(self) -> set[str]:
        return {"feature"} if self.p["features"] is not None else set()

    def reasons(self):
        return (Reason("moved to the batch API (async feature)", kind="batched"),
                Reason("async feature, but the model has no batch price: left real-time", changes=False))

    def apply(self, ctx):
        eligible = ctx.called & ctx.isin("feature", self.p["features"]) & ~nw.col(BATCH)
        able = nw.col(MODEL).is_in(sorted(ctx.rates.batchable)) if ctx.rates.batchable else nw.lit(False)
        moved = eligible & able
        return ctx.frame.with_columns(**{
            BATCH: nw.col(BATCH) | moved,
            ctx.act: nw.when(moved).then(nw.lit(1, nw.Int8)).when(eligible).then(nw.lit(2, nw.Int8))
            .otherwise(nw.lit(0, nw.Int8)),
        })
