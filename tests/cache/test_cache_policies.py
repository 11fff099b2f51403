"""Cache policies inside the replay engine: same hits on every engine, namespaces, budgets, CLI keys."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.replay.conftest import rows
from workbench.core.cache import CacheConfig, replay_cache
from workbench.core.replay import replay
from workbench.core.replay.params import PolicyError

ENGINES = ["polars", "pandas", "duckdb"]


@pytest.fixture
def run(frozen_book):
    def go(log, stack=(), **kw):
        kw.setdefault("bootstrap", 0)
        return replay(log, list(stack), frozen_book, **kw)
    return go


def traffic(n: int, seed: int = 0, tenants: int = 5, prompts: int = 40, span_s: int = 86_400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-03-01T00:00:00Z")
    return pd.DataFrame({
        "request_id": [f"q{i:07d}" for i in range(n)],
        "ts": t0 + pd.to_timedelta(np.sort(rng.integers(0, span_s, n)), unit="s"),
        "tenant": pd.array(np.array([f"t{i}" for i in range(tenants)])[rng.integers(0, tenants, n)], dtype="string"),
        "feature": "chat", "model": np.array(["gpt-4o", "gpt-4o-mini"])[rng.integers(0, 2, n)],
        "prompt": pd.array(np.array([f"Question {i} about ORDER {i * 7}" for i in range(prompts)])[
            rng.zipf(1.5, n) % prompts], dtype="string"),
        "input_tokens": rng.integers(10, 2000, n), "cached_input_tokens": 0, "cache_write_tokens": 0,
        "output_tokens": rng.integers(1, 500, n), "status": "ok", "attempt": 1,
    })


@pytest.mark.parametrize("engine", ENGINES)
def test_exact_cache_chain_and_no_cross_tenant_hits(run, engine):
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    log = rows(*({"ts": t0 + pd.Timedelta(seconds=s), "prompt": "same"} for s in (0, 9, 12, 21)),
               {"ts": t0 + pd.Timedelta(seconds=10), "prompt": "same", "tenant": "other"})
    r = run(log, [{"policy": "exact_cache", "ttl_s": 10}], engine=engine)
    fates = dict(zip(r.frame["request_id"], r.frame["fate"]))
    assert fates == {"r01": "called", "r02": "cache_hit", "r03": "called", "r04": "cache_hit", "r05": "called"}
    d = r.to_dict()
    assert d["cache_hits"] == 2 and d["prefix_cached_tokens"] == 0
    assert d["steps"][0]["detail"]["cross_tenant_hits"] == 0


def test_engine_agrees_with_the_standalone_replay(run, frozen_book):
    log = traffic(3000, seed=1)
    for policy, kind in (("exact_cache", "exact"), ("normalized_cache", "normalized")):
        r = run(log, [{"policy": policy, "ttl_s": 600, "capacity": 5}])
        alone = replay_cache(log, CacheConfig(kind=kind, ttl_s=600, capacity=5), frozen_book)
        engine_hits = set(r.frame.loc[r.frame["fate"] == "cache_hit", "request_id"])
        assert engine_hits == set(alone.frame.loc[alone.frame["hit"], "request_id"]) and engine_hits
    # sharing across tenants is explicit, and flagged
    with pytest.raises(PolicyError, match="share_tenants"):
        run(log, [{"policy": "exact_cache", "ttl_s": 600, "namespaces": ["model"]}])
    shared = run(log, [{"policy": "exact_cache", "ttl_s": 600, "namespaces": ["model"], "share_tenants": True}])
    rep = shared.to_dict()["steps"][0]["detail"]
    assert rep["cross_tenant_hits"] > 0 and rep["shared_across_tenants"] is True


@pytest.mark.parametrize("scope", ["namespace", "log"])
def test_shared_capacity_same_hits_on_every_engine_above_one_duckdb_batch(run, scope):
    # 125k rows: more than one DuckDB batch (~122,880 rows); one LRU capacity per namespace, or one
    # for the whole log (a kernel without a partition key: the engine must not split it by batch)
    log = traffic(125_000, seed=2, tenants=3, prompts=400, span_s=7 * 86_400)
    stack = [{"policy": "normalized_cache", "ttl_s": 3600, "capacity": 50, "capacity_scope": scope}]
    hits = {e: run(log, stack, engine=e).to_dict()["cache_hits"] for e in ("polars", "duckdb")}
    alone = replay_cache(log, CacheConfig(kind="normalized", ttl_s=3600, capacity=50, capacity_scope=scope), _book())
    assert hits["polars"] == hits["duckdb"] == alone.summary["cache_hits"] > 0


def _book():
    from tests.conftest import FROZEN_PRICES
    from workbench.io.pricesheets import load_prices
    return load_prices(FROZEN_PRICES)


def test_a_request_blocked_before_the_cache_writes_no_entry(run):
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    # day 1: one large request ($0.02775) passes a $0.02 daily cap and is blocked; day 2: the same
    # prompt twice ($0.00775 each). The blocked request wrote nothing, so day 2's first is a miss.
    log = rows({"prompt": "a", "ts": t0, "input_tokens": 10_000},
               {"prompt": "a", "ts": t0 + pd.Timedelta(days=1)},
               {"prompt": "a", "ts": t0 + pd.Timedelta(days=1, seconds=5)})
    r = run(log, [{"policy": "daily_budget", "usd": 0.02, "action": "block"},
                  {"policy": "exact_cache", "ttl_s": 3 * 86_400}])
    assert r.frame["fate"].tolist() == ["blocked", "called", "cache_hit"]


def test_multi_turn_last_message_mode_in_the_engine(run):
    a = json.dumps([{"role": "user", "content": "cancel my lamp order?"}, {"role": "user", "content": "yes, cancel it"}])
    b = json.dumps([{"role": "user", "content": "delete my account?"}, {"role": "user", "content": "yes, cancel it"}])
    log = rows({"prompt": a}, {"prompt": b})
    full = run(log, [{"policy": "exact_cache", "ttl_s": 3600}]).to_dict()["cache_hits"]
    last = run(log, [{"policy": "exact_cache", "ttl_s": 3600, "context": "last_message"}]).to_dict()["cache_hits"]
    assert (full, last) == (0, 1)


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_prefix_cache_policy_reports_cached_tokens(run, engine):
    system = " ".join(f"rule{i}" for i in range(1500))
    prompts = [json.dumps([{"role": "system", "content": system}, {"role": "user", "content": q}])
               for q in ("one", "two", "three")]
    log = rows(*({"prompt": p, "input_tokens": 8000, "cached_input_tokens": 0} for p in prompts))
    base = run(log, [], engine=engine)
    r = run(log, [{"policy": "prefix_cache", "provider": "openai"}], engine=engine)
    d = r.to_dict()
    assert d["prefix_cached_tokens"] > 2 * 1024 and d["cache_hits"] == 0
    cached = r.frame["cached_input_tokens"].tolist()
    assert cached[0] == 0 and cached[1] == cached[2] and (cached[1] - 1024) % 128 == 0
    # gpt-4o: cached input $1.25 instead of $2.50 per 1M
    assert base.replayed_usd - r.replayed_usd == pytest.approx(2 * cached[1] * 1.25 / 1e6)
    with pytest.raises(PolicyError, match="ttl"):
        run(log, [{"policy": "prefix_cache", "provider": "openai", "ttl": "1h"}])


def test_semantic_cache_policy_real_embeddings(run):
    log = rows({"prompt": "How do I reset my password?"}, {"prompt": "How can I reset my password?"},
               {"prompt": "What is your refund policy for damaged items?"},
               {"prompt": "How can I reset my password?", "tenant": "other"})
    r = run(log, [{"policy": "semantic_cache", "threshold": 0.85, "ttl_s": 3600}])
    assert r.frame["fate"].tolist() == ["called", "cache_hit", "called", "called"]
    # three calls at $0.00775, plus every lookup's embedding: 4 × 2,000 tokens × $0.02 / 1M
    assert r.summary["replayed_pusd"] == 3 * 7_750_000_000 + 4 * 2000 * 20_000


def test_replay_cli_json_reports_cache_keys(run_cli, tmp_path):
    log = traffic(400, seed=3)
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    pol = tmp_path / "p.yaml"
    pol.write_text("policies:\n  - {policy: exact_cache, ttl_s: 3600}\n")
    r = run_cli("replay", str(path), "--policy", str(pol), "--json", "--bootstrap", "0",
                "--prices", "tests/fixtures/prices")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["cache_hits"] > 0 and out["prefix_cached_tokens"] == 0


def test_a_log_without_tags_has_one_prompt_version(run):
    log = rows({"prompt": "a"}, {"prompt": "a"}).drop(columns=["tags"])
    assert run(log, [{"policy": "exact_cache", "ttl_s": 3600}]).to_dict()["cache_hits"] == 1
    with pytest.raises(PolicyError, match="needs column .tags."):   # drop_retries needs them: still an error
        run(log, [{"policy": "exact_cache", "ttl_s": 3600}, {"policy": "drop_retries"}])


def test_a_miss_refused_by_a_later_budget_writes_no_entry(run):
    # cache first, budget after: r01 ($0.02775) is refused by the $0.02 daily cap, so it got no
    # answer and r02 (same prompt, next day, inside the TTL) cannot hit it; r03 hits r02
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    log = rows({"prompt": "a", "ts": t0, "input_tokens": 10_000},
               {"prompt": "a", "ts": t0 + pd.Timedelta(days=1)},
               {"prompt": "a", "ts": t0 + pd.Timedelta(days=1, seconds=9)})
    r = run(log, [{"policy": "exact_cache", "ttl_s": 3 * 86_400},
                  {"policy": "daily_budget", "usd": 0.02, "action": "block"}])
    assert r.frame["fate"].tolist() == ["blocked", "called", "cache_hit"]
    assert r.frame["step1_source"].fillna("-").tolist() == ["-", "-", "r02"]


def test_a_hit_has_the_quality_of_the_answer_it_reuses(run):
    log = rows({"prompt": "a", "quality": 0.2}, {"prompt": "a", "quality": 0.9}, {"prompt": "b", "quality": 1.0})
    d = run(log, [{"policy": "exact_cache", "ttl_s": 3600}]).to_dict()
    assert d["baseline_quality"] == pytest.approx(0.7) and d["replayed_quality"] == pytest.approx((0.2 + 0.2 + 1.0) / 3)


def test_prefix_cache_never_takes_away_logged_cache_reads(run):
    # short prompts (nothing cacheable in the what-if) on a log that already read 1,000 cached tokens:
    # the logged reads stay, so the what-if cannot make the replay dearer than the log
    log = rows({"prompt": "hi"}, {"prompt": "hi"})
    for provider in ("openai", "anthropic"):
        r = run(log, [{"policy": "prefix_cache", "provider": provider}])
        assert r.frame["cached_input_tokens"].tolist() == [1000, 1000]
        assert r.summary["replayed_pusd"] == r.summary["baseline_pusd"]


PARAPHRASES = ("How do I reset my password?", "How can I reset my password?", "What is your refund policy?",
               "what is your refund policy", "Where is my parcel?", "How do I reset my password?")


def _semantic_log():
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    return rows(*({"prompt": p, "tenant": t, "ts": t0 + pd.Timedelta(seconds=i)}
                  for i, (p, t) in enumerate((p, t) for t in ("acme", "globex", None) for p in PARAPHRASES)))


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
def test_semantic_cache_embeds_once_per_replay_and_attached_embeddings_give_the_same_hits(run, engine, monkeypatch):
    from workbench.core.cache import attach_embeddings
    from workbench.core.cache import embed as E
    from workbench.embeddings import embed_texts
    calls = []

    def counted(texts):
        calls.append(list(texts))
        return embed_texts(texts)
    monkeypatch.setattr(E, "default_embed", lambda: counted)
    log = _semantic_log()
    stack = [{"policy": "semantic_cache", "threshold": 0.85, "ttl_s": 3600}]
    computed = run(log, stack, engine=engine)
    # one embedding call for the whole replay (three tenant partitions), each distinct text once
    assert len(calls) == 1 and sorted(calls[0]) == sorted(set(PARAPHRASES))
    attached = run(log, [{**stack[0], "embeddings": "embedding"}], engine=engine,
                   attach=attach_embeddings(log, embed=embed_texts))
    assert len(calls) == 1   # the attached path embeds nothing in the replay
    for r in (computed, attached):
        assert r.frame["fate"].tolist().count("cache_hit") == 9
    pd.testing.assert_frame_equal(computed.frame[["request_id", "fate", "step1_source"]],
                                  attached.frame[["request_id", "fate", "step1_source"]])
    computed.close(), attached.close()


def test_semantic_cache_attached_embeddings_must_cover_the_requests_it_reads(run):
    from workbench.core.replay import AttachedArray
    log = _semantic_log()
    partial = AttachedArray(["r01", "r02"], np.eye(2, 384, dtype=np.float32))
    with pytest.raises(PolicyError, match="no row for request 'r\\d+', which the cache reads"):
        run(log, [{"policy": "semantic_cache", "threshold": 0.85, "ttl_s": 3600, "embeddings": "embedding"}],
            attach={"embedding": partial})
    with pytest.raises(PolicyError, match="attached array 'vectors'"):
        run(log, [{"policy": "semantic_cache", "threshold": 0.85, "ttl_s": 3600, "embeddings": "vectors"}])


def test_semantic_cache_hnsw_index_matches_the_exact_index_on_a_small_log(run):
    from workbench.core.cache import attach_embeddings
    log = _semantic_log()
    att = attach_embeddings(log)
    frames = [run(log, [{"policy": "semantic_cache", "threshold": 0.85, "ttl_s": 3600, "embeddings": "embedding",
                         "index": index}], attach=att).frame for index in ("exact", "hnsw")]
    assert frames[0]["fate"].tolist() == frames[1]["fate"].tolist()
    assert frames[0]["step1_source"].tolist() == frames[1]["step1_source"].tolist()
