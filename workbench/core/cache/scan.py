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
    if capacity is None:
        return _chain_scan(combo, t_us.astype(np.int64), ttl, ok,
                           np.ones(n, bool) if writable is None else np.asarray(writable, dtype=bool))
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


def _chain_scan(combo: np.ndarray, t: np.ndarray, ttl: np.ndarray, ok: np.ndarray,
                writable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The unbounded exact cache, vectorised (no per-row Python). Within one key, in processing
    order, the *writers* are a chain: the first writable request, then each next writable request
    at least its predecessor's TTL later. Each writer's successor is one ``searchsorted``; the chain
    is followed from every key's first writer by pointer doubling (⌈log2(longest chain)⌉ rounds).
    A request is a hit when the latest writer before it in its key has not expired."""
    n = len(combo)
    hit = np.zeros(n, dtype=bool)
    source = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(ok)
    if not len(rows):
        return hit, source
    # times as ranks among the distinct times, so (key, time) fits one int64
    expires = t + ttl
    if len(t) < 2 or (t[1:] >= t[:-1]).all():   # processing order: one pass, sorted searches
        new_t = np.concatenate(([True], t[1:] != t[:-1]))
        times = t[new_t]
        t_rank = np.cumsum(new_t) - 1
    else:
        times = np.sort(t)
        times = times[np.concatenate(([True], times[1:] != times[:-1]))]
        t_rank = np.searchsorted(times, t)
    e_rank = np.searchsorted(times, expires)                 # first distinct time ≥ the expiry
    rows = rows[np.argsort(combo[rows], kind="stable")]      # by key, then processing order
    g = combo[rows]
    new_g = np.concatenate(([True], g[1:] != g[:-1]))
    grank = np.cumsum(new_g) - 1
    tr = t[rows]
    exp = expires[rows]
    wsel = np.flatnonzero(writable[rows])
    m = len(wsel)
    if m:
        span = len(times) + 1
        wrows = rows[wsel]
        wkey = grank[wsel] * span + t_rank[wrows]
        nxt = np.searchsorted(wkey, grank[wsel] * span + e_rank[wrows])
        same = nxt < m
        same[same] = grank[wsel][nxt[same]] == grank[wsel][same]
        nxt = np.append(np.where(same, nxt, m), m)            # m: the end of a chain
        on = np.zeros(m + 1, dtype=bool)
        on[np.flatnonzero(np.concatenate(([True], grank[wsel][1:] != grank[wsel][:-1])))] = True
        while True:                                           # on ∪= nxt^(2^r)(on)
            on[nxt[np.flatnonzero(on)]] = True
            if (nxt[:m] == m).all():
                break
            nxt = nxt[nxt]
        writer = np.zeros(len(rows), dtype=bool)
        writer[wsel[on[:m]]] = True
    else:
        writer = np.zeros(len(rows), dtype=bool)
    pos = np.arange(len(rows))
    last = np.maximum.accumulate(np.where(writer, pos, -1))
    ok_last = last >= 0
    ok_last[ok_last] = grank[last[ok_last]] == grank[ok_last]
    h = ok_last & ~writer
    h[h] = tr[h] < exp[last[h]]
    hit[rows[h]] = True
    source[rows[h]] = rows[last[h]]
    return hit, source


INDEXES = ("exact", "hnsw")


def require_faiss():
    """faiss (``pip install faiss-cpu``) for the approximate index, or a clear ImportError."""
    try:
        import faiss
    except ImportError:
        raise ImportError("index 'hnsw' needs faiss: pip install faiss-cpu "
                          "(or use index 'exact', which needs nothing)") from None
    return faiss


def semantic_scan(ns: np.ndarray, emb: np.ndarray, t_us: np.ndarray, threshold: float, ttl_us: int | np.ndarray,
                  eligible: np.ndarray | None = None, capacity: int | None = None,
                  capacity_scope: str = "namespace", block: int = 512,
                  writable: np.ndarray | None = None, index: str = "exact",
                  hnsw_m: int = 32, hnsw_k: int = 16,
                  codes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Semantic cache replay. ``emb`` rows are L2-normalised. Returns ``(hit, source,
    similarity)``; ``similarity`` is the best live entry's cosine (NaN when the namespace had none).

    ``index="exact"``: each block of requests is compared with every earlier entry by one matrix
    product (BLAS) — the exact nearest live entry. ``index="hnsw"``: earlier entries are searched
    in a faiss HNSW graph (``hnsw_m`` links; the ``hnsw_k`` nearest are checked for liveness,
    expiry and namespace) — approximate: a hit may be missed, never invented (every served entry
    is checked against the threshold). Requests inside one block are always compared exactly.

    ``codes`` (optional, one per row: equal codes = the same text, hence the same vector): a request
    whose text is a live entry of its namespace is served that entry (cosine 1, the best possible:
    no other entry can equal it, or it would have been served instead of written) without a search
    — the same decisions, less work when prompts repeat verbatim."""
    if index not in INDEXES:
        raise ValueError(f"index must be one of {', '.join(INDEXES)}, got {index!r}")
    if codes is not None:
        codes = _vector_codes(np.asarray(codes), emb)
    faiss = require_faiss() if index == "hnsw" else None
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
        ann = None
        if faiss is not None:
            ann = faiss.IndexHNSWFlat(emb.shape[1], hnsw_m, faiss.METRIC_INNER_PRODUCT)
            ann.hnsw.efSearch = max(64, hnsw_k)
        _semantic_group(part, ns, emb, t_us.astype(np.int64), ttl, float(threshold), capacity, block,
                        hit, source, best, np.ones(n, bool) if writable is None else np.asarray(writable, bool),
                        ann, hnsw_k, None if codes is None or threshold > 0.9999 else np.asarray(codes))
    return hit, source, best


def _vector_codes(codes: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """``codes`` kept only where a row's vector equals the first vector of its code (a caller's
    codes can never make two different vectors share a shortcut); other rows get codes of their own."""
    import pandas as pd
    c = pd.factorize(codes)[0]
    prev = np.maximum.accumulate(np.concatenate(([-1], c[:-1]))) if len(c) else c
    firsts = np.flatnonzero(c > prev)
    same = (emb == emb[firsts[c]]).all(axis=1)
    return np.where(same, c, len(firsts) + np.arange(len(c)))


def _semantic_group(rows, ns, emb, t, ttl, thr, capacity, block, hit, source, best, writable, ann=None, topk=16,
                    codes=None):
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
    entry_of: dict = {}                          # (namespace, text code) → its latest entry
    for b0 in range(0, m, block):
        br = rows[b0:b0 + block]
        Q_all = np.ascontiguousarray(emb[br], dtype=np.float32)
        tq_all = t[br]
        nq_all = ns[br]
        n0 = n_e
        direct = np.full(len(br), -1, dtype=np.int64)   # a live entry with this very text
        if codes is not None and n0:
            for j, (c, q_ns) in enumerate(zip(codes[br].tolist(), nq_all.tolist())):
                a = entry_of.get((q_ns, c))
                if a is not None and alive[a] and e_exp[a] > tq_all[j]:
                    direct[j] = a
        need = np.flatnonzero(direct < 0)
        Q, tq, nq = Q_all[need], tq_all[need], nq_all[need]
        # earlier entries: one matrix product per block (exact), or the k nearest in the HNSW
        # graph (approximate); masked by liveness, expiry and namespace
        knn = None
        if n0 and len(need) and ann is not None:
            if ann.ntotal < n0:
                ann.add(E[ann.ntotal:n0])
            S, knn = ann.search(Q, min(topk, n0))
            ids = np.maximum(knn, 0)
            valid = (knn >= 0) & alive[ids] & (e_exp[ids] > tq[:, None])
            if mixed:
                valid &= e_ns[ids] == nq[:, None]
        elif n0 and len(need):
            S = Q @ E[:n0].T
            if mixed or live < n0 or e_exp[:n0].min() <= tq.max():   # else every entry is a candidate
                valid = alive[:n0][None, :] & (e_exp[:n0][None, :] > tq[:, None])
                if mixed:
                    valid &= e_ns[:n0][None, :] == nq[:, None]
            else:
                valid = None
        pre_arg = np.zeros(len(br), dtype=np.int64)
        pre_best = np.full(len(br), -np.inf, dtype=np.float32)
        srow = np.full(len(br), -1, dtype=np.int64)     # row of S of each block row (-1: none)
        if n0 and len(need):
            if valid is not None:
                S = np.where(valid, S, -np.inf)
            arg = S.argmax(axis=1)
            pre_best[need] = S[np.arange(len(need)), arg]
            pre_arg[need] = arg if knn is None else knn[np.arange(len(need)), arg]
            srow[need] = np.arange(len(need))
        dr = np.flatnonzero(direct >= 0)
        if len(dr):
            pre_arg[dr] = direct[dr]
            pre_best[dr] = np.einsum("ij,ij->i", Q_all[dr], E[direct[dr]])
        Q, tq, nq = Q_all, tq_all, nq_all
        W = Q @ Q.T
        in_block = np.full(len(br), -1, dtype=np.int64)   # entry id written by block row j
        evicted_in_block = False
        for j in range(len(br)):
            bj, bs = -1, -np.inf
            if n0:
                a = int(pre_arg[j])
                if evicted_in_block and not alive[a]:
                    r = srow[j]
                    ids = np.arange(n0) if knn is None or r < 0 else np.maximum(knn[r], 0)
                    ok = alive[ids] & (e_exp[ids] > tq[j]) & ((e_ns[ids] == nq[j]) if mixed else True)
                    if knn is not None and r >= 0:
                        ok &= knn[r] >= 0
                    row = np.where(ok, S[r] if r >= 0 else E[:n0] @ Q[j], -np.inf)
                    a = int(ids[int(row.argmax())])
                    bs = row.max()
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
            if codes is not None:
                entry_of[(int(nq[j]), int(codes[i]))] = n_e
            in_block[j] = n_e
            n_e += 1
            live += 1
