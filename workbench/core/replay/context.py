"""What a policy sees: the replay state as a Narwhals frame, plus a few helpers.

State columns (one row per logged request; see docs/replay-semantics.md):

==========  =======  ==============================================================
``_ord``    Int64    processing order: rank by (``ts``, ``request_id``)
``_day``    Int32    UTC day as yyyymmdd
``_m``      Int32    model code (``ctx.rates.models[code]`` is the canonical id)
``_in``     Int64    input tokens (whole prompt, cached and cache-write included)
``_cached`` Int64    cached input tokens;  ``_write``: cache-write tokens
``_out``    Int64    output tokens
``_batch``  Boolean  billed at batch-API prices
``_fate``   Int8     0 called, 1 served from a response cache, 2 blocked, 3 removed
``_extra``  Int64    pUSD billed on top of the call (e.g. a cascade's discarded cheap call)
``_q``      Float64  quality of the answer the user gets (null = unknown; only when the log or
                     the outcomes carry quality, see ``ctx.has_quality``)
``_src``    Int8     where the output tokens / quality come from: 0 logged, 1 the outcomes table
                     (the request moved to a model the outcomes cover), 2 fallback (moved, no
                     outcome for that model: logged tokens kept, quality unknown)
==========  =======  ==============================================================

plus the canonical input columns the stack requires (``request_id``, ``ts``, ``tenant``,
``feature``, ``prompt``, ``attempt`` …). ``ctx.cost`` is each request's cost in pUSD after the
previous steps. A policy returns the frame with state columns replaced and ``ctx.act`` (the action
code, 0 = untouched) added; private columns it wants to read back in ``summarize`` are named with
``ctx.private(name)``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import narwhals.stable.v2 as nw
import numpy as np

from workbench.core.prices import PriceError
from workbench.core.replay.params import PolicyError
from workbench.core.replay.pricing import (
    ACACHED, AIN, BATCH, CACHED, CALLED, DAY, EXTRA, FALLBACK, FATE, FROM_OUTCOMES, IN, LONG, MODEL, OUT, QUALITY,
    SOURCE, TIER, UNPRICED, WRITE, RateTable, cost_expr, int_day,
)

if TYPE_CHECKING:  # pragma: no cover
    from workbench.core.replay.registry import Policy

ORD = "_ord"

#: A sequential kernel: ``fn(arrays, starts) -> outputs``. ``arrays`` maps input names to numpy
#: arrays of one or more whole partitions, each sorted by ``_ord``; ``starts`` are the partitions'
#: first row positions. It returns a mapping of output name -> numpy array of the same length.
Kernel = Callable[[Mapping[str, np.ndarray], np.ndarray], Mapping[str, np.ndarray]]


class StageContext:
    """Helpers for one step of the stack (built by the engine)."""

    def __init__(self, run, step: int, policy: "Policy", frame: nw.LazyFrame, deriving: bool = False):
        self._run = run
        self.step = step
        self.policy = policy
        self.frame = frame
        self.act = f"_a{step}"
        self.cost = nw.col(f"_c{step - 1}")
        self._deriving = deriving

    @property
    def order_by(self) -> list[str]:
        """Columns that put requests in processing order, for ``over(..., order_by=ctx.order_by)``."""
        return list(self._run.order_by)

    @property
    def cost_column(self) -> str:
        return f"_c{self.step - 1}"

    def window(self, frame: nw.LazyFrame, exprs: Mapping[str, nw.Expr], columns: Sequence[str],
               pre: Mapping[str, nw.Expr] | None = None) -> nw.LazyFrame:
        """Add window expressions that read only ``columns`` of the frame (partition keys, values;
        ``ctx.order_by`` is added) and the helper columns ``pre`` (computed first, then dropped).
        Use this rather than ``with_columns`` for windows: on DuckDB the window then sorts those
        columns alone and is joined back, instead of sorting every column of every row."""
        self._need_stateful("ctx.window")
        key = "request_id" if self._deriving else self._run.backend.row_key
        return self._run.backend.window(frame, dict(exprs), list(dict.fromkeys([*columns, *self.order_by])), key,
                                        dict(pre or {}))

    def _need_stateful(self, what: str) -> None:
        if not self._deriving and not self.policy.stateful:
            raise PolicyError(f"policy {self.policy.name!r} uses {what} in apply, which couples requests: "
                              f"declare stateful = True")

    # -- read-only facts ------------------------------------------------------------------------
    @property
    def rates(self) -> RateTable:
        return self._run.rates

    @property
    def book(self):
        return self._run.book

    @property
    def columns(self) -> set[str]:
        return set(self._run.input_columns)

    @property
    def called(self) -> nw.Expr:
        """Requests that still go to a model (not blocked, removed or served from a cache)."""
        return nw.col(FATE) == CALLED

    @property
    def tokens(self) -> nw.Expr:
        """Billed tokens (input + output) of called requests, 0 otherwise."""
        return nw.when(self.called).then(nw.col(IN) + nw.col(OUT)).otherwise(nw.lit(0, nw.Int64))

    def private(self, name: str) -> str:
        return f"_p{self.step}_{name}"

    def output(self, name: str) -> str:
        """Column of the extra output ``name`` declared in ``Policy.outputs()`` (write it in
        ``apply``); the result frame shows it as ``step{k}_{name}``."""
        if name not in self.policy.outputs():
            raise PolicyError(f"policy {self.policy.name!r} writes output {name!r} but does not declare it "
                              f"in outputs()")
        return f"_o{self.step}_{name}"

    # -- quality, outcomes, attached data -------------------------------------------------------
    @property
    def has_quality(self) -> bool:
        """True when the replay carries quality (a ``quality`` column in the log or the outcomes)."""
        return self._run.has_quality

    @property
    def quality(self) -> nw.Expr:
        """Quality of each request's current answer (Float64; null = unknown or no labels)."""
        return nw.col(QUALITY) if self._run.has_quality else nw.lit(None, nw.Float64)

    def array(self, name: str) -> np.ndarray:
        """An attached array (``replay(..., attach={name: AttachedArray(ids, values)})``): the
        frame's column ``name`` holds each request's row in it (null when the request has none)."""
        arrays = self._run.arrays
        if name not in arrays:
            raise PolicyError(f"policy {self.policy.name!r} reads attached array {name!r}; attached: "
                              f"{', '.join(sorted(arrays)) or 'none'}")
        return arrays[name]

    @property
    def row_key(self) -> str:
        """A unique Int64 key of each request (e.g. for a cache hit's ``source`` output)."""
        return self._run.backend.row_key

    @property
    def may_write(self) -> nw.Expr:
        """Requests whose answer a response cache may store: called here and not refused by a later
        step (budgets) — the cache + budget rule of docs/replay-semantics.md § 10. A cache kernel
        takes this as an input and writes entries only from these rows."""
        refused = self._run.refused_column
        if refused is None:
            return self.called
        return self.called & ~nw.col(refused).fill_null(False)

    # -- expressions ----------------------------------------------------------------------------
    def code(self, model: str, param: str = "model") -> int:
        """Model code of a model name or alias; unknown names raise naming the policy and parameter."""
        try:
            return self.rates.code(self.book.resolve(model))
        except PriceError as e:
            raise self.policy.error(param, f"names {e}") from None

    def model_in(self, models: Iterable[str], param: str) -> nw.Expr:
        return nw.col(MODEL).is_in([self.code(m, param) for m in models])

    def isin(self, column: str, values: Sequence[str] | None) -> nw.Expr:
        """``column`` in ``values`` (``None`` = every row); nulls never match a list."""
        if values is None:
            return nw.lit(True)
        return nw.col(column).is_in(list(values)).fill_null(False)

    def plan_in(self, plans: Mapping[str, str], default_plan: str, wanted: Sequence[str]) -> nw.Expr:
        """Tenant's plan (from the ``plans`` mapping; ``default_plan`` otherwise) is in ``wanted``."""
        wanted = set(wanted)
        if default_plan in wanted:
            others = [t for t, p in plans.items() if p not in wanted]
            return ~nw.col("tenant").is_in(others).fill_null(False) if others else nw.lit(True)
        inside = [t for t, p in plans.items() if p in wanted]
        return nw.col("tenant").is_in(inside).fill_null(False) if inside else nw.lit(False)

    def move_to(self, mask: nw.Expr, target: str | nw.Expr, param: str = "model") -> tuple[nw.Expr, dict]:
        """Move ``mask`` rows to ``target`` (a model name, or an expression of model codes).

        Returns ``(changed, columns)``: ``changed`` marks rows whose model really changes;
        ``columns`` are the state expressions to pass to ``with_columns``. The prompt-cache split is
        kept when the target prices cache reads/writes and billed as plain input otherwise; a batch
        request moved to a model without batch prices goes real-time (docs/replay-semantics.md).
        Output tokens and quality come from the outcomes table where it has the (request, model)
        pair; otherwise the logged output tokens are kept, quality becomes unknown and ``_src``
        flags the fallback.
        """
        codes = nw.lit(self.code(target, param), nw.Int32) if isinstance(target, str) else target.cast(nw.Int32)
        changed = (mask & (codes != nw.col(MODEL))).fill_null(False)
        out = {MODEL: nw.when(changed).then(codes).otherwise(nw.col(MODEL))}
        out.update(self._outcome_columns(changed, codes))
        out.update(self._losses(changed, codes))
        return changed, out

    def _losses(self, changed: nw.Expr, codes: nw.Expr) -> dict:
        """State a move to ``codes`` loses where the target lacks the price (docs § 2): cache reads /
        writes become plain input (cached audio: uncached audio), long-TTL writes become the target's
        short writes, batch goes real-time, a service tier the target does not offer goes standard."""
        rates, out = self.rates, {}
        every = set(range(len(rates.models)))
        zero = nw.lit(0, nw.Int64)

        def lose(able) -> nw.Expr | None:
            return None if able == every else changed & ~codes.is_in(sorted(able))

        kinds = set(rates.kinds)
        no_cache, no_write = lose(rates.cacheable), lose(rates.writable)
        if no_cache is not None:
            out[CACHED] = nw.when(no_cache).then(zero).otherwise(nw.col(CACHED))
            if ACACHED in kinds:
                out[ACACHED] = nw.when(no_cache).then(zero).otherwise(nw.col(ACACHED))
                if AIN in kinds:
                    out[AIN] = nw.when(no_cache).then(nw.col(AIN) + nw.col(ACACHED)).otherwise(nw.col(AIN))
        if no_write is not None:
            out[WRITE] = nw.when(no_write).then(zero).otherwise(nw.col(WRITE))
        if LONG in kinds:
            no_long = lose(rates.long_writable)
            gone = [m for m in (no_write, no_long) if m is not None]
            if gone:
                out[LONG] = nw.when(gone[0] if len(gone) == 1 else gone[0] | gone[1]).then(zero).otherwise(nw.col(LONG))
        no_batch = lose(rates.batchable)
        if no_batch is not None:
            out[BATCH] = nw.when(no_batch).then(nw.lit(False)).otherwise(nw.col(BATCH))
        if rates.tiers:
            tier = nw.col(TIER)
            for k, able in rates.tier_able.items():
                gone = lose(able)
                if gone is not None:
                    tier = nw.when(gone & (nw.col(TIER) == k)).then(nw.lit(0, nw.Int8)).otherwise(tier)
            out[TIER] = tier
        return out

    def _outcome_columns(self, changed: nw.Expr, codes: nw.Expr) -> dict:
        run = self._run
        covered = run.outcome_models  # model code -> {has, tokens, quality} columns
        present = nw.lit(False)
        tokens = nw.col(OUT)
        quality = nw.lit(None, nw.Float64)
        for code, info in covered.items():
            here = (codes == code) & nw.col(info["has"]).fill_null(False)
            present = present | here
            if info["tokens"] is not None:
                tokens = nw.when(here & ~nw.col(info["tokens"]).is_null()).then(nw.col(info["tokens"])).otherwise(tokens)
            if info["quality"] is not None:
                quality = nw.when(here).then(nw.col(info["quality"])).otherwise(quality)
        out = {SOURCE: nw.when(changed & present).then(nw.lit(FROM_OUTCOMES, nw.Int8))
               .when(changed).then(nw.lit(FALLBACK, nw.Int8)).otherwise(nw.col(SOURCE))}
        if covered:
            out[OUT] = nw.when(changed & present).then(tokens.cast(nw.Int64)).otherwise(nw.col(OUT))
        if run.has_quality:
            out[QUALITY] = nw.when(changed & present).then(quality).when(changed).then(nw.lit(None, nw.Float64)) \
                .otherwise(nw.col(QUALITY))
        return out

    # -- hooks into the engine ------------------------------------------------------------------
    def run_kernel(self, frame: nw.LazyFrame, by: Sequence[str], inputs: Sequence[str],
                   outputs: Mapping[str, object], fn: Kernel) -> nw.LazyFrame:
        """Run a sequential kernel per partition ``by`` in ``_ord`` order; join its outputs back.

        ``outputs`` maps each output column to its Narwhals dtype. The backend decides how: in
        memory it sorts once and calls ``fn`` on all partitions; DuckDB streams sorted batches of
        whole partitions; a cluster backend would repartition and call ``fn`` per partition.
        """
        self._need_stateful("ctx.run_kernel")
        frame = self._run.backend.materialize(frame)
        return self._run.backend.partitioned_kernel(frame, list(by), list(inputs), dict(outputs), fn)

    def json_field(self, frame: nw.LazyFrame, column: str, key: str, name: str) -> nw.LazyFrame:
        """Add ``name``: the string value of ``key`` in the JSON text column ``column`` (or null)."""
        return self._run.backend.json_field(frame, column, key, name)

    def collect(self, frame: nw.LazyFrame) -> nw.DataFrame:
        """Collect a small frame (a summary, events) on the engine's backend."""
        return self._run.backend.collect(frame)

    def cost_on(self, frame: nw.LazyFrame, model: str, name: str, param: str = "model") -> nw.LazyFrame:
        """Add column ``name``: the pUSD cost of each row's current tokens if called on ``model``
        (e.g. a cascade's cheap first call, billed on top through ``_extra``).

        The rule of a move applies (docs/replay-semantics.md § 2): prompt-cache tokens are billed as
        plain input when ``model`` has no cached-input / cache-write price, a batch request is priced
        real-time when it has no batch price. A row that still cannot be priced (no price that day)
        raises, naming the request, the model and the day — never a negative sentinel."""
        code = self.code(model, param)
        cols = {MODEL: nw.lit(code, nw.Int32), **self._losses(nw.lit(True), nw.lit(code, nw.Int32))}
        saved = {c: f"_save{c}" for c in cols}
        probe = frame.with_columns(**{v: nw.col(k) for k, v in saved.items()})
        probe = probe.with_columns(**cols)
        priced = price_into(self._run.backend, probe, self._run.rates_frame, self.rates, name, as_called=True)
        priced = priced.with_columns(**{k: nw.col(v) for k, v in saved.items()}).drop(*saved.values())
        bad = self.collect(priced.filter(nw.col(name) == UNPRICED).head(1).select("request_id", DAY)
                           ).to_dict(as_series=False)
        if bad["request_id"]:
            raise PolicyError(f"policy {self.policy.name!r}: cannot price request {bad['request_id'][0]!r} on "
                              f"{self.rates.models[code]} on {int_day(bad[DAY][0])}: no price that day")
        return priced

    @property
    def extra(self) -> str:
        """The ``_extra`` column (pUSD billed on top of the call). Only policies that declare
        ``bills_extra = True`` may write it; the engine adds it to the state for them."""
        if not self._run.has_extra:
            raise RuntimeError(f"policy {self.policy.name!r} writes _extra but does not declare bills_extra = True")
        return EXTRA


def price_into(backend, frame: nw.LazyFrame, rates_frame: nw.LazyFrame, rates: RateTable,
               name: str, extra: bool = False, as_called: bool = False) -> nw.LazyFrame:
    """Join the rate table on (model, day, batch) and add the pUSD cost column ``name``."""
    joined = backend.join_rates(frame, rates_frame, rates.keys)
    shape = (rates.levels, extra, as_called, rates.kinds)
    return backend.with_columns(joined, ("cost", name, *shape), lambda: {name: cost_expr(*shape)}
                                ).drop(*rates.rate_columns)
