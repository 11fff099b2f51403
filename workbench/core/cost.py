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
from dataclasses import asdict, dataclass, field

from workbench.core.prices import STANDARD_TIERS, NoPriceError, PriceBook, PriceError, PriceRecord

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


#: cache-write TTLs: ``cache_ttl`` names the TTL of the cache writes not counted as long ones
SHORT_TTLS = ("5m", "30m")   # Anthropic 5 minutes, OpenAI 30 minutes
LONG_TTLS = ("1h", "12h")    # Anthropic 1 hour, OpenAI 12 hours
CACHE_TTLS = SHORT_TTLS + LONG_TTLS


def _short_write(price: PriceRecord, input_tokens: int) -> float | None:
    """The model's short-TTL cache-write rate: Anthropic's 5-minute or OpenAI's 30-minute write."""
    v = price.rate("cache_write_5m", input_tokens)
    return v if v is not None else price.rate("cache_write_30m", input_tokens)


def _long_write(price: PriceRecord, input_tokens: int) -> float | None:
    """The model's long-TTL cache-write rate: Anthropic's 1-hour or OpenAI's 12-hour write."""
    v = price.rate("cache_write_1h", input_tokens)
    return v if v is not None else price.rate("cache_write_12h", input_tokens)


def cache_write_rate(price: PriceRecord, cache_ttl: str = "5m") -> float | None:
    """The base cache-write rate of TTL ``cache_ttl`` (short: 5m/30m, long: 1h/12h), None if not offered."""
    return _short_write(price, 0) if cache_ttl in SHORT_TTLS else _long_write(price, 0)


def rates_for(
    price: PriceRecord,
    input_tokens: float,
    *,
    batch: bool = False,
    cache_ttl: str = "5m",
    service_tier: str | None = None,
) -> dict[str, float | None]:
    """The per-1M rates that apply to one request (tier and batch resolved).

    ``cache_write`` is the rate of cache writes of TTL ``cache_ttl`` (short: ``5m``/``30m`` — the
    model's own short TTL, Anthropic 5 minutes or OpenAI 30 minutes; long: ``1h``/``12h``);
    ``cache_write_long`` is always the long-TTL rate (for ``cache_write_long_tokens``). Audio and image
    tokens have their own rates (None = the record does not price them: never the text rate)."""
    if cache_ttl not in CACHE_TTLS:
        raise PriceError(f"cache_ttl must be one of {', '.join(CACHE_TTLS)}, got {cache_ttl!r}")
    n = int(input_tokens)
    long = _long_write(price, n)
    rates = {
        "input": price.rate("input", n),
        "output": price.rate("output", n),
        "cached_input": price.rate("cached_input", n),
        "cache_write": _short_write(price, n) if cache_ttl in SHORT_TTLS else long,
        "cache_write_long": long,
        "input_audio": price.rate("input_audio", n),
        "cached_input_audio": price.rate("cached_input_audio", n),
        "output_audio": price.rate("output_audio", n),
        "input_image": price.rate("input_image", n),
    }
    if service_tier is not None and str(service_tier).lower() not in STANDARD_TIERS:
        return _tier_rates(price, n, rates, batch, cache_ttl, str(service_tier))
    if batch:
        b_in, b_out = price.rate("batch_input", n), price.rate("batch_output", n)
        if b_in is None or b_out is None:
            raise NoPriceError(f"{price.model} has no batch price in the record of {price.effective}")
        ratio = b_in / rates["input"] if rates["input"] else 1.0
        rates = {k: None if v is None else v * ratio for k, v in rates.items()}
        rates["input"], rates["output"] = b_in, b_out
    return rates


def _tier_rates(price: PriceRecord, n: int, standard: dict, batch: bool, cache_ttl: str, name: str) -> dict:
    """Rates of service tier ``name``: a multiplier on every standard rate, or the tier's own rates."""
    tier = price.service_tiers.get(name)
    if tier is None:
        offered = ", ".join(sorted(price.service_tiers)) or "none"
        raise NoPriceError(f"{price.model} has no service tier {name!r} in the record of {price.effective} "
                           f"(tiers: standard, {offered})")
    if batch:
        raise PriceError(f"service tier {name!r} and batch pricing cannot be combined")
    if tier.multiplier is not None:
        return {k: None if v is None else v * tier.multiplier for k, v in standard.items()}
    if any(n > t.above_input_tokens for t in price.tiers):
        raise NoPriceError(f"{price.model}: service tier {name!r} has no long-context price in the record of "
                           f"{price.effective}")
    r = tier.rates

    def first(*keys: str) -> float | None:
        return next((r[k] for k in keys if r.get(k) is not None), None)

    long = first("cache_write_1h", "cache_write_12h")
    return {
        "input": r["input"], "output": r["output"], "cached_input": r.get("cached_input"),
        "cache_write": first("cache_write_5m", "cache_write_30m") if cache_ttl in SHORT_TTLS else long,
        "cache_write_long": long, "input_audio": r.get("input_audio"),
        "cached_input_audio": r.get("cached_input_audio"), "output_audio": r.get("output_audio"),
        "input_image": r.get("input_image"),
    }


#: extra token kinds of a request: (argument / column, the rate it is billed at)
EXTRA_KINDS = (
    ("cache_write_long_tokens", "cache_write_long"),
    ("audio_input_tokens", "input_audio"),
    ("cached_audio_input_tokens", "cached_input_audio"),
    ("audio_output_tokens", "output_audio"),
    ("image_input_tokens", "input_image"),
)


def request_cost(
    price: PriceRecord,
    input_tokens: float,
    output_tokens: float,
    cached_input_tokens: float = 0,
    cache_write_tokens: float = 0,
    *,
    batch: bool = False,
    cache_ttl: str = "5m",
    cache_write_long_tokens: float = 0,
    audio_input_tokens: float = 0,
    cached_audio_input_tokens: float = 0,
    audio_output_tokens: float = 0,
    image_input_tokens: float = 0,
    service_tier: str | None = None,
) -> CostBreakdown:
    """Cost of one request under ``price`` (average token counts may be fractional).

    Token kinds, each a part of a total (the canonical schema's convention):
    ``cached_input_tokens`` (of which ``cached_audio_input_tokens`` are audio), ``cache_write_tokens``
    (of which ``cache_write_long_tokens`` have the long TTL: Anthropic 1 hour, OpenAI 12 hours; the
    rest have ``cache_ttl``), ``audio_input_tokens`` and ``image_input_tokens`` (uncached, of
    ``input_tokens``), ``audio_output_tokens`` (of ``output_tokens``). A kind the record has no rate
    for raises :class:`NoPriceError` — audio is never billed at the text rate silently."""
    extra = {"cache_write_long_tokens": cache_write_long_tokens, "audio_input_tokens": audio_input_tokens,
             "cached_audio_input_tokens": cached_audio_input_tokens, "audio_output_tokens": audio_output_tokens,
             "image_input_tokens": image_input_tokens}
    _check_tokens(input_tokens=input_tokens, output_tokens=output_tokens,
                  cached_input_tokens=cached_input_tokens, cache_write_tokens=cache_write_tokens, **extra)
    uncached = input_tokens - cached_input_tokens - cache_write_tokens - audio_input_tokens - image_input_tokens
    if uncached < 0:
        raise PriceError(
            f"cached ({cached_input_tokens}) + cache-write ({cache_write_tokens}) + audio ({audio_input_tokens}) "
            f"+ image ({image_input_tokens}) input tokens exceed input tokens ({input_tokens}); "
            "input_tokens is the whole prompt"
        )
    for part, whole, a, b in ((cache_write_long_tokens, cache_write_tokens, "cache_write_long_tokens",
                               "cache_write_tokens"),
                              (cached_audio_input_tokens, cached_input_tokens, "cached_audio_input_tokens",
                               "cached_input_tokens"),
                              (audio_output_tokens, output_tokens, "audio_output_tokens", "output_tokens")):
        if part > whole:
            raise PriceError(f"{a} ({part}) exceed {b} ({whole}): they are a part of it")
    rates = rates_for(price, input_tokens, batch=batch, cache_ttl=cache_ttl, service_tier=service_tier)
    short_writes = cache_write_tokens - cache_write_long_tokens
    text_cached = cached_input_tokens - cached_audio_input_tokens
    need = ((text_cached, "cached_input", "cached-input"), (short_writes, "cache_write", f"{cache_ttl} cache-write"),
            *((extra[k], key, key.replace("_", "-")) for k, key in EXTRA_KINDS))
    for tokens, key, label in need:
        if tokens and rates[key] is None:
            raise NoPriceError(f"{price.model} has no {label} price in the record of {price.effective}"
                               + (" (audio/image tokens are never billed at the text rate)"
                                  if "audio" in key or "image" in key else ""))

    def usd(tokens: float, key: str) -> float:
        return tokens * rates[key] / PER_MTOK if tokens else 0.0

    return CostBreakdown(
        input_usd=uncached * rates["input"] / PER_MTOK + usd(audio_input_tokens, "input_audio")
        + usd(image_input_tokens, "input_image"),
        cached_input_usd=usd(text_cached, "cached_input") + usd(cached_audio_input_tokens, "cached_input_audio"),
        cache_write_usd=usd(short_writes, "cache_write") + usd(cache_write_long_tokens, "cache_write_long"),
        output_usd=(output_tokens - audio_output_tokens) * rates["output"] / PER_MTOK
        + usd(audio_output_tokens, "output_audio"),
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
    extra_tokens: dict = field(default_factory=dict)   # the EXTRA_KINDS given (non-zero only)
    cache_ttl: str = "5m"
    service_tier: str = "standard"

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
            "cache_ttl": self.cache_ttl,
            "service_tier": self.service_tier,
            **self.extra_tokens,
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
    service_tier: str | None = None,
    **extra_tokens: float,
) -> Estimate:
    """Price a feature: average tokens per request × daily volume, on the price of ``on``.

    ``extra_tokens``: the token kinds of :data:`EXTRA_KINDS` (``audio_input_tokens=…``, …)."""
    unknown = set(extra_tokens) - {k for k, _ in EXTRA_KINDS}
    if unknown:
        raise PriceError(f"unknown token kind(s) {sorted(unknown)}; valid: {', '.join(k for k, _ in EXTRA_KINDS)}")
    _check_tokens(requests_per_day=requests_per_day, days=days)
    info = book.model(model)
    record = book.price_on(info.id, on)
    per_request = request_cost(record, input_tokens, output_tokens, cached_input_tokens,
                               cache_write_tokens, batch=batch, cache_ttl=cache_ttl, service_tier=service_tier,
                               **extra_tokens)
    est = Estimate(info.id, record, input_tokens, output_tokens, cached_input_tokens,
                   cache_write_tokens, requests_per_day, int(days), batch, per_request,
                   {k: v for k, v in extra_tokens.items() if v}, cache_ttl, service_tier or "standard")
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
