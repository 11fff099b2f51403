"""Sequential cache scans over requests in processing order (the kernels of every cache replay).

Rules (docs: docs/cache-replay.md):

* A request that is not ``eligible`` (excluded feature or pattern, no prompt, refused upstream)
  neither reads nor writes the cache.
* A miss writes an entry that expires ``ttl`` after the write; a hit does **not** refresh the TTL
  (the replay engine's chain semantics). A hit does refresh the entry's LRU recency.
* ``capacity`` bounds the live entries of a group (a namespace, or the whole log when
  ``capacity_scope="log"``); writing into a full group evicts its least recently used entry.
  An expired entry is never served and still holds its slot until it is the LRU victim (the
  exact scan also drops it when its key is looked up again: the new write replaces it).
* Semantic: a hit is the most similar live entry of the namespace with cosine ≥ ``threshold``.

All scans return ``(hit, source)``: ``source[i]`` is the row position of the request whose
answer a hit reuses (-1 for misses).
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np


def _groups(ns: np.ndarray, capacity_scope: str) -> np.ndarray:
    if capacity_scope not in ("namespace", "log"):
        raise ValueError(f"capacity_scope must be 'namespace' or 'log', got {capacity_scope!r}")
    return ns if capacity_scope == "namespace" else np.zeros_like(ns)


def exact_scan(ns: np.ndarray, key: np.ndarray, t_us: np.ndarray, ttl_us: int | np.ndarray,
               eligible: np.ndarray | None = None, capacity: int | None = None,
               capacity_scope: str = "namespace", writable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact-key cache replay. Rows must be in processing order; ``key`` -1 = uncacheable.
    ``ttl_us`` may be per row (the TTL the writing request sets; 0 = not cached). A miss that is
    not ``writable`` (refused by a later budget: it got no answer) writes no entry."""
    n = len(key)
    ttl = np.broadcast_to(np.asarray(ttl_us, dtype=np.int64), (n,))
    ok = (key >= 0) & (ttl > 0)
    if eligible is not None:
        ok &= np.asarray(eligible, dtype=bool)
    hit = np.zeros(n, dtype=bool)
    source = np.full(n, -1, dtype=np.int64)
    # one integer per (namespace, key)
    combo = ns.astype(np.int64) * (int(key.max(initial=0)) + 1) + key
    idx = np.flatnonzero(ok).tolist()
    c, t, tt = combo.tolist(), t_us.astype(np.int64).tolist(), ttl.tolist()
    w = [True] * n if writable is None else np.asarray(writable, dtype=bool).tolist()
    if capacity is None:
        expires: dict[int, int] = {}
        writer: dict[int, int] = {}
        for i in idx:
            k = c[i]
            e = expires.get(k)
            if e is not None and t[i] < e:
                hit[i] = True
                source[i] = writer[k]
            elif w[i]:
                expires[k] = t[i] + tt[i]
                writer[k] = i
        return hit, source
    if capacity < 0:
        raise ValueError(f"capacity must be ≥ 0, got {capacity}")
    group = _groups(ns, capacity_scope).tolist()
    lru: dict[int, OrderedDict] = {}
    for i in idx:
        k = c[i]
        od = lru.get(group[i])
        if od is None:
            od = lru[group[i]] = OrderedDict()
        entry = od.get(k)
        if entry is not None:
            if t[i] < entry[0]:
                hit[i] = True
                source[i] = entry[1]
                od.move_to_end(k)
                continue
            del od[k]
        if capacity == 0 or not w[i]:
            continue
        if len(od) >= capacity:
            od.popitem(last=False)
        od[k] = (t[i] + tt[i], i)
    return hit, source


def semantic_scan(ns: np.ndarray, emb: np.ndarray, t_us: np.ndarray, threshold: float, ttl_us: int | np.ndarray,
                  eligible: np.ndarray | None = None, capacity: int | None = None,
                  capacity_scope: str = "namespace", block: int = 512,
                  writable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Semantic cache replay with an exact (brute-force, BLAS) index. ``emb`` rows are
    L2-normalised. Returns ``(hit, source, similarity)``; ``similarity`` is the best live
    entry's cosine (NaN when the namespace had none)."""
    n = len(ns)
    ttl = np.broadcast_to(np.asarray(ttl_us, dtype=np.int64), (n,))
    ok = ttl > 0
    if eligible is not None:
        ok = ok & np.asarray(eligible, dtype=bool)
    hit = np.zeros(n, dtype=bool)
    source = np.full(n, -1, dtype=np.int64)
    best = np.full(n, np.nan, dtype=np.float32)
    group = _groups(ns, capacity_scope)
    rows = np.flatnonzero(ok)
    if capacity == 0 or not len(rows):
        return hit, source, best
    # groups never interact: scan each on its own (namespaces inside a shared-capacity group are
    # kept apart by a mask)
    order = np.argsort(group[rows], kind="stable")
    rows = rows[order]
    cuts = np.flatnonzero(np.diff(group[rows])) + 1
    for part in np.split(rows, cuts):
        _semantic_group(part, ns, emb, t_us.astype(np.int64), ttl, float(threshold), capacity, block,
                        hit, source, best, np.ones(n, bool) if writable is None else np.asarray(writable, bool))
    return hit, source, best


def _semantic_group(rows, ns, emb, t, ttl, thr, capacity, block, hit, source, best, writable):
    m = len(rows)
    d = emb.shape[1]
    E = np.empty((m, d), dtype=np.float32)      # entry vectors
    e_ns = np.empty(m, dtype=np.int64)
    e_exp = np.empty(m, dtype=np.int64)          # expiry time
    e_row = np.empty(m, dtype=np.int64)          # writer row
    e_used = np.empty(m, dtype=np.int64)         # LRU clock
    alive = np.zeros(m, dtype=bool)
    n_e = 0
    live = 0
    clock = 0
    mixed = len(np.unique(ns[rows])) > 1
    for b0 in range(0, m, block):
        br = rows[b0:b0 + block]
        Q = np.ascontiguousarray(emb[br], dtype=np.float32)
        tq = t[br]
        nq = ns[br]
        n0 = n_e
        # earlier entries: one matrix product per block, masked by liveness, expiry and namespace
        if n0:
            S = Q @ E[:n0].T
            valid = alive[:n0][None, :] & (e_exp[:n0][None, :] > tq[:, None])
            if mixed:
                valid &= e_ns[:n0][None, :] == nq[:, None]
            S = np.where(valid, S, -np.inf)
            pre_arg = S.argmax(axis=1)
            pre_best = S[np.arange(len(br)), pre_arg]
        else:
            S = None
            pre_arg = np.zeros(len(br), dtype=np.int64)
            pre_best = np.full(len(br), -np.inf, dtype=np.float32)
        W = Q @ Q.T
        in_block = np.full(len(br), -1, dtype=np.int64)   # entry id written by block row j
        evicted_in_block = False
        for j in range(len(br)):
            bj, bs = -1, -np.inf
            if n0:
                a = int(pre_arg[j])
                if evicted_in_block and not alive[a]:
                    row = np.where(alive[:n0] & (e_exp[:n0] > tq[j]) & ((e_ns[:n0] == nq[j]) if mixed else True),
                                   S[j], -np.inf)
                    a = int(row.argmax())
                    bs = row[a]
                else:
                    bs = pre_best[j]
                bj = a
            if j:
                ids = in_block[:j]
                cand = ids >= 0
                if cand.any():
                    ids_c = ids[cand]
                    ok = alive[ids_c] & (e_exp[ids_c] > tq[j])
                    if mixed:
                        ok &= e_ns[ids_c] == nq[j]
                    if ok.any():
                        w = np.where(ok, W[j, :j][cand], -np.inf)
                        k = int(w.argmax())
                        if w[k] > bs:
                            bs, bj = w[k], int(ids_c[k])
            i = br[j]
            if np.isfinite(bs):
                best[i] = bs
            clock += 1
            if bs >= thr:
                hit[i] = True
                source[i] = e_row[bj]
                e_used[bj] = clock
                continue
            if not writable[i]:
                continue
            if capacity is not None and live >= capacity:
                cand_ids = np.flatnonzero(alive[:n_e])
                victim = int(cand_ids[np.argmin(e_used[cand_ids])])   # least recently used
                alive[victim] = False
                live -= 1
                evicted_in_block = evicted_in_block or victim < n0
            E[n_e] = Q[j]
            e_ns[n_e], e_exp[n_e], e_row[n_e], e_used[n_e] = nq[j], tq[j] + ttl[i], i, clock
            alive[n_e] = True
            in_block[j] = n_e
            n_e += 1
            live += 1
