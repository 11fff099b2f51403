"""Response-cache replay of a traffic log: exact, normalised and semantic caches in time order.

``replay_cache(log, CacheConfig(...), book)`` answers "which of these calls would a response cache
have served, what would that have saved, and which of those answers were probably wrong?".
Requests are processed in (``ts``, ``request_id``) order with the TTL / LRU / namespace rules of
:mod:`workbench.core.cache.scan`.

* **Namespaces** are on by default: tenant + prompt version + model. Sharing one cache across
  tenants needs ``share_tenants=True``; every cross-tenant hit is then flagged.
* **Key.** Exact: model + cache text (conversation context by default). Normalised: the same after
  :func:`~workbench.core.cache.keys.normalize`. Semantic: the embedding of the cache text.
* **Exclusions**: features and prompt regexes that are never cached (TTL 0).
* **Money.** An avoided call saves its logged price (re-priced from the price book); a semantic
  cache embeds every eligible request (priced at the embedding rate of ``pricing/caching-rules.yaml``
  on its input tokens, tagged an estimate); each write costs ``write_usd_per_1k`` / 1,000.
* **Latency saved**: the logged latency of each hit (or its model's median latency when a row has
  none) minus the lookup time (``lookup_ms``; a semantic lookup adds ``embed_ms``, paid by every
  eligible request).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from workbench.core.cache import keys as K
from workbench.core.cache.scan import exact_scan, semantic_scan

KINDS = ("exact", "normalized", "semantic")
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CacheConfig:
    kind: str = "exact"
    ttl_s: float = 3600.0
    threshold: float = 0.9
    capacity: int | None = None
    capacity_scope: str = "namespace"
    namespaces: tuple[str, ...] = K.NAMESPACE_COLUMNS
    share_tenants: bool = False
    context: str = "conversation"
    patterns: tuple[tuple[str, str, str], ...] | None = None
    exclude_features: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    write_usd_per_1k: float = 0.0
    embedding_usd_per_mtok: float | None = None
    lookup_ms: float = 2.0
    embed_ms: float = 3.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"cache kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.ttl_s >= 0:
            raise ValueError(f"ttl_s must be ≥ 0, got {self.ttl_s}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.capacity is not None and self.capacity < 0:
            raise ValueError(f"capacity must be ≥ 0, got {self.capacity}")
        if "tenant" not in self.namespaces and not self.share_tenants:
            raise ValueError("namespaces without 'tenant' share answers across tenants: "
                             "set share_tenants=True to allow it (cross-tenant hits are then flagged)")
        if self.context not in K.CONTEXTS:
            raise ValueError(f"context must be one of {', '.join(K.CONTEXTS)}, got {self.context!r}")
        for rx in self.exclude_patterns:
            try:
                re.compile(rx)
            except re.error as e:
                raise ValueError(f"exclude pattern {rx!r} is not a valid regex: {e}") from None

    def replace(self, **changes) -> "CacheConfig":
        return dataclasses.replace(self, **changes)


@dataclass
class CacheReplay:
    """Per-request outcome (``frame``) and the summary figures (``summary``)."""

    config: CacheConfig
    frame: pd.DataFrame
    summary: dict = field(default_factory=dict)

    def by_tenant(self) -> pd.DataFrame:
        f = self.frame.assign(tenant=self.frame["tenant"].astype("object").fillna("(none)"))
        g = f.groupby("tenant", sort=True)
        out = pd.DataFrame({"requests": g.size(), "hits": g["hit"].sum(),
                            "saved_usd": g["saved_usd"].sum(), "cross_tenant_hits": g["cross_tenant"].sum()})
        if "false_hit" in f:
            out["false_hits"] = g["false_hit"].sum()
        out["hit_rate"] = out["hits"] / out["requests"]
        return out.reset_index()

    def over_time(self, freq: str = "1h") -> pd.DataFrame:
        g = self.frame.set_index("ts").resample(freq)
        out = pd.DataFrame({"requests": g["hit"].size(), "hits": g["hit"].sum(), "saved_usd": g["saved_usd"].sum()})
        out["hit_rate"] = (out["hits"] / out["requests"].where(out["requests"] > 0)).fillna(0.0)
        return out.reset_index()

    def hit_pairs(self, only_false: bool = False, limit: int | None = None) -> pd.DataFrame:
        """Each hit beside the request whose answer it reuses (for a person to judge)."""
        f = self.frame
        h = f[f["hit"] & (f["false_hit"] if only_false and "false_hit" in f else True)]
        src = f.set_index("request_id").loc[h["source_request_id"]]
        out = pd.DataFrame({"request_id": h["request_id"].to_numpy(), "prompt": h["cache_text"].to_numpy(),
                            "cached_request_id": h["source_request_id"].to_numpy(),
                            "cached_prompt": src["cache_text"].to_numpy(),
                            "similarity": h["similarity"].to_numpy(), "tenant": h["tenant"].to_numpy(),
                            "cached_tenant": src["tenant"].to_numpy()})
        if "false_hit" in f:
            out["false_hit"] = h["false_hit"].to_numpy()
        return out.head(limit) if limit else out


def _ordered(log: pd.DataFrame) -> pd.DataFrame:
    missing = {"request_id", "ts", "model"} - set(log.columns)
    if missing:
        raise ValueError(f"cache replay needs column(s) {sorted(missing)}")
    return log.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)


def eligible_mask(log: pd.DataFrame, config: CacheConfig, texts: Sequence[str | None]) -> np.ndarray:
    ok = np.array([t is not None for t in texts], dtype=bool)
    if "status" in log:
        ok &= (log["status"].astype("object").fillna("ok") == "ok").to_numpy()   # errors are never cached
    if config.exclude_features and "feature" in log:
        ok &= ~log["feature"].astype("object").isin(list(config.exclude_features)).to_numpy()
    if config.exclude_patterns:
        codes, uniq = pd.factorize(pd.Series(list(texts), dtype="object"), use_na_sentinel=True)
        u = pd.Series(uniq, dtype="object").fillna("")
        bad = np.zeros(len(u), dtype=bool)
        for rx in config.exclude_patterns:
            bad |= u.str.contains(rx, regex=True).to_numpy()
        ok &= ~np.where(codes >= 0, bad[np.maximum(codes, 0)], False)
    return ok


def cache_keys(log: pd.DataFrame, config: CacheConfig) -> tuple[list, np.ndarray]:
    """Cache text of each row and its integer exact/normalised key (model always in the key).
    Work is done once per distinct prompt, so a log of repeated prompts is cheap."""
    n = len(log)
    if "prompt" not in log:
        return [None] * n, np.full(n, -1, dtype=np.int64)
    codes, uniq = pd.factorize(log["prompt"].astype("object"), use_na_sentinel=True)
    texts_u = K.cache_text([str(u) for u in uniq], config.context)
    keyed_u = K.normalize(texts_u, config.patterns) if config.kind == "normalized" else texts_u
    kcode_u, _ = pd.factorize(pd.Series(keyed_u, dtype="object"), use_na_sentinel=True)
    text_arr = np.array(texts_u + [None], dtype=object)
    texts = text_arr[np.where(codes >= 0, codes, len(texts_u))].tolist()
    kc = np.append(kcode_u, -1)[np.where(codes >= 0, codes, len(texts_u))]
    m, models = pd.factorize(log["model"].astype("object"))
    key = np.where(kc >= 0, kc.astype(np.int64) * max(len(models), 1) + m, -1)
    return texts, key.astype(np.int64)


def replay_cache(log: pd.DataFrame, config: CacheConfig, book=None, *, embed: Embed | None = None,
                 embeddings: np.ndarray | None = None, label: str | None = None) -> CacheReplay:
    """Replay ``log`` through a response cache. ``book`` prices the saved calls (else the log's
    ``cost_usd``); ``embed`` (texts → L2-normalised rows) or precomputed ``embeddings`` (one row
    per log row, in the log's order) serve the semantic cache. ``label`` names a column of
    answer-equivalence labels (e.g. an intent): a hit whose label differs from its source's is a
    **false hit**."""
    if embeddings is not None:
        if len(embeddings) != len(log):
            raise ValueError(f"embeddings have {len(embeddings)} rows for a log of {len(log)}")
        log = log.assign(_emb_row=np.arange(len(log)))
    f = _ordered(log)
    texts, key = cache_keys(f, config)
    ns, _ = K.namespace_codes(f, config.namespaces)
    eligible = eligible_mask(f, config, texts)
    t_us = f["ts"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    ttl_us = int(round(config.ttl_s * 1e6))
    sim = np.full(len(f), np.nan, dtype=np.float32)
    if config.kind == "semantic":
        if embeddings is not None:
            emb = np.asarray(embeddings, dtype=np.float32)[f["_emb_row"].to_numpy()]
        else:
            if embed is None:
                from workbench.core.cache.embed import default_embed
                embed = default_embed()
            emb = np.zeros((len(f), 384), dtype=np.float32)
            idx = np.flatnonzero(eligible)
            if len(idx):
                vec = np.asarray(embed([texts[i] for i in idx]), dtype=np.float32)
                emb = np.zeros((len(f), vec.shape[1]), dtype=np.float32)
                emb[idx] = vec
        hit, source, sim = semantic_scan(ns, emb, t_us, config.threshold, ttl_us, eligible,
                                         config.capacity, config.capacity_scope)
    else:
        hit, source = exact_scan(ns, key, t_us, ttl_us, eligible, config.capacity, config.capacity_scope)
        sim[hit] = 1.0
    return _report(f, config, texts, eligible, hit, source, sim, book, label)


def _cost(f: pd.DataFrame, book) -> np.ndarray:
    if book is not None:
        from workbench.core.frame_cost import price_frame
        cols = [c for c in ("model", "ts", "input_tokens", "output_tokens", "cached_input_tokens",
                            "cache_write_tokens") if c in f]
        return price_frame(f[cols], book)["cost_usd"].to_numpy(dtype=np.float64)
    if "cost_usd" in f:
        return f["cost_usd"].to_numpy(dtype=np.float64)
    raise ValueError("pass a price book (or a log with cost_usd) to price the saved calls")


def _report(f, config, texts, eligible, hit, source, sim, book, label) -> CacheReplay:
    from workbench.core.cache.rules import embedding_rate
    n = len(f)
    cost = _cost(f, book)
    tenant = f["tenant"].astype("object").to_numpy() if "tenant" in f else np.full(n, None, dtype=object)
    src = np.where(hit, source, 0)
    cross = hit & (pd.Series(tenant).fillna("\x00").to_numpy() != pd.Series(tenant[src]).fillna("\x00").to_numpy())
    if "latency_ms" in f:
        lat = f["latency_ms"].astype("float64")
        lat = lat.fillna(lat.groupby(f["model"].astype(str)).transform("median")).to_numpy()
    else:
        lat = np.full(n, np.nan)
    lookup = config.lookup_ms + (config.embed_ms if config.kind == "semantic" else 0.0)
    out = pd.DataFrame({
        "request_id": f["request_id"].to_numpy(), "ts": f["ts"].to_numpy(), "tenant": tenant,
        "feature": f["feature"].to_numpy() if "feature" in f else None, "model": f["model"].to_numpy(),
        "cache_text": texts, "eligible": eligible, "hit": hit,
        "source_request_id": pd.array(np.where(hit, f["request_id"].astype(str).to_numpy()[src], None), dtype="string"),
        "similarity": sim, "cross_tenant": cross, "cost_usd": cost,
        "saved_usd": np.where(hit, cost, 0.0),
        "latency_saved_ms": np.where(hit, lat - lookup, 0.0) - np.where(eligible & ~hit, lookup, 0.0),
    })
    if label is not None:
        lab = f[label].astype("object").to_numpy()
        out["false_hit"] = hit & (pd.Series(lab).astype(str).to_numpy() != pd.Series(lab[src]).astype(str).to_numpy())
    writes = int((eligible & ~hit).sum())
    embed_calls = int(eligible.sum()) if config.kind == "semantic" else 0
    rate = config.embedding_usd_per_mtok
    if rate is None:
        rate = embedding_rate()["usd_per_mtok"]
    tokens = f["input_tokens"].to_numpy(dtype=np.float64) if "input_tokens" in f else np.zeros(n)
    embed_usd = float(tokens[eligible].sum() * rate / 1e6) if embed_calls else 0.0
    write_usd = writes * config.write_usd_per_1k / 1000.0
    saved = float(out["saved_usd"].sum())
    summary = {
        "kind": config.kind, "requests": n, "eligible": int(eligible.sum()), "cache_hits": int(hit.sum()),
        "hit_rate": float(hit.sum() / n) if n else 0.0, "cache_writes": writes,
        "baseline_usd": float(cost.sum()), "saved_usd": saved, "embedding_calls": embed_calls,
        "embedding_usd": embed_usd, "embedding_usd_method": "estimate: input_tokens × embedding rate",
        "write_usd": write_usd, "net_saved_usd": saved - embed_usd - write_usd,
        "latency_saved_ms": float(np.nansum(out["latency_saved_ms"])) if "latency_ms" in f else None,
        "cross_tenant_hits": int(cross.sum()), "shared_across_tenants": "tenant" not in config.namespaces,
        "namespaces": list(config.namespaces), "context": config.context,
    }
    if label is not None:
        summary["false_hits"] = int(out["false_hit"].sum())
    return CacheReplay(config, out, summary)
