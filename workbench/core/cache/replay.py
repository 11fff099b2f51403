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
    index: str = "exact"          # semantic: "exact" (numpy) or "hnsw" (faiss, approximate)

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
        from workbench.core.cache.scan import INDEXES
        if self.index not in INDEXES:
            raise ValueError(f"index must be one of {', '.join(INDEXES)}, got {self.index!r}")
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
    texts: "Texts | None" = None

    def cache_text(self, rows=None) -> list:
        """The compared text of the given rows (all by default)."""
        codes = self.frame["text_code"].to_numpy() if rows is None else self.frame["text_code"].to_numpy()[rows]
        return [self.texts.uniq[c] if c >= 0 else None for c in codes]

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
        mask = f["hit"] & (f["false_hit"] if only_false and "false_hit" in f else True)
        h = f[mask]
        if limit:
            h = h.head(limit)
        pos = pd.Series(np.arange(len(f)), index=f["request_id"].astype(str))
        src = pos.loc[h["source_request_id"].astype(str)].to_numpy()
        out = pd.DataFrame({"request_id": h["request_id"].to_numpy(),
                            "prompt": self.cache_text(np.flatnonzero(mask.to_numpy())[:len(h)]),
                            "cached_request_id": h["source_request_id"].to_numpy(),
                            "cached_prompt": self.cache_text(src),
                            "similarity": h["similarity"].to_numpy(), "tenant": h["tenant"].to_numpy(),
                            "cached_tenant": f["tenant"].to_numpy()[src]})
        if "false_hit" in f:
            out["false_hit"] = h["false_hit"].to_numpy()
        return out


def _ordered(log: pd.DataFrame) -> pd.DataFrame:
    missing = {"request_id", "ts", "model"} - set(log.columns)
    if missing:
        raise ValueError(f"cache replay needs column(s) {sorted(missing)}")
    order = _processing_order(log)
    if order is None:
        return log.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)
    if (order == np.arange(len(order))).all():
        return log.reset_index(drop=True)
    return log.take(order).reset_index(drop=True)


def _processing_order(log: pd.DataFrame) -> np.ndarray | None:
    """Row order by (ts, request_id), stable, computed by Polars (``None``: let pandas sort)."""
    import polars as pl
    try:
        ts = log["ts"]
        if not isinstance(ts.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(ts.dtype):
            return None
        t = ts.to_numpy().view("int64") if not isinstance(ts.dtype, pd.DatetimeTZDtype) else \
            ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view("int64")
        if ts.isna().any():
            return None
        rid = pl.from_pandas(log["request_id"])
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        return None
    frame = pl.DataFrame({"t": t, "r": rid})
    return frame.select(pl.arg_sort_by("t", "r", maintain_order=True)).to_series().to_numpy()


class Texts:
    """The cache text of each row as codes into the distinct texts (-1: no prompt, never cached)."""

    def __init__(self, codes: np.ndarray, uniq: list):
        self.codes, self.uniq = codes, uniq

    def __len__(self) -> int:
        return len(self.codes)

    def rows(self, idx) -> list:
        return [self.uniq[c] if c >= 0 else None for c in self.codes[idx]]


def eligible_mask(log: pd.DataFrame, config: CacheConfig, texts: Texts) -> np.ndarray:
    ok = texts.codes >= 0
    if "status" in log:
        st = log["status"]
        ok &= (st.isna() | (st == "ok")).to_numpy(dtype=bool)     # errors are never cached
    if config.exclude_features and "feature" in log:
        ok &= ~log["feature"].isin(list(config.exclude_features)).to_numpy(dtype=bool)
    if config.exclude_patterns:
        u = pd.Series(texts.uniq, dtype="object").fillna("")
        bad = np.zeros(len(u), dtype=bool)
        for rx in config.exclude_patterns:
            bad |= u.str.contains(rx, regex=True).to_numpy(dtype=bool)
        ok &= ~np.where(texts.codes >= 0, np.append(bad, False)[texts.codes], False)
    return ok


def cache_keys(log: pd.DataFrame, config: CacheConfig) -> tuple[Texts, np.ndarray]:
    """Cache text of each row and its integer exact/normalised key (model always in the key).
    Work is done once per distinct prompt (vectorised codes: :func:`~keys.fast_codes`), so a log
    of repeated prompts is cheap."""
    n = len(log)
    if "prompt" not in log:
        return Texts(np.full(n, -1, dtype=np.int64), []), np.full(n, -1, dtype=np.int64)
    import polars as pl
    prompt = K._as_polars_strings(log["prompt"])
    if prompt is None:   # not all strings: compare their text
        prompt = pl.Series([None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v)
                            for v in log["prompt"].astype("object")], dtype=pl.String)
    codes, firsts = K.fast_codes(prompt)
    texts_u = K.cache_text_series(prompt.gather(firsts), config.context)
    keyed_u = K.normalize(texts_u, config.patterns) if config.kind == "normalized" else texts_u
    # distinct cache texts (two prompts may share one, e.g. the same last message)
    tcode_u, tfirst = K.fast_codes(texts_u)
    kcode_u = tcode_u if keyed_u is texts_u else K.fast_codes(keyed_u)[0]
    tc = np.append(tcode_u, -1)[codes]
    kc = np.append(kcode_u, -1)[codes]
    m, mfirst = K.fast_codes(log["model"], na_sentinel=False)
    key = np.where(kc >= 0, kc * max(len(mfirst), 1) + m, -1)
    return Texts(tc.astype(np.int64), texts_u.gather(tfirst).to_list()), key.astype(np.int64)


def replay_cache(log: pd.DataFrame, config: CacheConfig, book=None, *, embed: Embed | None = None,
                 embeddings: np.ndarray | None = None, label: str | None = None) -> CacheReplay:
    """Replay ``log`` through a response cache. ``book`` prices the saved calls (else the log's
    ``cost_usd``); ``embed`` (texts → L2-normalised rows) or precomputed ``embeddings`` (one row
    per log row, in the log's order) serve the semantic cache. ``label`` names a column of
    answer-equivalence labels (e.g. an intent): a hit whose label differs from its source's is a
    **false hit**. To replay one log under many settings, use :class:`CacheReplayer`."""
    return CacheReplayer(log, book, embed=embed, embeddings=embeddings, label=label).replay(config)


class CacheReplayer:
    """:func:`replay_cache` for one log under many settings ("score once, decide cheaply").

    What a setting does not change is computed once and kept: the processing order, prices,
    latencies, tenants and labels; the cache texts and keys per context (and normalisation), the
    namespaces per namespace fields, the embeddings per cache text. A :meth:`replay` after a TTL or
    threshold change then runs only the scan and the report. Results are those of
    :func:`replay_cache` (which is ``CacheReplayer(...).replay(config)``)."""

    def __init__(self, log: pd.DataFrame, book=None, *, embed: Embed | None = None,
                 embeddings: np.ndarray | None = None, label: str | None = None):
        if embeddings is not None:
            if len(embeddings) != len(log):
                raise ValueError(f"embeddings have {len(embeddings)} rows for a log of {len(log)}")
            log = log.assign(_emb_row=np.arange(len(log)))
        self.frame = _ordered(log)
        self.book, self.embed, self.embeddings, self.label = book, embed, embeddings, label
        self._memo: dict = {}

    def _once(self, key, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def replay(self, config: CacheConfig) -> CacheReplay:
        f = self.frame
        normalized = config.kind == "normalized"
        keys_at = ("keys", config.context, normalized, config.patterns if normalized else None)
        texts, key = self._once(keys_at, lambda: cache_keys(f, config))
        ns = self._once(("ns", tuple(config.namespaces)), lambda: K.namespace_codes(f, config.namespaces)[0])
        eligible = eligible_mask(f, config, texts)
        t_us = self._once("t_us", lambda: f["ts"].astype("datetime64[us, UTC]").astype("int64").to_numpy())
        ttl_us = int(round(config.ttl_s * 1e6))
        sim = np.full(len(f), np.nan, dtype=np.float32)
        if config.kind == "semantic":
            emb = self._once(("emb", keys_at, config.exclude_features, config.exclude_patterns),
                             lambda: self._embeddings(texts, eligible))
            hit, source, sim = semantic_scan(ns, emb, t_us, config.threshold, ttl_us, eligible,
                                             config.capacity, config.capacity_scope, codes=texts.codes,
                                             index=config.index)
        else:
            hit, source = exact_scan(ns, key, t_us, ttl_us, eligible, config.capacity, config.capacity_scope)
            sim[hit] = 1.0
        return _report(f, config, texts, eligible, hit, source, sim, self._once("rows", self._rows))

    def _embeddings(self, texts: Texts, eligible: np.ndarray) -> np.ndarray:
        f = self.frame
        if self.embeddings is not None:
            return np.asarray(self.embeddings, dtype=np.float32)[f["_emb_row"].to_numpy()]
        embed = self.embed
        if embed is None:
            from workbench.core.cache.embed import default_embed
            embed = default_embed()
        emb = np.zeros((len(f), 384), dtype=np.float32)
        used = np.unique(texts.codes[eligible])          # embed each distinct text once
        if len(used):
            vec = np.asarray(embed([texts.uniq[c] for c in used]), dtype=np.float32)
            lookup = np.zeros((len(texts.uniq), vec.shape[1]), dtype=np.float32)
            lookup[used] = vec
            emb = np.where(eligible[:, None], lookup[np.maximum(texts.codes, 0)], 0).astype(np.float32)
        return emb

    def _rows(self) -> dict:
        """Per-row figures no setting changes: price, tenant, latency, label, input tokens."""
        f, n = self.frame, len(self.frame)
        tenant = f["tenant"] if "tenant" in f else pd.Series([None] * n, dtype="object")
        if "latency_ms" in f:
            lat = f["latency_ms"].astype("float64")
            lat = lat.fillna(lat.groupby(f["model"].astype(str)).transform("median")).to_numpy()
        else:
            lat = np.full(n, np.nan)
        return {"cost": _cost(f, self.book), "tenant": tenant,
                "tcode": pd.factorize(tenant, use_na_sentinel=False)[0], "latency": lat,
                "label": None if self.label is None else pd.factorize(f[self.label], use_na_sentinel=False)[0],
                "tokens": f["input_tokens"].to_numpy(dtype=np.float64) if "input_tokens" in f else np.zeros(n)}


def _cost(f: pd.DataFrame, book) -> np.ndarray:
    if book is not None:
        from workbench.core.frame_cost import price_frame
        cols = [c for c in ("model", "ts", "input_tokens", "output_tokens", "cached_input_tokens",
                            "cache_write_tokens") if c in f]
        return price_frame(f[cols], book)["cost_usd"].to_numpy(dtype=np.float64)
    if "cost_usd" in f:
        return f["cost_usd"].to_numpy(dtype=np.float64)
    raise ValueError("pass a price book (or a log with cost_usd) to price the saved calls")


def _report(f, config, texts, eligible, hit, source, sim, rows: dict) -> CacheReplay:
    from workbench.core.cache.rules import embedding_rate
    n = len(f)
    cost, tenant, tcode, lat = rows["cost"], rows["tenant"], rows["tcode"], rows["latency"]
    src = np.where(hit, source, 0)
    cross = hit & (tcode != tcode[src])
    lookup = config.lookup_ms + (config.embed_ms if config.kind == "semantic" else 0.0)
    rid = f["request_id"]
    out = pd.DataFrame({
        "request_id": rid, "ts": f["ts"], "tenant": tenant.to_numpy() if "tenant" not in f else f["tenant"],
        "feature": f["feature"] if "feature" in f else None, "model": f["model"],
        "text_code": texts.codes, "eligible": eligible, "hit": hit,
        "source_request_id": rid.take(src).reset_index(drop=True).where(hit).astype("string"),
        "similarity": sim, "cross_tenant": cross, "cost_usd": cost,
        "saved_usd": np.where(hit, cost, 0.0),
        "latency_saved_ms": np.where(hit, lat - lookup, 0.0) - np.where(eligible & ~hit, lookup, 0.0),
    })
    lab = rows["label"]
    if lab is not None:
        out["false_hit"] = hit & (lab != lab[src])
    writes = int((eligible & ~hit).sum())
    embed_calls = int(eligible.sum()) if config.kind == "semantic" else 0
    rate = config.embedding_usd_per_mtok
    if rate is None:
        rate = embedding_rate()["usd_per_mtok"]
    tokens = rows["tokens"]
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
    if lab is not None:
        summary["false_hits"] = int(out["false_hit"].sum())
    return CacheReplay(config, out, summary, texts)
