"""``budget_fill``: a daily cap that keeps admitting later requests that still fit.

Unlike ``daily_budget``/``tenant_quota`` (a hard stop: once a request would pass the cap, the rest
of the day is refused), this gateway refuses only the requests that do not fit in what is left,
so a smaller request later in the day may still go through. Whether a request fits depends on
every earlier decision of its partition, so it is a sequential policy: it runs as an ordered
per-partition kernel through ``ctx.run_kernel`` (a plain loop per partition; a compiled scan would
make it faster without changing the engine).
"""
from __future__ import annotations

import narwhals.stable.v2 as nw
import numpy as np

from workbench.core.replay.params import Param
from workbench.core.replay.pricing import BLOCKED, CACHE_HIT, CALLED, DAY, FATE, usd_to_units
from workbench.core.replay.registry import Policy, Reason, register_policy
from workbench.core.replay.report import Limit, StepReport


def fill_kernel(cap: int):
    """Kernel: admit a request when spend so far + its cost ≤ cap; returns ``refused`` (Int8)."""
    def fn(arrays, starts):
        cost = arrays["cost"].tolist()
        n = len(cost)
        refused = np.zeros(n, dtype=np.int8)
        bounds = list(starts.tolist()) + [n]
        for a, b in zip(bounds[:-1], bounds[1:]):
            spend = 0
            for i in range(a, b):
                c = cost[i]
                if c and spend + c > cap:
                    refused[i] = 1
                else:
                    spend += c
        return {"refused": refused}
    return fn


@register_policy
class BudgetFill(Policy):
    name = "budget_fill"
    stateful = True
    summary = ("daily cap per org or tenant that refuses only the requests that no longer fit "
               "(later, smaller requests may pass): sequential kernel")
    params = (
        Param("usd", "float", "daily cap in USD", minimum=0, example=100.0,
              start={"spend": "median_day", "times": 0.9}),
        Param("scope", "choice", "one cap for the organisation, or one per tenant", default="org",
              choices=("org", "tenant")),
    )

    def requires(self) -> set[str]:
        return {"tenant"} if self.p["scope"] == "tenant" else set()

    def reasons(self):
        return (Reason(f"blocked: does not fit in what is left of the {self.p['scope']} daily cap "
                       f"${self.p['usd']:,.2f}", kind="blocked"),)

    def report(self, ctx, frame) -> StepReport:
        return StepReport(limits=[Limit(self.p["scope"], "day", "usd", self.p["usd"], "block")], breakdown="day")

    def apply(self, ctx):
        cost = ctx.private("cost")
        frame = ctx.frame.with_columns(**{cost: ctx.cost})
        by = [DAY] if self.p["scope"] == "org" else ["tenant", DAY]
        frame = ctx.run_kernel(frame, by, [cost], {"refused": nw.Int8},
                               lambda arrays, starts: fill_kernel(usd_to_units(self.p["usd"]))(
                                   {"cost": arrays[cost]}, starts))
        fate = nw.col(FATE)
        hit = (nw.col("refused") == 1) & ((fate == CALLED) | (fate == CACHE_HIT))
        return frame.with_columns(**{
            FATE: nw.when(hit).then(nw.lit(BLOCKED, nw.Int8)).otherwise(fate),
            ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8)),
        }).drop("refused", cost)
