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
import pandas as pd

from workbench.core.prices import PriceBook, PriceError
from workbench.core.replay.backends import Backend, caller_kind, make_backend
from workbench.core.replay.bootstrap import bootstrap_ci
from workbench.core.replay.context import ORD, StageContext, price_into
from workbench.core.replay.params import PolicyError
from workbench.core.replay.pricing import (
    BATCH, CACHED, DAY, EXTRA, FATE, FATES, IN, MAX_TOKENS, MODEL, OUT, PUSD_PER_USD, UNPRICED, WRITE,
    RateTable, build_rate_table, int_day, units_to_usd,
)
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
           seed: int = 0, cache_ttl: str = "5m", progress: Progress | None = None,
           spark_master: str | None = None) -> ReplayResult:
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
    """
    if prices is None:
        raise PriceError("replay needs a price book: replay(log, policies, load_prices())")
    stack = as_stack(policies)
    kind = caller_kind(log)
    backend = make_backend(engine, kind, memory_limit, temp_dir, spark_master)
    try:
        return _Run(stack, prices, backend, cache_ttl, progress).execute(log, kind, bootstrap, seed)
    except BaseException as e:
        backend.close()
        if isinstance(e, RuntimeError) and "interrupted" in str(e).lower():
            raise KeyboardInterrupt from e  # DuckDB turns Ctrl-C into "Query interrupted"
        raise


class _Run:
    def __init__(self, stack: PolicyStack, book: PriceBook, backend: Backend, cache_ttl: str,
                 progress: Progress | None):
        self.stack, self.book, self.backend, self.cache_ttl = stack, book, backend, cache_ttl
        self._progress = progress
        self.total_steps = len(stack) + 2  # read, baseline, each step; done = total
        self.has_extra = any(p.bills_extra for p in stack)
        self.input_columns: list[str] = []
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
        frame = self.prepare(self.backend.lazy(log))
        self.working_on(0, "pricing the baseline")
        frame = self.backend.materialize(self.price(frame, "_c0"))
        frame = self.backend.finish_order(frame, ["ts", "request_id"])
        self.order_by = list(self.backend.order_by)
        self._drop_stale(frame)
        self.tick(1, "baseline priced")
        last_use = self._last_use()
        contexts = []
        for k, policy in enumerate(self.stack, 1):
            self.working_on(k, f"{k}/{len(self.stack)} {policy.label}")
            ctx = StageContext(self, k, policy, frame)
            out = policy.apply(ctx)
            if ctx.act not in out.collect_schema().names():
                raise PolicyError(f"policy {policy.name!r} did not write its action column {ctx.act}")
            out = out.with_columns(nw.col(ctx.act).fill_null(0).cast(nw.Int8))
            out = self.price(out, f"_c{k}")
            done = [c for c, step in last_use.items() if step == k]
            if done:
                out = out.drop(*done)
            last = k == len(self.stack)
            if last or self.backend.materialize_every_step:
                frame = self.backend.materialize(out)
                self._drop_stale(frame)
            else:  # fused into the next step's plan (DuckDB: one pass instead of a table per step)
                frame = out
            ctx.frame = None  # do not keep every step's state alive
            contexts.append(ctx)
            self.tick(k + 1, f"{k}/{len(self.stack)} {policy.label}")
        self.backend.report = None
        result = self.summarize(frame, contexts, kind, n_boot, seed)
        self.tick(self.total_steps, "done")
        return result

    def _drop_stale(self, frame: nw.LazyFrame) -> None:
        release = getattr(self.backend, "release_older", None)
        if release is not None:  # DuckDB: only the newest materialized step is still referenced
            release()

    def _last_use(self) -> dict[str, int]:
        """Input columns no output needs, with the last step that reads them (dropped after it)."""
        last: dict[str, int] = {}
        for k, p in enumerate(self.stack, 1):
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
        needs: dict[str, str] = {}
        for p in self.stack:
            for c in sorted(p.reads() | p.requires()):
                needs.setdefault(c, p.label)
        absent = {c: who for c, who in needs.items() if c not in names and c not in ("tenant", "feature")}
        if absent:
            c, who = next(iter(absent.items()))
            raise PolicyError(f"policy {who!r} needs column {c!r}, which the log does not have")
        keep = list(dict.fromkeys([*IDENTITY, *needs]))
        later = set(IDENTITY).union(*(p.requires() for p in self.stack))
        adds = {c: nw.lit(None, nw.String) for c in ("tenant", "feature") if c not in names}
        adds.update({c: nw.lit(0, nw.Int64) for c in ("cached_input_tokens", "cache_write_tokens") if c not in names})
        frame = frame.with_columns(**adds) if adds else frame
        self.input_columns = [c for c in keep if c != "model"]

        ts_type = schema["ts"]
        if not isinstance(ts_type, nw.Datetime):
            raise ValueError(f"column 'ts' must be a datetime (UTC), got {ts_type}")
        ts = nw.col("ts").dt.convert_time_zone("UTC") if ts_type.time_zone else nw.col("ts")
        day = (ts.dt.year().cast(nw.Int32) * 10000 + ts.dt.month().cast(nw.Int32) * 100
               + ts.dt.day().cast(nw.Int32))
        frame = frame.select(*keep, *TOKEN_INPUT).with_columns(**{DAY: day})
        frame = frame.with_columns(*(nw.col(c).cast(nw.Int64) for c in TOKEN_INPUT),
                                   nw.col("request_id").cast(nw.String))
        self._validate(frame)
        pairs = self.backend.collect(frame.select("model", DAY).unique()).to_dict(as_series=False)
        self.rates = self._rate_table(pairs["model"], pairs[DAY])
        mapping = {raw: self.rates.code(self.book.resolve(raw)) for raw in set(pairs["model"])}
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
                 BATCH: nw.lit(False), FATE: nw.lit(0, nw.Int8),
                 **({EXTRA: nw.lit(0, nw.Int64)} if self.has_extra else {})}
        state[LOGGED] = state[MODEL]
        frame = frame.with_columns(**state).drop(*TOKEN_INPUT, "model")
        schema = {MODEL: nw.Int32, DAY: nw.Int32, BATCH: nw.Boolean, **{c: nw.Int64 for c in self.rates.rate_columns}}
        self.rates_frame = self.backend.small(self.rates.columns, schema)
        self.tick(0, "log read")
        return frame

    def _validate(self, frame: nw.LazyFrame) -> None:
        exprs = [nw.len().alias("n"), nw.col("request_id").n_unique().alias("unique_ids")]
        for c in ("request_id", "ts", "model", *TOKEN_INPUT):
            exprs.append(nw.col(c).null_count().alias(f"null_{c}"))
        for c in TOKEN_INPUT:
            exprs += [nw.col(c).min().alias(f"min_{c}"), nw.col(c).max().alias(f"max_{c}")]
        exprs.append((nw.col("input_tokens") - nw.col("cached_input_tokens") - nw.col("cache_write_tokens"))
                     .min().alias("min_uncached"))
        row = {k: v[0] for k, v in self.backend.collect(frame.select(*exprs)).to_dict(as_series=False).items()}
        self.n_rows = int(row["n"])
        if self.n_rows == 0:
            return
        for c in ("request_id", "ts", "model", *TOKEN_INPUT):
            if row[f"null_{c}"]:
                raise ValueError(f"{c}: {row[f'null_{c}']} row(s) missing")
        for c in TOKEN_INPUT:
            if row[f"min_{c}"] < 0:
                raise ValueError(f"{c}: negative token counts in the log")
            if row[f"max_{c}"] > MAX_TOKENS:
                raise ValueError(f"{c}: {row[f'max_{c}']} tokens in one request is beyond what replay accepts")
        if row["min_uncached"] < 0:
            raise ValueError("some rows have cached + cache-write tokens above input tokens "
                             "(input_tokens is the whole prompt)")
        if row["unique_ids"] != self.n_rows:
            raise ValueError(f"request_id is not unique ({self.n_rows - row['unique_ids']} duplicate(s)): "
                             f"replay orders requests by (ts, request_id)")

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
        return build_rate_table(self.book, models, sorted(set(days)), self.cache_ttl)

    # ------------------------------------------------------------------------------------------
    def summarize(self, frame: nw.LazyFrame, contexts: list[StageContext], kind: str, n_boot: int,
                  seed: int) -> ReplayResult:
        k_last = len(self.stack)
        costs = [f"_c{k}" for k in range(k_last + 1)]
        cols: dict[str, nw.Expr] = {}   # indicator columns first: plain sums group fast everywhere
        aggs = [nw.len().alias("n")]
        for c in costs:
            cols[f"f{c}"] = nw.col(c).cast(nw.Float64)
            aggs += [nw.col(c).sum().alias(f"s{c}"), nw.col(c).min().alias(f"min{c}"), nw.col(f"f{c}").sum()]
        for j in range(len(FATES)):
            cols[f"fate{j}"] = (nw.col(FATE) == j).cast(nw.Int64)
        for ctx in contexts:
            for code in range(1, len(ctx.policy.reasons()) + 1):
                cols[f"{ctx.act}_{code}"] = (nw.col(ctx.act) == code).cast(nw.Int64)
        aggs += [nw.col(c).sum() for c in cols if not c.startswith("f_")]
        raw = self.backend.collect(frame.select("tenant", "feature", DAY, *costs, **cols)
                                   .group_by("tenant", "feature", DAY).agg(*aggs)).to_dict(as_series=False)
        groups = pd.DataFrame({k: (vals if k in ("tenant", "feature", DAY) or k.startswith("f_")
                                   else np.array([int(v) for v in vals], dtype=object))
                               for k, vals in raw.items()})
        for k in groups.columns:  # counts fit int64; money sums stay Python ints (object)
            if not k.startswith(("s_", "f_", "min_")) and k not in ("tenant", "feature"):
                groups[k] = groups[k].astype("int64")
        self._check_costs(frame, groups, costs)
        totals = [sum(int(v) for v in groups[f"s{c}"]) if len(groups) else 0 for c in costs]

        steps = []
        for ctx in contexts:
            reasons = ctx.policy.reasons()
            counts = [int(groups[f"{ctx.act}_{i}"].sum()) if len(groups) else 0 for i in range(1, len(reasons) + 1)]
            steps.append({
                "step": ctx.step, "policy": ctx.policy.name, "label": ctx.policy.label,
                "config": ctx.policy.to_config(),
                "decisions": [{"code": i, "reason": r.text, "changes": r.changes, "requests": n}
                              for i, (r, n) in enumerate(zip(reasons, counts), 1) if n],
                "requests_touched": sum(n for r, n in zip(reasons, counts) if r.changes),
                "report": ctx.policy.summarize(ctx, frame),
            })
        fates = {name: int(groups[f"fate{j}"].sum()) if len(groups) else 0 for j, name in enumerate(FATES)}
        budget = {"events": sorted((e for s in steps for e in s["report"].get("events", [])),
                                   key=lambda e: (e["ts"], e["step"])),
                  "by_tenant": [row for s in steps for row in s["report"].get("by_tenant", [])]}
        ci = bootstrap_ci(groups, "f_c0", f"f_c{k_last}", n_boot, seed) if n_boot else None
        summary = {
            "requests": self.n_rows,
            "baseline_pusd": totals[0], "replayed_pusd": totals[-1],
            "waterfall": waterfall(totals, steps),
            "steps": steps,
            "fates": fates,
            "blocked_requests": fates["blocked"],
            "downgraded_requests": sum(s["report"].get("downgraded", 0) for s in steps),
            "budget": budget,
            "by_tenant": _rollup(groups, "tenant", costs[0], costs[-1]),
            "by_feature": _rollup(groups, "feature", costs[0], costs[-1]),
            "ci95": ci,
            "engine": self.backend.name,
            "stack": self.stack.to_dict(),
            "models": list(self.rates.models),
        }
        out = self._output(frame, contexts)
        native = self.backend.to_caller(out, kind)
        return ReplayResult(summary, frame=native, backend=self.backend)

    def _check_costs(self, frame: nw.LazyFrame, groups: pd.DataFrame, costs: list[str]) -> None:
        for k, c in enumerate(costs):
            if len(groups) and int(groups[f"min{c}"].min()) < 0:
                bad = self.backend.collect(frame.filter(nw.col(c) == UNPRICED).sort(*self.order_by).head(1).select(
                    "request_id", MODEL, DAY, BATCH, CACHED, WRITE)).to_dict(as_series=False)
                model = self.rates.models[bad[MODEL][0]]
                day = int_day(bad[DAY][0])
                what = ("it has no price on that day" if not self._priced(model, day) else
                        "a batch request, and it has no batch price" if bad[BATCH][0] else
                        "it has no cached-input or cache-write price for the prompt-cache tokens")
                step = "the logged traffic" if k == 0 else f"step {k} ({self.stack[k - 1].label})"
                raise PriceError(f"cannot price request {bad['request_id'][0]!r} after {step}: model {model} "
                                 f"on {day}: {what}")
            if len(groups):
                exact = groups[f"s{c}"].astype("float64") / PUSD_PER_USD
                approx = groups[f"f{c}"].astype("float64") / PUSD_PER_USD
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
        models = dict(enumerate(self.rates.models))
        cols = [nw.col("request_id"), nw.col("ts"), nw.col("tenant"), nw.col("feature"),
                nw.col(LOGGED).replace_strict(models, default="?", return_dtype=nw.String).alias("model"),
                nw.col(MODEL).replace_strict(models, default="?", return_dtype=nw.String).alias("replayed_model"),
                nw.col(IN).alias("input_tokens"), nw.col(CACHED).alias("cached_input_tokens"),
                nw.col(WRITE).alias("cache_write_tokens"), nw.col(OUT).alias("output_tokens"),
                nw.col(BATCH).alias("batch"),
                nw.col(FATE).replace_strict(dict(enumerate(FATES)), default="?", return_dtype=nw.String).alias("fate"),
                nw.col("_c0").alias("baseline_pusd"), nw.col(f"_c{k_last}").alias("cost_pusd"),
                (nw.col("_c0") / PUSD_PER_USD).alias("baseline_usd"),
                (nw.col(f"_c{k_last}") / PUSD_PER_USD).alias("cost_usd")]
        cols += [nw.col(ctx.act).alias(action_column(ctx.step, ctx.policy.name)) for ctx in contexts]
        return frame.select(*cols) if self.backend.keeps_order else frame.sort(*self.order_by).select(*cols)


def action_column(step: int, name: str) -> str:
    return f"act{step}_{name}"


def _rollup(groups: pd.DataFrame, key: str, base: str, final: str) -> list[dict]:
    if not len(groups):
        return []
    g = groups.groupby(groups[key].fillna("(none)").astype(str), sort=True)
    out = pd.DataFrame({"requests": g["n"].sum(), "baseline": g[f"f{base}"].sum(), "replayed": g[f"f{final}"].sum()})
    return [{key: idx, "requests": int(r.requests), "baseline_usd": units_to_usd(r.baseline),
             "replayed_usd": units_to_usd(r.replayed), "savings_usd": units_to_usd(r.baseline - r.replayed)}
            for idx, r in out.iterrows()]
