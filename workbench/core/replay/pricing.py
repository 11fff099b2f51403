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

from workbench.core.cost import cache_write_rate, rates_for
from workbench.core.prices import NoPriceError, PriceBook, PriceRecord
from workbench.core.schema import MAX_TOKENS_PER_REQUEST

PUSD_PER_USD = 10**12
NO_RATE = -1          # a rate the price record does not offer
NEVER = 2**62         # tier threshold of a record without that tier
UNPRICED = -1         # cost of a request that cannot be priced (checked after every replay)
MAX_TOKENS = MAX_TOKENS_PER_REQUEST  # the schema's bound: ingest enforces the same

# state column names shared with the engine
MODEL, DAY, IN, CACHED, WRITE, OUT, BATCH, FATE, EXTRA = (
    "_m", "_day", "_in", "_cached", "_write", "_out", "_batch", "_fate", "_extra")
#: token kinds billed at their own rates (issue 8), carried only when the log has some (else absent):
#: state column -> (log column, rate key of ``rates_for``, rate-column letter). Each is a part of
#: IN (audio, image), CACHED (cached audio), WRITE (long-TTL writes) or OUT (audio output).
LONG, AIN, ACACHED, AOUT, IMG = "_wlong", "_ain", "_acached", "_aout", "_img"
KINDS = {LONG: ("cache_write_long_tokens", "cache_write_long", "l"),
         AIN: ("audio_input_tokens", "input_audio", "a"),
         ACACHED: ("cached_audio_input_tokens", "cached_input_audio", "h"),
         AOUT: ("audio_output_tokens", "output_audio", "p"),
         IMG: ("image_input_tokens", "input_image", "g")}
TIER = "_tier"   # service tier code (Int8): 0 standard, k = RateTable.tiers[k]; only when the log names tiers
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
_RATE_KEYS = {"i": "input", "o": "output", "c": "cached_input", "w": "cache_write",
              **{x: key for _, key, x in KINDS.values()}}


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


def rate_units(record: PriceRecord, input_tokens: int, batch: bool, cache_ttl: str = "5m",
               service_tier: str | None = None, letters: tuple[str, ...] = _X) -> tuple[int, ...]:
    """Rates in pUSD per token of ``letters`` (see ``_RATE_KEYS``) for one request shape, from
    :func:`workbench.core.cost.rates_for` — the rates :func:`~workbench.core.frame_cost.price_frame`
    uses. A batch request is billed at batch prices whatever its service tier (the batch API is
    its own tier); a tier the record does not offer gives ``NO_RATE`` (the request is unpriceable)."""
    tier = None if batch else service_tier
    try:
        r = rates_for(record, input_tokens, batch=batch, cache_ttl=cache_ttl, service_tier=tier)
    except NoPriceError:  # no batch price; no such service tier
        return (NO_RATE,) * len(letters)
    return tuple(to_units(r[_RATE_KEYS[x]]) for x in letters)


@dataclass
class RateTable:
    """Rates of every (model code, day) the replay can meet, with long-context tier levels."""

    models: tuple[str, ...]
    levels: int
    columns: dict[str, list]
    batchable: frozenset[int] = field(default_factory=frozenset)
    cacheable: frozenset[int] = field(default_factory=frozenset)
    writable: frozenset[int] = field(default_factory=frozenset)
    kinds: tuple[str, ...] = ()        # extra token kinds carried (state columns of KINDS)
    tiers: tuple[str, ...] = ()        # service tiers named by the log ("standard" first), () = none
    long_writable: frozenset[int] = field(default_factory=frozenset)
    tier_able: dict[int, frozenset[int]] = field(default_factory=dict)  # tier code -> models offering it

    KEYS = (MODEL, DAY, BATCH)

    @property
    def keys(self) -> list[str]:
        """The join keys: (model, day, batch) and the service tier when the log names tiers."""
        return [*self.KEYS, TIER] if self.tiers else list(self.KEYS)

    @property
    def rate_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.KEYS and c != TIER]

    def code(self, model_id: str) -> int:
        return self.models.index(model_id)


def build_rate_table(book: PriceBook, models: list[str], days: list[int], cache_ttl: str = "5m",
                     kinds: tuple[str, ...] = (), tiers: tuple[str, ...] = ()) -> RateTable:
    """Rates for every model id in ``models`` (code = position) on every ``days`` (yyyymmdd ints);
    with ``kinds`` (state columns of :data:`KINDS`) their rates too, with ``tiers`` one row per tier."""
    letters = _X + tuple(KINDS[k][2] for k in kinds)
    tier_names = tiers or ("standard",)
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
    cols: dict[str, list] = {MODEL: [], DAY: [], BATCH: [], **({TIER: []} if tiers else {})}
    for t in range(1, levels + 1):
        cols[f"_t{t}"] = []
    for t in range(levels + 1):
        for x in letters:
            cols[f"_r{t}{x}"] = []
    every = set(range(len(models)))
    units_of: dict[tuple, tuple[int, ...]] = {}  # a record usually covers many days: its rates once
    batchable, cacheable, writable, long_writable = set(every), set(every), set(every), set(every)
    tier_able = {k: set(every) for k in range(1, len(tier_names))}
    for (code, d), rec in records.items():
        steps = sorted(rec.tiers, key=lambda t: t.above_input_tokens) if rec else []
        for k, tier in enumerate(tier_names):
            for batch in (False, True):
                cols[MODEL].append(code)
                cols[DAY].append(d)
                cols[BATCH].append(batch)
                if tiers:
                    cols[TIER].append(k)
                for t in range(1, levels + 1):
                    cols[f"_t{t}"].append(steps[t - 1].above_input_tokens if t <= len(steps) else NEVER)
                for t in range(levels + 1):
                    shape = 0 if t == 0 else steps[min(t, len(steps)) - 1].above_input_tokens + 1 if steps else 0
                    if rec is None:
                        units = (NO_RATE,) * len(letters)
                    else:
                        units = units_of.get(memo := (id(rec), shape, batch, tier))
                        if units is None:
                            units = units_of[memo] = rate_units(rec, shape, batch, cache_ttl, tier, letters)
                    for x, u in zip(letters, units):
                        cols[f"_r{t}{x}"].append(u)
            if k and (rec is None or tier not in rec.service_tiers):
                tier_able[k].discard(code)
        if rec is None or rec.batch_input is None or rec.batch_output is None:
            batchable.discard(code)
        if rec is None or rec.cached_input is None:
            cacheable.discard(code)
        if rec is None or cache_write_rate(rec, cache_ttl) is None:  # OpenAI's 30m/12h writes count too
            writable.discard(code)
        if rec is None or rates_for(rec, 0)["cache_write_long"] is None:
            long_writable.discard(code)
    return RateTable(tuple(models), levels, cols, frozenset(batchable), frozenset(cacheable), frozenset(writable),
                     tuple(kinds), tuple(tiers), frozenset(long_writable),
                     {k: frozenset(v) for k, v in tier_able.items()})


def cost_expr(levels: int, extra: bool = False, as_called: bool = False, kinds: tuple[str, ...] = ()) -> nw.Expr:
    """Cost in pUSD of the state columns, given the rate-table columns joined on (model, day, batch).

    ``extra``: add the ``_extra`` column (only stacks with a policy that bills extra have it).
    ``as_called``: the cost of the call itself, whatever the request's fate.
    ``kinds``: the extra token kinds carried; each is billed at its own rate, as in ``price_frame``
    (audio output above a capped output count is billed as capped: min(audio, output))."""
    def pick(x: str) -> nw.Expr:
        e = nw.col(f"_r0{x}")
        for t in range(1, levels + 1):
            e = nw.when(nw.col(IN) > nw.col(f"_t{t}")).then(nw.col(f"_r{t}{x}")).otherwise(e)
        return e

    ri, ro, rc, rw = (pick(x) for x in _X)
    part = {k: nw.col(k) for k in kinds}   # only the kinds the log carries: the plain plan stays as it was
    if AOUT in kinds:
        part[AOUT] = nw.min_horizontal(nw.col(AOUT), nw.col(OUT))

    def less(col: str, *kinds_of: str) -> nw.Expr:
        e = nw.col(col)
        for k in kinds_of:
            e = e - part[k] if k in part else e
        return e

    cached, write = less(CACHED, ACACHED), less(WRITE, LONG)   # text reads, short writes
    billed = less(IN, AIN, IMG) - nw.col(CACHED) - nw.col(WRITE)       # uncached text
    billed = billed * ri + cached * rc + write * rw + less(OUT, AOUT) * ro
    ok = (ri >= 0) & (ro >= 0) & ((cached == 0) | (rc >= 0)) & ((write == 0) | (rw >= 0))
    for k in kinds:
        r = pick(KINDS[k][2])
        billed = billed + part[k] * r
        ok = ok & ((part[k] == 0) | (r >= 0))
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
