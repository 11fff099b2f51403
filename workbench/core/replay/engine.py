"""``replay(log, policies, prices) -> ReplayResult``: what the logged traffic would have cost under a
stack of policies.

The frame logic is written once against Narwhals; :mod:`~workbench.core.replay.backends` supplies
the per-engine hooks (Polars by default, pandas, DuckDB with a memory limit for logs larger than
memory). The input is never modified; the per-request frame comes back in the caller's kind.
Semantics (order, budgets, waterfall): docs/replay-semantics.md.
"""
from __future__ import annotations

from typing import Any, Callable

import narwhals.stable.v2 as nw
import numpy as np

from workbench.core.prices import STANDARD_TIERS, PriceBook, PriceError
from workbench.core.replay.backends import Backend, caller_kind, make_backend
from workbench.core.replay.context import ORD, StageContext, price_into
from workbench.core.replay.groups import GroupTable, summary_tables
from workbench.core.replay.params import PolicyError
from workbench.core.replay.inputs import attached_columns, pivot_outcomes, validate_outcomes
from workbench.core.replay.pricing import (
    BATCH, BLOCKED, CACHED, DAY, EXTRA, FATE, FATES, IN, MAX_TOKENS, MODEL, OUT, PUSD_PER_USD, QUALITY,
    QUALITY_UNITS, quality_units, ACACHED, AIN, KINDS, TIER,
    REMOVED, SOURCE, SOURCES, UNPRICED, WRITE, RateTable, build_rate_table, int_day,
)
from workbench.core.replay.report import StepReport
from workbench.core.replay.result import ReplayResult, waterfall
from workbench.core.replay.stack import PolicyStack, as_stack

Progress = Callable[[int, int, str], None]

REQUIRED_INPUT = ("request_id", "ts", "model", "input_tokens", "output_tokens")
TOKEN_INPUT = {"input_tokens": IN, "cached_input_tokens": CACHED, "cache_write_tokens": WRITE,
               "output_tokens": OUT}
IDENTITY = ("request_id", "ts", "tenant", "feature", "model")
LOGGED = "_m0"  # the logged model's code (the output names it by its canonical id)


def replay(log: Any, policies: Any = (), prices: PriceBook | None = None, *, engine: str | None = None,
           memory_limit: str | None = None, temp_dir: str | None = None, bootstrap: int = 1000,
           seed: int = 0, cache_ttl: str = "5m", progress: Progress | None = None, outcomes: Any = None,
           attach: Any = None, per_request: bool = True, spark_master: str | None = None) -> ReplayResult:
    """Replay ``log`` under ``policies`` priced with ``prices``.

    ``log``: a canonical request frame (pandas, Polars, pyarrow, DuckDB relation) or a Parquet path.
    ``policies``: a :class:`PolicyStack`, a list of policies or ``{policy: …}`` dicts, a mapping or
    a YAML path; empty = the baseline. ``engine``: ``polars`` (default), ``pandas`` or ``duckdb``
    (the default for DuckDB input or when ``memory_limit`` is given, e.g. ``"1GB"``).
    ``engine='spark'`` (the default for a PySpark DataFrame) runs on the active SparkSession, or one
    started on ``spark_master`` (e.g. ``"spark://host:7077"``; default ``local[*]``); a path is then
    read by Spark itself and the per-request frame stays a lazy Spark DataFrame.
    ``bootstrap``: resamples for the 95 % interval on the savings (0 to skip).
    ``progress(done, total, label)`` is called after each step.
    ``outcomes``: per-model outcomes (one row per ``request_id`` and ``model`` with ``output_tokens``
    and/or ``quality``): a request moved to a model uses that model's outcome.
    ``attach``: a frame with ``request_id`` and columns computed outside the log (scores, neighbour
    ids), a ``{name: AttachedArray(ids, matrix)}`` mapping, or a list of these (docs § 10).
    ``per_request=False``: totals only, no per-request frame (less memory; the CLI without --out).
    """
    if prices is None:
        raise PriceError("replay needs a price book: replay(log, policies, load_prices())")
    stack = as_stack(policies)
    kind = caller_kind(log)
    backend = make_backend(engine, kind, memory_limit, temp_dir, spark_master)
    try:
        run = _Run(stack, prices, backend, cache_ttl, progress, outcomes=outcomes, attach=attach)
        run.per_request = per_request
        return run.execute(log, kind, bootstrap, seed)
    except BaseException as e:
        backend.close()
        if isinstance(e, RuntimeError) and "interrupted" in str(e).lower():
            raise KeyboardInterrupt from e  # DuckDB turns Ctrl-C into "Query interrupted"
        raise


class _Run:
    def __init__(self, stack: PolicyStack, book: PriceBook, backend: Backend, cache_ttl: str,
                 progress: Progress | None, outcomes: Any = None, attach: Any = None):
        self.stack, self.book, self.backend, self.cache_ttl = stack, book, backend, cache_ttl
        self._progress = progress
        self.outcomes = validate_outcomes(outcomes, book) if outcomes is not None else None
        self._attach = attach
        self.has_quality = False
        self.outcome_models: dict[int, dict] = {}
        self.arrays: dict = {}
        self.attached: list[str] = []
        self.refused_column: str | None = None
        self.pinned = False  # keep every materialized state (a sweep replays from a stored one)
        self.per_request = True
        # a response cache followed by another step is decided jointly with it (fixpoint, § 10)
        self.joint = any(p.caches_answers and k < len(stack) for k, p in enumerate(stack, 1))
        self.total_steps = len(stack) + 2  # read, baseline, each step; done = total
        self.has_extra = any(p.bills_extra for p in stack)
        self.input_columns: list[str] = []
        self.kinds: tuple[str, ...] = ()   # extra token kinds the log carries (state columns)
        self.tiers: tuple[str, ...] = ()   # service tiers the log names
        self._tier_rows = False
        self.rates: RateTable
        self.rates_frame: nw.LazyFrame

    def tick(self, done: float, label: str) -> None:
        if self._progress is not None:
            self._progress(done, self.total_steps, label)

    def working_on(self, done: int, label: str) -> None:
        """Long backend operations from now on report a fraction of step ``done`` → ``done + 1``."""
        if self._progress is not None:
            self.backend.report = lambda fraction: self.tick(done + 0.99 * fraction, label)

    def price(self, frame: nw.LazyFrame, name: str) -> nw.LazyFrame:
        return price_into(self.backend, frame, self.rates_frame, self.rates, name, self.has_extra)

    # ------------------------------------------------------------------------------------------
    def execute(self, log: Any, kind: str, n_boot: int, seed: int) -> ReplayResult:
        base = self.start(log)
        frame, contexts = self.run_steps(base, 1)
        if self.joint:
            frame, contexts = self._fixpoint(base, frame, contexts)
        self.backend.report = None
        result = self.summarize(frame, contexts, kind, n_boot, seed)
        self.tick(self.total_steps, "done")
        return result

    def start(self, log: Any) -> nw.LazyFrame:
        """Read, validate and order the log, and price the baseline (materialized)."""
        frame = self.prepare(self.backend.lazy(log))
        self.working_on(0, "pricing the baseline")
        frame = self.price(frame, "_c0")
        if self.has_quality:
            frame = frame.with_columns(**{"_q0": nw.col(QUALITY)})
        frame = self.backend.materialize(frame)
        frame = self.backend.finish_order(frame, ["ts", "request_id"])
        self.order_by = list(self.backend.order_by)
        self._drop_stale(frame)
        self.tick(1, "baseline priced")
        return frame

    def run_steps(self, frame: nw.LazyFrame, first: int, stack: PolicyStack | None = None,
                  contexts: list | None = None, stop: int | None = None) -> tuple[nw.LazyFrame, list[StageContext]]:
        """Apply steps ``first`` … ``stop`` (default: the last) of the stack (``stack`` replaces it,
        e.g. with a sweep's value) to the state after step ``first - 1``; returns that state and
        every step's context."""
        stack = self.stack if stack is None else stack
        stop = len(stack) if stop is None else stop
        last_use = self._last_use(stack)
        contexts = list(contexts or [])
        for k in range(first, stop + 1):
            policy = stack[k - 1]
            self.working_on(k, f"{k}/{len(stack)} {policy.label}")
            ctx = StageContext(self, k, policy, frame)
            out = policy.apply(ctx)
            if ctx.act not in out.collect_schema().names():
                raise PolicyError(f"policy {policy.name!r} did not write its action column {ctx.act}")
            out = self.backend.with_columns(out, ("action", ctx.act),
                                            lambda: {ctx.act: nw.col(ctx.act).fill_null(0).cast(nw.Int8)})
            out = self._quality_rule(out, k)
            out = self.price(out, f"_c{k}")
            done = [c for c, step in last_use.items() if step == k]
            if done:
                out = out.drop(*done)
            if k == stop or self.backend.materialize_every_step:
                frame = self.backend.materialize(out)
                self._drop_stale(frame)
            else:  # fused into the next step's plan (DuckDB: one pass instead of a table per step)
                frame = out
            ctx.frame = None  # do not keep every step's state alive
            contexts.append(ctx)
            self.tick(k + 1, f"{k}/{len(stack)} {policy.label}")
        return frame, contexts

    def _quality_rule(self, out: nw.LazyFrame, k: int) -> nw.LazyFrame:
        """Blocked: 0 when the answer's quality was known (the user got nothing); removed: unknown
        (the request is gone); otherwise what the policy left (docs § 10). Keeps ``_q{k}``."""
        if not self.has_quality:  # a `_q` a plugin wrote anyway is never read nor shown
            return out
        def rule() -> dict:
            q, fate = nw.col(QUALITY), nw.col(FATE)
            return {QUALITY: nw.when((fate == BLOCKED) & ~q.is_null()).then(nw.lit(0.0, nw.Float64))
                    .when(fate == REMOVED).then(nw.lit(None, nw.Float64)).otherwise(q).cast(nw.Float64)}
        out = self.backend.with_columns(out, ("quality rule",), rule)
        return self.backend.with_columns(out, ("quality of step", k), lambda: {f"_q{k}": nw.col(QUALITY)})

    def _fixpoint(self, base, frame, contexts, rounds: int = 100):
        """Cache + budget in one sequential pass, computed as a fixpoint: a request refused by a
        later step writes no cache entry, so the stack is replayed with the refusals of the previous
        round until they no longer change. A request's decision depends only on the refusals of
        earlier requests, so each round fixes at least the first request the previous one got
        wrong: the fixpoint is the sequential pass (typically reached in 2–4 rounds)."""
        key = self.backend.row_key
        refused_name = "_refused"
        known = None
        for _ in range(rounds):
            now = self.backend.materialize(frame.select(key, (nw.col(FATE) == BLOCKED).alias(refused_name)))
            if known is None:
                changed = self.backend.collect(now.select(nw.col(refused_name).cast(nw.Int64).sum().alias("n")))
            else:
                diff = now.join(known.select(key, nw.col(refused_name).alias("_was")), on=key, how="left")
                changed = self.backend.collect(diff.select(
                    (nw.col(refused_name) != nw.col("_was").fill_null(False)).cast(nw.Int64).sum().alias("n")))
            if int(changed.to_dict(as_series=False)["n"][0] or 0) == 0:
                return frame, contexts
            known = now
            self.refused_column = refused_name
            frame, contexts = self.run_steps(self.backend.join_back(base, known, key), 1)
        raise RuntimeError(f"cache + budget decisions did not settle in {rounds} rounds")

    def _drop_stale(self, frame: nw.LazyFrame) -> None:
        if self.joint or self.pinned:  # the baseline / a sweep's prefix state is read again
            return
        release = getattr(self.backend, "release_older", None)
        if release is not None:  # DuckDB: only the newest materialized step is still referenced
            release()

    def _last_use(self, stack: PolicyStack | None = None) -> dict[str, int]:
        """Input columns no output needs, with the last step that reads them (dropped after it)."""
        last: dict[str, int] = {}
        for k, p in enumerate(self.stack if stack is None else stack, 1):
            for c in p.requires():
                if c not in IDENTITY:
                    last[c] = k
        return last

    # ------------------------------------------------------------------------------------------
    def prepare(self, frame: nw.LazyFrame) -> nw.LazyFrame:
        schema = frame.collect_schema()
        names = set(schema.names())
        missing = [c for c in REQUIRED_INPUT if c not in names]
        if missing:
            raise ValueError(f"log is missing required column(s): {', '.join(missing)}")
        tables, self.arrays = attached_columns(self._attach, names)
        self.attached = [c for t in tables for c in t.column_names if c != "request_id"]
        needs: dict[str, str] = {}
        for p in self.stack:
            for c in sorted(p.reads() | p.requires()):
                needs.setdefault(c, p.label)
        # absent optional columns are null; a policy may name more (``optional_columns``)
        extra = set().union(*(getattr(p, "optional_columns", set)() for p in self.stack))
        extra = {c for c in extra if all(c in getattr(p, "optional_columns", set)() for p in self.stack
                                         if c in p.reads() | p.requires())}
        optional = ("tenant", "feature", *sorted(extra))
        absent = {c: who for c, who in needs.items()
                  if c not in names and c not in self.attached and c not in optional}
        if absent:
            c, who = next(iter(absent.items()))
            raise PolicyError(f"policy {who!r} needs column {c!r}, which the log does not have "
                              f"(nor anything attached)")
        logged_quality = "quality" in names
        self.has_quality = logged_quality or (self.outcomes is not None and "quality" in self.outcomes.column_names)
        keep = list(dict.fromkeys([*IDENTITY, *(c for c in needs if c not in self.attached),
                                   *(["quality"] if logged_quality else [])]))
        later = set(IDENTITY).union(*(p.requires() for p in self.stack))
        if logged_quality:
            later.add("quality")
        adds = {c: nw.lit(None, nw.String) for c in optional if c not in names}
        adds.update({c: nw.lit(0, nw.Int64) for c in ("cached_input_tokens", "cache_write_tokens") if c not in names})
        frame = frame.with_columns(**adds) if adds else frame
        read_quality = any("quality" in p.requires() for p in self.stack)
        self.input_columns = [c for c in keep if c != "model" and (c != "quality" or read_quality)] + self.attached

        ts_type = schema["ts"]
        if not isinstance(ts_type, nw.Datetime):
            raise ValueError(f"column 'ts' must be a datetime (UTC), got {ts_type}")
        utc = bool(ts_type.time_zone)

        def day() -> dict:
            ts = nw.col("ts").dt.convert_time_zone("UTC") if utc else nw.col("ts")
            return {DAY: ts.dt.year().cast(nw.Int32) * 10000 + ts.dt.month().cast(nw.Int32) * 100
                    + ts.dt.day().cast(nw.Int32)}
        kinds = {v[0]: k for k, v in KINDS.items() if v[0] in names}   # token kinds the log has (issue 8)
        tiered = "service_tier" in names
        frame = frame.select(*dict.fromkeys([*keep, *TOKEN_INPUT, *kinds, *(["service_tier"] if tiered else [])]))
        frame = self.backend.with_columns(frame, ("day", utc), day)
        frame = self.backend.with_columns(frame, ("input types", tuple(kinds), logged_quality), lambda: {
            **{c: nw.col(c).cast(nw.Int64) for c in TOKEN_INPUT},
            **{c: nw.col(c).fill_null(0).cast(nw.Int64) for c in kinds},
            "request_id": nw.col("request_id").cast(nw.String),
            **({"quality": nw.col("quality").cast(nw.Float64)} if logged_quality else {})})
        if self.backend.materialize_input:  # read three times below: the checks, the model/day pairs, the sort
            frame = self.backend.materialize(frame)
        used = self._validate(frame, logged_quality, tuple(kinds), tiered)
        self.kinds = tuple(kinds[c] for c in used)
        if ACACHED in self.kinds and AIN not in self.kinds:  # a move that loses the cache bills it as audio
            self.kinds += (AIN,)
        self.tiers = self._tiers(frame) if tiered and self._tier_rows else ()
        pairs = self.backend.collect(frame.select("model", DAY).unique()).to_dict(as_series=False)
        self.rates = self._rate_table(pairs["model"], pairs[DAY])
        mapping = {raw: self.rates.code(self.book.resolve(raw)) for raw in set(pairs["model"])}
        for table in tables:  # scores, neighbour ids, rows of attached arrays: joined by request id
            frame = frame.join(self.backend.from_arrow(table), on="request_id", how="left")
        if self.outcomes is not None:
            wide, self.outcome_models = pivot_outcomes(
                self.outcomes, {m: i for i, m in enumerate(self.rates.models)})
            if self.outcome_models:
                frame = frame.join(self.backend.from_arrow(wide), on="request_id", how="left")
        self.order_by = ["ts", "request_id"]  # what windows order by until add_order
        for k, p in enumerate(self.stack, 1):  # per-row facts from columns not needed later (prompt …)
            frame = p.derive(StageContext(self, k, p, frame, deriving=True))
        frame = frame.drop(*(c for c in keep if c not in later))
        frame = self.backend.add_order(frame, ["ts", "request_id"])
        self.order_by = list(self.backend.order_by)
        state = {**({ORD: nw.col(ORD).cast(nw.Int64)} if ORD in self.order_by else {}),
                 MODEL: nw.col("model").replace_strict(mapping, default=-1, return_dtype=nw.Int32) if mapping
                 else nw.lit(0, nw.Int32),
                 **{v: nw.col(k) for k, v in TOKEN_INPUT.items()},
                 # Anthropic logs a Batch API request as service tier "batch": batch prices
                 BATCH: (_tier_name(nw.col("service_tier")) == "batch") if self._tier_rows else nw.lit(False),
                 FATE: nw.lit(0, nw.Int8), SOURCE: nw.lit(0, nw.Int8),
                 **({EXTRA: nw.lit(0, nw.Int64)} if self.has_extra else {}),
                 **{k: nw.col(KINDS[k][0]) if KINDS[k][0] in kinds else nw.lit(0, nw.Int64) for k in self.kinds},
                 **({TIER: _tier_name(nw.col("service_tier")).replace_strict(
                     {t: i for i, t in enumerate(self.tiers)}, default=0, return_dtype=nw.Int8)} if self.tiers else {})}
        state[LOGGED] = state[MODEL]
        frame = frame.with_columns(**state).drop(*TOKEN_INPUT, *kinds, *(["service_tier"] if tiered else []), "model")
        if self.has_quality:
            frame = frame.with_columns(**{QUALITY: self._baseline_quality(logged_quality)})
            if logged_quality and not read_quality:
                frame = frame.drop("quality")
        schema = {MODEL: nw.Int32, DAY: nw.Int32, BATCH: nw.Boolean, **({TIER: nw.Int8} if self.tiers else {}),
                  **{c: nw.Int64 for c in self.rates.rate_columns}}
        self.rates_frame = self.backend.small(self.rates.columns, schema)
        self.tick(0, "log read")
        return frame

    def _baseline_quality(self, logged: bool) -> nw.Expr:
        """The log's label; without a quality column, the outcome of the logged model (if any)."""
        if logged:
            return nw.col("quality").cast(nw.Float64)
        q = nw.lit(None, nw.Float64)
        for code, info in self.outcome_models.items():
            if info["quality"] is not None:
                q = nw.when((nw.col(MODEL) == code) & nw.col(info["has"]).fill_null(False)) \
                    .then(nw.col(info["quality"])).otherwise(q)
        return q.cast(nw.Float64)

    def _validate(self, frame: nw.LazyFrame, quality: bool = False, kinds: tuple[str, ...] = (),
                  tiered: bool = False) -> list[str]:
        """Check the log; return the token-kind columns of ``kinds`` that are non-zero somewhere (and
        note in ``_tier_rows`` whether any row names a service tier)."""
        checks = {"cache_write_long_tokens": "cache_write_tokens", "cached_audio_input_tokens": "cached_input_tokens",
                  "audio_output_tokens": "output_tokens"}

        def build() -> list[nw.Expr]:
            exprs = [nw.len().alias("n"), nw.col("request_id").n_unique().alias("unique_ids")]
            if tiered:
                exprs.append(nw.col("service_tier").null_count().alias("null_tier"))
            for c in kinds:
                exprs += [nw.col(c).min().alias(f"min_{c}"), nw.col(c).max().alias(f"max_{c}")]
            zero = nw.lit(0, nw.Int64)
            part = {c: nw.col(c) if c in kinds else zero for c in (v[0] for v in KINDS.values())}
            for c, whole in checks.items():
                if c in kinds:
                    exprs.append((nw.col(whole) - nw.col(c)).min().alias(f"slack_{c}"))
            if quality:
                exprs += [nw.col("quality").min().alias("min_q"), nw.col("quality").max().alias("max_q")]
            for c in ("request_id", "ts", "model", *TOKEN_INPUT):
                exprs.append(nw.col(c).null_count().alias(f"null_{c}"))
            for c in TOKEN_INPUT:
                exprs += [nw.col(c).min().alias(f"min_{c}"), nw.col(c).max().alias(f"max_{c}")]
            exprs.append((nw.col("input_tokens") - nw.col("cached_input_tokens") - nw.col("cache_write_tokens")
                          - part["audio_input_tokens"] - part["image_input_tokens"]).min().alias("min_uncached"))
            return exprs

        query = self.backend.select(frame, ("validate", quality, kinds, tiered), build)
        row = {k: v[0] for k, v in self.backend.collect(query).to_dict(as_series=False).items()}
        self.n_rows = int(row["n"])
        self._tier_rows = tiered and int(row["null_tier"]) < self.n_rows
        if self.n_rows == 0:
            return []
        for c in kinds:
            if row[f"min_{c}"] < 0:
                raise ValueError(f"{c}: negative token counts in the log")
            if row[f"max_{c}"] > MAX_TOKENS:
                raise ValueError(f"{c}: {row[f'max_{c}']} tokens in one request is beyond what replay accepts")
            if c in checks and row[f"slack_{c}"] < 0:
                raise ValueError(f"some rows have {c} above {checks[c]} (they are a part of it)")
        for c in ("request_id", "ts", "model", *TOKEN_INPUT):
            if row[f"null_{c}"]:
                raise ValueError(f"{c}: {row[f'null_{c}']} row(s) missing")
        for c in TOKEN_INPUT:
            if row[f"min_{c}"] < 0:
                raise ValueError(f"{c}: negative token counts in the log")
            if row[f"max_{c}"] > MAX_TOKENS:
                raise ValueError(f"{c}: {row[f'max_{c}']} tokens in one request is beyond what replay accepts")
        if row["min_uncached"] < 0:
            parts = "cached + cache-write + audio + image" if kinds else "cached + cache-write"
            raise ValueError(f"some rows have {parts} tokens above input tokens (input_tokens is the whole prompt)")
        if quality and row["min_q"] is not None and (row["min_q"] < 0 or row["max_q"] > 1
                                                      or row["min_q"] != row["min_q"] or row["max_q"] != row["max_q"]):
            raise ValueError(f"quality: labels must be in [0, 1] (null = unlabelled); "
                             f"found {row['min_q']!r} … {row['max_q']!r}")
        if row["unique_ids"] != self.n_rows:
            raise ValueError(f"request_id is not unique ({self.n_rows - row['unique_ids']} duplicate(s)): "
                             f"replay orders requests by (ts, request_id)")
        return [c for c in kinds if row[f"max_{c}"] > 0]

    def _tiers(self, frame: nw.LazyFrame) -> tuple[str, ...]:
        """Service tiers the log names ("standard" first), or () when every row is standard."""
        got = self.backend.collect(frame.select(_tier_name(nw.col("service_tier")).alias("t")).unique())
        named = sorted({t for t in got.to_dict(as_series=False)["t"] if t not in (*STANDARD_TIERS, "batch")})
        return ("standard", *named) if named else ()

    def _rate_table(self, raw_models: list, days: list) -> RateTable:
        models = sorted({self.book.resolve(m) for m in set(raw_models)})
        for p in self.stack:
            for name, param in p.target_models().items():
                try:
                    resolved = self.book.resolve(name)
                except PriceError as e:
                    raise p.error(param, f"names {e}") from None
                if resolved not in models:
                    models.append(resolved)
        return build_rate_table(self.book, models, sorted(set(days)), self.cache_ttl, self.kinds, self.tiers)

    # ------------------------------------------------------------------------------------------
    def summarize(self, frame: nw.LazyFrame, contexts: list[StageContext], kind: str, n_boot: int,
                  seed: int) -> ReplayResult:
        k_last = len(contexts)
        costs = [f"_c{k}" for k in range(k_last + 1)]
        acts = tuple((ctx.act, len(ctx.policy.reasons())) for ctx in contexts)

        def build() -> tuple[dict, list]:
            cols: dict[str, nw.Expr] = {c: nw.col(c) for c in costs}  # indicators: plain sums group fast everywhere
            aggs = [nw.len().alias("n")]
            for c in costs:
                cols[f"f{c}"] = nw.col(c).cast(nw.Float64)
                aggs += [nw.col(c).sum().alias(f"s{c}"), nw.col(c).min().alias(f"min{c}"), nw.col(f"f{c}").sum()]
            if self.has_quality:
                for k in range(k_last + 1):
                    cols[f"qs{k}"] = quality_units(nw.col(f"_q{k}"))
                    cols[f"qn{k}"] = (~nw.col(f"_q{k}").is_null()).cast(nw.Int64)
            for j in range(len(FATES)):
                cols[f"fate{j}"] = (nw.col(FATE) == j).cast(nw.Int64)
            for j in range(1, len(SOURCES)):
                cols[f"src{j}"] = (nw.col(SOURCE) == j).cast(nw.Int64)
            for act, n_reasons in acts:
                for code in range(1, n_reasons + 1):
                    cols[f"{act}_{code}"] = (nw.col(act) == code).cast(nw.Int64)
            aggs += [nw.col(c).sum() for c in cols if c not in costs and not c.startswith("f_")]
            return cols, aggs

        key = ("summary", k_last, self.has_quality, acts)
        raw = self.backend.collect(self.backend.group_agg(frame, key, ["tenant", "feature", DAY], build)
                                   ).to_dict(as_series=False)
        groups = GroupTable(raw)
        self._check_costs(frame, groups, costs)
        totals = [groups.total(f"s{c}") if len(groups) else 0 for c in costs]
        quality = self._quality_totals(groups, k_last)

        steps, events, limits, breakdown = [], [], [], []
        for ctx in contexts:
            policy = ctx.policy
            reasons = policy.reasons()
            counts = [groups.total(f"{ctx.act}_{i}") if len(groups) else 0 for i in range(1, len(reasons) + 1)]
            by_kind: dict[str, int] = {}
            for r, n in zip(reasons, counts):
                if n:
                    by_kind[r.kind] = by_kind.get(r.kind, 0) + n
            report = policy.report(ctx, frame)
            if not isinstance(report, StepReport):
                raise PolicyError(f"policy {policy.name!r}: report() must return a StepReport, "
                                  f"got {type(report).__name__}")
            step_events = [e.to_dict(ctx.step, policy.name, policy.label) for e in report.events]
            step_limits = [lim.to_dict(ctx.step, policy.name, policy.label) for lim in report.limits]
            step_breakdown = self._breakdown(frame, ctx, report.breakdown) if report.breakdown else []
            events += step_events
            limits += step_limits
            breakdown += step_breakdown
            steps.append({
                "step": ctx.step, "policy": policy.name, "label": policy.label,
                "config": policy.to_config(), "stateful": policy.stateful,
                "decisions": [{"code": i, "reason": r.text, "kind": r.kind, "changes": r.changes, "requests": n}
                              for i, (r, n) in enumerate(zip(reasons, counts), 1) if n],
                "counts": by_kind,
                "requests_touched": sum(n for r, n in zip(reasons, counts) if r.changes),
                "outputs": [f"step{ctx.step}_{name}" for name in policy.outputs()],
                "events": step_events, "events_truncated": report.events_truncated,
                "limits": step_limits, "detail": report.detail,
            })
        fates = {name: groups.total(f"fate{j}") if len(groups) else 0 for j, name in enumerate(FATES)}
        events.sort(key=lambda e: (e["ts"], e["step"]))
        budget = {"events": events, "by_tenant": breakdown}
        q_steps = ("0", str(k_last)) if self.has_quality else None
        by_tenant, by_feature, ci = summary_tables(groups, costs[0], costs[-1], n_boot, seed, q_steps)
        summary = {
            "requests": self.n_rows,
            "baseline_pusd": totals[0], "replayed_pusd": totals[-1],
            "baseline_quality": quality["means"][0], "replayed_quality": quality["means"][-1],
            "quality": quality["summary"],
            "waterfall": waterfall(totals, steps, quality["means"], quality["sums"]),
            "steps": steps,
            "fates": fates,
            "blocked_requests": fates["blocked"],
            "downgraded_requests": sum(s["counts"].get("downgraded", 0) for s in steps),
            "outcomes": {name: groups.total(f"src{j}") if len(groups) else 0
                         for j, name in enumerate(SOURCES) if j},
            "budget": budget,
            "limits": limits,
            "by_tenant": by_tenant,
            "by_feature": by_feature,
            "ci95": ci,
            "engine": self.backend.name,
            "stack": self.stack.to_dict(),
            "models": list(self.rates.models),
            "attached": list(self.attached),
        }
        native = self.backend.to_caller(self._output(frame, contexts), kind) if self.per_request else None
        return ReplayResult(summary, frame=native, backend=self.backend)

    def _quality_totals(self, groups: GroupTable, k_last: int) -> dict:
        """Mean (over requests with a known quality) and sum of quality after every step."""
        n = k_last + 1
        if not self.has_quality or not len(groups):
            return {"means": [None] * n, "sums": [None] * n,
                    "summary": {"labelled": False, "note": "the log carries no quality labels: "
                                "quality is not reported" if not self.has_quality else "empty log"}}
        sums = [groups.total(f"qs{k}") / QUALITY_UNITS for k in range(n)]
        counts = [groups.total(f"qn{k}") for k in range(n)]
        means = [s / c if c else None for s, c in zip(sums, counts)]
        return {"means": means, "sums": sums,
                "summary": {"labelled": True, "baseline_mean": means[0], "replayed_mean": means[-1],
                            "baseline_total": sums[0], "replayed_total": sums[-1],
                            "baseline_labelled": counts[0], "replayed_labelled": counts[-1]}}

    def _breakdown(self, frame: nw.LazyFrame, ctx: StageContext, period: str) -> list[dict]:
        """Per tenant and period: requests this step changed (by reason kind) and dollars saved."""
        reasons = ctx.policy.reasons()
        changing = [i for i, r in enumerate(reasons, 1) if r.changes]
        if not changing:
            return []
        bucket = (nw.col(DAY) // 100).cast(nw.Int32) if period == "month" else nw.col(DAY)
        prev_cost, cost = f"_c{ctx.step - 1}", f"_c{ctx.step}"
        by = self.backend.collect(
            frame.filter(nw.col(ctx.act).is_in(changing))
            .select("tenant", bucket.alias(DAY), nw.col(ctx.act).cast(nw.Int32).alias("_code"),
                    (nw.col(prev_cost) - nw.col(cost)).alias("_avoided"))
            .group_by("tenant", DAY, "_code").agg(nw.len().alias("n"), nw.col("_avoided").sum().alias("avoided"))
        ).to_dict(as_series=False)
        rows: dict[tuple, dict] = {}
        for t, p, code, n, a in zip(by["tenant"], by[DAY], by["_code"], by["n"], by["avoided"]):
            tenant = t if t is not None else "(none)"
            label = f"{p // 100:04d}-{p % 100:02d}" if period == "month" else int_day(int(p)).isoformat()
            row = rows.setdefault((label, tenant), {"step": ctx.step, "policy": ctx.policy.name,
                                                    "label": ctx.policy.label, "tenant": tenant, "period": label,
                                                    "_saved": 0})
            kind = reasons[int(code) - 1].kind
            row[kind] = row.get(kind, 0) + int(n)
            row["_saved"] += int(a)
        out = []
        for key in sorted(rows):
            row = rows[key]
            row["saved_usd"] = row.pop("_saved") / PUSD_PER_USD
            out.append(row)
        return out

    def _check_costs(self, frame: nw.LazyFrame, groups: GroupTable, costs: list[str]) -> None:
        for k, c in enumerate(costs):
            if len(groups) and groups.smallest(f"min{c}") < 0:
                bad = self.backend.collect(frame.filter(nw.col(c) == UNPRICED).sort(*self.order_by).head(1).select(
                    "request_id", MODEL, DAY, BATCH, CACHED, WRITE)).to_dict(as_series=False)
                model = self.rates.models[bad[MODEL][0]]
                day = int_day(bad[DAY][0])
                what = ("it has no price on that day" if not self._priced(model, day) else
                        "a batch request, and it has no batch price" if bad[BATCH][0] else
                        "it has no cached-input or cache-write price for the prompt-cache tokens"
                        + (", or no rate for its audio / image / long-TTL write tokens (never billed at the "
                           "text rate)" if self.kinds else "")
                        + (", or not the request's service tier" if self.tiers else ""))
                step = "the logged traffic" if k == 0 else f"step {k} ({self.stack[k - 1].label})"
                raise PriceError(f"cannot price request {bad['request_id'][0]!r} after {step}: model {model} "
                                 f"on {day}: {what}")
            if len(groups):
                exact = groups.exact_float(f"s{c}") / PUSD_PER_USD
                approx = groups[f"f{c}"] / PUSD_PER_USD
                if (np.abs(exact - approx) > 1e-6 * np.maximum(1.0, np.abs(approx))).any():
                    raise OverflowError("a (tenant, feature, day) spends more than $9.2M: beyond exact "
                                        "integer money; replay a shorter period")

    def _priced(self, model: str, day) -> bool:
        try:
            self.book.price_on(model, day)
            return True
        except PriceError:
            return False

    def _output(self, frame: nw.LazyFrame, contexts: list[StageContext]) -> nw.LazyFrame:
        k_last = len(contexts)
        steps = tuple((ctx.step, ctx.policy.name, ctx.act, tuple(ctx.policy.outputs())) for ctx in contexts)
        key = ("output", self.rates.models, self.kinds, self.tiers, self.has_quality, steps)
        frame = frame if self.backend.keeps_order else frame.sort(*self.order_by)
        return self.backend.select(frame, key, lambda: self._output_columns(k_last, steps))

    def _output_columns(self, k_last: int, steps: tuple) -> list[nw.Expr]:
        """The per-request frame's columns after step ``k_last``; ``steps``: (step, policy name,
        action column, outputs) of each step."""
        models = dict(enumerate(self.rates.models))
        cols = [nw.col("request_id"), nw.col("ts"), nw.col("tenant"), nw.col("feature"),
                nw.col(LOGGED).replace_strict(models, default="?", return_dtype=nw.String).alias("model"),
                nw.col(MODEL).replace_strict(models, default="?", return_dtype=nw.String).alias("replayed_model"),
                nw.col(IN).alias("input_tokens"), nw.col(CACHED).alias("cached_input_tokens"),
                nw.col(WRITE).alias("cache_write_tokens"), nw.col(OUT).alias("output_tokens"),
                *(nw.col(k).alias(KINDS[k][0]) for k in self.kinds),
                *([nw.col(TIER).replace_strict(dict(enumerate(self.tiers)), default="?", return_dtype=nw.String)
                   .alias("service_tier")] if self.tiers else []),
                nw.col(BATCH).alias("batch"),
                nw.col(FATE).replace_strict(dict(enumerate(FATES)), default="?", return_dtype=nw.String).alias("fate"),
                nw.col("_c0").alias("baseline_pusd"), nw.col(f"_c{k_last}").alias("cost_pusd"),
                (nw.col("_c0") / PUSD_PER_USD).alias("baseline_usd"),
                (nw.col(f"_c{k_last}") / PUSD_PER_USD).alias("cost_usd"),
                nw.col(SOURCE).replace_strict(dict(enumerate(SOURCES)), default="?", return_dtype=nw.String)
                .alias("outcome")]
        if self.has_quality:
            cols += [nw.col("_q0").alias("baseline_quality"), nw.col(f"_q{k_last}").alias("quality")]
        cols += [nw.col(act).alias(action_column(step, name)) for step, name, act, _ in steps]
        for step, _, _, outputs in steps:
            for name in outputs:
                cols.append(nw.col(f"_o{step}_{name}").alias(f"step{step}_{name}"))
        return cols


def _tier_name(col: nw.Expr) -> nw.Expr:
    """A logged service tier, normalised as ``price_frame`` does (null → standard, lower case)."""
    return col.cast(nw.String).fill_null("standard").str.strip_chars().str.to_lowercase()


def action_column(step: int, name: str) -> str:
    return f"act{step}_{name}"
