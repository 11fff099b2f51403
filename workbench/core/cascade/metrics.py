"""Frontier metrics in dollars.

* ``PGR(c)`` — performance gap recovered at cost ``c``: (quality − q_cheap) / (q_strong − q_cheap),
  quality taken from the curve's running best (you would never pay more for less), linear between
  measured points.
* ``APGR`` — mean PGR over costs from all-cheap to all-strong dollars (RouteLLM's metric, with
  dollars on the x axis instead of "% of strong calls").
* ``AIQ`` — average quality over the same cost range under the upper convex hull of the curve's
  points (RouterBench's "average improvement in quality": mixing two operating points at random
  reaches every point of the hull).
* ``cost at x % of the gap`` — the least dollars whose quality is ≥ q_cheap + x·(q_strong − q_cheap).
"""
from __future__ import annotations

import numpy as np


def oracle(quality: np.ndarray, call_usd: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per request: the cheapest tier with the best quality (it gets it right if any tier does).
    Returns (tier, quality, usd); the oracle knows in advance, so it pays one call."""
    best = quality.max(axis=1, keepdims=True)
    ok = quality >= best
    cost = np.where(ok, call_usd, np.inf)
    tier = cost.argmin(axis=1)
    rows = np.arange(len(quality))
    return tier, quality[rows, tier], call_usd[rows, tier]


def running_best(usd: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((-quality, usd))
    return usd[order], np.maximum.accumulate(quality[order])


def upper_hull(usd: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing upper convex hull of the points (monotone chain), sorted by cost."""
    x, y = running_best(usd, quality)
    pts: list[tuple[float, float]] = []
    for px, py in zip(x, y):
        if pts and px == pts[-1][0]:
            if py <= pts[-1][1]:
                continue
            pts.pop()
        while len(pts) >= 2:
            (x1, y1), (x2, y2) = pts[-2], pts[-1]
            if (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1) >= 0:     # not a right turn: drop middle
                pts.pop()
            else:
                break
        if not pts or py > pts[-1][1]:
            pts.append((px, py))
    arr = np.array(pts)
    return arr[:, 0], arr[:, 1]


def _mean_over(xs: np.ndarray, ys: np.ndarray, lo: float, hi: float, samples: int = 2001) -> float:
    if hi <= lo:
        return float(np.interp(lo, xs, ys)) if len(xs) else float("nan")
    grid = np.linspace(lo, hi, samples)
    # left of the first point nothing is reachable: hold the first quality (never happens on a
    # curve that starts at all-cheap, which every sweep does)
    vals = np.interp(grid, xs, ys, left=ys[0], right=ys[-1])
    return float(np.trapezoid(vals, grid) / (hi - lo))


def frontier_metrics(usd: np.ndarray, quality: np.ndarray, cheap: tuple[float, float],
                     strong: tuple[float, float]) -> dict:
    """APGR, AIQ and cost at 50 % / 80 % of the quality gap. ``cheap``/``strong`` = (usd, quality)."""
    (c_lo, q_lo), (c_hi, q_hi) = cheap, strong
    gap = q_hi - q_lo
    x, y = running_best(np.asarray(usd, float), np.asarray(quality, float))
    hx, hy = upper_hull(np.asarray(usd, float), np.asarray(quality, float))
    out: dict = {"quality_gap": gap}
    if gap > 0:
        out["apgr"] = (_mean_over(x, y, c_lo, c_hi) - q_lo) / gap
    else:
        out["apgr"] = None          # the "strong" model is not better here: no gap to recover
    out["aiq"] = _mean_over(hx, hy, c_lo, c_hi)
    for frac in (0.5, 0.8):
        key = f"usd_at_{int(frac * 100)}pct_gap"
        if gap <= 0:
            out[key] = None
            continue
        target = q_lo + frac * gap
        reach = np.flatnonzero(y >= target - 1e-12)
        if not len(reach):
            out[key] = None
            continue
        i = reach[0]
        if i == 0 or y[i - 1] == y[i]:
            out[key] = float(x[i])
        else:   # linear between the two measured points around the target
            out[key] = float(x[i - 1] + (target - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))
    return out


def bootstrap_weights(n: int, resamples: int, seed: int = 0) -> np.ndarray:
    """(B, n) resampling counts (multinomial, each row sums to n)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    w = np.zeros((resamples, n), dtype=np.float64)
    rows = np.repeat(np.arange(resamples), n)
    np.add.at(w, (rows, idx.ravel()), 1.0)
    return w


def interval(samples: np.ndarray, level: float = 0.95) -> list[float] | None:
    s = np.asarray([v for v in samples if v is not None and np.isfinite(v)], dtype=float)
    if not len(s):
        return None
    a = (1 - level) / 2
    return [float(np.quantile(s, a)), float(np.quantile(s, 1 - a))]
