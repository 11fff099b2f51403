"""Price records and the price book: what a model cost on a given day.

Pure data structures. Reading the YAML sheets lives in :mod:`workbench.io.pricesheets`.
All prices are USD per 1M tokens. Records keep the exact decimal string from the sheet
(``*_text``) beside the float used in arithmetic.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Mapping

#: Rate fields of a price record, in display order.
RATE_FIELDS = (
    "input",
    "output",
    "cached_input",
    "cache_write_5m",
    "cache_write_1h",
    "batch_input",
    "batch_output",
    "cache_write_30m",
    "cache_write_12h",
    "input_audio",
    "cached_input_audio",
    "output_audio",
    "input_image",
)


class PriceError(ValueError):
    """A price sheet or a price question that cannot be answered."""


class UnknownModelError(PriceError, KeyError):
    """A model name that no sheet knows. Never priced at $0."""

    def __init__(self, name: str, close: list[str]):
        self.name = name
        self.close = close
        hint = f"; close matches: {', '.join(close)}" if close else ""
        super().__init__(f"unknown model {name!r}{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class NoPriceError(PriceError):
    """The model exists but has no price for the date or the requested rate."""


@dataclass(frozen=True)
class Tier:
    """Long-context tier: above ``above_input_tokens`` input tokens the whole request uses these rates."""

    above_input_tokens: int
    rates: Mapping[str, float]


@dataclass(frozen=True)
class ServiceTier:
    """A service tier of a price record: its own rates (OpenAI Flex / Priority) or a multiplier on every
    standard rate (OpenAI regional processing +10 %, Anthropic US-only inference 1.1×)."""

    name: str
    source: str
    rates: Mapping[str, float] = field(default_factory=dict)   # absent rate = not offered in this tier
    multiplier: float | None = None
    note: str = ""


#: names that mean "no service tier"
STANDARD_TIERS = ("standard", "default", "")


@dataclass(frozen=True)
class PriceRecord:
    """One period of a model's price. Rates are floats in USD per 1M tokens (None = not offered)."""

    model: str
    effective: dt.date
    until: dt.date | None
    source: str
    input: float
    output: float
    cached_input: float | None = None
    cache_write_5m: float | None = None
    cache_write_1h: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    cache_write_30m: float | None = None      # OpenAI cache write, 30-minute TTL (from GPT-5.6)
    cache_write_12h: float | None = None      # OpenAI cache write, 12-hour TTL
    input_audio: float | None = None          # uncached audio input tokens
    cached_input_audio: float | None = None   # audio input tokens read from the cache
    output_audio: float | None = None         # audio output tokens
    input_image: float | None = None          # image input tokens, where billed apart from text
    tiers: tuple[Tier, ...] = ()
    note: str = ""
    derived: bool = False
    guaranteed_until: dt.date | None = None   # a promotional price guaranteed only through this day
    service_tiers: Mapping[str, ServiceTier] = field(default_factory=dict)

    def covers(self, day: dt.date) -> bool:
        return self.effective <= day and (self.until is None or day <= self.until)

    def rate(self, name: str, input_tokens: int = 0) -> float | None:
        """A rate, taking the long-context tier into account for a request of ``input_tokens``."""
        if name not in RATE_FIELDS:
            raise PriceError(f"unknown rate {name!r}; valid: {', '.join(RATE_FIELDS)}")
        value = getattr(self, name)
        for tier in sorted(self.tiers, key=lambda t: t.above_input_tokens):
            if input_tokens > tier.above_input_tokens and name in tier.rates:
                value = tier.rates[name]
        return value

    def to_dict(self) -> dict:
        d = {
            "model": self.model,
            "effective": self.effective.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "source": self.source,
        }
        d.update({k: getattr(self, k) for k in RATE_FIELDS})
        d["tiers"] = [{"above_input_tokens": t.above_input_tokens, **t.rates} for t in self.tiers]
        if self.note:
            d["note"] = self.note
        if self.derived:
            d["derived"] = True
        if self.guaranteed_until:
            d["guaranteed_until"] = self.guaranteed_until.isoformat()
        if self.service_tiers:
            d["service_tiers"] = {n: ({"multiplier": t.multiplier} if t.multiplier is not None else dict(t.rates))
                                  | {"source": t.source} for n, t in self.service_tiers.items()}
        return d


@dataclass(frozen=True)
class ModelInfo:
    """A model as the sheets describe it."""

    id: str
    vendor: str
    history: tuple[PriceRecord, ...]
    aliases: tuple[str, ...] = ()
    display_name: str = ""
    context_window: int | None = None
    max_output_tokens: int | None = None
    tokenizer: str = "estimate:generic"
    litellm: tuple[str, ...] = ()
    litellm_diff: str = ""
    genai_prices: tuple[str, ...] = ()   # genai-prices model refs to match (default: id and aliases)
    genai_prices_diff: str = ""          # why our current price differs from genai-prices'
    status: str = "active"
    notes: str = ""
    sheet: str = ""
    reviewed: dt.date | None = None   # when the model's sheet was last reviewed (`reviewed:`)

    @property
    def label(self) -> str:
        return self.display_name or self.id

    @property
    def token_method(self) -> str:
        return "estimate" if self.tokenizer.startswith("estimate:") else "exact"

    def price_on(self, day: dt.date) -> PriceRecord:
        for rec in self.history:
            if rec.covers(day):
                return rec
        periods = ", ".join(
            f"{r.effective}..{r.until or 'now'}" for r in self.history
        ) or "none"
        raise NoPriceError(f"{self.id} has no price on {day} (priced periods: {periods})")


def _parse_day(day: dt.date | str | None) -> dt.date:
    if day is None:
        return dt.date.today()
    if isinstance(day, dt.datetime):
        return day.date()
    if isinstance(day, dt.date):
        return day
    try:
        return dt.date.fromisoformat(str(day))
    except ValueError:
        raise PriceError(f"malformed date {day!r}: expected YYYY-MM-DD") from None


@dataclass(frozen=True)
class PriceBook:
    """All models of all sheets, with alias resolution. Immutable: what-ifs are copies."""

    _models: Mapping[str, ModelInfo]
    _names: Mapping[str, str] = field(default_factory=dict)  # lower-case alias or id -> id

    @classmethod
    def from_models(cls, models: Iterable[ModelInfo]) -> "PriceBook":
        by_id: dict[str, ModelInfo] = {}
        names: dict[str, str] = {}
        for m in models:
            for name in (m.id, *m.aliases):
                key = name.lower()
                if key in names and names[key] != m.id:
                    raise PriceError(
                        f"{m.sheet}: model {m.id}: name {name!r} is already used by {names[key]}"
                    )
                names[key] = m.id
            by_id[m.id] = m
        return cls(by_id, names)

    def models(self, vendor: str | None = None) -> list[ModelInfo]:
        return [m for m in self._models.values() if vendor is None or m.vendor == vendor]

    def vendors(self) -> list[str]:
        return sorted({m.vendor for m in self._models.values()})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._names

    def __len__(self) -> int:
        return len(self._models)

    def sheets_reviewed(self) -> dict[str, dt.date | None]:
        """Each sheet file and the day it was last reviewed (``reviewed:``; None = not recorded)."""
        out: dict[str, dt.date | None] = {}
        for m in self._models.values():
            out.setdefault(m.sheet, m.reviewed)
        return dict(sorted(out.items()))

    def reviewed_as_of(self) -> dt.date | None:
        """"Prices as of": the oldest review date of the sheets (None if a sheet records none)."""
        days = list(self.sheets_reviewed().values())
        return None if not days or None in days else min(days)

    def resolve(self, name: str) -> str:
        """Canonical id for a model name or alias; raises :class:`UnknownModelError`."""
        key = str(name).strip().lower()
        if key in self._names:
            return self._names[key]
        close = difflib.get_close_matches(key, list(self._names), n=5, cutoff=0.6)
        raise UnknownModelError(str(name), sorted({self._names[c] for c in close}))

    def model(self, name: str) -> ModelInfo:
        return self._models[self.resolve(name)]

    def price_on(self, name: str, day: dt.date | str | None = None) -> PriceRecord:
        """The price record in force for ``name`` on ``day`` (default: today)."""
        return self.model(name).price_on(_parse_day(day))

    def with_override(self, name: str, day: dt.date | str | None = None, **rates: float) -> "PriceBook":
        """A copy where ``name`` costs ``rates`` (USD per 1M) on every day; the original is untouched.

        The override starts from the record in force on ``day`` (today by default), keeps the rates
        not given, and drops long-context tiers only for the rates overridden.
        """
        unknown = set(rates) - set(RATE_FIELDS)
        if unknown:
            raise PriceError(f"unknown rate(s) {sorted(unknown)}; valid: {', '.join(RATE_FIELDS)}")
        for k, v in rates.items():
            if v is None or float(v) < 0:
                raise PriceError(f"override {k} for {name} must be a non-negative number, got {v!r}")
        info = self.model(name)
        try:
            base = info.price_on(_parse_day(day))
        except NoPriceError:
            base = max(info.history, key=lambda r: r.effective) if info.history else None
        floats = {k: float(v) for k, v in rates.items()}
        tiers = tuple(
            Tier(t.above_input_tokens, {k: v for k, v in t.rates.items() if k not in floats})
            for t in (base.tiers if base else ())
        )
        record = PriceRecord(
            model=info.id,
            effective=dt.date.min,
            until=None,
            source="what-if override (user input)",
            input=floats.get("input", base.input if base else 0.0),
            output=floats.get("output", base.output if base else 0.0),
            **{k: floats.get(k, getattr(base, k) if base else None) for k in RATE_FIELDS[2:]},
            tiers=tuple(t for t in tiers if t.rates),
            note=f"overrides {', '.join(sorted(floats))}" + (f" of the {base.effective} record" if base else ""),
        )
        if base is None and not {"input", "output"} <= set(floats):
            raise PriceError(f"{info.id} has no price record; an override needs both input and output")
        models = dict(self._models)
        models[info.id] = dataclasses.replace(info, history=(record,))
        return PriceBook(models, dict(self._names))


def decimal_text(value: float | Decimal | str | None) -> str:
    """Shortest exact-looking text for a rate (for display and diffs)."""
    if value is None:
        return "-"
    d = Decimal(f"{float(value):.6g}").normalize()
    return format(d, "f")


def freshness_warnings(book: PriceBook, on: dt.date | str | None = None, max_age_days: int = 90) -> list[dict]:
    """What a person must re-check on ``on`` (default today): sheets not reviewed for more than
    ``max_age_days`` days (or never), and promotional prices in force past their guaranteed end."""
    day = _parse_day(on)
    out: list[dict] = []
    for sheet, reviewed in book.sheets_reviewed().items():
        if reviewed is None:
            out.append({"kind": "stale_sheet", "sheet": sheet, "reviewed": None,
                        "message": f"{sheet}: no `reviewed:` date recorded"})
        elif (day - reviewed).days > max_age_days:
            out.append({"kind": "stale_sheet", "sheet": sheet, "reviewed": reviewed.isoformat(),
                        "message": f"{sheet}: last reviewed {reviewed} ({(day - reviewed).days} days before {day}; "
                                   f"limit {max_age_days})"})
    for m in sorted(book.models(), key=lambda m: m.id):
        for r in m.history:
            if r.guaranteed_until and r.covers(day) and day > r.guaranteed_until:
                out.append({"kind": "promotion_past_guarantee", "sheet": m.sheet, "model": m.id,
                            "effective": r.effective.isoformat(), "guaranteed_until": r.guaranteed_until.isoformat(),
                            "message": f"{m.sheet}: model {m.id}: the promotional price of {r.effective} "
                                       f"(${decimal_text(r.input)}/${decimal_text(r.output)}) was guaranteed only "
                                       f"through {r.guaranteed_until}; check whether it still holds on {day}"})
    return out
