"""An operating point calibrated on labelled data, replayed over a traffic log by the replay engine.

The ``cascade`` policy sends the requests that went to ``strong`` to ``cheap`` first and escalates
the share the labelled set escalated at the chosen threshold: a traffic log has no labels for the
cheap model's answers, so *which* requests escalate is the ones with the lowest logged ``quality``
(the log's own label of how hard a request was), at the labelled escalation rate. An escalated
request pays the cheap attempt too (``_extra``), and the retry carries the rejected draft: the
cheap answer's tokens plus a short note are added to its input. The quality change is **carried
over from the labelled set** and reported as such — nothing is measured on the traffic itself.
"""
from __future__ import annotations

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from workbench.core.replay import Param, Policy, Reason, register_policy, replay
from workbench.core.replay.pricing import IN, OUT

DAYS_PER_MONTH = 30


@register_policy
class Cascade(Policy):
    name = "cascade"
    summary = ("cheap model first for requests that went to the strong one; escalate those whose logged quality is "
               "below a threshold (both calls billed, the draft carried into the retry)")
    bills_extra = True
    params = (Param("cheap", "model", "the first tier"),
              Param("strong", "model", "the model the requests went to, and the escalation tier"),
              Param("escalate_below", "float", "escalate a request whose logged quality is below this",
                    minimum=0, maximum=1),
              Param("draft_note_tokens", "int", "tokens of the rejection note added to a retry", default=20,
                    minimum=0, maximum=10_000))

    def requires(self):
        return {"quality"}

    def target_models(self):
        return {self.p["cheap"]: "cheap", self.p["strong"]: "strong"}

    def reasons(self):
        return (Reason(f"answered by {self.p['cheap']}"),
                Reason(f"escalated to {self.p['strong']}: the {self.p['cheap']} attempt is billed and its draft "
                       "carried as input"))

    def apply(self, ctx):
        first = ctx.private("first")
        on_strong = ctx.called & ctx.model_in([self.p["strong"]], "strong")
        frame = ctx.cost_on(ctx.frame, self.p["cheap"], first, "cheap")
        escalate = on_strong & (nw.col("quality") < self.p["escalate_below"]).fill_null(False)
        cheap = nw.lit(ctx.code(self.p["cheap"], "cheap"), nw.Int32)
        strong = nw.lit(ctx.code(self.p["strong"], "strong"), nw.Int32)
        _, cols = ctx.move_to(on_strong, nw.when(escalate).then(strong).otherwise(cheap))
        cols[IN] = nw.when(escalate).then(nw.col(IN) + nw.col(OUT) + self.p["draft_note_tokens"]) \
            .otherwise(nw.col(IN))
        cols[ctx.extra] = nw.when(escalate).then(nw.col(ctx.extra) + nw.col(first)).otherwise(nw.col(ctx.extra))
        cols[ctx.act] = nw.when(escalate).then(nw.lit(2, nw.Int8)).when(on_strong).then(nw.lit(1, nw.Int8)) \
            .otherwise(nw.lit(0, nw.Int8))
        return frame.with_columns(**cols).drop(first)


def traffic_savings(log: pd.DataFrame, book, *, cheap: str, strong: str, escalation_rate: float,
                    quality_change: float | None = None, labelled: str = "") -> dict:
    """Replay ``log`` with the cascade at ``escalation_rate`` (from a labelled operating point):
    dollars saved per day and per month (30 days), by feature. ``quality_change`` (labelled set,
    cascade vs all-strong) is carried over and labelled as such."""
    if not 0 <= escalation_rate <= 1:
        raise ValueError(f"escalation_rate must be in [0, 1], got {escalation_rate}")
    strong_id = book.resolve(strong)
    on_strong = log["model"].map(lambda m: m in book and book.resolve(m) == strong_id).astype(bool)
    q = log.loc[on_strong & (log["status"] == "ok"), "quality"].dropna().to_numpy(float)
    if not len(q):
        raise ValueError(f"no request of the log went to {strong!r} with a quality label; nothing to cascade")
    below = float(np.quantile(q, escalation_rate)) if 0 < escalation_rate < 1 else (0.0 if escalation_rate == 0
                                                                                     else 1.0 + 1e-9)
    below = min(max(below, 0.0), 1.0)
    r = replay(log, [{"policy": "cascade", "cheap": cheap, "strong": strong, "escalate_below": below}], book,
               bootstrap=0)
    f = r.frame
    days = max(f["ts"].dt.floor("D").nunique(), 1)
    by = f.groupby("feature", dropna=False)[["baseline_usd", "cost_usd"]].sum()
    rows = []
    for feature, row in by.iterrows():
        saved = float(row["baseline_usd"] - row["cost_usd"])
        rows.append({"feature": None if pd.isna(feature) else str(feature), "baseline_usd": float(row["baseline_usd"]),
                     "cascade_usd": float(row["cost_usd"]), "saved_usd_per_day": saved / days,
                     "saved_usd_per_month": saved / days * DAYS_PER_MONTH})
    act = f[[c for c in f.columns if c.startswith("act1_")][0]]
    touched = int((act > 0).sum())
    saved = float(f["baseline_usd"].sum() - f["cost_usd"].sum())
    return {"requests": int(len(f)), "days": int(days), "cascaded_requests": touched,
            "escalated_requests": int((act == 2).sum()),
            "escalation_rate_on_traffic": float((act == 2).sum() / touched) if touched else None,
            "escalate_below_logged_quality": below,
            "baseline_usd": float(f["baseline_usd"].sum()), "cascade_usd": float(f["cost_usd"].sum()),
            "saved_usd_per_day": saved / days, "saved_usd_per_month": saved / days * DAYS_PER_MONTH,
            "by_feature": sorted(rows, key=lambda x: -x["saved_usd_per_month"]),
            "quality_change": quality_change,
            "quality_note": (f"carried over from the labelled set ({labelled}), not measured on this traffic"
                             if quality_change is not None else "no labelled quality change given")}
