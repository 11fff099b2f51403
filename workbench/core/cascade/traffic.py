"""An operating point calibrated on labelled data, replayed over the user's own traffic log.

The labelled set gives an **escalation rate** (the share of prompts the cascade sends past the cheap
tier at the chosen threshold) and a **quality change** (cascade vs all-strong on its held-out split).
A traffic log has neither the cheap model's answers nor the signal that would decide on them, so:

* **Which requests escalate.** Among the requests that went to ``strong``, a seeded random draw
  (:func:`draw_scores`: a keyed hash of each request id, uniform in [0, 1) and independent of row
  order) escalates those below the rate — each request with probability = the calibrated rate. The
  savings interval over such draws is reported (``ci95.draw``), beside the savings at the ends of
  the labelled rate's own 95 % interval (``ci95.rate``, evaluated with the replay engine's sweep).
  When the log carries a router's per-request score (``score_column``), the lowest-scored requests
  at the rate escalate instead (deterministic: no draw interval).
* **Cost.** The replay engine's ``cascade`` policy (:mod:`.policy`) prices both paths of every
  request in one replay: the cheap answer (output tokens from a per-model ``outcomes`` table where
  given, otherwise the logged answer's — an assumption, stated) and the escalation (the cheap
  attempt billed too, the rejected draft carried into the retry). A rate is then one numpy
  selection, equal to the replay at that rate to the pico-dollar (tested), so a slider can move it.
* **Quality** is **carried over from the labelled set**, never measured on the traffic: each
  cascaded request is expected to change by the labelled change; a feature's change is that times
  its cascaded share.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.core.cascade import policy as _policy  # noqa: F401  (registers the ``cascade`` policy)
from workbench.core.cascade.policy import DEFAULT_SCORE
from workbench.core.replay import replay, sweep

DAYS_PER_MONTH = 30
PUSD = 10 ** 12
Z95 = 1.959963984540054


def draw_scores(request_ids, seed: int = 0) -> np.ndarray:
    """Uniform [0, 1) per request id: SipHash of the id with a key from ``seed`` (stable across row
    order and runs; a request escalates at rate ``r`` iff its draw is below ``r``)."""
    ids = np.asarray(pd.Series(list(request_ids), dtype=object).astype(str), dtype=object)
    h = pd.util.hash_array(ids, hash_key=f"cascade{int(seed):09d}"[:16], categorize=False)
    return (h >> np.uint64(11)).astype(np.float64) / float(2 ** 53)


class TrafficProjection:
    """One replay of ``log`` through the cascade with every candidate escalated, keeping the cost of
    both paths per request; :meth:`at` answers any escalation rate with a numpy selection."""

    def __init__(self, log: pd.DataFrame, book, *, cheap: str, strong: str, seed: int = 0,
                 score_column: str | None = None, outcomes: Any = None, draft_note_tokens: int = 20):
        if "request_id" not in log.columns:
            raise ValueError("the traffic log has no request_id column")
        self.cheap, self.strong, self.seed, self.score_column = cheap, strong, seed, score_column
        ids = log["request_id"].astype(str).to_numpy()
        if not self._on_strong(log, book).any():
            raise ValueError(f"no request of the log went to {strong!r}; nothing to cascade "
                             f"(models in the log: {', '.join(sorted(map(str, log['model'].unique())))})")
        if score_column is None:
            u = draw_scores(ids, seed)
            self.method = (f"seeded random draw (seed {seed}): each request that went to {strong} escalates with "
                           "probability = the calibrated escalation rate; the log has no per-request score")
        else:
            if score_column not in log.columns:
                raise ValueError(f"score column {score_column!r} is not in the traffic log")
            u = self._ranks(log, book, score_column)
            self.method = (f"the log's own score {score_column!r}: the lowest-scored requests that went to {strong} "
                           "escalate, as many as the calibrated rate")
        attach = pd.DataFrame({"request_id": ids, DEFAULT_SCORE: u})
        step = {"policy": "cascade", "cheap": cheap, "strong": strong, "escalate_below": 2.0,
                "draft_note_tokens": draft_note_tokens}
        self._log, self._book, self._attach, self._outcomes, self._step = log, book, attach, outcomes, step
        r = replay(log, [step], book, attach=attach, outcomes=outcomes, bootstrap=0)
        f = r.frame
        act = f[[c for c in f.columns if c.startswith("act1_")][0]].to_numpy()
        self.on_strong = act > 0
        self.u = pd.Series(u, index=ids).reindex(f["request_id"].astype(str)).to_numpy()
        self.baseline = f["baseline_pusd"].to_numpy(np.int64)
        self.escalated = f["cost_pusd"].to_numpy(np.int64)                   # every candidate escalated
        keep = pd.array(f["step1_keep_pusd"], dtype="Int64").fillna(0).to_numpy(np.int64)   # exact, no float
        self.kept = np.where(self.on_strong, keep, self.escalated)
        feats = f["feature"].astype(object).where(f["feature"].notna(), None)
        self.features, self.feature_code = np.unique(feats.astype(str).where(feats.notna(), "(none)"),
                                                     return_inverse=True)
        self.days = max(int(pd.to_datetime(f["ts"], utc=True).dt.floor("D").nunique()), 1)
        self.requests = int(len(f))
        self.has_outcome = np.zeros(len(f), dtype=bool)     # a kept answer priced from the outcomes table
        if outcomes is not None:
            from workbench.core.replay.inputs import validate_outcomes
            table = validate_outcomes(outcomes, book).to_pandas()
            ids = set(table.loc[table["model"] == book.resolve(cheap), "request_id"].astype(str))
            self.has_outcome = f["request_id"].astype(str).isin(ids).to_numpy() & self.on_strong

    def _on_strong(self, log: pd.DataFrame, book) -> np.ndarray:
        """Rows logged on ``strong`` (any alias); the replay decides on the called ones."""
        strong = book.resolve(self.strong)
        names = {m: (m in book and book.resolve(m) == strong) for m in log["model"].dropna().unique()}
        return log["model"].map(names).fillna(False).to_numpy(bool)

    def _ranks(self, log: pd.DataFrame, book, column: str) -> np.ndarray:
        """Per request: its score's rank among the requests that went to ``strong``, as a share in
        [0, 1) (ties share the lowest rank, so they escalate together); others 1 (never)."""
        on = self._on_strong(log, book)
        s = pd.to_numeric(log[column], errors="coerce")
        r = s[on].rank(method="min", na_option="bottom") - 1
        u = np.ones(len(log))
        u[on] = (r / max(int(on.sum()), 1)).to_numpy()
        return u

    def escalate(self, rate: float) -> np.ndarray:
        if not 0 <= rate <= 1:
            raise ValueError(f"escalation rate must be in [0, 1], got {rate}")
        return self.on_strong & (self.u < rate)

    def cost(self, rate: float) -> np.ndarray:
        """Per-request pUSD at ``rate`` (equal to the replay with ``escalate_below = rate``)."""
        return np.where(self.escalate(rate), self.escalated, self.kept)

    def at(self, rate: float, quality_change: float | None = None, quality_ci=None) -> dict:
        esc = self.escalate(rate)
        cost = np.where(esc, self.escalated, self.kept)
        k = len(self.features)
        saved = np.bincount(self.feature_code, weights=(self.baseline - cost).astype(np.float64), minlength=k)
        base = np.bincount(self.feature_code, weights=self.baseline.astype(np.float64), minlength=k)
        cascaded = np.bincount(self.feature_code, weights=self.on_strong, minlength=k)
        n_feat = np.bincount(self.feature_code, minlength=k)
        escalated = np.bincount(self.feature_code, weights=esc, minlength=k)
        # the draw: each candidate escalates independently with probability `rate`, adding
        # d = escalated − kept; the sum's spread over draws (normal approximation, n in the thousands)
        d = np.where(self.on_strong, self.escalated - self.kept, 0).astype(np.float64)
        var = np.bincount(self.feature_code, weights=rate * (1 - rate) * d * d, minlength=k)
        per_month = DAYS_PER_MONTH / self.days / PUSD
        draw = self.score_column is None
        rows = []
        for j, name in enumerate(self.features):
            share = cascaded[j] / n_feat[j]
            rows.append({"feature": str(name), "requests": int(n_feat[j]), "cascaded_requests": int(cascaded[j]),
                         "escalated_requests": int(escalated[j]), "baseline_usd": float(base[j] / PUSD),
                         "saved_usd_per_day": float(saved[j] / self.days / PUSD),
                         "saved_usd_per_month": float(saved[j] * per_month),
                         "saved_usd_per_month_ci95_draw": ([float((saved[j] - Z95 * np.sqrt(var[j])) * per_month),
                                                            float((saved[j] + Z95 * np.sqrt(var[j])) * per_month)]
                                                           if draw else None),
                         "quality_change_on_feature": None if quality_change is None else float(quality_change * share)})
        total_saved = float(self.baseline.sum() - cost.sum())
        sd = float(np.sqrt(var.sum()))
        touched = int(self.on_strong.sum())
        return {
            "requests": self.requests, "days": self.days, "cascaded_requests": touched,
            "escalated_requests": int(esc.sum()), "escalation_rate": float(rate),
            "escalation_rate_on_traffic": float(esc.sum() / touched),
            "baseline_usd": float(self.baseline.sum()) / PUSD, "cascade_usd": float(cost.sum()) / PUSD,
            "baseline_pusd": int(self.baseline.sum()), "cascade_pusd": int(cost.sum()),
            "saved_usd_per_day": total_saved / self.days / PUSD, "saved_usd_per_month": total_saved * per_month,
            "by_feature": sorted(rows, key=lambda x: -x["saved_usd_per_month"]),
            "ci95": {"draw": ([(total_saved - Z95 * sd) * per_month, (total_saved + Z95 * sd) * per_month]
                              if draw else None)},
            "escalation_method": self.method,
            "quality_change": quality_change,          # per cascaded request, carried over from the labelled set
            "quality_change_ci95": quality_ci,
            "quality_change_on_traffic": (None if quality_change is None
                                          else float(quality_change * touched / self.requests)),
        }

    def sweep_rates(self, rates) -> list[dict]:
        """Totals at several rates through the replay engine's sweep (its fast path for this policy)."""
        return sweep(self._log, [{**self._step, "escalate_below": 0.0}], self._book, 1, "escalate_below",
                     [float(r) for r in rates], attach=self._attach, outcomes=self._outcomes)


def traffic_savings(log: pd.DataFrame, book, *, cheap: str, strong: str, escalation_rate: float,
                    rate_ci=None, quality_change: float | None = None, quality_ci=None, labelled: str = "",
                    seed: int = 0, score_column: str | None = None, outcomes: Any = None) -> dict:
    """Replay ``log`` through the cascade at ``escalation_rate`` (from a labelled operating point):
    dollars saved per day and per month (30 days) by feature, with intervals; ``quality_change``
    (labelled set, cascade vs all-strong) carried over and labelled as such."""
    if not 0 <= escalation_rate <= 1:
        raise ValueError(f"escalation_rate must be in [0, 1], got {escalation_rate}")
    p = TrafficProjection(log, book, cheap=cheap, strong=strong, seed=seed, score_column=score_column,
                          outcomes=outcomes)
    out = p.at(escalation_rate, quality_change, quality_ci)
    if rate_ci:
        lo, hi = (min(max(float(x), 0.0), 1.0) for x in rate_ci)
        pts = p.sweep_rates([lo, hi])
        per_month = DAYS_PER_MONTH / p.days
        # a higher rate escalates more and saves less: the interval runs from hi's savings to lo's
        out["ci95"]["rate"] = sorted([pts[1]["savings_usd"] * per_month, pts[0]["savings_usd"] * per_month])
        out["ci95"]["rate_interval"] = [lo, hi]
    else:
        out["ci95"]["rate"] = None
    kept = p.on_strong & ~p.escalate(escalation_rate)
    with_outcome = int((kept & p.has_outcome).sum())
    out["cheap_answer_tokens"] = (
        f"{with_outcome:,} kept answers take {cheap}'s output tokens from the outcomes table; "
        f"{int(kept.sum()) - with_outcome:,} keep the logged answer's output tokens (no outcome: an assumption)"
        if outcomes is not None else
        f"the logged ({strong}) answer's output tokens are assumed for {cheap}'s answer (no per-model outcomes given)")
    out["quality_note"] = (f"carried over from the labelled set ({labelled}), not measured on this traffic: each "
                           f"cascaded request is expected to change by the labelled change, a feature by that times "
                           f"its cascaded share" if quality_change is not None else "no labelled quality change given")
    return out
