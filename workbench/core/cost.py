"""The arithmetic that turns tokens and prices into dollars.

Token convention (the canonical schema's): ``input_tokens`` is the *whole* prompt as OpenAI's
``usage.prompt_tokens`` reports it, so it includes ``cached_input_tokens`` (cache reads) and
``cache_write_tokens``. Uncached input = input − cached − cache write. (Anthropic reports the three
separately; its loader adds them up.)

Long-context tiers apply to the whole request when its input exceeds the tier threshold, as
Anthropic and Google bill them. Batch requests use the batch input/output rates; cache reads and
writes in a batch get the same discount ratio as input (Anthropic's and Google's rule).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass

from workbench.core.prices import NoPriceError, PriceBook, PriceError, PriceRecord

PER_MTOK = 1_000_000
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class CostBreakdown:
    """Dollars of one request (or of many, once scaled), split by what is billed."""

    input_usd: float = 0.0
    cached_input_usd: float = 0.0
    cache_write_usd: float = 0.0
    output_usd: float = 0.0

    @property
    def prompt_usd(self) -> float:
        """Everything billed for the prompt side: uncached, cache reads and cache writes."""
        return self.input_usd + self.cached_input_usd + self.cache_write_usd

    @property
    def total_usd(self) -> float:
        return self.prompt_usd + self.output_usd

    def scaled(self, factor: float) -> "CostBreakdown":
        return CostBreakdown(*(v * factor for v in asdict(self).values()))

    def __add__(self, other: "CostBreakdown") -> "CostBreakdown":
        return CostBreakdown(*(a + b for a, b in zip(asdict(self).values(), asdict(other).values())))

    def to_dict(self) -> dict:
        return {**asdict(self), "total_usd": self.total_usd}


def _check_tokens(**tokens: float) -> None:
    for name, value in tokens.items():
        if value is None or value != value or value < 0:
            raise PriceError(f"{name} must be a non-negative number, got {value!r}")


def rates_for(
    price: PriceRecord,
    input_tokens: float,
    *,
    batch: bool = False,
    cache_ttl: str = "5m",
) -> dict[str, float | None]:
    """The four per-1M rates that apply to one request (tier and batch resolved)."""
    if cache_ttl not in ("5m", "1h"):
        raise PriceError(f"cache_ttl must be '5m' or '1h', got {cache_ttl!r}")
    r = {k: price.rate(k, int(input_tokens)) for k in
         ("input", "output", "cached_input", f"cache_write_{cache_ttl}", "batch_input", "batch_output")}
    rates = {
        "input": r["input"],
        "output": r["output"],
        "cached_input": r["cached_input"],
        "cache_write": r[f"cache_write_{cache_ttl}"],
    }
    if batch:
        if r["batch_input"] is None or r["batch_output"] is None:
            raise NoPriceError(f"{price.model} has no batch price in the record of {price.effective}")
        ratio = r["batch_input"] / r["input"] if r["input"] else 1.0
        rates = {
            "input": r["batch_input"],
            "output": r["batch_output"],
            "cached_input": None if rates["cached_input"] is None else rates["cached_input"] * ratio,
            "cache_write": None if rates["cache_write"] is None else rates["cache_write"] * ratio,
        }
    return rates


def request_cost(
    price: PriceRecord,
    input_tokens: float,
    output_tokens: float,
    cached_input_tokens: float = 0,
    cache_write_tokens: float = 0,
    *,
    batch: bool = False,
    cache_ttl: str = "5m",
) -> CostBreakdown:
    """Cost of one request under ``price`` (average token counts may be fractional)."""
    _check_tokens(input_tokens=input_tokens, output_tokens=output_tokens,
                  cached_input_tokens=cached_input_tokens, cache_write_tokens=cache_write_tokens)
    uncached = input_tokens - cached_input_tokens - cache_write_tokens
    if uncached < 0:
        raise PriceError(
            f"cached ({cached_input_tokens}) + cache-write ({cache_write_tokens}) tokens exceed "
            f"input tokens ({input_tokens}); input_tokens is the whole prompt"
        )
    rates = rates_for(price, input_tokens, batch=batch, cache_ttl=cache_ttl)
    for tokens, key in ((cached_input_tokens, "cached_input"), (cache_write_tokens, "cache_write")):
        if tokens and rates[key] is None:
            raise NoPriceError(f"{price.model} has no {key.replace('_', '-')} price in the record of {price.effective}")
    return CostBreakdown(
        input_usd=uncached * rates["input"] / PER_MTOK,
        cached_input_usd=cached_input_tokens * (rates["cached_input"] or 0.0) / PER_MTOK,
        cache_write_usd=cache_write_tokens * (rates["cache_write"] or 0.0) / PER_MTOK,
        output_usd=output_tokens * rates["output"] / PER_MTOK,
    )


@dataclass(frozen=True)
class Estimate:
    """A feature's cost at a steady volume: per request, per day and per month."""

    model: str
    record: PriceRecord
    input_tokens: float
    output_tokens: float
    cached_input_tokens: float
    cache_write_tokens: float
    requests_per_day: float
    days: int
    batch: bool
    per_request: CostBreakdown

    @property
    def usd_per_request(self) -> float:
        return self.per_request.total_usd

    @property
    def per_day(self) -> CostBreakdown:
        return self.per_request.scaled(self.requests_per_day)

    @property
    def usd_per_day(self) -> float:
        return self.per_day.total_usd

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_day * self.days

    def to_dict(self) -> dict:
        day = self.per_day
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "requests_per_day": self.requests_per_day,
            "days": self.days,
            "batch": self.batch,
            "usd_per_request": self.usd_per_request,
            "usd_per_day": self.usd_per_day,
            "usd_per_month": self.usd_per_month,
            "input_usd_per_day": day.prompt_usd,
            "uncached_input_usd_per_day": day.input_usd,
            "cached_input_usd_per_day": day.cached_input_usd,
            "cache_write_usd_per_day": day.cache_write_usd,
            "output_usd_per_day": day.output_usd,
            "price": self.record.to_dict(),
        }


def estimate(
    book: PriceBook,
    model: str,
    input_tokens: float,
    output_tokens: float,
    cached_input_tokens: float = 0,
    cache_write_tokens: float = 0,
    *,
    requests_per_day: float = 1,
    days: int = DAYS_PER_MONTH,
    batch: bool = False,
    on: dt.date | str | None = None,
    cache_ttl: str = "5m",
) -> Estimate:
    """Price a feature: average tokens per request × daily volume, on the price of ``on``."""
    _check_tokens(requests_per_day=requests_per_day, days=days)
    info = book.model(model)
    record = book.price_on(info.id, on)
    per_request = request_cost(record, input_tokens, output_tokens, cached_input_tokens,
                               cache_write_tokens, batch=batch, cache_ttl=cache_ttl)
    est = Estimate(info.id, record, input_tokens, output_tokens, cached_input_tokens,
                   cache_write_tokens, requests_per_day, int(days), batch, per_request)
    if not all(math.isfinite(v) for v in (*per_request.to_dict().values(), est.usd_per_day, est.usd_per_month)):
        raise PriceError("too large: the cost of these token counts and volumes overflows a float "
                         f"(input {input_tokens:g}, output {output_tokens:g}, {requests_per_day:g} requests/day)")
    return est


@dataclass(frozen=True)
class EffectiveCost:
    """The seeds' effective-cost formula with every factor shown.

    ``effective = base × (1 − cache_savings) × (1 + escalation_rate × tier_multiplier) × retry_factor``
    """

    base_usd: float
    cache_savings: float
    escalation_rate: float
    tier_multiplier: float
    retry_factor: float

    @property
    def cache_factor(self) -> float:
        return 1.0 - self.cache_savings

    @property
    def escalation_factor(self) -> float:
        return 1.0 + self.escalation_rate * self.tier_multiplier

    @property
    def total_usd(self) -> float:
        return self.base_usd * self.cache_factor * self.escalation_factor * self.retry_factor

    def parts(self) -> list[dict]:
        """Each step: its factor, the running total after it, and the dollars it adds (negative = saves)."""
        steps = [("base", 1.0), ("cache", self.cache_factor),
                 ("escalation", self.escalation_factor), ("retries", self.retry_factor)]
        out, running = [], self.base_usd
        for name, factor in steps:
            before = running
            running = running * factor if name != "base" else running
            out.append({"step": name, "factor": factor, "usd": running,
                        "delta_usd": running - before if name != "base" else running})
        return out


def effective_cost(
    base_usd: float,
    cache_savings: float = 0.0,
    escalation_rate: float = 0.0,
    tier_multiplier: float = 0.0,
    retry_factor: float = 1.0,
) -> EffectiveCost:
    """Apply cache savings, cascade escalation and retries to a base cost (see :class:`EffectiveCost`)."""
    if base_usd < 0:
        raise PriceError(f"base cost must be non-negative, got {base_usd}")
    for name, v in (("cache_savings", cache_savings), ("escalation_rate", escalation_rate)):
        if not 0.0 <= v <= 1.0:
            raise PriceError(f"{name} must be between 0 and 1, got {v}")
    if tier_multiplier < 0:
        raise PriceError(f"tier_multiplier must be non-negative, got {tier_multiplier}")
    if retry_factor < 1.0:
        raise PriceError(f"retry_factor must be at least 1 (1 = no retries), got {retry_factor}")
    return EffectiveCost(base_usd, cache_savings, escalation_rate, tier_multiplier, retry_factor)
