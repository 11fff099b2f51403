"""Bootstrap confidence intervals on the savings.

Requests are resampled in clusters of (tenant, UTC day): the unit inside which budgets couple
requests, and the natural unit of traffic variation. Each resample draws as many clusters as the
log has, with replacement (multinomial counts), and recomputes savings = baseline − replayed and
savings % = savings / baseline. The interval is the 2.5th–97.5th percentile of the resamples
(percentile bootstrap), computed with numpy over the small per-cluster table, so it costs the same
for 1k or 10M requests. Deterministic for a given ``seed``.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from workbench.core.replay.pricing import DAY, PUSD_PER_USD, QUALITY_UNITS

MAX_DRAWS = 50_000_000   # resamples × clusters per call; fewer resamples beyond this (min 200)


def bootstrap_ci(groups: pd.DataFrame, base_col: str, final_col: str, n_boot: int = 1000, seed: int = 0,
                 level: float = 0.95, quality: tuple[str, str] | None = None) -> dict:
    """95 % interval of savings (USD and %) from per-group sums of baseline and replayed cost (pUSD).

    ``quality=(base, final)``: also the interval of the replayed mean quality and of its change
    (``out["quality"]``, see :func:`bootstrap_quality`), from the same clusters and the same draws:
    the clusters are summed once and each resample is drawn once for both."""
    clusters = _clusters(groups, cluster_columns(base_col, final_col, quality))
    return interval_from_clusters(clusters, base_col, final_col, n_boot, seed, level, quality)


def cluster_columns(base_col: str, final_col: str, quality: tuple[str, str] | None = None) -> list[str]:
    """The columns :func:`interval_from_clusters` reads (summed per cluster)."""
    sums = [base_col, final_col]
    if quality is not None:
        sums += [f"{p}{k}" for k in quality for p in ("qs", "qn")]
    return list(dict.fromkeys(sums))


def interval_from_clusters(clusters: Mapping[str, Any], base_col: str, final_col: str, n_boot: int = 1000,
                           seed: int = 0, level: float = 0.95, quality: tuple[str, str] | None = None) -> dict:
    """:func:`bootstrap_ci` from the per-cluster sums (columns of :func:`cluster_columns`, clusters in
    sorted (tenant, day) order), e.g. summed together with the replay's other tables."""
    base = np.asarray(clusters[base_col], dtype=np.float64) / PUSD_PER_USD
    saved = base - np.asarray(clusters[final_col], dtype=np.float64) / PUSD_PER_USD
    n = len(base)
    out = {"level": level, "method": "cluster bootstrap, percentile", "unit": "tenant-day",
           "clusters": n, "seed": seed, "resamples": 0, "savings_usd": None, "savings_pct": None}
    q_out = _quality_out(level)
    if quality is not None:
        out["quality"] = q_out
    if n < 2:
        return out
    resamples = _resamples(n, n_boot)
    q_arr = None
    if quality is not None and np.asarray(clusters[f"qn{quality[1]}"]).sum():
        (qb, qf) = quality
        q_arr = [np.asarray(clusters[c], dtype=np.float64) for c in (f"qs{qb}", f"qn{qb}", f"qs{qf}", f"qn{qf}")]
        q_arr[0], q_arr[2] = q_arr[0] / QUALITY_UNITS, q_arr[2] / QUALITY_UNITS  # integer billionths
    rng = np.random.default_rng(seed)
    pvals = np.full(n, 1.0 / n)
    s_parts, b_parts, q_parts = [], [], []
    chunk = max(1, 5_000_000 // n)
    left = resamples
    while left:  # the same stream of draws as one call of size ``resamples``, in bounded memory
        size = min(chunk, left)
        w = rng.multinomial(n, pvals, size=size).astype(np.float64)
        s_parts.append(w @ saved)
        b_parts.append(w @ base)
        if q_arr is not None:
            q_parts.append([w @ a for a in q_arr])
        left -= size
    s, b = np.concatenate(s_parts), np.concatenate(b_parts)
    pct = np.divide(100.0 * s, b, out=np.zeros_like(s), where=b > 0)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    out.update(resamples=resamples, savings_usd=[float(v) for v in np.percentile(s, q)],
               savings_pct=[float(v) for v in np.percentile(pct, q)])
    if q_arr is not None:
        bs, bn, rs, rn = (np.concatenate([part[i] for part in q_parts]) for i in range(4))
        q_out.update(_quality_interval(bs, bn, rs, rn, q), resamples=resamples)
    return out


def bootstrap_quality(groups: pd.DataFrame, base: str, final: str, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """95 % interval of the replayed mean quality and of its change from the baseline, resampling
    the same (tenant, day) clusters as the savings (same seed, same draws). Means are over the
    requests with a known quality; None where a resample has none. (The replay gets it from
    :func:`bootstrap_ci` with ``quality=``, which draws once for both.)"""
    out = _quality_out(level)
    if len(groups) == 0:
        return out
    c = _clusters(groups, list(dict.fromkeys(f"{p}{k}" for k in (base, final) for p in ("qs", "qn"))))
    n = len(c)
    if n < 2 or not c[f"qn{final}"].sum():
        return out
    resamples = _resamples(n, n_boot)
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    arr = [c[k].to_numpy(dtype=np.float64) for k in (f"qs{base}", f"qn{base}", f"qs{final}", f"qn{final}")]
    arr[0], arr[2] = arr[0] / QUALITY_UNITS, arr[2] / QUALITY_UNITS  # integer billionths
    out.update(_quality_interval(*(w @ a for a in arr), [(1 - level) / 2 * 100, (1 + level) / 2 * 100]))
    out["resamples"] = resamples
    return out


def _clusters(groups: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` summed per (tenant, UTC day) cluster, clusters in sorted order."""
    if len(groups) == 0:
        return pd.DataFrame({c: [] for c in columns})
    keys = [groups["tenant"].fillna("\x00").astype(str), groups[DAY]]
    return groups.groupby(keys, sort=True)[columns].sum()


def _resamples(n: int, n_boot: int) -> int:
    return int(max(200, min(n_boot, MAX_DRAWS // n)))


def _quality_out(level: float) -> dict:
    return {"level": level, "unit": "tenant-day", "replayed_mean": None, "change": None}


def _quality_interval(bs: np.ndarray, bn: np.ndarray, rs: np.ndarray, rn: np.ndarray, q: list[float]) -> dict:
    """Percentiles of the resampled replayed mean quality and of its change (NaN resamples left out)."""
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        rmean = rs / rn
        bmean = bs / bn
    ok = ~np.isnan(rmean)
    if ok.any():
        out["replayed_mean"] = [float(v) for v in np.percentile(rmean[ok], q)]
    d = rmean - bmean
    ok = ~np.isnan(d)
    if ok.any():
        out["change"] = [float(v) for v in np.percentile(d[ok], q)]
    return out
