"""Benchmark the cache replay, side by side in one run.

Run: ``python benchmarks/bench_cache.py [--rows 1000000] [--semantic 100000] [--threshold 0.85]``
(GPTCache part: ``pip install -e .[bench-cache]`` — gptcache 0.1.44, faiss-cpu, sqlalchemy).

1. **Exact and normalised replay of ``--rows`` requests** (synthetic: 12 tenants, 3 models, 20,000
   prompt templates with order ids and dates, 7 days, TTL 1 h): ``replay_cache`` end to end
   (keys, namespaces, scan, pricing, per-request report) vs the strongest plain peer — one Python
   dict loop over the rows with the same TTL chain on pre-hashed keys. Target: ≤ 3 s each.
2. **Semantic replay of ``--semantic`` prompts** drawn (with replacement, reproducibly) from the
   Bitext customer-support instructions, scored against their intents (a hit of another intent is
   a false hit). One embedding function for everyone (offline all-MiniLM-L6-v2):
   * ours: embed the distinct prompts once (batched; the embeddings' disk cache is off for every
     side), then ``semantic_scan`` (exact BLAS index);
     target: everything except the embeddings ≤ 10 % of the total;
   * an approximate index (faiss HNSW, added and searched request by request) on the same
     vectors: its hits vs the exact index (recall) and time;
   * GPTCache 0.1.44 through its core API (``Cache().init`` + ``adapter.api.get/put``, FAISS index +
     SQLite store, ``eviction_params={"max_size": N}``) with the same embedding function called the
     way GPTCache calls it (once per ``get`` and once per ``put``) and the same threshold
     (GPTCache's score is ``4 − L2²`` = ``2 + 2·cos`` for unit vectors; its threshold ``t`` maps to
     cosine ``2t − 1``, so ``t = (T + 1) / 2``). Target: ours ≥ 10× faster end to end, hit and
     false-hit counts within 1 %.
Ratios are printed; absolute times depend on the machine (2 shared cores here).
"""
from __future__ import annotations

import argparse
import atexit
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.core.cache import CacheConfig, replay_cache  # noqa: E402
from workbench.core.cache.scan import semantic_scan  # noqa: E402

BITEXT = ROOT.parent / "shared" / "data" / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"


def synthetic_log(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    templates = 20_000
    t = rng.zipf(1.3, n) % templates
    order = rng.integers(100_000, 999_999, n)
    day = rng.integers(1, 28, n)
    prompt = pd.Series([f"Template {k}: where is ORDER {o} placed on 2025-03-{d:02d}?" for k, o, d in
                        zip(t, order, day)])
    # half of the requests repeat a template verbatim (what the exact cache can serve)
    verbatim = rng.random(n) < 0.5
    prompt[verbatim] = [f"Template {k}: where is my order?" for k in t[verbatim]]
    return pd.DataFrame({
        "request_id": np.char.add("r", np.arange(n).astype(str)),
        "ts": pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(np.sort(rng.integers(0, 7 * 86_400_000, n)),
                                                                     unit="ms"),
        "tenant": np.array([f"t{i}" for i in range(12)])[rng.integers(0, 12, n)],
        "model": np.array(["gpt-4o", "gpt-4o-mini", "claude-3-haiku"])[rng.integers(0, 3, n)],
        "prompt": prompt.to_numpy(dtype=object), "input_tokens": rng.integers(50, 2000, n),
        "output_tokens": rng.integers(10, 500, n), "cost_usd": rng.random(n) / 100, "status": "ok"})


def plain_loop(log: pd.DataFrame, ttl_s: float) -> int:
    """The peer: a dict keyed by (tenant, model, prompt), TTL chain, in time order."""
    expires: dict = {}
    hits = 0
    ttl = int(ttl_s * 1e6)
    t_us = log["ts"].astype("datetime64[us, UTC]").astype("int64").tolist()
    for k, t in zip(zip(log["tenant"].tolist(), log["model"].tolist(), log["prompt"].tolist()), t_us):
        e = expires.get(k)
        if e is not None and t < e:
            hits += 1
        else:
            expires[k] = t + ttl
    return hits


def bench_exact(rows: int) -> None:
    log = synthetic_log(rows)
    print(f"\n== exact / normalised replay, {rows:,} requests ==")
    t = time.perf_counter()
    peer_hits = plain_loop(log, 3600)
    peer = time.perf_counter() - t
    for kind in ("exact", "normalized"):
        t = time.perf_counter()
        r = replay_cache(log, CacheConfig(kind=kind, ttl_s=3600, namespaces=("tenant", "model")))
        took = time.perf_counter() - t
        print(f"{kind:<11} replay_cache {took:6.2f} s   hits {r.summary['cache_hits']:,}   "
              f"vs plain dict loop ({peer:.2f} s, {peer_hits:,} hits): {took / peer:.2f}× its time   "
              f"target ≤ 3 s: {'met' if took <= 3 else 'NOT met'}")
        if kind == "exact" and r.summary["cache_hits"] != peer_hits:
            print(f"  !! exact hits differ from the plain loop: {r.summary['cache_hits']} vs {peer_hits}")


def semantic_prompts(n: int, seed: int = 0) -> pd.DataFrame:
    df = pd.read_csv(BITEXT, usecols=["instruction", "intent"]).dropna()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(df), n)
    return df.iloc[pick].reset_index(drop=True)


def bench_semantic(n: int, threshold: float, gptcache: bool) -> None:
    from functools import partial

    from workbench.embeddings import embed_texts
    embed = partial(embed_texts, use_cache=False)   # cold for everyone: no disk cache flatters either side
    data = semantic_prompts(n)
    texts, labels = data["instruction"].tolist(), data["intent"].to_numpy(dtype=object)
    print(f"\n== semantic replay, {n:,} prompts ({data['instruction'].nunique():,} distinct), "
          f"threshold {threshold} ==")
    t0 = time.perf_counter()
    codes, uniq = pd.factorize(pd.Series(texts))
    vec = np.asarray(embed(list(uniq)), dtype=np.float32)
    t_embed = time.perf_counter() - t0
    emb = vec[codes]
    t1 = time.perf_counter()
    hit, src, _ = semantic_scan(np.zeros(n, np.int64), emb, np.arange(n, dtype=np.int64), threshold, 2**62)
    t_scan = time.perf_counter() - t1
    ours = t_embed + t_scan

    def score(h, s):
        s_ = np.where(h, s, 0)
        false = h & (labels != labels[s_])
        return int(h.sum()), int(false.sum())
    ours_hits, ours_false = score(hit, src)
    print(f"ours (exact index): embed {t_embed:.2f} s + replay {t_scan:.2f} s = {ours:.2f} s; "
          f"non-embedding share {100 * t_scan / ours:.1f} % (target ≤ 10 %); hits {ours_hits:,}, "
          f"false hits {ours_false:,}")
    try:
        import faiss
    except ImportError:
        print("faiss not installed: approximate index and GPTCache parts skipped (pip install -e .[bench-cache])")
        return
    t2 = time.perf_counter()
    index = faiss.IndexHNSWFlat(emb.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    a_hit = np.zeros(n, bool)
    a_src = np.full(n, -1)
    rows: list[int] = []
    for i in range(n):
        if rows:
            D, I = index.search(emb[i:i + 1], 1)
            if I[0, 0] >= 0 and D[0, 0] >= threshold:
                a_hit[i], a_src[i] = True, rows[I[0, 0]]
                continue
        index.add(emb[i:i + 1])
        rows.append(i)
    t_approx = time.perf_counter() - t2
    both = int((a_hit & hit).sum())
    print(f"approximate index (faiss HNSW): replay {t_approx:.2f} s ({t_approx / t_scan:.1f}× the exact index's "
          f"time); hits {int(a_hit.sum()):,}; recall of the exact hits {both / max(ours_hits, 1):.4f}")
    if not gptcache:
        return
    try:
        from gptcache import Cache, Config
        from gptcache.adapter.api import get, put
        from gptcache.manager import manager_factory
        from gptcache.processor.pre import get_prompt
        from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation
    except ImportError as e:
        print(f"GPTCache not importable ({e}): pip install -e .[bench-cache]")
        return
    tmp = tempfile.mkdtemp(prefix="bench-gptcache-")
    # GPTCache flushes its index at exit (atexit); remove its folder after that (atexit is LIFO)
    atexit.register(shutil.rmtree, tmp, True)
    if True:
        cache = Cache()
        dm = manager_factory("sqlite,faiss", data_dir=tmp, vector_params={"dimension": emb.shape[1]},
                             eviction_params={"max_size": n + 10})
        cache.init(pre_embedding_func=get_prompt, embedding_func=lambda x, **_: embed([x])[0],
                   data_manager=dm, similarity_evaluation=SearchDistanceEvaluation(),
                   config=Config(similarity_threshold=(threshold + 1) / 2))
        g_hit = np.zeros(n, bool)
        g_src = np.full(n, -1)
        t3 = time.perf_counter()
        for i, p in enumerate(texts):
            ans = get(p, cache_obj=cache)
            if ans is not None:
                g_hit[i], g_src[i] = True, int(ans)
            else:
                put(p, str(i), cache_obj=cache)
        t_gpt = time.perf_counter() - t3
    g_hits, g_false = score(g_hit, g_src)
    dh = abs(g_hits - ours_hits) / max(g_hits, 1)
    df = abs(g_false - ours_false) / max(g_false, 1)
    print(f"GPTCache 0.1.44 (FAISS + SQLite, same embedding function): {t_gpt:.2f} s end to end; hits {g_hits:,}, "
          f"false hits {g_false:,}")
    print(f"ratio: ours is {t_gpt / ours:.1f}× faster end to end (target ≥ 10×); hit counts differ by "
          f"{100 * dh:.2f} %, false hits by {100 * df:.2f} % (target ≤ 1 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--semantic", type=int, default=100_000)
    ap.add_argument("--threshold", type=float, default=0.85)
    ap.add_argument("--no-gptcache", action="store_true")
    args = ap.parse_args()
    if args.rows:
        bench_exact(args.rows)
    if args.semantic:
        bench_semantic(args.semantic, args.threshold, not args.no_gptcache)


if __name__ == "__main__":
    main()
