"""Error-bound semantic cache in the spirit of vCache (Schroeder et al., 2025): the user states the
false-hit rate ``delta`` they accept; the replay learns, online and per cache entry, where serving
is safe — from the **answers it has seen**, never from the labels it is scored on.

For each request (time order) the nearest live entry ``j`` at cosine ``s`` is found. The entry's
observations — earlier requests that were *explored* near it, each with its similarity and whether
the model's fresh answer matched the cached one (``answers_match``) — give an error estimate for
serving at ``s``: the errors among observations at similarity ≥ ``s`` (they were at least as
close), pooled with the same count over all entries at weight ``prior_weight`` (a region prior, so
a new entry is not blind). The hit is served when the Wilson 95 % upper bound of that error rate is
≤ ``delta``; otherwise the request is **explored**: the model is called (a miss, billed), its answer
is compared with the entry's answer, the observation is recorded, and the request becomes a new
entry with its own fresh answer (``store_explored``: the model answered it, so storing it costs
one write). So each entry ends up with its own threshold.

Why explored requests are stored: when only requests whose answer *differed* became entries, the
cache stayed a sparse set of cluster representatives, later requests sat far from every entry and
were explored again — on Bitext streams of 1,500 requests at δ = 5 % it served nothing, even with
a perfect answer judge. Figures in docs/cache-replay.md § Error-bound mode. The region prior weighs
as much as the entry's own observations (``prior_weight=1``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from workbench.core.cache.quality import wilson

_WORD = re.compile(r"[a-z0-9]+")


def jaccard_match(a: str, b: str, threshold: float = 0.5) -> bool:
    """Default answer equivalence: word-set Jaccard ≥ ``threshold`` (cheap, label-free)."""
    x, y = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(x & y) / max(len(x | y), 1) >= threshold


@dataclass
class VCacheResult:
    hit: np.ndarray          # served from the cache
    source: np.ndarray       # row whose answer was served (-1)
    explored: np.ndarray     # called to learn (answer compared with the nearest entry's)
    similarity: np.ndarray   # cosine to the nearest live entry (NaN: none)
    entries: int


def vcache_replay(emb: np.ndarray, answers: Sequence[str], delta: float, *,
                  answers_match: Callable[[str, str], bool] = jaccard_match, min_similarity: float = 0.5,
                  prior_weight: float = 1.0, min_observations: int = 3,
                  store_explored: bool = True) -> VCacheResult:
    """Replay rows (in time order, one namespace) of L2-normalised embeddings ``emb`` whose model
    answers are ``answers`` (read only when a request is explored or written)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    n, d = emb.shape
    E = np.empty((n, d), dtype=np.float32)
    e_row = np.empty(n, dtype=np.int64)
    obs: list[list[tuple[float, bool]]] = []
    g_sim: list[float] = []
    g_ok: list[bool] = []
    hit = np.zeros(n, dtype=bool)
    explored = np.zeros(n, dtype=bool)
    source = np.full(n, -1, dtype=np.int64)
    best = np.full(n, np.nan, dtype=np.float32)
    m = 0
    for i in range(n):
        q = emb[i].astype(np.float32)
        if m:
            sims = E[:m] @ q
            j = int(sims.argmax())
            s = float(sims[j])
            best[i] = s
        if not m or s < min_similarity:
            E[m], e_row[m] = q, i
            obs.append([])
            m += 1
            continue
        own = obs[j]
        k_own = sum(1 for (t, ok) in own if t >= s and not ok)
        n_own = sum(1 for (t, ok) in own if t >= s)
        if g_sim:
            gs, go = np.asarray(g_sim), np.asarray(g_ok)
            sel = gs >= s
            k_g, n_g = int((~go[sel]).sum()), int(sel.sum())
        else:
            k_g = n_g = 0
        k = k_own + prior_weight * k_g
        nn = n_own + prior_weight * n_g
        if nn >= min_observations and _upper(k, nn) <= delta:
            hit[i], source[i] = True, e_row[j]
            continue
        explored[i] = True
        ok = bool(answers_match(answers[i], answers[e_row[j]]))
        own.append((s, ok))
        g_sim.append(s)
        g_ok.append(ok)
        if store_explored or not ok:
            E[m], e_row[m] = q, i
            obs.append([])
            m += 1
    return VCacheResult(hit, source, explored, best, m)


def embedding_judge(answers: Sequence[str], vectors: np.ndarray, threshold: float = 0.8) -> Callable[[str, str], bool]:
    """A label-free answer judge: two answers match when the cosine of their (L2-normalised)
    embeddings is ≥ ``threshold``. ``vectors[i]`` is the embedding of ``answers[i]``."""
    row = {a: i for i, a in enumerate(answers)}
    v = np.asarray(vectors, dtype=np.float32)
    return lambda a, b: float(v[row[a]] @ v[row[b]]) >= threshold


def _upper(k: float, n: float) -> float:
    """Wilson upper bound for fractional counts (pooled prior)."""
    return wilson(0, 0)[1] if n <= 0 else _wilson_f(k, n)


def _wilson_f(k: float, n: float, z: float = 1.959963984540054) -> float:
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(min(1.0, c + h))


def static_replay(emb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The static-threshold semantic cache on the same stream (no TTL, one namespace)."""
    from workbench.core.cache.scan import semantic_scan
    n = len(emb)
    hit, source, _ = semantic_scan(np.zeros(n, dtype=np.int64), emb, np.arange(n, dtype=np.int64), threshold,
                                   2**62)
    return hit, source


def score(hit: np.ndarray, source: np.ndarray, labels: Sequence) -> dict:
    """Hits and false hits against answer-equivalence labels (e.g. intents) — used only to score."""
    lab = np.asarray(labels, dtype=object)
    src = np.where(hit, source, 0)
    false = hit & (lab != lab[src])
    n = len(lab)
    served = int(hit.sum())
    lo, hi = wilson(int(false.sum()), served)
    return {"requests": n, "hits": served - int(false.sum()), "false_hits": int(false.sum()),
            "hit_rate": served / n if n else 0.0,
            "false_hit_rate": float(false.sum() / served) if served else None, "false_hit_rate_ci95": [lo, hi]}


def best_static(emb: np.ndarray, labels: Sequence, delta: float,
                thresholds: Sequence[float] | None = None) -> dict:
    """The loosest static threshold whose false-hit rate on this stream is ≤ ``delta`` — chosen
    *with* the labels (an oracle static baseline: the best one threshold can do here)."""
    if thresholds is None:
        thresholds = np.round(np.arange(0.50, 1.0001, 0.01), 2)
    best = None
    for t in thresholds:
        hit, src = static_replay(emb, float(t))
        s = score(hit, src, labels)
        if s["false_hit_rate"] is not None and s["false_hit_rate"] <= delta:
            if best is None or s["hits"] > best["hits"]:
                best = {"threshold": float(t), **s}
    return best or {"threshold": None}


def compare(emb: np.ndarray, answers: Sequence[str], labels: Sequence, groups: Sequence, delta: float,
            **kw) -> dict:
    """vCache-style replay vs the best static threshold on the same stream, overall and per group
    (e.g. intent category): who serves more correct hits, and who keeps false hits under delta."""
    v = vcache_replay(emb, answers, delta, **kw)
    st = best_static(emb, labels, delta)
    rows = []
    g = np.asarray(groups, dtype=object)
    s_hit, s_src = static_replay(emb, st["threshold"]) if st["threshold"] is not None else (
        np.zeros(len(emb), bool), np.full(len(emb), -1))
    lab = np.asarray(labels, dtype=object)
    for name in sorted(set(g.tolist())):
        sel = g == name
        def part(hit, src):
            src_ = np.where(hit, src, 0)
            false = hit & (lab != lab[src_])
            return int((hit & ~false & sel).sum()), int((false & sel).sum())
        vh, vf = part(v.hit, v.source)
        sh, sf = part(s_hit, s_src)
        winner = "error-bound" if (vh - vf) > (sh - sf) else ("static" if (sh - sf) > (vh - vf) else "tie")
        rows.append({"group": name, "requests": int(sel.sum()), "error_bound_hits": vh, "error_bound_false_hits": vf,
                     "static_hits": sh, "static_false_hits": sf, "better": winner})
    return {"delta": delta, "error_bound": {**score(v.hit, v.source, labels), "explored": int(v.explored.sum()),
                                            "entries": v.entries},
            "static": st, "by_group": rows}
