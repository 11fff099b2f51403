"""Response-cache replay: TTL chain, LRU capacity, namespaces, exclusions, multi-turn context, money."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.core.cache import CacheConfig, exact_scan, normalize, replay_cache, semantic_scan
from workbench.core.cache.keys import DEFAULT_PATTERNS, cache_text

T0 = pd.Timestamp("2025-03-01T10:00:00Z")


def log_of(*specs, model="gpt-4o"):
    rows = []
    for i, s in enumerate(specs):
        r = {"request_id": f"r{i:03d}", "ts": T0 + pd.Timedelta(seconds=s.get("t", i)), "tenant": "acme",
             "feature": "chat", "model": model, "input_tokens": 1000, "output_tokens": 200, "status": "ok"}
        r.update({k: v for k, v in s.items() if k != "t"})
        rows.append(r)
    return pd.DataFrame(rows)


def test_ttl_chain_not_buckets(frozen_book):
    # ttl 10 s, requests at 0, 9, 12, 21: 12 is a miss (its entry expired at 10), 21 hits 12's entry
    log = log_of(*({"t": s, "prompt": "same"} for s in (0, 9, 12, 21)))
    r = replay_cache(log, CacheConfig(ttl_s=10), frozen_book)
    assert r.frame["hit"].tolist() == [False, True, False, True]
    assert r.frame["source_request_id"].fillna("-").tolist() == ["-", "r000", "-", "r002"]
    # gpt-4o on 2025-03-01: 1000 × $2.50 + 200 × $10 per 1M = $0.0045 per call, two avoided
    assert r.summary["saved_usd"] == pytest.approx(2 * 0.0045)
    assert r.summary["cache_writes"] == 2


def test_zero_cross_tenant_hits_by_default(frozen_book):
    specs = [{"t": i, "tenant": t, "prompt": p} for i, (t, p) in
             enumerate((t, p) for p in ("reset password", "refund policy") for t in ("a", "b", "c", "a", "b"))]
    log = log_of(*specs)
    r = replay_cache(log, CacheConfig(ttl_s=3600), frozen_book)
    f = r.frame
    assert f["hit"].sum() == 4 and r.summary["cross_tenant_hits"] == 0
    src = f.set_index("request_id")["tenant"]
    assert (f.loc[f["hit"], "tenant"].to_numpy() == src[f.loc[f["hit"], "source_request_id"]].to_numpy()).all()
    # sharing must be asked for, and is then flagged
    with pytest.raises(ValueError, match="share_tenants"):
        CacheConfig(namespaces=("model",))
    shared = replay_cache(log, CacheConfig(ttl_s=3600, namespaces=("model",), share_tenants=True), frozen_book)
    assert shared.summary["cache_hits"] == 8 and shared.summary["cross_tenant_hits"] == 6
    assert shared.summary["shared_across_tenants"] is True
    assert shared.by_tenant().set_index("tenant")["cross_tenant_hits"].to_dict() == {"a": 0, "b": 4, "c": 2}


def test_prompt_version_and_model_are_namespaces(frozen_book):
    log = log_of({"prompt": "hi", "tags": json.dumps({"prompt_version": "v1"})},
                 {"prompt": "hi", "tags": json.dumps({"prompt_version": "v2"})},
                 {"prompt": "hi", "tags": json.dumps({"prompt_version": "v2"})},
                 {"prompt": "hi", "tags": json.dumps({"prompt_version": "v2"}), "model": "gpt-4o-mini"})
    r = replay_cache(log, CacheConfig(), frozen_book)
    assert r.frame["hit"].tolist() == [False, False, True, False]


def test_normalised_key_patterns():
    texts = ["Order 123456 placed on 2025-03-01T10:00:00Z", "  order 998877   placed on 2024-12-31 09:15  ",
             "Mail bob@example.com re ticket 7f3e9a2b-1111-2222-3333-444455556666", None]
    out = normalize(texts)
    assert out[0] == out[1] == "order <id> placed on <ts>"
    assert out[2] == "mail <email> re ticket <id>" and out[3] is None
    # patterns are data: without the id pattern the ids stay
    no_ids = normalize(texts[:2], [p for p in DEFAULT_PATTERNS if p[0] != "long_id"])
    assert no_ids[0] != no_ids[1]
    with pytest.raises(ValueError, match="'broken'"):
        normalize(["x"], [("broken", "(", "")])


def test_normalised_cache_hits_what_exact_misses(frozen_book):
    log = log_of({"prompt": "Where is order 123456?"}, {"prompt": "where is  order 654321?"})
    assert replay_cache(log, CacheConfig(kind="exact"), frozen_book).summary["cache_hits"] == 0
    assert replay_cache(log, CacheConfig(kind="normalized"), frozen_book).summary["cache_hits"] == 1


def test_lru_capacity_per_namespace_and_per_log(frozen_book):
    log = log_of(*({"prompt": p} for p in "aba"))
    assert replay_cache(log, CacheConfig(capacity=1), frozen_book).frame["hit"].tolist() == [False] * 3
    assert replay_cache(log, CacheConfig(capacity=2), frozen_book).frame["hit"].tolist() == [False, False, True]
    # a hit refreshes recency: a b a c a with capacity 2 → c evicts b, not a
    log = log_of(*({"prompt": p} for p in "abaca"))
    assert replay_cache(log, CacheConfig(capacity=2), frozen_book).frame["hit"].tolist() == [0, 0, 1, 0, 1]
    # one capacity for the whole log couples tenants (each still reads only its own namespace)
    log = log_of({"prompt": "a", "tenant": "x"}, {"prompt": "a", "tenant": "y"}, {"prompt": "a", "tenant": "x"})
    per_ns = replay_cache(log, CacheConfig(capacity=1), frozen_book).frame["hit"].tolist()
    per_log = replay_cache(log, CacheConfig(capacity=1, capacity_scope="log"), frozen_book).frame["hit"].tolist()
    assert per_ns == [False, False, True] and per_log == [False, False, False]


def test_exclusions_by_feature_and_pattern(frozen_book):
    log = log_of({"prompt": "weather today", "feature": "live"}, {"prompt": "weather today", "feature": "live"},
                 {"prompt": "my balance is", "feature": "chat"}, {"prompt": "my balance is", "feature": "chat"},
                 {"prompt": "faq", "feature": "chat"}, {"prompt": "faq", "feature": "chat"})
    r = replay_cache(log, CacheConfig(exclude_features=("live",), exclude_patterns=(r"\bbalance\b",)), frozen_book)
    assert r.frame["hit"].tolist() == [False] * 5 + [True]
    assert r.summary["eligible"] == 2
    with pytest.raises(ValueError, match="regex"):
        CacheConfig(exclude_patterns=("(",))


def test_errors_are_never_cached(frozen_book):
    log = log_of({"prompt": "x", "status": "error"}, {"prompt": "x"}, {"prompt": "x"})
    assert replay_cache(log, CacheConfig(), frozen_book).frame["hit"].tolist() == [False, False, True]


def chat(*turns):
    return json.dumps([{"role": r, "content": c} for r, c in turns])


def test_multi_turn_context_by_default_last_message_shows_false_hits(frozen_book):
    a = chat(("user", "I ordered a blue lamp, can I cancel?"), ("assistant", "Cancel the lamp order?"),
             ("user", "yes, cancel it"))
    b = chat(("user", "Please delete my account."), ("assistant", "Delete the account permanently?"),
             ("user", "yes, cancel it"))
    log = log_of({"prompt": a, "topic": "order"}, {"prompt": b, "topic": "account"})
    full = replay_cache(log, CacheConfig(), frozen_book, label="topic")
    last = replay_cache(log, CacheConfig(context="last_message"), frozen_book, label="topic")
    assert full.summary["cache_hits"] == 0
    assert last.summary["cache_hits"] == 1 and last.summary["false_hits"] == 1
    pairs = last.hit_pairs(only_false=True)
    assert pairs.loc[0, "prompt"] == pairs.loc[0, "cached_prompt"] == "yes, cancel it"
    assert cache_text([a])[0].startswith("user: I ordered a blue lamp")


def test_latency_saved_estimate(frozen_book):
    log = log_of({"prompt": "x", "latency_ms": 900.0}, {"prompt": "x", "latency_ms": 1100.0},
                 {"prompt": "x", "latency_ms": None})
    r = replay_cache(log, CacheConfig(lookup_ms=2.0), frozen_book)
    # hits save their logged latency (or the model's median, 1000 ms) minus the lookup; the miss pays one lookup
    assert r.summary["latency_saved_ms"] == pytest.approx((1100 - 2) + (1000 - 2) - 2)


# -- scans against plain reference loops --------------------------------------------------------------

def ref_semantic(ns, emb, t, thr, ttl, cap, scope):
    entries = []  # dicts
    hit = np.zeros(len(ns), bool)
    src = np.full(len(ns), -1)
    clock = 0
    for i in range(len(ns)):
        clock += 1
        live = [e for e in entries if e["ns"] == ns[i] and e["exp"] > t[i]]
        best = max(live, key=lambda e: (float(emb[i] @ e["v"]), -e["row"]), default=None)
        if best is not None and float(emb[i] @ best["v"]) >= thr:
            hit[i], src[i] = True, best["row"]
            best["used"] = clock
            continue
        group = [e for e in entries if scope == "log" or e["ns"] == ns[i]]
        if cap is not None and len(group) >= cap:
            victim = min(group, key=lambda e: e["used"])
            entries = [e for e in entries if e is not victim]
        entries.append({"ns": ns[i], "v": emb[i], "exp": t[i] + ttl, "row": i, "used": clock})
    return hit, src


@pytest.mark.parametrize("cap,scope,ttl,spaces", [(None, "namespace", 60, 3), (3, "namespace", 60, 3),
                                                   (4, "log", 60, 3), (None, "namespace", 10**9, 1)])
@pytest.mark.parametrize("index", ["exact", "hnsw"])
def test_semantic_scan_matches_reference_across_blocks(cap, scope, ttl, spaces, index):
    # the last case (one namespace, nothing expires or is evicted) takes the unmasked fast path;
    # on this small stream the HNSW graph finds the exact nearest entry too
    rng = np.random.default_rng(1)
    n = 160
    centers = rng.normal(size=(6, 16))
    emb = centers[rng.integers(0, 6, n)] + 0.35 * rng.normal(size=(n, 16))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    ns = rng.integers(0, spaces, n)
    t = np.sort(rng.integers(0, 400, n)).astype(np.int64)
    hit, src, _ = semantic_scan(ns, emb, t, 0.8, ttl, None, cap, scope, block=7, index=index)
    rhit, rsrc = ref_semantic(ns, emb, t, 0.8, ttl, cap, scope)
    assert hit.sum() > 20
    np.testing.assert_array_equal(hit, rhit)
    np.testing.assert_array_equal(src, rsrc)


def ref_exact(ns, key, t, ttl, cap, scope):
    from collections import OrderedDict
    stores: dict = {}
    hit = np.zeros(len(key), bool)
    for i in range(len(key)):
        od = stores.setdefault(ns[i] if scope == "namespace" else 0, OrderedDict())
        k = (ns[i], key[i])
        if k in od and t[i] < od[k]:
            hit[i] = True
            od.move_to_end(k)
            continue
        od.pop(k, None)
        if cap is not None and len(od) >= cap:
            od.popitem(last=False)
        od[k] = t[i] + ttl
    return hit


@pytest.mark.parametrize("cap,scope", [(None, "namespace"), (2, "namespace"), (5, "log")])
def test_exact_scan_matches_reference(cap, scope):
    rng = np.random.default_rng(2)
    n = 3000
    ns, key = rng.integers(0, 4, n), rng.integers(0, 12, n)
    t = np.sort(rng.integers(0, 20_000, n)).astype(np.int64)
    hit, _ = exact_scan(ns, key, t, 300, None, cap, scope)
    np.testing.assert_array_equal(hit, ref_exact(ns, key, t, 300, cap, scope))
    assert 0 < hit.sum() < n


def ref_chain(ns, key, t, ttl, eligible, writable):
    """The unbounded exact cache as a plain dict loop (per-row TTL, refused misses write nothing)."""
    hit, src = np.zeros(len(key), bool), np.full(len(key), -1)
    expires, writer = {}, {}
    for i in range(len(key)):
        if key[i] < 0 or ttl[i] <= 0 or not eligible[i]:
            continue
        k = (ns[i], key[i])
        if k in expires and t[i] < expires[k]:
            hit[i], src[i] = True, writer[k]
        elif writable[i]:
            expires[k], writer[k] = t[i] + ttl[i], i
    return hit, src


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_chain_matches_the_dict_loop(seed):
    # the unbounded exact scan follows TTL chains by pointer doubling: same hits and sources as the
    # loop, with ties in time, per-row TTLs (0 = not cached), ineligible rows and refused writers
    rng = np.random.default_rng(seed)
    n = 4000
    ns, key = rng.integers(0, 3, n), rng.integers(-1, 25, n)
    t = np.sort(rng.integers(0, 3000, n)).astype(np.int64)
    ttl = rng.choice([0, 5, 40, 300], n) if seed % 2 else np.full(n, 120)
    eligible, writable = rng.random(n) < 0.9, rng.random(n) < 0.85
    hit, src = exact_scan(ns, key, t, ttl, eligible, None, writable=writable)
    rhit, rsrc = ref_chain(ns, key, t, ttl, eligible, writable)
    np.testing.assert_array_equal(hit, rhit)
    np.testing.assert_array_equal(src, rsrc)
    assert 0 < hit.sum() < n


def test_fast_codes_equal_factorize_and_survive_a_hash_collision(monkeypatch):
    import polars as pl

    from workbench.core.cache.keys import fast_codes
    values = pd.Series(["b", None, "a", "b", "c", None, "a"], dtype="string")
    for na in (True, False):
        want = pd.factorize(values.astype("object"), use_na_sentinel=na)[0]
        codes, firsts = fast_codes(values, na_sentinel=na)
        np.testing.assert_array_equal(codes, want)
        np.testing.assert_array_equal(codes[firsts], np.arange(len(firsts)))
    # every string hashing alike must not merge them: the check against each code's first row
    # sends it to the exact factorise
    monkeypatch.setattr(pl.Series, "hash", lambda self, seed=0: pl.Series(np.zeros(len(self), np.uint64)))
    np.testing.assert_array_equal(fast_codes(values)[0], pd.factorize(values.astype("object"))[0])


def test_unordered_log_is_replayed_in_ts_then_request_id_order(frozen_book):
    # the same second for r010 and r002: r002 comes first (request id breaks the tie), whatever the row order
    log = log_of({"t": 5, "prompt": "p", "request_id": "r010"}, {"t": 5, "prompt": "p", "request_id": "r002"},
                 {"t": 1, "prompt": "q", "request_id": "r001"})
    r = replay_cache(log, CacheConfig(ttl_s=60), frozen_book)
    assert r.frame["request_id"].tolist() == ["r001", "r002", "r010"]
    assert r.frame["source_request_id"].fillna("-").tolist() == ["-", "-", "r002"]


@pytest.mark.parametrize("cap,scope,ttl", [(None, "namespace", 10**9), (None, "log", 40), (3, "namespace", 40),
                                           (5, "log", 10**9)])
def test_semantic_scan_verbatim_repeats_shortcut_changes_no_decision(cap, scope, ttl):
    # a request whose text is a live entry is served that entry without a search: same hits and
    # sources as the full search, with TTL, LRU eviction (also inside a block) and namespaces
    rng = np.random.default_rng(4)
    n = 600
    pool = rng.normal(size=(40, 16))
    pool = (pool / np.linalg.norm(pool, axis=1, keepdims=True)).astype(np.float32)
    codes = rng.integers(0, 40, n)
    ns, t = rng.integers(0, 3, n), np.sort(rng.integers(0, 800, n)).astype(np.int64)
    writable = rng.random(n) < 0.9
    full = semantic_scan(ns, pool[codes], t, 0.5, ttl, None, cap, scope, block=16, writable=writable)
    fast = semantic_scan(ns, pool[codes], t, 0.5, ttl, None, cap, scope, block=16, writable=writable, codes=codes)
    np.testing.assert_array_equal(full[0], fast[0])
    np.testing.assert_array_equal(full[1], fast[1])
    assert 0 < full[0].sum() < n
    # codes that lie (different vectors, one code) cannot change a decision either
    liar = semantic_scan(ns, pool[codes], t, 0.5, ttl, None, cap, scope, block=16, writable=writable,
                         codes=np.zeros(n, int))
    np.testing.assert_array_equal(full[1], liar[1])


@pytest.mark.parametrize("seed", range(4))
def test_unbounded_semantic_scan_equals_the_general_scan(seed):
    # without a capacity the scan remembers each text's last search and walks only possible
    # writers; a capacity nobody reaches takes the general (per-row) scan: same decisions
    rng = np.random.default_rng(seed)
    n = 700
    pool = rng.normal(size=(60, 12))
    pool = (pool / np.linalg.norm(pool, axis=1, keepdims=True)).astype(np.float32)
    codes = rng.integers(0, 60, n)
    ns, t = rng.integers(0, 2 + seed % 2, n), np.sort(rng.integers(0, 900, n)).astype(np.int64)
    ttl = rng.choice([20, 200, 10**9], n)
    eligible, writable = rng.random(n) < 0.95, rng.random(n) < 0.9
    scope = "log" if seed % 2 else "namespace"
    general = semantic_scan(ns, pool[codes], t, 0.35, ttl, eligible, 10**9, scope, block=32, writable=writable)
    for c in (None, codes):
        fast = semantic_scan(ns, pool[codes], t, 0.35, ttl, eligible, None, scope, block=32, writable=writable, codes=c)
        np.testing.assert_array_equal(general[0], fast[0])
        np.testing.assert_array_equal(general[1], fast[1])
        np.testing.assert_allclose(np.nan_to_num(general[2], nan=-9), np.nan_to_num(fast[2], nan=-9), atol=1e-5)
    assert 0 < general[0].sum() < n
