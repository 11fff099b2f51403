"""A feature's cost preview: the scenario's parameters, their URL encoding, and the arithmetic.

The parameters are declared once, in :data:`PARAMS`. The same declaration validates input
(:func:`parse_scenario`), builds the app's controls (bounds → ranges, description → tooltip),
and encodes a scenario as a URL query string (:func:`encode_query` / :func:`scenario_from_query`).

What the numbers mean (month = 30 days, as in :mod:`workbench.core.cost`):

* **List price**: ``(input × price_in + output × price_out) / 1e6`` per request, real-time, no cache.
* **Batch share** *b* (price sheet): a fraction *b* of requests is billed at the model's batch
  rates, the rest at real-time rates. A model without a batch price gets an error, not a number.
* **Cache-hit rate** *h* (price sheet): a share *h* of each request's input tokens is read from the
  prompt cache and billed at the model's ``cached_input`` rate. Cache-write premiums are not
  included. A model without a cached-input rate is priced with no cache discount, and says so.
* **Escalation and retries** (the seeds' multiplicative formula, :func:`~workbench.core.cost.effective_cost`):
  ``effective = base × (1 − cache_savings) × (1 + escalation_rate × tier_multiplier) × retry_factor``.
  ``base`` is the cost after the batch share; ``cache_savings`` is *not* a free input but the
  saving the real cached-input price gives (``1 − cached / base``), so the cache is counted once.
* **Growth** *g* per month compounds: month *m* (1 = now) runs at ``volume × (1 + g)^(m−1)``.
* **Multi-turn chats** resend the whole history: turn *k* has ``system + k·user + (k−1)·output``
  input tokens, so an *N*-turn conversation costs ``O(N²)`` tokens, not ``O(N)``. Each turn is one
  request; the per-request figures are the average over the conversation's turns.
"""
from __future__ import annotations


import csv
import datetime as dt
import io
import math
import re
import unicodedata
from dataclasses import dataclass, field, make_dataclass, replace
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote, urlencode

from workbench.core.cost import DAYS_PER_MONTH, EffectiveCost, effective_cost, request_cost
from workbench.core.prices import PriceBook, PriceError, PriceRecord, decimal_text

MONTHS = 12
MAX_MODELS = 8
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")


class ParamError(ValueError):
    """A value a parameter does not accept; the message is fit to show next to the field."""


# --------------------------------------------------------------------------- parameters

@dataclass(frozen=True)
class Param:
    """One scenario parameter: how it is typed, bounded, shown and encoded."""

    name: str
    kind: str  # "text" | "number" | "integer" | "models" | "date" | "flag"
    default: Any
    label: str
    description: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    control: str = "text"  # "text" | "slider" | "checkbox" | "date" | "models"
    group: str = "basics"  # "basics" | "effective" | "chat"
    max_hint: str = ""

    def parse(self, raw: Any, book: PriceBook | None = None) -> Any:
        """The value of ``raw`` (text as typed, or a number), or :class:`ParamError`."""
        kind = self.kind
        if kind == "text":
            text = str(raw)
            if len(text) > 120:
                raise ParamError("at most 120 characters")
            if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
                raise ParamError("one line of plain text, please")
            return text
        if kind == "flag":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ParamError(f"expected on/off, got {raw!r}")
        if kind == "date":
            text = "" if raw is None else (raw.isoformat() if isinstance(raw, dt.date) else str(raw).strip())
            if not text:
                return ""
            try:
                return dt.date.fromisoformat(text).isoformat()
            except ValueError:
                raise ParamError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None
        if kind == "models":
            return _parse_models(raw, book)
        value = _parse_number(raw)
        if kind == "integer":
            if value != int(value):
                raise ParamError(f"must be a whole number, got {_plain(value)}")
            value = int(value)
        else:
            value = float(value)
        if self.min is not None and value < self.min:
            raise ParamError(f"must be at least {_plain(self.min)}")
        if self.max is not None and value > self.max:
            raise ParamError(f"must be at most {self.max:,.0f}{self.max_hint}")
        return value

    def format(self, value: Any) -> str:
        """Text of a value, as the URL carries it and as :meth:`parse` reads it back."""
        if self.kind == "flag":
            return "1" if value else "0"
        if self.kind == "models":
            return ",".join(value)
        if self.kind in ("number", "integer"):
            return _plain(value)
        return str(value)

    def display(self, value: Any) -> str:
        """Text of a value for a text field (thousands separators)."""
        if self.kind in ("number", "integer"):
            v = float(value)
            return f"{v:,.0f}" if v.is_integer() and abs(v) < 1e15 else f"{v:,}"
        if self.kind == "models":
            return ", ".join(value)
        return self.format(value)


def _plain(value: float) -> str:
    v = float(value)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


_SUFFIX = {"k": 1e3, "m": 1e6}


def _parse_number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ParamError("must be a number")
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw).strip().replace(",", "").replace("_", "").replace(" ", "").replace("$", "")
        mult = 1.0
        if text[-1:].lower() in _SUFFIX:
            mult, text = _SUFFIX[text[-1].lower()], text[:-1]
        try:
            value = float(text) * mult
        except ValueError:
            shown = str(raw).strip()
            raise ParamError(f"not a number: {shown!r}" if shown else "enter a number") from None
    if not math.isfinite(value):
        raise ParamError("must be a finite number")
    return value


def _parse_models(raw: Any, book: PriceBook | None) -> tuple[str, ...]:
    names = [n.strip() for n in (raw.split(",") if isinstance(raw, str) else raw)]
    names = [n for n in names if n]
    if not names:
        raise ParamError("choose at least one model")
    out: list[str] = []
    for name in names:
        if book is not None:
            if name not in book:
                close = _close(book, name)
                hint = f" — did you mean {', '.join(close)}?" if close else ""
                raise ParamError(f"unknown model {name!r}{hint}")
            name = book.resolve(name)
        elif not _MODEL_NAME.match(name):
            raise ParamError(f"not a model name: {name!r}")
        if name not in out:
            out.append(name)
    if len(out) > MAX_MODELS:
        raise ParamError(f"compare at most {MAX_MODELS} models at a time")
    return tuple(out)


def _close(book: PriceBook, name: str) -> list[str]:
    try:
        book.resolve(name)
    except PriceError as e:
        return list(getattr(e, "close", []))
    return []


_TOKENS_HINT = " (more than any model's context window)"

#: The cost preview's parameters, declared once: validation, controls and URL encoding use them.
PARAMS: tuple[Param, ...] = (
    Param("feature", "text", "New feature", "Feature", "Name of the feature, as in its spec."),
    Param("input_tokens", "number", 3500.0, "Avg input tokens",
          "Average prompt tokens per request: system prompt, retrieved context and history. "
          "Paste an example prompt below to count it.", 0, 2_000_000, max_hint=_TOKENS_HINT),
    Param("output_tokens", "number", 350.0, "Avg output tokens",
          "Average completion tokens per request (per turn in a chat).", 0, 200_000,
          max_hint=" (more than any model can write in one reply)"),
    Param("requests_per_day", "number", 20_000.0, "Requests / day",
          "Model calls per day at launch (a chat turn is one call).", 0, 1e9),
    Param("growth_pct", "number", 10.0, "Growth % / month",
          "Monthly growth of the request volume, compounding (month m runs at volume × (1+g)^(m−1)).",
          -100, 1000),
    Param("models", "models", ("gpt-4o-mini", "gpt-4o"), "Models",
          "Model ids to compare, separated by commas.", control="models"),
    Param("price_date", "date", "", "Price date",
          "Prices in force on this day (empty = today).", control="date"),
    Param("threshold_usd_per_day", "number", 500.0, "Threshold $ / day",
          "Above this daily cost the spec needs a routing or caching plan before eng kickoff.", 0, 1e9),
    Param("cache_hit_pct", "number", 0.0, "Cache hits % of input",
          "Share of input tokens read from the prompt cache, billed at the model's cached-input "
          "price (from the price sheet). Cache-write premiums are not included.",
          0, 100, 1, control="slider", group="effective"),
    Param("batch_pct", "number", 0.0, "Batch share %",
          "Share of requests sent through the Batch API, billed at the model's batch prices "
          "(from the price sheet).", 0, 100, 1, control="slider", group="effective"),
    Param("escalation_pct", "number", 0.0, "Escalation %",
          "Share of requests escalated to a stronger tier (seed formula: × (1 + rate × multiplier)).",
          0, 100, 1, control="slider", group="effective"),
    Param("tier_multiplier", "number", 1.0, "Tier multiplier",
          "Extra cost of an escalated request, as a multiple of the base request "
          "(e.g. ≈17 when gpt-4o-mini escalates to gpt-4o).", 0, 100, 0.5,
          control="slider", group="effective"),
    Param("retry_factor", "number", 1.0, "Retry factor",
          "Model calls per logical request, counting retries (1 = no retries; seed formula).",
          1, 5, 0.05, control="slider", group="effective"),
    Param("chat", "flag", False, "Multi-turn chat",
          "Each request is a chat turn that resends the whole conversation history.",
          control="checkbox", group="chat"),
    Param("system_tokens", "number", 500.0, "System prompt tokens",
          "Tokens sent at the start of every turn (system prompt, tools, retrieved context).",
          0, 2_000_000, group="chat", max_hint=_TOKENS_HINT),
    Param("user_tokens", "number", 150.0, "User tokens / turn",
          "New user-message tokens added by each turn.", 0, 2_000_000, group="chat",
          max_hint=_TOKENS_HINT),
    Param("turns", "integer", 10, "Turns / conversation",
          "Turns in a conversation; history makes later turns dearer.", 1, 200, 1,
          control="slider", group="chat"),
)

PARAM_BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}


def _scenario_namespace() -> dict:
    def pct(name: str):
        return property(lambda self: getattr(self, name) / 100.0)

    def replace_(self, **changes):
        return replace(self, **changes)

    return {
        "cache_hit": pct("cache_hit_pct"),
        "batch_share": pct("batch_pct"),
        "escalation_rate": pct("escalation_pct"),
        "growth": pct("growth_pct"),
        "replace": replace_,
        "__doc__": "A validated cost-preview scenario; fields are :data:`PARAMS`.",
    }


#: A validated scenario: one frozen field per parameter, defaults from :data:`PARAMS`.
Scenario = make_dataclass(
    "Scenario", [(p.name, Any, field(default=p.default)) for p in PARAMS],
    frozen=True, namespace=_scenario_namespace(),
)
Scenario.__module__ = __name__


def parse_scenario(raw: Mapping[str, Any], book: PriceBook | None = None) -> tuple[Any, dict[str, str]]:
    """Validate every parameter; missing ones take their default.

    Returns ``(scenario, {})`` or ``(None, {param name: message})``.
    """
    values, errors = {}, {}
    for p in PARAMS:
        try:
            values[p.name] = p.parse(raw[p.name], book) if p.name in raw else p.default
        except ParamError as e:
            errors[p.name] = str(e)
    if errors:
        return None, errors
    return Scenario(**values), {}


def encode_query(scenario: Any) -> str:
    """The scenario as a URL query string (parameters at their default are left out)."""
    pairs = [(p.name, p.format(getattr(scenario, p.name))) for p in PARAMS
             if getattr(scenario, p.name) != p.default]
    return urlencode(pairs, quote_via=quote, safe=",")


def decode_query(query: str) -> tuple[dict[str, str], list[str]]:
    """``(raw text per known parameter, notes about keys that were ignored)``."""
    raw, notes = {}, []
    for key, value in parse_qsl((query or "").lstrip("?"), keep_blank_values=True):
        if key in PARAM_BY_NAME:
            raw[key] = value
        elif key not in ("voila-template", "voila-theme"):
            notes.append(f"ignored unknown link parameter {key!r}")
    return raw, notes


def scenario_from_query(query: str, book: PriceBook | None = None) -> tuple[Any, dict[str, str]]:
    """The scenario a shared link describes; a bad value keeps its default and is reported."""
    raw, _ = decode_query(query)
    values, errors = {}, {}
    for name, text in raw.items():
        try:
            values[name] = PARAM_BY_NAME[name].parse(text, book)
        except ParamError as e:
            errors[name] = f"the link's value {text!r} was not used: {e}"
    return Scenario(**values), errors


# --------------------------------------------------------------------------- arithmetic

def monthly_volumes(requests_per_day: float, growth: float, months: int = MONTHS) -> list[float]:
    """Requests per day in months 1..``months``: ``volume × (1 + growth)^(m − 1)``."""
    return [requests_per_day * (1.0 + growth) ** m for m in range(months)]


def projection(usd_per_day: float, growth: float, months: int = MONTHS,
               days: int = DAYS_PER_MONTH) -> list[float]:
    """Dollars spent in each of months 1..``months`` at compounding growth (30-day months)."""
    return [usd_per_day * (1.0 + growth) ** m * days for m in range(months)]


def crossing_month(usd_per_day: float, growth: float, threshold: float, months: int = MONTHS) -> int | None:
    """First month (1-based) whose daily cost exceeds ``threshold``, or None within ``months``."""
    for m in range(months):
        if usd_per_day * (1.0 + growth) ** m > threshold:
            return m + 1
    return None


def turn_tokens(system: float, user: float, output: float, turns: int) -> list[tuple[float, float]]:
    """``(input, output)`` tokens of each turn when every turn resends the whole history."""
    return [(system + k * user + (k - 1) * output, output) for k in range(1, turns + 1)]


def conversation_input_tokens(system: float, user: float, output: float, turns: int) -> float:
    """Total input tokens of a ``turns``-turn conversation (closed form, quadratic in turns)."""
    n = turns
    return n * system + user * n * (n + 1) / 2 + output * n * (n - 1) / 2


def request_prices(record: PriceRecord, input_tokens: float, output_tokens: float,
                   cache_hit: float = 0.0, batch_share: float = 0.0) -> tuple[float, float, float, bool]:
    """Per-request ``(list, after batch share, after batch and cache hits, cache_priced)`` in USD.

    ``cache_priced`` is False when cache hits were asked for but the record has no cached-input
    rate: then no cache discount is applied. Raises :class:`NoPriceError` for a batch share on a
    model without batch prices.
    """
    list_usd = request_cost(record, input_tokens, output_tokens).total_usd
    batch_usd = request_cost(record, input_tokens, output_tokens, batch=True).total_usd if batch_share else 0.0
    batched = (1.0 - batch_share) * list_usd + batch_share * batch_usd
    cache_priced = record.rate("cached_input", int(input_tokens)) is not None
    if not cache_hit or not cache_priced:
        return list_usd, batched, batched, cache_priced or not cache_hit
    cached_tokens = cache_hit * input_tokens
    rt = request_cost(record, input_tokens, output_tokens, cached_tokens).total_usd
    bt = request_cost(record, input_tokens, output_tokens, cached_tokens, batch=True).total_usd if batch_share else 0.0
    return list_usd, batched, (1.0 - batch_share) * rt + batch_share * bt, True


@dataclass(frozen=True)
class ModelPreview:
    """One model's figures for a scenario. All ``*_usd`` are per request unless the name says."""

    model: str
    label: str
    requests_per_day: float
    growth: float
    record: PriceRecord | None = None
    error: str = ""
    error_field: str = ""  # the parameter to change to fix ``error``
    notes: tuple[str, ...] = ()  # e.g. no cached-input price: cache hits at the full input rate
    input_tokens: float = 0.0
    output_tokens: float = 0.0
    list_usd: float = 0.0
    batched_usd: float = 0.0
    cached_usd: float = 0.0
    effective: EffectiveCost | None = None
    turn_usd: tuple[float, ...] = ()
    #: Dollars in each projected month, every day priced on its own date (empty: one price throughout).
    month_usd: tuple[float, ...] = ()
    #: Price changes inside the projection: (month 1..12, day, text), e.g. an introductory price ending.
    price_changes: tuple[tuple[int, str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def usd_per_request(self) -> float:
        return self.effective.total_usd if self.effective else math.nan

    @property
    def usd_per_day(self) -> float:
        return self.usd_per_request * self.requests_per_day

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_day * DAYS_PER_MONTH

    @property
    def list_usd_per_day(self) -> float:
        return self.list_usd * self.requests_per_day

    def projection(self) -> list[float]:
        """Dollars in months 1..12: the dated projection when the sheet knows price changes ahead."""
        return list(self.month_usd) if self.month_usd else projection(self.usd_per_day, self.growth)

    def change_months(self) -> dict[int, str]:
        """Month -> what changes in it (the months to mark on a chart or a table)."""
        out: dict[int, str] = {}
        for month, day, text in self.price_changes:
            out[month] = "; ".join(filter(None, [out.get(month, ""), f"{day}: {text}"]))
        return out

    def conversation_usd(self) -> list[float]:
        """Cost of a conversation of 1..N turns (cumulative over turns), effective prices."""
        out, total = [], 0.0
        for usd in self.turn_usd:
            total += usd
            out.append(total)
        return out

    def steps(self, scenario: Any) -> list[dict]:
        """From list price to effective cost, one step per factor, with where it comes from."""
        s, e = scenario, self.effective
        rows = [
            ("list price", "real-time, no cache", self.list_usd, "price sheet"),
            ("batch", f"{s.batch_pct:g}% of requests at batch prices", self.batched_usd, "price sheet"),
            ("cache", f"{s.cache_hit_pct:g}% of input at the cached-input price", self.cached_usd,
             "price sheet → cache_savings"),
            ("escalation", f"× (1 + {s.escalation_rate:g} × {s.tier_multiplier:g})",
             self.cached_usd * e.escalation_factor, "seed formula"),
            ("retries", f"× {s.retry_factor:g}", e.total_usd, "seed formula"),
        ]
        out, prev = [], None
        for step, detail, usd, source in rows:
            out.append({"step": step, "detail": detail, "usd_per_request": usd,
                        "usd_per_day": usd * self.requests_per_day,
                        "delta_usd_per_day": 0.0 if prev is None else (usd - prev) * self.requests_per_day,
                        "source": source})
            prev = usd
        return out


@dataclass(frozen=True)
class PreviewResult:
    """Every model's figures for one scenario, on the prices of ``day``."""

    scenario: Any
    day: dt.date
    rows: tuple[ModelPreview, ...]

    @property
    def ok_rows(self) -> tuple[ModelPreview, ...]:
        return tuple(r for r in self.rows if r.ok)

    @property
    def over_threshold(self) -> tuple[ModelPreview, ...]:
        t = self.scenario.threshold_usd_per_day
        return tuple(r for r in self.ok_rows if r.usd_per_day > t)

    def crossings(self) -> dict[str, int]:
        """Models under the threshold now that cross it within 12 months: model → month."""
        s = self.scenario
        out = {}
        for r in self.ok_rows:
            m = next((k + 1 for k, usd_month in enumerate(r.projection())
                      if usd_month / DAYS_PER_MONTH > s.threshold_usd_per_day), None)
            if m is not None and m > 1:
                out[r.model] = m
        return out

    def verdict(self) -> str:
        s = self.scenario
        t = f"${s.threshold_usd_per_day:,.0f}/day"
        over = self.over_threshold
        if over:
            names = ", ".join(f"{r.model} ({usd(r.usd_per_day)}/day)" for r in over)
            return (f"Above the {t} threshold: {names}. The spec needs a routing or caching plan "
                    f"before eng kickoff.")
        later = self.crossings()
        text = f"All models are below the {t} threshold at launch volume."
        if later:
            rows = {r.model: r for r in self.ok_rows}
            parts = []
            for m, k in later.items():
                why = rows[m].change_months().get(k)
                parts.append(f"{m} in month {k}" + (f" (price change {why})" if why else ""))
            text += " With growth of {:g}%/month and the sheets' scheduled prices it is crossed by {}.".format(
                s.growth_pct, ", ".join(parts))
        return text


def price_scenario(book: PriceBook, scenario: Any, today: dt.date | None = None) -> PreviewResult:
    """Price ``scenario`` on every model it names. Per-model problems become the row's ``error``."""
    s = scenario
    day = dt.date.fromisoformat(s.price_date) if s.price_date else (today or dt.date.today())
    if s.chat:
        turns = turn_tokens(s.system_tokens, s.user_tokens, s.output_tokens, s.turns)
    else:
        turns = [(s.input_tokens, s.output_tokens)]
    rows = []
    for name in s.models:
        row = _price_model(book, name, s, day, turns)
        if row.ok:
            row = _dated(book, row, s, day, turns)
        rows.append(row)
    return PreviewResult(s, day, tuple(rows))


def _dated(book: PriceBook, row: "ModelPreview", s: Any, day: dt.date,
           turns: list[tuple[float, float]]) -> "ModelPreview":
    """``row`` with its 12 months priced day by day on the records in force (30-day months from
    ``day``), and the days where the record changes. Unchanged when one record covers them all."""
    info = book.model(row.model)
    horizon = [day + dt.timedelta(days=i) for i in range(MONTHS * DAYS_PER_MONTH)]
    records = []
    for d in horizon:
        try:
            records.append(info.price_on(d))
        except PriceError:
            records.append(None)
    if all(r is row.record for r in records):
        return row
    per_request: dict[int, float] = {}
    changes: list[tuple[int, str, str]] = []
    months = [0.0] * MONTHS
    prev = row.record
    for i, (d, rec) in enumerate(zip(horizon, records)):
        m = i // DAYS_PER_MONTH
        if rec is not prev:
            changes.append((m + 1, d.isoformat(), _change_text(prev, rec)))
            prev = rec
        if rec is None:
            months[m] = math.nan
            continue
        if id(rec) not in per_request:
            priced = _price_model(book, row.model, s, rec.effective if rec.effective > day else day, turns)
            per_request[id(rec)] = priced.usd_per_request if priced.ok else math.nan
        months[m] += per_request[id(rec)] * s.requests_per_day * (1.0 + s.growth) ** m
    return replace(row, month_usd=tuple(months), price_changes=tuple(changes))


def _change_text(old: PriceRecord | None, new: PriceRecord | None) -> str:
    if new is None:
        return "the sheet has no price from this day (the months after it cannot be priced)"
    if old is None:
        return f"priced again: {price_text(new)}"
    return f"input {rate_text(old.input)} → {rate_text(new.input)}, output {rate_text(old.output)} → " \
           f"{rate_text(new.output)} ({new.source})"


def _price_model(book: PriceBook, name: str, s: Any, day: dt.date,
                 turns: list[tuple[float, float]]) -> ModelPreview:
    base = dict(model=name, label=name, requests_per_day=s.requests_per_day, growth=s.growth)
    try:
        info = book.model(name)
        base.update(model=info.id, label=info.label)
        record = book.price_on(info.id, day)
    except PriceError as e:
        return ModelPreview(**base, error=str(e), error_field="price_date" if name in book else "models")
    base["record"] = record
    token_field = "turns" if s.chat else "input_tokens"
    max_in = max(t[0] for t in turns)
    if info.context_window and max_in > info.context_window:
        return ModelPreview(**base, error_field=token_field, error=(
            f"{max_in:,.0f} input tokens exceed {info.id}'s context window of {info.context_window:,}"))
    if info.max_output_tokens and s.output_tokens > info.max_output_tokens:
        return ModelPreview(**base, error_field="output_tokens", error=(
            f"{s.output_tokens:,.0f} output tokens exceed {info.id}'s limit of {info.max_output_tokens:,}"))
    if s.batch_share and (record.batch_input is None or record.batch_output is None):
        return ModelPreview(**base, error_field="batch_pct", error=(
            f"{info.id} has no batch price (record of {record.effective}); set the batch share to 0% "
            f"to price it"))
    try:
        per_turn = [request_prices(record, i, o, s.cache_hit, s.batch_share) for i, o in turns]
    except PriceError as e:
        return ModelPreview(**base, error=str(e), error_field="models")
    n = len(per_turn)
    list_usd, batched, cached = (sum(p[k] for p in per_turn) / n for k in range(3))
    notes = []
    if not all(p[3] for p in per_turn):
        notes.append(f"{info.id} has no cached-input price (record of {record.effective}): "
                     f"cache hits are priced at the full input rate")
    savings = min(1.0, max(0.0, 1.0 - cached / batched)) if batched > 0 else 0.0
    eff = effective_cost(batched, savings, s.escalation_rate, s.tier_multiplier, s.retry_factor)
    factor = eff.escalation_factor * eff.retry_factor
    return ModelPreview(
        **base, notes=tuple(notes),
        input_tokens=sum(t[0] for t in turns) / n, output_tokens=s.output_tokens,
        list_usd=list_usd, batched_usd=batched, cached_usd=cached, effective=eff,
        turn_usd=tuple(p[2] * factor for p in per_turn) if s.chat else (),
    )


# --------------------------------------------------------------------------- formatting and export

def usd(x: float) -> str:
    """Dollars for display: cents from $1 up, three significant digits below."""
    if x is None or x != x:
        return "—"
    if x == 0:
        return "$0.00"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    if abs(x) >= 0.01:
        return f"${x:.4f}"
    return f"${x:.3g}" if abs(x) >= 1e-4 else f"${x:.2e}"


def _tokens(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def assumptions(result: PreviewResult) -> list[tuple[str, str]]:
    """The scenario in words, as (label, value) pairs."""
    s = result.scenario
    rows = []
    if s.chat:
        rows += [
            ("Conversation", f"{s.turns} turns; system {_tokens(s.system_tokens)} + "
                             f"{_tokens(s.user_tokens)} user tokens/turn, history resent each turn"),
        ]
        if result.ok_rows:
            rows.append(("Avg input tokens / request", _tokens(round(result.ok_rows[0].input_tokens, 1))))
    else:
        rows.append(("Avg input tokens / request", _tokens(s.input_tokens)))
    rows += [
        ("Avg output tokens / request", _tokens(s.output_tokens)),
        ("Requests / day", _tokens(s.requests_per_day)),
        ("Growth", f"{s.growth_pct:g}% / month (compounding)"),
        ("Prices as of", result.day.isoformat()),
        ("Cache hits", f"{s.cache_hit_pct:g}% of input tokens at the cached-input price"),
        ("Batch share", f"{s.batch_pct:g}% of requests at batch prices"),
        ("Escalation", f"{s.escalation_pct:g}% × tier multiplier {s.tier_multiplier:g}"),
        ("Retry factor", f"{s.retry_factor:g}"),
        ("Month", f"{DAYS_PER_MONTH} days"),
    ]
    return rows


def to_markdown(result: PreviewResult, link: str = "") -> str:
    """A "cost preview" block to paste into a feature spec."""
    s = result.scenario
    lines = [f"### Cost preview: {s.feature}", ""]
    lines += ["| Assumption | Value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in assumptions(result)]
    lines += ["", "| Model | $/request | $/day | $/month | $/month in month 12 |", "|---|---:|---:|---:|---:|"]
    for r in result.rows:
        if r.ok:
            lines.append(f"| {r.model} | {usd(r.usd_per_request)} | {usd(r.usd_per_day)} | "
                         f"{usd(r.usd_per_month)} | {usd(r.projection()[-1])} |")
        else:
            lines.append(f"| {r.model} | — | — | — | {r.error} |")
    flag = "⚠️" if result.over_threshold else "✅"
    lines += ["", f"**Threshold (${s.threshold_usd_per_day:,.0f}/day):** {flag} {result.verdict()}", ""]
    notes = [n for r in result.rows for n in r.notes]
    if notes:
        lines += [f"- Note: {n}" for n in notes] + [""]
    lines.append("**Prices used** (USD per 1M tokens):")
    lines.append("")
    for r in result.rows:
        if r.record is not None:
            lines.append(f"- {r.model}: {price_text(r.record)}; effective {r.record.effective}; "
                         f"source: {r.record.source}")
    changes = [(r.model, m, text) for r in result.ok_rows for m, text in r.change_months().items()]
    if changes:
        lines += ["", "**Scheduled price changes** (each projected month is priced on its own dates):", ""]
        lines += [f"- {model}, month {m}: {text}" for model, m, text in changes]
    query = encode_query(s)
    lines += ["", "**To re-enter this scenario** in the workbench's cost preview (`workbench app cost_preview`), "
              "open it with this query string, or type the assumptions above into its form:", "",
              f"    ?{query}" if query else "    (the defaults)"]
    if link:
        lines += ["", f"Link (works only where this app was running, e.g. your own machine): {link}"]
    return "\n".join(lines) + "\n"


def rate_text(rate: float | None) -> str:
    """A per-1M rate as written in the sheet, with at least two decimals ($0.60, $10.00, $0.075)."""
    if rate is None:
        return "—"
    whole, _, frac = decimal_text(rate).partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def price_text(record: PriceRecord) -> str:
    parts = [f"input {rate_text(record.input)}", f"output {rate_text(record.output)}"]
    if record.cached_input is not None:
        parts.append(f"cached input {rate_text(record.cached_input)}")
    if record.batch_input is not None:
        parts.append(f"batch {rate_text(record.batch_input)} / {rate_text(record.batch_output)}")
    return ", ".join(parts)


CSV_COLUMNS = (
    "feature", "model", "usd_per_request", "usd_per_day", "usd_per_month", "list_usd_per_day",
    "over_threshold", "avg_input_tokens", "output_tokens", "requests_per_day", "growth_pct",
    "cache_hit_pct", "batch_pct", "escalation_pct", "tier_multiplier", "retry_factor",
    "price_date", "price_effective", "price_source", "error",
    *(f"month_{m:02d}_usd" for m in range(1, MONTHS + 1)),
)


def _clean(x: Any) -> Any:
    """A float as its shortest faithful text: 751.41, not 751.4100000000001 (12 significant digits)."""
    if isinstance(x, float):
        return "" if math.isnan(x) else float(f"{x:.12g}")
    return x


def to_csv(result: PreviewResult) -> str:
    """One row per model: the scenario, the figures (to 12 significant digits, no float noise) and
    the 12-month projection (each month on its own dates)."""
    s = result.scenario
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in result.rows:
        figures = ([r.usd_per_request, r.usd_per_day, r.usd_per_month, r.list_usd_per_day,
                    r.usd_per_day > s.threshold_usd_per_day] if r.ok else [""] * 5)
        w.writerow([_clean(v) for v in (
            s.feature, r.model, *figures, r.input_tokens if r.ok else "", s.output_tokens,
            s.requests_per_day, s.growth_pct, s.cache_hit_pct, s.batch_pct, s.escalation_pct,
            s.tier_multiplier, s.retry_factor, result.day.isoformat(),
            r.record.effective.isoformat() if r.record else "", r.record.source if r.record else "",
            r.error, *(r.projection() if r.ok else [""] * MONTHS))])
    return buf.getvalue()
