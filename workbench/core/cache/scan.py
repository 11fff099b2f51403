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
    from threadpoolctl import threadpool_limits
    with threadpool_limits(BLAS_THREADS, user_api="blas"):
        return _semantic_scan(ns, emb, t_us, threshold, ttl_us, eligible, capacity, capacity_scope, block, writable,
                              index, hnsw_m, hnsw_k, codes)


#: BLAS threads inside a semantic scan: its products are small and interleaved with Python, where a
#: second BLAS thread spins more than it helps (measured: 100k requests, 1 thread 0.9 s, the default
#: 2 threads 3-8 s on a busy 2-core machine)
BLAS_THREADS = 1


def _semantic_scan(ns, emb, t_us, threshold, ttl_us, eligible, capacity, capacity_scope, block, writable, index,
                   hnsw_m, hnsw_k, codes):
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
    w_all = np.ones(n, bool) if writable is None else np.asarray(writable, bool)
    for part in np.split(rows, cuts):
        if capacity is None and faiss is None and threshold <= 0.9999:
            _semantic_unbounded(part, ns, emb, t_us.astype(np.int64), ttl, float(threshold), block, hit, source,
                                best, w_all, np.arange(n) if codes is None else codes)
            continue
        ann = None
        if faiss is not None:
            ann = faiss.IndexHNSWFlat(emb.shape[1], hnsw_m, faiss.METRIC_INNER_PRODUCT)
            ann.hnsw.efSearch = max(64, hnsw_k)
        _semantic_group(part, ns, emb, t_us.astype(np.int64), ttl, float(threshold), capacity, block,
                        hit, source, best, np.ones(n, bool) if writable is None else np.asarray(writable, bool),
                        ann, hnsw_k, None if codes is None or threshold > 0.9999 else np.asarray(codes))
    return hit, source, best


def _semantic_unbounded(rows, ns, emb, t, ttl, thr, block, hit, source, best, writable, codes):
    """The exact scan without a capacity (nothing is ever evicted), vectorised per block.

    * **Remembered searches.** For each (namespace, text) the scan keeps the best entry found so far
      and how many entries that search covered; a repeat of the text compares itself only with the
      entries written since (while that best entry lives). The argmax over a set that only grew is
      the old best unless a new entry beats it strictly — as in a full search, where the earlier
      entry wins ties.
    * **Only possible writers are sequential.** A request whose best earlier entry clears the
      threshold is a hit whatever happens inside its block (an entry written earlier in the block
      can only replace its source, when strictly closer: checked in one matrix product); only the
      others are walked in order, to decide which of them write.
    Decisions equal the general scan's (same argmax and tie rules); a similarity computed in two
    different matrix products can differ in the last bit, which could only matter for an exact tie.
    """
    import pandas as pd
    m, d = len(rows), emb.shape[1]
    E = np.empty((m, d), dtype=np.float32)
    e_ns, e_exp, e_row = (np.empty(m, dtype=np.int64) for _ in range(3))
    n_e = 0
    nsr = ns[rows]
    mixed = len(np.unique(nsr)) > 1
    key = pd.factorize(nsr.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes[rows])[0]
    k_n = int(key.max(initial=-1)) + 1
    memo_e = np.full(k_n, -1, dtype=np.int64)       # best entry of the last search of this text
    memo_s = np.full(k_n, -np.inf, dtype=np.float32)
    memo_ne = np.zeros(k_n, dtype=np.int64)         # entries that search covered: ids < memo_ne
    for b0 in range(0, m, block):
        br, kb = rows[b0:b0 + block], key[b0:b0 + block]
        nb = len(br)
        Q = np.ascontiguousarray(emb[br], dtype=np.float32)
        tq, nq = t[br], ns[br]
        n0 = n_e
        pre_e = np.full(nb, -1, dtype=np.int64)
        pre_s = np.full(nb, -np.inf, dtype=np.float32)
        if n0:
            me = memo_e[kb]
            remembered = me >= 0
            remembered[remembered] = e_exp[me[remembered]] > tq[remembered]
            # a text not searched for a long time is searched afresh (one small product per block)
            remembered[remembered] = memo_ne[kb[remembered]] >= n0 - block
            mr = np.flatnonzero(remembered)
            if len(mr):
                pre_e[mr], pre_s[mr] = me[mr], memo_s[kb[mr]]
                lo = memo_ne[kb[mr]]
                lo0 = int(lo.min())
                if lo0 < n0:                           # entries written since those searches
                    S = Q[mr] @ E[lo0:n0].T
                    valid = (np.arange(lo0, n0)[None, :] >= lo[:, None]) & (e_exp[lo0:n0][None, :] > tq[mr, None])
                    if mixed:
                        valid &= e_ns[lo0:n0][None, :] == nq[mr, None]
                    S = np.where(valid, S, -np.inf)
                    a = S.argmax(axis=1)
                    sa = S[np.arange(len(mr)), a]
                    better = sa > pre_s[mr]
                    pre_e[mr[better]], pre_s[mr[better]] = lo0 + a[better], sa[better]
            fr = np.flatnonzero(~remembered)
            if len(fr):                                # first searches: every earlier entry
                S = Q[fr] @ E[:n0].T
                if mixed or e_exp[:n0].min() <= tq[fr].max():
                    valid = e_exp[:n0][None, :] > tq[fr, None]
                    if mixed:
                        valid &= e_ns[:n0][None, :] == nq[fr, None]
                    S = np.where(valid, S, -np.inf)
                a = S.argmax(axis=1)
                sa = S[np.arange(len(fr)), a]
                found = np.isfinite(sa)
                pre_e[fr[found]], pre_s[fr[found]] = a[found], sa[found]
        fin_e, fin_s = pre_e.copy(), pre_s.copy()
        own_e = np.full(nb, -1, dtype=np.int64)
        own_s = np.zeros(nb, dtype=np.float32)
        covered = np.full(nb, n0, dtype=np.int64)      # entries each row's search covered
        # rows that may write, in order: the in-block entries decide
        pot = np.flatnonzero(pre_s < thr)
        wpos = np.empty(len(pot), dtype=np.int64)     # positions in pot of the rows that wrote
        c = 0
        if len(pot):
            Wp = Q[pot] @ Q[pot].T
            for ip, j in enumerate(pot.tolist()):
                bs, bj = pre_s[j], pre_e[j]
                if c:
                    w = Wp[ip, wpos[:c]]
                    ok = e_exp[n0:n0 + c] > tq[j]
                    if mixed:
                        ok &= e_ns[n0:n0 + c] == nq[j]
                    k = int(np.where(ok, w, -np.inf).argmax())
                    if ok[k] and w[k] > bs:
                        bs, bj = w[k], n0 + k
                covered[j] = n0 + c
                fin_e[j], fin_s[j] = bj, bs
                i = br[j]
                if bs >= thr:
                    hit[i], source[i] = True, e_row[bj]
                elif writable[i]:
                    E[n_e] = Q[j]
                    e_ns[n_e], e_exp[n_e], e_row[n_e] = nq[j], tq[j] + ttl[i], i
                    own_e[j], own_s[j] = n_e, Wp[ip, ip]     # its own entry: its best from now on
                    wpos[c] = ip
                    c += 1
                    n_e += 1
        writers = wpos[:c]
        rest = np.flatnonzero(pre_s >= thr)           # hits; an earlier in-block entry may be closer
        if len(rest):
            if c:
                wj = pot[writers]
                wid = n0 + np.arange(c)
                w = Q[rest] @ Q[wj].T
                ok = (wj[None, :] < rest[:, None]) & (e_exp[wid][None, :] > tq[rest, None])
                if mixed:
                    ok &= e_ns[wid][None, :] == nq[rest, None]
                w = np.where(ok, w, -np.inf)
                k = w.argmax(axis=1)
                wk = w[np.arange(len(rest)), k]
                closer = wk > pre_s[rest]
                fin_e[rest[closer]], fin_s[rest[closer]] = wid[k[closer]], wk[closer]
                covered[rest] = n0 + np.searchsorted(wj, rest)
            hit[br[rest]] = True
            source[br[rest]] = e_row[fin_e[rest]]
        seen = np.isfinite(fin_s)
        best[br[seen]] = fin_s[seen]
        # remember each text's last search in this block (a row that wrote: its own entry)
        wrote = own_e >= 0
        fin_e, fin_s = np.where(wrote, own_e, fin_e), np.where(wrote, own_s, fin_s)
        covered = np.where(wrote, own_e + 1, covered)
        last = len(kb) - 1 - np.unique(kb[::-1], return_index=True)[1]
        memo_e[kb[last]] = fin_e[last]
        memo_s[kb[last]] = fin_s[last]
        memo_ne[kb[last]] = covered[last]


def _vector_codes(codes: np.ndarray, emb: np.ndarray) -> np.ndarray:
    """``codes`` kept only where a row's vector equals the first vector of its code (a caller's
    codes can never make two different vectors share a shortcut); other rows get codes of their own."""
    import pandas as pd
    c = pd.factorize(codes)[0]
    prev = np.maximum.accumulate(np.concatenate(([-1], c[:-1]))) if len(c) else c
    firsts = np.flatnonzero(c > prev)
    ref = firsts[c]
    same = np.empty(len(c), dtype=bool)
    for a in range(0, len(c), 4096):                 # bit for bit, in cache-sized chunks
        x = np.ascontiguousarray(emb[a:a + 4096])
        same[a:a + 4096] = (x.view(np.uint8) == np.ascontiguousarray(emb[ref[a:a + 4096]]).view(np.uint8)).all(axis=1)
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
