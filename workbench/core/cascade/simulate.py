"""A router or cascade on labelled data: frontier in dollars, baselines, metrics, operating point.

``simulate(evalset, tiers, prices, signal=...)`` scores every request once, then:

* the **frontier** over all prompts (learned routers: out-of-fold scores, 5 folds, so no request is
  scored by a model that saw its label), with all-cheap / all-strong / random / oracle baselines;
  its end points are the single models' measured quality and cost (in ``route`` mode exactly; a
  cascade's top end also pays the cheap attempts);
* **APGR, AIQ, cost at 50 % / 80 % of the gap**, with bootstrap 95 % intervals;
* an **operating point** chosen on the calibration split (by target quality, share of the gap, or
  budget) and reported on the test split, with a monthly projection;
* **escalation rate by route** (the seed's classify_query class, and any group in the data) with
  the seeds' warning levels, and examples where the cheap answer was kept and was wrong.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.core.cascade.evalset import EvalDataError, EvalSet, TierData, split_mask
from workbench.core.cascade.metrics import bootstrap_weights, frontier_metrics, interval, oracle
from workbench.core.cascade.signals import get_signal, query_classes
from workbench.core.cascade.sweep import (PUSD, CascadeCosts, Prepared, TierPrice, call_pusd, evaluate, step_arrays,
                                          step_keys, threshold_grid)

DAYS_PER_MONTH = 30
#: The seeds' warning levels (seed 000): "if you escalate >40 % of 'cheap' routes, the classifier
#: needs more labels or features"; "keep escalation under 15–20 % on production traffic".
CHEAP_ROUTE_WARN = 0.40
OVERALL_WARN = (0.15, 0.20)
TARGET_KINDS = ("quality", "gap", "budget")


@dataclass(frozen=True)
class Target:
    """How to pick the operating point: ``quality`` (mean quality ≥ value), ``gap`` (share of the
    cheap→strong quality gap, 0–1), or ``budget`` (USD per month at ``requests_per_day``)."""

    kind: str = "gap"
    value: float = 0.8

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target {self.kind!r}; valid: {', '.join(TARGET_KINDS)}")
        if not np.isfinite(self.value) or self.value < 0:
            raise ValueError(f"target value must be a non-negative number, got {self.value}")


@dataclass
class Scored:
    """A run scored once: everything a threshold change needs, nothing recomputed."""

    td: TierData
    prices: list[TierPrice]
    mode: str
    signal: str
    costs: CascadeCosts
    keys: np.ndarray            # (K-1, n) frontier keys (cross-fitted over all prompts)
    op_keys: np.ndarray         # (K-1, n) keys for the operating point (learned on calibration only)
    calibrate: np.ndarray       # (n,) bool
    base: tuple                 # base_q, base_c, dq, dc
    call: np.ndarray            # (n, K) single-call int64 pico-dollars
    prepared: Prepared
    classes: np.ndarray         # classify_query class per prompt
    seed: int = 0
    calibrate_fraction: float = 0.5

    def at(self, t: float, rows: np.ndarray | None = None, keys: np.ndarray | None = None) -> dict:
        """Per-request outcome at threshold ``t`` (optionally on a subset of rows)."""
        bq, bc, dq, dc = self.base
        keys = self.keys if keys is None else keys
        if rows is not None:
            bq, bc, dq, dc, keys = bq[rows], bc[rows], dq[:, rows], dc[:, rows], keys[:, rows]
        tier, q, usd = evaluate(bq, bc, dq, dc, keys, t)
        return {"tier": tier, "quality": q, "usd": usd}


def score(evalset: EvalSet | TierData, tiers, prices: list[TierPrice], signal: str = "logreg", *,
          features: np.ndarray | None = None, costs: CascadeCosts = CascadeCosts(), mode: str | None = None,
          calibrate_fraction: float = 0.5, seed: int = 0) -> Scored:
    td = evalset.for_tiers(tiers) if isinstance(evalset, EvalSet) else evalset
    sig = get_signal(signal)
    mode = mode or ("cascade" if sig.needs_answer else "route")
    if sig.needs_answer and mode != "cascade":
        raise EvalDataError(f"signal {signal!r} reads the cheap tier's answer: it needs mode 'cascade'")
    calibrate = split_mask(td.ids, calibrate_fraction, seed)
    if not calibrate.any() or calibrate.all():
        raise EvalDataError(f"the calibration split of {td.n} prompts is empty or everything; use more data")
    raw = sig.fn(td, features=features, train=None, seed=seed)
    op_raw = sig.fn(td, features=features, train=calibrate, seed=seed) if sig.learned else raw
    base = step_arrays(td, prices, mode, costs, self_check=(signal == "self_check"))
    keys = step_keys(raw)
    return Scored(td, list(prices), mode, signal, costs, keys, step_keys(op_raw), calibrate, base,
                  call_pusd(td, prices), Prepared(*base, keys), query_classes(td), seed, calibrate_fraction)


def _point(quality: np.ndarray, usd: np.ndarray, tier: np.ndarray) -> dict:
    n = len(quality)
    return {"n": int(n), "quality": float(quality.mean()), "usd": float(usd.sum()),
            "usd_per_request": float(usd.mean()), "escalation_rate": float((tier > 0).mean())}


def random_line(s: Scored, points: int = 11) -> list[dict]:
    """Expected curve of the random router/cascade: each step escalates with probability p."""
    bq, bc, dq, dc = s.base
    out = []
    for p in np.linspace(0, 1, points):
        reach = p ** np.arange(1, dq.shape[0] + 1)               # P(moved past step k)
        out.append({"p": float(p), "quality": float((bq.sum() + reach @ dq.sum(axis=1)) / s.td.n),
                    "usd": float(int(bc.sum()) + reach @ dc.sum(axis=1).astype(float)) / PUSD,
                    "escalation_rate": float(p)})
    return out


def pick(s: Scored, target: Target, requests_per_day: float, rows: np.ndarray, keys: np.ndarray,
         grid: np.ndarray) -> tuple[float, bool]:
    """Threshold meeting ``target`` on ``rows`` (the calibration split): cheapest that reaches the
    quality, or best quality within the budget. Returns (threshold, target met)."""
    bq, bc, dq, dc = s.base
    prep = Prepared(bq[rows], bc[rows], dq[:, rows], dc[:, rows], keys[:, rows])
    cur = prep.curve(grid)
    q, per_req = cur["quality"], cur["usd"] / rows.sum()
    if target.kind in ("quality", "gap"):
        if target.kind == "gap":
            q_lo, q_hi = s.td.quality[rows, 0].mean(), s.td.quality[rows, -1].mean()
            goal = q_lo + target.value * (q_hi - q_lo)
        else:
            goal = target.value
        ok = np.flatnonzero(q >= goal - 1e-12)
        if len(ok):
            return float(grid[ok[np.argmin(per_req[ok])]]), True
        return float(grid[np.argmax(q)]), False
    budget = target.value / (DAYS_PER_MONTH * requests_per_day)
    ok = np.flatnonzero(per_req <= budget + 1e-15)
    if len(ok):
        return float(grid[ok[np.argmax(q[ok])]]), True
    return float(grid[np.argmin(per_req)]), False


def simulate(evalset: EvalSet | TierData, tiers, prices: list[TierPrice], signal: str = "logreg", *,
             features: np.ndarray | None = None, costs: CascadeCosts = CascadeCosts(), mode: str | None = None,
             thresholds: int = 101, target: Target = Target(), requests_per_day: float = 10_000,
             calibrate_fraction: float = 0.5, bootstrap: int = 200, seed: int = 0, examples: int = 8) -> dict:
    s = score(evalset, tiers, prices, signal, features=features, costs=costs, mode=mode,
              calibrate_fraction=calibrate_fraction, seed=seed)
    return report(s, thresholds=thresholds, target=target, requests_per_day=requests_per_day,
                  bootstrap=bootstrap, seed=seed, examples=examples)


def report(s: Scored, *, thresholds: int = 101, target: Target = Target(), requests_per_day: float = 10_000,
           bootstrap: int = 200, seed: int = 0, examples: int = 8) -> dict:
    td = s.td
    grid = threshold_grid(s.keys, thresholds)
    cur = s.prepared.curve(grid)
    singles = {m: {"quality": float(td.quality[:, k].mean()), "usd": int(s.call[:, k].sum()) / PUSD,
                   "usd_per_request": int(s.call[:, k].sum()) / PUSD / td.n} for k, m in enumerate(td.models)}
    o_tier, o_q, o_usd = oracle(td.quality, s.call)
    cheap = (singles[td.models[0]]["usd"], singles[td.models[0]]["quality"])
    strong = (singles[td.models[-1]]["usd"], singles[td.models[-1]]["quality"])
    metrics = frontier_metrics(cur["usd"], cur["quality"], cheap, strong)
    cis = _bootstrap_metrics(s, grid, bootstrap, seed) if bootstrap else {}

    op = operating_point(s, target, requests_per_day, thresholds=thresholds, bootstrap=bootstrap, seed=seed)
    t_op, cal, test = op["threshold"], s.calibrate, ~s.calibrate
    out = {
        "source": td.source, "n": int(td.n), "dropped_prompts": td.dropped_prompts, "missing_by_model": td.dropped,
        "tiers": [{"model": m, "usd_per_mtok_input": p.input, "usd_per_mtok_output": p.output, "price_source": p.source,
                   "tokens": td.token_notes.get(m, "")} for m, p in zip(td.models, s.prices)],
        "signal": s.signal, "mode": s.mode, "cascade_costs": s.costs.describe() if s.mode == "cascade" else None,
        "assumption": ("an escalated request scores as the later tier alone (the data has no outcome for a retry "
                       "that sees the rejected draft); the draft's tokens are billed") if s.mode == "cascade" else None,
        "baselines": singles,
        "oracle": {"quality": float(o_q.mean()), "usd": int(o_usd.sum()) / PUSD,
                   "share_by_tier": {m: float((o_tier == k).mean()) for k, m in enumerate(td.models)}},
        "random": random_line(s),
        "frontier": [{"threshold": float(t), "quality": float(q), "usd": float(c), "escalation_rate": float(e)}
                     for t, q, c, e in zip(grid, cur["quality"], cur["usd"], cur["escalation_rate"])],
        "apgr": metrics["apgr"], "aiq": metrics["aiq"],
        "usd_at_50pct_gap": metrics["usd_at_50pct_gap"], "usd_at_80pct_gap": metrics["usd_at_80pct_gap"],
        "ci95": cis,
        "split": {"method": "salted SHA-1 of the prompt id", "seed": s.seed, "fraction": s.calibrate_fraction,
                  "calibrate_n": int(cal.sum()), "test_n": int(test.sum()),
                  "frontier_scores": ("out-of-fold (5 folds by id)" if get_signal(s.signal).learned
                                      else "no training: the signal is computed per prompt")},
        "operating_point": op,
        "escalation_by_route": by_route(s, t_op, test),
        "examples_trusted_and_wrong": trusted_and_wrong(s, t_op, test, examples),
    }
    return out


def operating_point(s: Scored, target: Target = Target(), requests_per_day: float = 10_000, *, thresholds: int = 101,
                    bootstrap: int = 200, seed: int = 0) -> dict:
    """The threshold meeting ``target`` on the calibration split, reported on the held-out split,
    with its monthly projection at ``requests_per_day``. Needs no re-scoring (an app's target or
    budget control calls it directly)."""
    td = s.td
    cal, test = s.calibrate, ~s.calibrate
    op_grid = threshold_grid(s.op_keys[:, cal], thresholds)
    t_op, met = pick(s, target, requests_per_day, cal, s.op_keys, op_grid)
    at_cal = s.at(t_op, cal, s.op_keys)
    at_test = s.at(t_op, test, s.op_keys)
    op_test = _point(at_test["quality"], at_test["usd"], at_test["tier"])
    if bootstrap:
        w = bootstrap_weights(int(test.sum()), bootstrap, seed + 1)
        nt = test.sum()
        op_test["ci95"] = {"quality": interval(w @ at_test["quality"] / nt),
                           "usd_per_request": interval(w @ at_test["usd"] / nt),
                           "escalation_rate": interval(w @ (at_test["tier"] > 0) / nt),
                           "quality_change_vs_all_strong": interval(w @ (at_test["quality"] - td.quality[test, -1]) / nt)}
    strong_pr = s.call[test, -1].mean() / PUSD
    cheap_pr = s.call[test, 0].mean() / PUSD
    monthly = DAYS_PER_MONTH * requests_per_day
    projection = {"requests_per_day": requests_per_day, "days_per_month": DAYS_PER_MONTH,
                  "usd_per_month": op_test["usd_per_request"] * monthly,
                  "all_strong_usd_per_month": float(strong_pr * monthly),
                  "all_cheap_usd_per_month": float(cheap_pr * monthly),
                  "saved_vs_all_strong_usd_per_month": float((strong_pr - op_test["usd_per_request"]) * monthly),
                  "quality_change_vs_all_strong": op_test["quality"] - float(td.quality[test, -1].mean())}

    return {"target": {"kind": target.kind, "value": target.value}, "target_met_on_calibration": met,
            "threshold": t_op, "calibrate": _point(at_cal["quality"], at_cal["usd"], at_cal["tier"]),
            "test": op_test, "projection": projection}


def _bootstrap_metrics(s: Scored, grid: np.ndarray, resamples: int, seed: int) -> dict:
    """Resample prompts; the frontier, APGR, AIQ and gap costs are recomputed on each resample."""
    bq, bc, dq, dc = s.base
    n = s.td.n
    Fq = np.empty((len(grid), n))
    Fc = np.empty((len(grid), n))
    for i, t in enumerate(grid):
        _, Fq[i], Fc[i] = evaluate(bq, bc, dq, dc, s.keys, t)
    w = bootstrap_weights(n, resamples, seed)
    Q = w @ Fq.T / n
    C = w @ Fc.T
    qc, qs = w @ s.td.quality[:, 0] / n, w @ s.td.quality[:, -1] / n
    cc, cs = w @ s.call[:, 0] / PUSD, w @ s.call[:, -1] / PUSD
    keys = ("apgr", "aiq", "usd_at_50pct_gap", "usd_at_80pct_gap")
    samples = {k: [] for k in keys}
    for b in range(resamples):
        m = frontier_metrics(C[b], Q[b], (cc[b], qc[b]), (cs[b], qs[b]))
        for k in keys:
            samples[k].append(m[k])
    out = {k: interval(v) for k, v in samples.items()}
    out["resamples"] = resamples
    out["unit"] = "prompt"
    return out


def by_route(s: Scored, t: float, rows: np.ndarray) -> dict:
    """Escalation rate per classify_query class (light = the seed's "cheap" route) and per data
    group, with the seeds' warning levels."""
    at = s.at(t, rows, s.op_keys)
    esc = at["tier"] > 0
    overall = float(esc.mean())
    level = "red" if overall > OVERALL_WARN[1] else "amber" if overall > OVERALL_WARN[0] else "ok"
    out = {"overall": overall, "overall_level": level,
           "overall_rule": "keep escalation under 15–20 % of production traffic (seed 000)",
           "cheap_route_rule": "escalating more than 40 % of 'cheap' routes: the classifier needs more labels or "
                               "features (seed 000)",
           "by_class": [], "by_group": {}}
    classes = s.classes[rows]
    for c in ("light", "standard", "heavy"):
        sel = classes == c
        if sel.any():
            rate = float(esc[sel].mean())
            out["by_class"].append({"route": c, "n": int(sel.sum()), "escalation_rate": rate,
                                    "warning": bool(c == "light" and rate > CHEAP_ROUTE_WARN)})
    for g, values in s.td.groups.items():
        v = values[rows]
        names, inv = np.unique(v, return_inverse=True)
        counts = np.bincount(inv)
        rates = np.bincount(inv, weights=esc) / counts
        order = np.argsort(-rates)
        out["by_group"][g] = [{"route": str(names[i]), "n": int(counts[i]), "escalation_rate": float(rates[i])}
                              for i in order]
    return out


def trusted_and_wrong(s: Scored, t: float, rows: np.ndarray, limit: int) -> list[dict]:
    """Test prompts answered by the cheap tier (not escalated) where a later tier did better."""
    at = s.at(t, rows, s.op_keys)
    idx = np.flatnonzero(rows)
    q = s.td.quality[idx]
    bad = (at["tier"] == 0) & (q[:, 0] < q[:, 1:].max(axis=1))
    out = []
    for j in np.flatnonzero(bad)[:limit]:
        i = idx[j]
        out.append({"id": str(s.td.ids[i]), "prompt": s.td.prompts[i][:400],
                    "score": float(s.op_keys[0, i]),
                    "quality": {m: float(s.td.quality[i, k]) for k, m in enumerate(s.td.models)}})
    return out
