"""Cache policies of the replay engine: ``exact_cache``, ``normalized_cache``, ``semantic_cache``
(response caches: a hit is served free, fate ``cache_hit``) and ``prefix_cache`` (provider prompt
caching: the request is still called, its cached / cache-write input tokens are recomputed).

Each runs as a sequential kernel through ``ctx.run_kernel``, partitioned by its namespace (tenant +
prompt version + model by default) so that a partition never spans two engine batches; with
``capacity_scope: log`` the whole log is one partition. Only requests still called at this step
read or write the cache (a request blocked or removed earlier writes nothing). The rules of the
scans are those of :mod:`workbench.core.cache.scan` (TTL chain: a hit does not refresh the entry).
"""
from __future__ import annotations

import narwhals.stable.v2 as nw
import numpy as np
import pandas as pd

from workbench.core.cache import keys as K
from workbench.core.cache.scan import INDEXES, exact_scan, semantic_scan
from workbench.core.replay.context import ORD
from workbench.core.replay.params import Param, PolicyError
from workbench.core.replay.pricing import CACHE_HIT, CACHED, CALLED, FATE, IN, MODEL, QUALITY, WRITE
from workbench.core.replay.registry import Policy, Reason, register_policy
from workbench.core.replay.report import StepReport

TTL = Param("ttl_s", "float", "entry lifetime in seconds (a hit does not refresh it)", minimum=0,
            exclusive_minimum=True, example=3600)
CAPACITY = Param("capacity", "int", "most live entries per capacity scope (LRU eviction; default unbounded)",
                 default=None, minimum=1)
SCOPE = Param("capacity_scope", "choice", "what one capacity covers: each namespace, or the whole log",
              default="namespace", choices=("namespace", "log"))
NAMESPACES = Param("namespaces", "strings", "fields that separate caches (tenant, prompt_version, model)",
                   default=K.NAMESPACE_COLUMNS)
SHARE = Param("share_tenants", "bool", "allow answers to be shared across tenants (flagged in the report)",
              default=False)
CONTEXT = Param("context", "choice", "what is compared: the whole conversation, or only the last user message",
                default="conversation", choices=K.CONTEXTS)
EXCL_F = Param("exclude_features", "strings", "features never cached", default=None)
EXCL_P = Param("exclude_patterns", "strings", "prompt regexes never cached (time-sensitive, personal)", default=None)

PV = "prompt_version"


class _ResponseCache(Policy):
    stateful = True
    caches_answers = True   # the engine decides it jointly with later budgets (ctx.may_write)
    params = (TTL, CAPACITY, SCOPE, NAMESPACES, SHARE, CONTEXT, EXCL_F, EXCL_P)

    def check(self) -> None:
        bad = [n for n in self.p["namespaces"] if n not in K.NAMESPACE_COLUMNS]
        if bad:
            raise self.error("namespaces", f"has unknown field(s) {bad}; valid: {', '.join(K.NAMESPACE_COLUMNS)}")
        if "tenant" not in self.p["namespaces"] and not self.p["share_tenants"]:
            raise self.error("namespaces", "leaves out tenant: set share_tenants: true to share answers "
                             "across tenants (cross-tenant hits are then flagged)")
        import re
        for rx in self.p["exclude_patterns"] or ():
            try:
                re.compile(rx)
            except re.error as e:
                raise self.error("exclude_patterns", f"has an invalid regex {rx!r}: {e}") from None

    def requires(self) -> set[str]:
        return {"prompt", "tenant"} | ({"feature"} if self.p["exclude_features"] else set())

    def reads(self) -> set[str]:
        return {"tags"} if PV in self.p["namespaces"] else set()

    def optional_columns(self) -> set[str]:
        """A log without ``tags`` has one prompt version (null), not an error."""
        return {"tags"}

    def derive(self, ctx):
        if PV not in self.p["namespaces"]:
            return ctx.frame
        return ctx.json_field(ctx.frame, "tags", PV, ctx.private(PV))

    def reasons(self):
        return (Reason("served from the response cache", kind="cache_hit"),
                Reason("served from another tenant's cache entry (share_tenants)", kind="cache_hit"))

    def outputs(self):
        return {"source": nw.String}   # the request whose answer a hit reused

    def _ns_inputs(self, ctx) -> list[str]:
        cols = {"tenant": "tenant", PV: ctx.private(PV), "model": MODEL}
        return [cols[n] for n in self.p["namespaces"]]

    def _lookup(self, arrays, texts, eligible, ns, t_us, ttl_us, writable, aux):
        raise NotImplementedError

    def _prepare(self, ctx):
        """Work done once per replay before the kernel (the semantic cache's embeddings)."""
        return None

    def _extra_inputs(self) -> list[str]:
        return []

    def apply(self, ctx):
        ns_cols = self._ns_inputs(ctx)
        by = ns_cols if self.p["capacity_scope"] == "namespace" else []
        q = ctx.has_quality
        aux = self._prepare(ctx)
        inputs = list(dict.fromkeys(["prompt", "ts", FATE, "_may", MODEL, "tenant", "request_id", *ns_cols,
                                     *self._extra_inputs(),
                                     *(["feature"] if self.p["exclude_features"] else []), *([QUALITY] if q else [])]))
        ttl_us = round(self.p["ttl_s"] * 1e6)

        def kernel(arrays, starts):
            n = len(arrays[FATE])
            if n == 0:
                return {"hit": np.zeros(0, np.int8), "src": np.zeros(0, object), "cross": np.zeros(0, np.int8),
                        "hq": np.zeros(0), "elig": np.zeros(0, np.int8)}
            texts = _Texts(arrays["prompt"], self.p["context"])   # distinct cache texts + a code per row
            eligible = (arrays[FATE] == CALLED) & (texts.codes >= 0)
            if self.p["exclude_features"]:
                eligible &= ~pd.Series(arrays["feature"], dtype="object").isin(self.p["exclude_features"]).to_numpy()
            for rx in self.p["exclude_patterns"] or ():
                bad = pd.Series(texts.uniq, dtype="object").str.contains(rx, regex=True).to_numpy(dtype=bool)
                eligible &= ~np.append(bad, False)[texts.codes]
            if ns_cols:
                frame = pd.DataFrame({c: pd.Series(arrays[c], dtype="object").fillna("\x00") for c in ns_cols})
                ns = frame.groupby(ns_cols, sort=False, dropna=False).ngroup().to_numpy().astype(np.int64)
            else:
                ns = np.zeros(n, dtype=np.int64)
            t_us = np.asarray(arrays["ts"]).astype("datetime64[us]").astype(np.int64)
            writable = np.asarray(arrays["_may"], dtype=bool)
            hit, source = self._lookup(arrays, texts, eligible, ns, t_us, ttl_us, writable, aux)
            src = np.where(hit, source, 0)
            tenant = pd.Series(arrays["tenant"], dtype="object").fillna("\x00").to_numpy()
            cross = hit & (tenant != tenant[src])
            ids = np.asarray(arrays["request_id"], dtype=object)
            quality = np.asarray(arrays[QUALITY], dtype=np.float64) if q else np.full(n, np.nan)
            return {"hit": hit.astype(np.int8), "src": np.where(hit, ids[src], None),
                    "cross": cross.astype(np.int8), "elig": eligible.astype(np.int8),
                    "hq": np.where(hit, quality[src], quality)}   # a hit has the reused answer's quality

        hit_c, src_c, cross_c, hq_c, el_c = (ctx.private(x) for x in ("hit", "src", "cross", "hq", "elig"))
        frame = ctx.frame.with_columns(_may=ctx.may_write, **({QUALITY: ctx.quality} if q else {}))
        frame = ctx.run_kernel(frame, by, inputs, {"hit": nw.Int8, "src": nw.String, "cross": nw.Int8,
                                                   "hq": nw.Float64, "elig": nw.Int8}, kernel)
        frame = frame.rename({"hit": hit_c, "src": src_c, "cross": cross_c, "hq": hq_c, "elig": el_c})
        hit = (nw.col(hit_c) == 1) & ctx.called
        act = nw.when(hit & (nw.col(cross_c) == 1)).then(nw.lit(2, nw.Int8)).when(hit).then(nw.lit(1, nw.Int8)) \
            .otherwise(nw.lit(0, nw.Int8))
        cols = {FATE: nw.when(hit).then(nw.lit(CACHE_HIT, nw.Int8)).otherwise(nw.col(FATE)), ctx.act: act,
                ctx.output("source"): nw.when(hit).then(nw.col(src_c))}
        if q:
            cols[QUALITY] = nw.when(hit).then(nw.col(hq_c)).otherwise(nw.col(QUALITY))
        if self.bills_extra:   # every lookup embeds the prompt: billed on top (hit or miss)
            from workbench.core.cache.rules import embedding_rate
            from workbench.core.replay.pricing import to_units
            rate = to_units(embedding_rate()["usd_per_mtok"])
            cols[ctx.extra] = nw.col(ctx.extra) + nw.when(nw.col(el_c) == 1).then(nw.col(IN) * rate) \
                .otherwise(nw.lit(0, nw.Int64))
        return frame.with_columns(**cols).drop("_may", src_c, hq_c, el_c)

    def report(self, ctx, frame) -> StepReport:
        row = ctx.collect(frame.select((nw.col(ctx.act) > 0).cast(nw.Int64).sum().alias("hits"),
                                       (nw.col(ctx.act) == 2).cast(nw.Int64).sum().alias("cross"))
                          ).to_dict(as_series=False)
        return StepReport(detail={"cache_hits": int(row["hits"][0] or 0),
                                  "cross_tenant_hits": int(row["cross"][0] or 0),
                                  "shared_across_tenants": "tenant" not in self.p["namespaces"]})


class _Texts:
    """The cache texts of a kernel's rows: ``series`` (Polars) / ``uniq`` (list) of the distinct
    texts and ``codes`` (row → distinct text; -1 = no prompt, never cached)."""

    def __init__(self, prompts, context: str):
        import polars as pl
        s = K._as_polars_strings(pd.Series(prompts, dtype="object") if not isinstance(prompts, pd.Series) else prompts)
        if s is None:
            s = pl.Series([None if p is None or (isinstance(p, float) and np.isnan(p)) else str(p) for p in prompts],
                          dtype=pl.String)
        codes, firsts = K.fast_codes(s)
        texts = K.cache_text_series(s.gather(firsts), context)
        tcodes, tfirst = K.fast_codes(texts)            # two prompts may share a cache text
        self.codes = np.append(tcodes, -1)[codes]
        self.series = texts.gather(tfirst)
        self.uniq = self.series.to_list()


@register_policy
class ExactCache(_ResponseCache):
    name = "exact_cache"
    summary = ("response cache keyed by model + the exact prompt (conversation context by default), "
               "namespaced by tenant + prompt version + model; TTL, optional LRU capacity")

    def _lookup(self, arrays, texts, eligible, ns, t_us, ttl_us, writable, aux):
        kc = self._keyed(texts.series)
        kc = np.append(kc, -1)[texts.codes]
        m, models = pd.factorize(pd.Series(np.asarray(arrays[MODEL])))
        key = np.where(kc >= 0, kc.astype(np.int64) * max(len(models), 1) + m, -1)   # the model is in the key
        return exact_scan(ns, key, t_us, ttl_us, eligible, self.p["capacity"], self.p["capacity_scope"],
                          writable=writable)

    def _keyed(self, texts):
        """Key code of each distinct cache text (a Polars series)."""
        return np.arange(len(texts), dtype=np.int64)


@register_policy
class NormalizedCache(ExactCache):
    name = "normalized_cache"
    summary = ("response cache keyed by the normalised prompt: case, whitespace and variable fields "
               "(timestamps, dates, ids, e-mails) folded; otherwise as exact_cache")

    def _keyed(self, texts):
        return K.fast_codes(K.normalize(texts))[0]


@register_policy
class SemanticCache(_ResponseCache):
    name = "semantic_cache"
    bills_extra = True   # the embedding of each lookup (rate: pricing/caching/rules.yaml)
    summary = ("response cache that serves the most similar earlier prompt of the namespace when the "
               "embedding cosine ≥ threshold (offline MiniLM embeddings); TTL, optional LRU capacity")
    params = (Param("threshold", "float", "cosine similarity needed for a hit", minimum=0, maximum=1, example=0.9),
              *_ResponseCache.params,
              Param("embeddings", "str", "name of an attached array holding each request's embedding "
                    "(replay(..., attach=attach_embeddings(log))); default: embed the distinct prompts "
                    "once before the scan", default=None),
              Param("index", "choice", "nearest-entry search: exact (numpy, blocked matrix products) or "
                    "hnsw (faiss, approximate; needs faiss-cpu)", default="exact", choices=INDEXES))

    def check(self) -> None:
        super().check()
        if self.p["index"] == "hnsw":
            from workbench.core.cache.scan import require_faiss
            try:
                require_faiss()
            except ImportError as e:
                raise self.error("index", str(e)) from None

    def _extra_inputs(self) -> list[str]:
        return [self.p["embeddings"]] if self.p["embeddings"] else []

    def _prepare(self, ctx):
        """The embeddings, once per replay (never per partition): an attached array, or each
        distinct cache text of the requests still called, embedded here."""
        if self.p["embeddings"]:
            return ("attached", np.asarray(ctx.array(self.p["embeddings"]), dtype=np.float32))
        from workbench.core.cache.embed import embed_distinct
        prompts = ctx.collect(ctx.frame.filter(ctx.called).select("prompt").unique()).to_dict(as_series=False)["prompt"]
        texts = [t for t in K.cache_text([None if p is None else str(p) for p in prompts], self.p["context"])
                 if t is not None]
        rows, matrix = embed_distinct(texts)
        return ("by_text", matrix, dict(zip(texts, rows.tolist())))

    def _lookup(self, arrays, texts, eligible, ns, t_us, ttl_us, writable, aux):
        n = len(texts.codes)
        if aux[0] == "attached":
            matrix = aux[1]
            raw = pd.Series(arrays[self.p["embeddings"]], dtype="object")
            rows = raw.where(raw.notna(), -1).astype(np.int64).to_numpy()
        else:
            matrix, pos = aux[1], aux[2]
            rows = np.append(np.array([pos.get(t, -1) for t in texts.uniq], dtype=np.int64), -1)[texts.codes]
            rows = np.where(eligible, rows, -1)
        lacking = eligible & (rows < 0)
        if lacking.any():
            ids = np.asarray(arrays["request_id"], dtype=object)[lacking]
            raise self.error("embeddings", f"names an attached array with no row for request {ids[0]!r}, which "
                             f"the cache reads ({int(lacking.sum())} such request(s) in its namespace)")
        emb = np.zeros((n, matrix.shape[1] if matrix.ndim == 2 else 384), dtype=np.float32)
        if eligible.any():
            emb[eligible] = matrix[rows[eligible]]
            model = np.asarray(arrays[MODEL]).astype(str)
            # the model is part of the namespace by default; without it a hit still needs the same model
            ns = pd.Series(list(zip(ns.tolist(), model.tolist()))).factorize()[0]
        hit, source, _ = semantic_scan(ns, emb, t_us, self.p["threshold"], ttl_us, eligible,
                                       self.p["capacity"], self.p["capacity_scope"], writable=writable,
                                       index=self.p["index"], codes=texts.codes)
        return hit, source


@register_policy
class PrefixCache(Policy):
    name = "prefix_cache"
    summary = ("provider prompt caching what-if: recompute each called request's cached and cache-write "
               "input tokens from the longest prefix shared with a recent request of the same model "
               "(rules and sources in pricing/caching/rules.yaml); logged cache reads are kept when larger")
    stateful = True
    params = (Param("provider", "choice", "whose caching rules apply", choices=("anthropic", "openai")),
              Param("ttl", "choice", "cache lifetime (Anthropic: 5m or 1h; OpenAI: default)", default=None,
                    choices=("5m", "1h", "default")))

    def check(self) -> None:
        from workbench.core.cache.rules import provider_rule
        rule = provider_rule(self.p["provider"])
        ttl = self.p["ttl"] or ("5m" if self.p["provider"] == "anthropic" else "default")
        if ttl not in rule["ttl_s"]:
            raise self.error("ttl", f"must be one of {', '.join(k for k in rule['ttl_s'] if k != 'max')} "
                             f"for {self.p['provider']}, got {ttl!r}")
        self.ttl = ttl

    def requires(self) -> set[str]:
        return {"prompt"}

    def reasons(self):
        return (Reason("input tokens read from the provider's prompt cache"),
                Reason("prompt written to the provider's cache (no tokens read)"))

    def apply(self, ctx):
        from workbench.core.cache.prefix import _encoder, prompt_parts, replay_boundaries, token_boundaries
        from workbench.core.cache.rules import provider_rule
        provider = self.p["provider"]
        rule = provider_rule(provider)
        ttl_us = round(rule["ttl_s"][self.ttl] * 1e6)
        names = ctx.rates.models
        cacheable, writable = ctx.rates.cacheable, ctx.rates.writable

        def kernel(arrays, starts):
            n = len(arrays[FATE])
            enc = _encoder()
            called = arrays[FATE] == CALLED
            models = np.asarray(arrays[MODEL]).astype(np.int64)
            bounds = [token_boundaries(prompt_parts(None if p is None else str(p)), provider, names[m], enc, rule)
                      if c else [] for p, m, c in zip(arrays["prompt"], models, called)]
            t_us = np.asarray(arrays["ts"]).astype("datetime64[us]").astype(np.int64)
            cached, written = replay_boundaries(t_us, models.tolist(), bounds, ttl_us,
                                                bool(rule.get("ttl_refreshed_on_hit")))
            inp = np.asarray(arrays[IN]).astype(np.int64)
            cached = np.where(np.isin(models, list(cacheable)), np.minimum(cached, inp), 0)
            if provider == "anthropic":
                written = np.where(np.isin(models, list(writable)), np.minimum(written, inp - cached), 0)
            else:
                written = np.zeros(n, dtype=np.int64)
            return {"cached": cached, "written": written}

        c, w = ctx.private("cached"), ctx.private("written")
        frame = ctx.run_kernel(ctx.frame, [MODEL], ["prompt", "ts", FATE, MODEL, IN], {"cached": nw.Int64,
                                                                                     "written": nw.Int64}, kernel)
        frame = frame.rename({"cached": c, "written": w})
        act = nw.when(ctx.called & (nw.col(c) > 0)).then(nw.lit(1, nw.Int8)) \
            .when(ctx.called & (nw.col(w) > 0)).then(nw.lit(2, nw.Int8)).otherwise(nw.lit(0, nw.Int8))
        # the what-if replaces the logged split of a request the log shows uncached, or when it
        # caches more than the log says; logged cache reads are facts and are never taken away
        use = ctx.called & ((nw.col(c) > nw.col(CACHED)) | ((nw.col(CACHED) == 0) & (nw.col(WRITE) == 0)))
        act = nw.when(use).then(act).otherwise(nw.lit(0, nw.Int8))
        return frame.with_columns(**{CACHED: nw.when(use).then(nw.col(c)).otherwise(nw.col(CACHED)),
                                     WRITE: nw.when(use).then(nw.col(w)).otherwise(nw.col(WRITE)),
                                     c: nw.when(use).then(nw.col(c)).otherwise(nw.col(CACHED)),
                                     w: nw.when(use).then(nw.col(w)).otherwise(nw.col(WRITE)),
                                     ctx.act: act})

    def report(self, ctx, frame) -> StepReport:
        c, w = ctx.private("cached"), ctx.private("written")
        row = ctx.collect(frame.select(nw.when(ctx.called).then(nw.col(c)).otherwise(0).sum().alias("c"),
                                       nw.when(ctx.called).then(nw.col(w)).otherwise(0).sum().alias("w"),
                                       nw.when(ctx.called).then(nw.col(IN)).otherwise(0).sum().alias("i"))
                          ).to_dict(as_series=False)
        cached, written, total = (int(row[k][0] or 0) for k in ("c", "w", "i"))
        from workbench.core.cache.rules import provider_rule
        return StepReport(detail={
            "prefix_cached_tokens": cached, "prefix_cache_write_tokens": written,
            "cached_token_share": cached / total if total else 0.0, "provider": self.p["provider"],
            "ttl": self.ttl, "source": provider_rule(self.p["provider"])["source"],
            "token_method": "o200k_base (exact for OpenAI models, estimate for others)"})


__all__ = ["ExactCache", "NormalizedCache", "PrefixCache", "SemanticCache", "PolicyError"]
