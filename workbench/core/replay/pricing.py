"""Pricing inside the replay engine: exact integer money over any Narwhals backend.

Money is an Int64 number of **pico-dollars** (pUSD, 1e-12 USD). A rate of ``r`` USD per 1M tokens
is ``r × 10**6`` pUSD per token, an integer for every rate written with up to six decimals (the
sheets use at most five); derived rates (the batch discount applied to cache reads/writes) are
rounded half-even to a whole pUSD per token once, in the rate table. Per-request costs are then
exact integer products, identical on every backend and in the plain-Python reference replay.
Overflow: a request is below 2**62 pUSD while tokens < 2**31; sums are taken per day (a day above
$9.2M is rejected), and totals are added in Python integers.

The rules are those of :func:`workbench.core.cost.rates_for` (which builds every rate here), so the
engine agrees with :func:`workbench.core.frame_cost.price_frame` to float rounding (tested).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import narwhals.stable.v2 as nw

from workbench.core.cost import rates_for
from workbench.core.prices import NoPriceError, PriceBook, PriceRecord

PUSD_PER_USD = 10**12
NO_RATE = -1          # a rate the price record does not offer
NEVER = 2**62         # tier threshold of a record without that tier
UNPRICED = -1         # cost of a request that cannot be priced (checked after every replay)
MAX_TOKENS = 2**31 - 1

# state column names shared with the engine
MODEL, DAY, IN, CACHED, WRITE, OUT, BATCH, FATE, EXTRA = (
    "_m", "_day", "_in", "_cached", "_write", "_out", "_batch", "_fate", "_extra")
QUALITY, SOURCE = "_q", "_src"   # quality (Float64, null = unknown); outcome source (Int8)
LOGGED_OUTCOME, FROM_OUTCOMES, FALLBACK = 0, 1, 2   # values of SOURCE
QUALITY_UNITS = 10**9  # quality is summed in integer billionths: the same totals on every engine and order


def quality_units(q: nw.Expr) -> nw.Expr:
    """Quality as integer billionths (null → 0), for exact, order-independent sums."""
    return (q.fill_null(0.0) * QUALITY_UNITS).round(0).cast(nw.Int64)
SOURCES = ("logged", "outcome", "fallback")
CALLED, CACHE_HIT, BLOCKED, REMOVED = 0, 1, 2, 3
FATES = ("called", "cache_hit", "blocked", "removed")
_X = ("i", "o", "c", "w")  # input, output, cached input, cache write


def to_units(rate_per_mtok: float | None) -> int:
    """USD per 1M tokens → integer pUSD per token (``NO_RATE`` when not offered)."""
    if rate_per_mtok is None:
        return NO_RATE
    d = Decimal(repr(float(rate_per_mtok))) * 10**6
    return int(d.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def usd_to_units(usd: float) -> int:
    return int((Decimal(repr(float(usd))) * PUSD_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def units_to_usd(units: int | float) -> float:
    return float(units) / PUSD_PER_USD


def day_int(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def int_day(value: int) -> dt.date:
    return dt.date(value // 10000, value // 100 % 100, value % 100)


def record_units(record: PriceRecord, input_tokens: int, batch: bool, cache_ttl: str = "5m") -> tuple[int, int, int, int]:
    """(input, output, cached, write) rates in pUSD per token for one request shape."""
    try:
        r = rates_for(record, input_tokens, batch=batch, cache_ttl=cache_ttl)
    except NoPriceError:  # no batch price
        return (NO_RATE,) * 4
    return (to_units(r["input"]), to_units(r["output"]), to_units(r["cached_input"]), to_units(r["cache_write"]))


@dataclass
class RateTable:
    """Rates of every (model code, day) the replay can meet, with long-context tier levels."""

    models: tuple[str, ...]
    levels: int
    columns: dict[str, list]
    batchable: frozenset[int] = field(default_factory=frozenset)
    cacheable: frozenset[int] = field(default_factory=frozenset)
    writable: frozenset[int] = field(default_factory=frozenset)

    KEYS = (MODEL, DAY, BATCH)

    @property
    def rate_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.KEYS]

    def code(self, model_id: str) -> int:
        return self.models.index(model_id)


def build_rate_table(book: PriceBook, models: list[str], days: list[int], cache_ttl: str = "5m") -> RateTable:
    """Rates for every model id in ``models`` (code = position) on every ``days`` (yyyymmdd ints)."""
    records: dict[tuple[int, int], PriceRecord | None] = {}
    levels = 0
    for code, model in enumerate(models):
        info = book.model(model)
        for d in days:
            try:
                rec = info.price_on(int_day(d))
            except NoPriceError:
                rec = None
            records[code, d] = rec
            if rec is not None:
                levels = max(levels, len(rec.tiers))
    # one row per (model, day, batch flag): the join brings 4 rates per tier level, nothing more
    cols: dict[str, list] = {MODEL: [], DAY: [], BATCH: []}
    for t in range(1, levels + 1):
        cols[f"_t{t}"] = []
    for t in range(levels + 1):
        for x in _X:
            cols[f"_r{t}{x}"] = []
    batchable, cacheable, writable = set(range(len(models))), set(range(len(models))), set(range(len(models)))
    for (code, d), rec in records.items():
        tiers = sorted(rec.tiers, key=lambda t: t.above_input_tokens) if rec else []
        for batch in (False, True):
            cols[MODEL].append(code)
            cols[DAY].append(d)
            cols[BATCH].append(batch)
            for t in range(1, levels + 1):
                cols[f"_t{t}"].append(tiers[t - 1].above_input_tokens if t <= len(tiers) else NEVER)
            for t in range(levels + 1):
                shape = 0 if t == 0 else tiers[min(t, len(tiers)) - 1].above_input_tokens + 1 if tiers else 0
                units = record_units(rec, shape, batch, cache_ttl) if rec else (NO_RATE,) * 4
                for x, u in zip(_X, units):
                    cols[f"_r{t}{x}"].append(u)
        if rec is None or rec.batch_input is None or rec.batch_output is None:
            batchable.discard(code)
        if rec is None or rec.cached_input is None:
            cacheable.discard(code)
        if rec is None or getattr(rec, f"cache_write_{cache_ttl}") is None:
            writable.discard(code)
    return RateTable(tuple(models), levels, cols, frozenset(batchable), frozenset(cacheable), frozenset(writable))


def cost_expr(levels: int, extra: bool = False, as_called: bool = False) -> nw.Expr:
    """Cost in pUSD of the state columns, given the rate-table columns joined on (model, day, batch).

    ``extra``: add the ``_extra`` column (only stacks with a policy that bills extra have it).
    ``as_called``: the cost of the call itself, whatever the request's fate."""
    def pick(x: str) -> nw.Expr:
        e = nw.col(f"_r0{x}")
        for t in range(1, levels + 1):
            e = nw.when(nw.col(IN) > nw.col(f"_t{t}")).then(nw.col(f"_r{t}{x}")).otherwise(e)
        return e

    ri, ro, rc, rw = (pick(x) for x in _X)
    cached, write = nw.col(CACHED), nw.col(WRITE)
    billed = (nw.col(IN) - cached - write) * ri + cached * rc + write * rw + nw.col(OUT) * ro
    ok = (ri >= 0) & (ro >= 0) & ((cached == 0) | (rc >= 0)) & ((write == 0) | (rw >= 0))
    call = nw.when(ok).then(billed).otherwise(nw.lit(UNPRICED, nw.Int64))
    if as_called:
        return call.cast(nw.Int64)
    fate, zero = nw.col(FATE), nw.lit(0, nw.Int64)
    if extra:
        call = nw.when(ok).then(billed + nw.col(EXTRA)).otherwise(nw.lit(UNPRICED, nw.Int64))
    return (nw.when(fate == CALLED).then(call).when(fate == CACHE_HIT).then(nw.col(EXTRA) if extra else zero)
            .otherwise(zero)).cast(nw.Int64)


def reference_cost(book: PriceBook, model: str, day: dt.date, tokens: tuple[int, int, int, int], batch: bool,
                   cache_ttl: str = "5m") -> int:
    """Plain-Python cost of one call in pUSD (the reference replay's pricing); raises if unpriceable."""
    rec = book.model(model).price_on(day)
    inp, cached, write, out = tokens
    r = rates_for(rec, inp, batch=batch, cache_ttl=cache_ttl)  # raises without batch price
    if cached and r["cached_input"] is None:
        raise NoPriceError(f"{rec.model} has no cached-input price")
    if write and r["cache_write"] is None:
        raise NoPriceError(f"{rec.model} has no cache-write price")
    return ((inp - cached - write) * to_units(r["input"]) + cached * to_units(r["cached_input"] or 0)
            + write * to_units(r["cache_write"] or 0) + out * to_units(r["output"]))
