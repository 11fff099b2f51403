"""Review Pydantic's ``genai-prices`` data (PyPI, MIT) against our sheets. Reads; never writes a sheet.

A second, independent cross-check beside LiteLLM's map. ``genai-prices`` ships its price data inside
the package (``genai_prices.data``: providers → models, each with a match rule, dated conditional
prices and request variants such as ``processing: batch``), in USD per 1M tokens like our sheets.
Nothing is fetched: the package's bundled snapshot is read as installed.

Field mapping (ours ← theirs): input ← ``input_mtok``, output ← ``output_mtok``, cached_input ←
``cache_read_mtok``, cache_write_5m ← ``cache_write_mtok`` (Anthropic's default 5-minute write),
cache_write_1h ← ``cache_write_1h_mtok``, input_audio / cached_input_audio / output_audio ←
``input_audio_mtok`` / ``cache_audio_read_mtok`` / ``output_audio_mtok``, batch_input / batch_output ← the ``processing: batch``
variant's input / output. A tiered price is compared on its base rate. A disagreement is explained
by the model's ``genai_prices_diff:`` text in the sheet.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from workbench.core.prices import NoPriceError, PriceBook, PriceError
from workbench.io.litellm_import import Disagreement, LiteLLMDiff, short_write_field

PEER = "genai-prices"
#: our vendor -> genai-prices provider id
PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google": "google", "mistral": "mistral"}
#: our rate field -> genai-prices price key (standard prices)
FIELD_MAP = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cached_input": "cache_read_mtok",
    "cache_write_5m": "cache_write_mtok",
    "cache_write_1h": "cache_write_1h_mtok",
    "input_audio": "input_audio_mtok",
    "cached_input_audio": "cache_audio_read_mtok",
    "output_audio": "output_audio_mtok",
}
BATCH_FIELDS = {"batch_input": "input_mtok", "batch_output": "output_mtok"}


def load_genai_prices() -> tuple[list[Any], str]:
    """The installed package's bundled providers and its version (no network)."""
    try:
        import genai_prices
        from genai_prices.data import providers
    except ImportError:  # in the `test` extra; a one-line error for the CLI rather than a traceback
        raise PriceError("genai-prices is not installed: pip install 'genai-prices==0.2.3' "
                         "(MIT, PyPI; part of the test extra)") from None
    return list(providers), genai_prices.__version__


def _value(price: Any) -> float | None:
    if price is None:
        return None
    base = getattr(price, "base", price)  # TieredPrices: compare the base rate
    return round(float(base), 9)


def _find(provider: Any, names: tuple[str, ...]) -> Any | None:
    for name in names:
        for model in provider.models:  # the provider's own models only, no cross-provider fallback
            if model.is_match(name.lower()):
                return model
    return None


def diff_against_genai_prices(book: PriceBook, providers: list[Any] | None = None, *,
                              on: dt.date | None = None, version: str = "") -> LiteLLMDiff:
    """Disagreements with genai-prices on ``on`` (default today; tests pass a pinned day)."""
    if providers is None:
        providers, version = load_genai_prices()
    on = on or dt.date.today()
    when = dt.datetime(on.year, on.month, on.day, 12, tzinfo=dt.timezone.utc)
    by_id = {p.id: p for p in providers}
    diff = LiteLLMDiff(on, peer=PEER, source=f"genai-prices {version}".strip())
    matched: set[tuple[str, str]] = set()
    for info in sorted(book.models(), key=lambda m: m.id):
        provider = by_id.get(PROVIDERS.get(info.vendor, ""))
        if provider is None:
            continue
        try:
            rec = info.price_on(on)
        except NoPriceError:
            continue
        model = _find(provider, (*info.genai_prices, info.id, *info.aliases))
        if model is None:
            diff.missing_keys.append((info.id, f"{provider.id}: no model matches {info.id} or its aliases"))
            continue
        matched.add((provider.id, model.id))
        standard = model.get_prices(when)
        batch = model.get_prices(when, {"processing": "batch"})
        theirs_all = {ours: _value(getattr(standard, key, None)) for ours, key in FIELD_MAP.items()}
        has_batch = any(v.when.get("processing") == "batch" and (v.constraint is None or v.constraint.active(when))
                        for v in model.price_variants or ())
        for ours, key in BATCH_FIELDS.items():
            theirs_all[ours] = _value(getattr(batch, key, None)) if has_batch else None
        for field_name, theirs in theirs_all.items():
            field_name = short_write_field(rec) if field_name == "cache_write_5m" else field_name
            ours = getattr(rec, field_name)
            if ours is None and theirs is None:
                continue
            if ours is None or theirs is None or abs(ours - theirs) > 1e-9 * max(1.0, abs(ours)):
                diff.disagreements.append(Disagreement(info.id, f"{provider.id}/{model.id}", field_name, ours,
                                                       theirs, info.genai_prices_diff, peer=PEER))
        if info.context_window and model.context_window and int(model.context_window) != info.context_window:
            diff.context_differs.append((info.id, info.context_window, int(model.context_window)))
    for ours_vendor, pid in PROVIDERS.items():
        provider = by_id.get(pid)
        if provider is None or ours_vendor not in book.vendors():
            continue
        for model in provider.models:
            if (pid, model.id) in matched or model.id in book:
                continue
            price = model.get_prices(when)
            if _value(getattr(price, "input_mtok", None)) is None:
                continue
            diff.new_models.append({"litellm_key": f"{pid}/{model.id}", "provider": pid,
                                    "input": _value(price.input_mtok),
                                    "output": _value(getattr(price, "output_mtok", None)),
                                    "context_window": model.context_window,
                                    "deprecated": bool(model.deprecated)})
    return diff
