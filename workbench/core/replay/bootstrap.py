"""Bootstrap confidence intervals on the savings.

Requests are resampled in clusters of (tenant, UTC day): the unit inside which budgets couple
requests, and the natural unit of traffic variation. Each resample draws as many clusters as the
log has, with replacement (multinomial counts), and recomputes savings = baseline − replayed and
savings % = savings / baseline. The interval is the 2.5th–97.5th percentile of the resamples
(percentile bootstrap), computed with numpy over the small per-cluster table, so it costs the same
for 1k or 10M requests. Deterministic for a given ``seed``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.core.replay.pricing import DAY, PUSD_PER_USD, QUALITY_UNITS

MAX_DRAWS = 50_000_000   # resamples × clusters per call; fewer resamples beyond this (min 200)


def bootstrap_ci(groups: pd.DataFrame, base_col: str, final_col: str, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict:
    """95 % interval of savings (USD and %) from per-group sums of baseline and replayed cost (pUSD)."""
    if len(groups) == 0:
        clusters = pd.DataFrame({"base": [], "final": []})
    else:
        keys = [groups["tenant"].fillna("\x00").astype(str), groups[DAY]]
        clusters = groups.groupby(keys, sort=True).agg(base=(base_col, "sum"), final=(final_col, "sum"))
    base = clusters["base"].to_numpy(dtype=np.float64) / PUSD_PER_USD
    saved = base - clusters["final"].to_numpy(dtype=np.float64) / PUSD_PER_USD
    n = len(base)
    out = {"level": level, "method": "cluster bootstrap, percentile", "unit": "tenant-day",
           "clusters": n, "seed": seed, "resamples": 0, "savings_usd": None, "savings_pct": None}
    if n < 2:
        return out
    resamples = int(max(200, min(n_boot, MAX_DRAWS // n)))
    rng = np.random.default_rng(seed)
    pvals = np.full(n, 1.0 / n)
    s_parts, b_parts = [], []
    chunk = max(1, 5_000_000 // n)
    left = resamples
    while left:
        size = min(chunk, left)
        w = rng.multinomial(n, pvals, size=size).astype(np.float64)
        s_parts.append(w @ saved)
        b_parts.append(w @ base)
        left -= size
    s, b = np.concatenate(s_parts), np.concatenate(b_parts)
    pct = np.divide(100.0 * s, b, out=np.zeros_like(s), where=b > 0)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out.update(resamples=resamples, savings_usd=[float(v) for v in np.percentile(s, q)],
               savings_pct=[float(v) for v in np.percentile(pct, q)])
    return out


def bootstrap_quality(groups: pd.DataFrame, base: str, final: str, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """95 % interval of the replayed mean quality and of its change from the baseline, resampling
    the same (tenant, day) clusters as the savings (same seed, same draws). Means are over the
    requests with a known quality; None where a resample has none."""
    out = {"level": level, "unit": "tenant-day", "replayed_mean": None, "change": None}
    if len(groups) == 0:
        return out
    keys = [groups["tenant"].fillna("\x00").astype(str), groups[DAY]]
    c = groups.groupby(keys, sort=True).agg(bs=(f"qs{base}", "sum"), bn=(f"qn{base}", "sum"),
                                            rs=(f"qs{final}", "sum"), rn=(f"qn{final}", "sum"))
    n = len(c)
    if n < 2 or not c["rn"].sum():
        return out
    resamples = int(max(200, min(n_boot, MAX_DRAWS // n)))
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    arr = {k: c[k].to_numpy(dtype=np.float64) for k in ("bs", "bn", "rs", "rn")}
    arr["bs"], arr["rs"] = arr["bs"] / QUALITY_UNITS, arr["rs"] / QUALITY_UNITS  # integer billionths
    with np.errstate(invalid="ignore", divide="ignore"):
        rmean = (w @ arr["rs"]) / (w @ arr["rn"])
        bmean = (w @ arr["bs"]) / (w @ arr["bn"])
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    ok = ~np.isnan(rmean)
    if ok.any():
        out["replayed_mean"] = [float(v) for v in np.percentile(rmean[ok], q)]
    d = rmean - bmean
    ok = ~np.isnan(d)
    if ok.any():
        out["change"] = [float(v) for v in np.percentile(d[ok], q)]
    out["resamples"] = resamples
    return out
