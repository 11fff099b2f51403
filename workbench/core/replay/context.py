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
from workbench.core.replay.pricing import (
    BATCH, CACHED, CALLED, EXTRA, FATE, IN, MODEL, OUT, WRITE, RateTable, cost_expr,
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
        key = "request_id" if self._deriving else self._run.backend.row_key
        return self._run.backend.window(frame, dict(exprs), list(dict.fromkeys([*columns, *self.order_by])), key,
                                        dict(pre or {}))

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
        """
        codes = nw.lit(self.code(target, param), nw.Int32) if isinstance(target, str) else target.cast(nw.Int32)
        changed = (mask & (codes != nw.col(MODEL))).fill_null(False)
        out = {MODEL: nw.when(changed).then(codes).otherwise(nw.col(MODEL))}
        every = set(range(len(self.rates.models)))
        for column, able, empty in ((CACHED, self.rates.cacheable, nw.lit(0, nw.Int64)),
                                    (WRITE, self.rates.writable, nw.lit(0, nw.Int64)),
                                    (BATCH, self.rates.batchable, nw.lit(False))):
            if able != every:
                lose = changed & ~codes.is_in(sorted(able))
                out[column] = nw.when(lose).then(empty).otherwise(nw.col(column))
        return changed, out

    # -- hooks into the engine ------------------------------------------------------------------
    def run_kernel(self, frame: nw.LazyFrame, by: Sequence[str], inputs: Sequence[str],
                   outputs: Mapping[str, object], fn: Kernel) -> nw.LazyFrame:
        """Run a sequential kernel per partition ``by`` in ``_ord`` order; join its outputs back.

        ``outputs`` maps each output column to its Narwhals dtype. The backend decides how: in
        memory it sorts once and calls ``fn`` on all partitions; DuckDB streams sorted batches of
        whole partitions; a cluster backend would repartition and call ``fn`` per partition.
        """
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
        (e.g. a cascade's cheap first call, billed on top through ``_extra``)."""
        code = self.code(model, param)
        probe = frame.with_columns(**{"_save_m": nw.col(MODEL), MODEL: nw.lit(code, nw.Int32)})
        priced = price_into(self._run.backend, probe, self._run.rates_frame, self.rates, name, as_called=True)
        return priced.with_columns(**{MODEL: nw.col("_save_m")}).drop("_save_m")

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
    joined = backend.join_rates(frame, rates_frame, list(RateTable.KEYS))
    return joined.with_columns(**{name: cost_expr(rates.levels, extra, as_called)}).drop(*rates.rate_columns)
