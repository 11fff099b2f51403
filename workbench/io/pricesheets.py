"""Read and validate the reviewed price sheets under ``pricing/``.

Every error names the sheet file and the model. Nothing here writes a sheet.
"""
from __future__ import annotations

import datetime as dt
import math
import os
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from workbench.core.prices import (
    RATE_FIELDS,
    ModelInfo,
    PriceBook,
    PriceError,
    STANDARD_TIERS,
    PriceRecord,
    ServiceTier,
    Tier,
)

#: libyaml's C loader when available (about 10× faster), else the pure-Python safe loader.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Environment variable naming another folder of sheets.
PRICING_DIR_ENV = "WORKBENCH_PRICING_DIR"

_SHEET_KEYS = {"vendor", "models", "hardware", "notes", "reviewed", "service_tiers"}
_MODEL_KEYS = {
    "display_name", "aliases", "context_window", "max_output_tokens", "tokenizer", "litellm",
    "litellm_diff", "genai_prices", "genai_prices_diff", "status", "notes", "prices", "billing", "throughput",
}
_RECORD_KEYS = {"effective", "until", "source", "note", *RATE_FIELDS, "tiers", "guaranteed_until", "service_tiers"}
_SERVICE_TIER_KEYS = {"source", "note", "multiplier", *RATE_FIELDS}
_TIER_KEYS = {"above_input_tokens", *RATE_FIELDS}
_HARDWARE_KEYS = {"id", "name", "usd_per_hour", "effective", "source", "note"}
_THROUGHPUT_KEYS = {
    "hardware", "output_tokens_per_s", "input_tokens_per_s", "concurrency", "source", "note",
    "quantization",
}
_TOKENIZERS = {
    "o200k_base", "cl100k_base",
    "estimate:anthropic", "estimate:google", "estimate:mistral", "estimate:generic",
}
_STATUSES = {"active", "deprecated", "retired"}


def default_pricing_dir() -> Path:
    """``$WORKBENCH_PRICING_DIR``, else the repository's ``pricing/`` folder."""
    env = os.environ.get(PRICING_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "pricing"


class _Where:
    """Builds error messages that name the file and the model."""

    def __init__(self, file: Path, model: str | None = None):
        self.file, self.model = file, model

    def error(self, msg: str) -> PriceError:
        where = f"{self.file.name}" + (f": model {self.model}" if self.model else "")
        return PriceError(f"{where}: {msg}")


def _check_keys(where: _Where, obj: Any, allowed: set[str], what: str) -> dict:
    if not isinstance(obj, dict):
        raise where.error(f"{what} must be a mapping, got {type(obj).__name__}")
    unknown = set(obj) - allowed
    if unknown:
        raise where.error(f"unknown key(s) {sorted(unknown)} in {what}; allowed: {sorted(allowed)}")
    return obj


def _rate(where: _Where, value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise where.error(f"{name} must be a quoted decimal string (USD per 1M tokens), got {value!r}")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise where.error(f"{name} is not a number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise where.error(f"{name} must be a non-negative price, got {value!r}")
    f = float(d)
    if not math.isfinite(f):  # Decimal("1e400") is finite; the float is not
        raise where.error(f"{name} must be a finite price, got {value!r}")
    return f


def _int(where: _Where, value: Any, name: str) -> int:
    """A whole number of tokens (YAML int, or digits with optional ``_``)."""
    if isinstance(value, bool):
        raise where.error(f"{name} must be a whole number of tokens, got {value!r}")
    if isinstance(value, int):
        out = value
    else:
        text = str(value).replace("_", "").strip()
        if not text.isdigit():
            raise where.error(f"{name} must be a whole number of tokens, got {value!r}")
        out = int(text)
    if out < 0 or out > 10**12:
        raise where.error(f"{name} must be between 0 and 10^12, got {value!r}")
    return out


def _names(where: _Where, value: Any, name: str) -> tuple[str, ...]:
    """A list of names (``aliases:``, ``litellm:``); a bare string would be split into letters."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and str(v).strip() for v in value):
        raise where.error(f"{name} must be a list of names, e.g. [{name}-a, {name}-b], got {value!r}")
    return tuple(str(v).strip() for v in value)


def _day(where: _Where, value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise where.error(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None


def _service_tiers(where: _Where, raw: Any, inherited: dict[str, ServiceTier] | None = None,
                   ) -> dict[str, ServiceTier]:
    """``service_tiers: {flex: {input: .., output: .., source: ..}, regional: {multiplier: "1.10", source: ..}}``."""
    out = dict(inherited or {})
    if raw is None:
        return out
    if not isinstance(raw, dict):
        raise where.error(f"service_tiers must be a mapping of tier name -> rates or multiplier, got {raw!r}")
    for name, t in raw.items():
        _check_keys(where, t, _SERVICE_TIER_KEYS, f"service tier {name}")
        if not str(t.get("source") or "").strip():
            raise where.error(f"service tier {name} has no source")
        if str(name).lower() in STANDARD_TIERS:
            raise where.error(f"service tier {name!r} is the standard price; name the other tiers only")
        rates = {k: _rate(where, t[k], f"service tier {name} {k}") for k in RATE_FIELDS if k in t}
        mult = _rate(where, t["multiplier"], f"service tier {name} multiplier") if "multiplier" in t else None
        if (mult is None) == (not rates) or (mult is None and not {"input", "output"} <= set(rates)):
            raise where.error(f"service tier {name} needs either a multiplier or its own input and output rates")
        out[str(name)] = ServiceTier(str(name), str(t["source"]).strip(), rates, mult, str(t.get("note") or ""))
    return out


def _records(where: _Where, model_id: str, raw: Any,
             sheet_tiers: dict[str, ServiceTier] | None = None) -> tuple[PriceRecord, ...]:
    if not isinstance(raw, list) or not raw:
        raise where.error("prices must be a non-empty list of price records")
    parsed = []
    for i, r in enumerate(raw):
        _check_keys(where, r, _RECORD_KEYS, f"price record #{i + 1}")
        for req in ("effective", "source", "input", "output"):
            if r.get(req) is None or not str(r[req]).strip():
                raise where.error(f"price record #{i + 1} has no {req}")
        rates = {k: _rate(where, r[k], k) for k in RATE_FIELDS if r.get(k) is not None}
        tiers = []
        for t in r.get("tiers") or []:
            _check_keys(where, t, _TIER_KEYS, "tier")
            if "above_input_tokens" not in t:
                raise where.error("tier has no above_input_tokens")
            tiers.append(Tier(_int(where, t["above_input_tokens"], "tier above_input_tokens"),
                              {k: _rate(where, t[k], f"tier {k}") for k in RATE_FIELDS if k in t}))
        parsed.append(dict(
            effective=_day(where, r["effective"], "effective"),
            until=_day(where, r["until"], "until") if r.get("until") else None,
            guaranteed_until=(_day(where, r["guaranteed_until"], "guaranteed_until")
                              if r.get("guaranteed_until") else None),
            service_tiers=_service_tiers(where, r.get("service_tiers"), sheet_tiers),
            source=str(r["source"]).strip(),
            note=str(r.get("note") or ""),
            tiers=tuple(tiers),
            **rates,
        ))
    parsed.sort(key=lambda p: p["effective"])
    for prev, nxt in zip(parsed, parsed[1:]):
        if prev["until"] is None:
            prev["until"] = nxt["effective"] - dt.timedelta(days=1)
        if prev["until"] >= nxt["effective"] or prev["effective"] == nxt["effective"]:
            raise where.error(
                f"price records overlap: {prev['effective']}..{prev['until']} and {nxt['effective']}.."
            )
    for p in parsed:
        if p["until"] is not None and p["until"] < p["effective"]:
            raise where.error(f"record {p['effective']} ends before it starts ({p['until']})")
    return tuple(PriceRecord(model=model_id, **p) for p in parsed)


def _hardware(where: _Where, raw: Any) -> dict[str, dict]:
    out = {}
    for h in raw or []:
        _check_keys(where, h, _HARDWARE_KEYS, "hardware entry")
        for req in ("id", "usd_per_hour", "source", "effective"):
            if h.get(req) is None or not str(h[req]).strip():
                raise where.error(f"hardware entry {h.get('id', '?')} has no {req}")
        out[str(h["id"])] = {
            **h,
            "usd_per_hour": _rate(where, h["usd_per_hour"], "usd_per_hour"),
            "effective": _day(where, h["effective"], "effective"),
        }
    return out


def _derived_records(where: _Where, model_id: str, raw: Any, hardware: dict) -> tuple[PriceRecord, ...]:
    """Per-token price of a GPU-time model at its first reference throughput, 100 % utilisation.

    The reference input and output throughputs come from one mixed run (prefill and decode share
    the GPU), so the hour is spread over all tokens of that run: one blended rate for input and
    output, ``usd_per_hour / (3600 × (input_tps + output_tps)) × 1e6``. Pricing each side at the
    full hour would charge it twice.
    """
    if not isinstance(raw, list) or not raw:
        raise where.error("a gpu_time model needs a non-empty throughput list")
    for t in raw:
        _check_keys(where, t, _THROUGHPUT_KEYS, "throughput entry")
        if not str(t.get("source") or "").strip():
            raise where.error("throughput entry has no source")
        if t.get("hardware") not in hardware:
            raise where.error(f"throughput names unknown hardware {t.get('hardware')!r}; known: {sorted(hardware)}")
    t = raw[0]
    hw = hardware[t["hardware"]]
    out_tps = _rate(where, t["output_tokens_per_s"], "output_tokens_per_s")
    in_tps = _rate(where, t.get("input_tokens_per_s", "0"), "input_tokens_per_s")
    if out_tps <= 0:
        raise where.error("output_tokens_per_s must be positive")
    blended = hw["usd_per_hour"] / (3600.0 * (in_tps + out_tps)) * 1e6
    return (PriceRecord(
        model=model_id, effective=hw["effective"], until=None,
        source=f"derived: {hw['source']} (hardware) + {t['source']} (throughput)",
        input=blended, output=blended, derived=True,
        note=(f"{hw.get('name', hw['id'])} at ${hw['usd_per_hour']}/h, {in_tps:g} input + {out_tps:g} output "
              f"tok/s in one run (concurrency {t.get('concurrency', '?')}), 100% utilisation; "
              "one blended rate per token of that mix"),
    ),)


def load_sheet(path: Path) -> list[ModelInfo]:
    """Parse and validate one sheet file."""
    path = Path(path)
    where = _Where(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as e:
        raise where.error(f"not valid YAML: {e}") from None
    _check_keys(where, doc, _SHEET_KEYS, "sheet")
    vendor = doc.get("vendor")
    if not vendor:
        raise where.error("sheet has no vendor")
    reviewed = _day(where, doc["reviewed"], "reviewed") if doc.get("reviewed") is not None else None
    hardware = _hardware(where, doc.get("hardware"))
    sheet_tiers = _service_tiers(where, doc.get("service_tiers"))  # multipliers for every model of the sheet
    raw_models = doc.get("models") or {}
    if not isinstance(raw_models, dict):
        raise where.error(f"models must be a mapping of model id -> model (write `  gpt-x:`, not `  - gpt-x:`), "
                          f"got a {type(raw_models).__name__}")
    models = []
    for model_id, m in raw_models.items():
        mw = _Where(path, model_id)
        _check_keys(mw, m, _MODEL_KEYS, "model")
        tokenizer = m.get("tokenizer", "estimate:generic")
        if tokenizer not in _TOKENIZERS:
            raise mw.error(f"unknown tokenizer {tokenizer!r}; valid: {sorted(_TOKENIZERS)}")
        status = m.get("status", "active")
        if status not in _STATUSES:
            raise mw.error(f"unknown status {status!r}; valid: {sorted(_STATUSES)}")
        billing = m.get("billing", "tokens")
        if billing == "gpu_time":
            history = _derived_records(mw, model_id, m.get("throughput"), hardware)
        elif billing == "tokens":
            history = _records(mw, model_id, m.get("prices"), sheet_tiers)
        else:
            raise mw.error(f"unknown billing {billing!r}; valid: tokens, gpu_time")
        models.append(ModelInfo(
            id=str(model_id), vendor=str(vendor), history=history,
            aliases=_names(mw, m.get("aliases"), "aliases"),
            display_name=str(m.get("display_name") or ""),
            context_window=_int(mw, m["context_window"], "context_window") if m.get("context_window") else None,
            max_output_tokens=(_int(mw, m["max_output_tokens"], "max_output_tokens")
                               if m.get("max_output_tokens") else None),
            tokenizer=tokenizer,
            litellm=_names(mw, m.get("litellm"), "litellm"),
            litellm_diff=str(m.get("litellm_diff") or ""),
            genai_prices=_names(mw, m.get("genai_prices"), "genai_prices"),
            genai_prices_diff=str(m.get("genai_prices_diff") or ""),
            status=status, notes=str(m.get("notes") or ""), sheet=path.name, reviewed=reviewed,
        ))
    return models


def load_hardware(path: Path | None = None) -> dict[str, dict]:
    """Hardware presets (``id`` → record with ``usd_per_hour``) from the self-hosted sheet."""
    path = Path(path) if path else default_pricing_dir() / "self-hosted.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return _hardware(_Where(path), doc.get("hardware"))


def load_prices(directory: Path | str | None = None) -> PriceBook:
    """Load every ``*.yaml`` sheet in ``directory`` (default: :func:`default_pricing_dir`)."""
    directory = Path(directory) if directory else default_pricing_dir()
    return _load_cached(directory.resolve(), _stamp(directory))


def _stamp(directory: Path) -> tuple:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise PriceError(f"no price sheets (*.yaml) in {directory}")
    return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)


@lru_cache(maxsize=8)
def _load_cached(directory: Path, stamp: tuple) -> PriceBook:
    models: list[ModelInfo] = []
    seen: dict[str, str] = {}
    for name, *_ in stamp:
        for m in load_sheet(directory / name):
            if m.id.lower() in seen:
                raise PriceError(f"{name}: model {m.id}: id already defined in {seen[m.id.lower()]} "
                                 "(one model, one sheet: the later file would silently win)")
            seen[m.id.lower()] = name
            models.append(m)
    return PriceBook.from_models(models)
