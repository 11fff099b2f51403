"""Vectorised pricing of a DataFrame of requests.

One call prices every row: model names are resolved once per distinct name, the price record in
force on each row's day is found with ``searchsorted`` per model, and the dollars are numpy
arithmetic over whole columns. Same rules as :func:`workbench.core.cost.request_cost`.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from workbench.core.cost import EXTRA_KINDS, PER_MTOK, rates_for
from workbench.core.prices import STANDARD_TIERS, NoPriceError, PriceBook, PriceError, PriceRecord

COST_COLUMNS = ("input_usd", "cached_input_usd", "cache_write_usd", "output_usd", "cost_usd")
_KEYS = ("input", "output", "cached_input", "cache_write", "cache_write_long", "input_audio",
         "cached_input_audio", "output_audio", "input_image")


def _rate_table(records: list[PriceRecord], cache_ttl: str,
                service_tier: str | None = None) -> tuple[np.ndarray, list[np.ndarray], list[str]]:
    """Rates of every (record, tier level, batch flag): shape (records, levels, 2, len(_KEYS)), NaN = not offered.

    Built with :func:`workbench.core.cost.rates_for`, so the frame follows the same rules as one request."""
    thresholds = [np.array(sorted(t.above_input_tokens for t in r.tiers), dtype=np.float64) for r in records]
    levels = 1 + max((len(t) for t in thresholds), default=0)
    table = np.full((len(records), levels, 2, len(_KEYS)), np.nan)
    errors: list[str] = [""] * len(records)  # why a record has no standard-flag rates (service tier)
    for i, rec in enumerate(records):
        shapes = [0] + [int(t) + 1 for t in thresholds[i]]
        for level in range(levels):
            shape = shapes[min(level, len(shapes) - 1)]
            for b in (0, 1):
                try:
                    r = rates_for(rec, shape, batch=bool(b), cache_ttl=cache_ttl, service_tier=service_tier)
                except PriceError as e:  # no batch price; no such service tier (or none for long context)
                    if not b:
                        errors[i] = errors[i] or str(e)
                    continue
                table[i, level, b] = [np.nan if r[k] is None else r[k] for k in _KEYS]
    return table, thresholds, errors


def _row_days(frame: pd.DataFrame, date_col: str | None, on: dt.date | str | None, n: int) -> np.ndarray:
    if date_col and date_col in frame:
        ts = frame[date_col]
        if not pd.api.types.is_datetime64_any_dtype(ts):
            ts = pd.to_datetime(ts, utc=True, errors="raise")
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        return ts.to_numpy().astype("datetime64[D]")
    day = pd.Timestamp(on).date() if on is not None else dt.date.today()
    return np.full(n, np.datetime64(day, "D"))


def price_frame(
    frame: pd.DataFrame,
    book: PriceBook,
    *,
    on: dt.date | str | None = None,
    date_col: str | None = "ts",
    cache_ttl: str = "5m",
    service_tier: str | None = None,
) -> pd.DataFrame:
    """Return a copy of ``frame`` with the columns of :data:`COST_COLUMNS` added.

    Required columns: ``model``, ``input_tokens``, ``output_tokens``. Optional:
    ``cached_input_tokens``, ``cache_write_tokens``, the extra token kinds of
    :data:`workbench.core.cost.EXTRA_KINDS` (``cache_write_long_tokens``, ``audio_input_tokens``, …;
    missing = 0), ``batch`` (bool), ``service_tier`` (per request: standard, flex, priority, regional, …; or
    ``service_tier=`` for every row) and the date column
    (``ts`` by default; without it every row is priced on ``on``, default today).
    Unknown models and days without a price raise; nothing is priced at $0 by default.
    """
    frame_in = frame.columns
    missing = {"model", "input_tokens", "output_tokens"} - set(frame.columns)
    if missing:
        raise PriceError(f"cannot price: missing column(s) {sorted(missing)}")
    if "service_tier" in frame.columns:  # per request: price each tier's rows apart, keep the row order
        tiers = frame["service_tier"].astype("string").fillna(service_tier or "standard").str.strip().str.lower()
        if (tiers == "batch").any():  # Anthropic logs a Batch API request as service_tier "batch"
            batch = frame["batch"].astype(bool) if "batch" in frame else pd.Series(False, index=frame.index)
            frame = frame.assign(batch=batch | (tiers == "batch").to_numpy(),
                                 service_tier=frame["service_tier"].where(tiers != "batch", None))
            priced = price_frame(frame, book, on=on, date_col=date_col, cache_ttl=cache_ttl, service_tier=service_tier)
            priced = priced.assign(service_tier=priced["service_tier"].where(tiers != "batch", "batch"))
            return priced if "batch" in frame_in else priced.drop(columns="batch")
        if service_tier is not None or tiers.nunique() > 1 or (len(tiers) and tiers.iloc[0] not in STANDARD_TIERS):
            parts = [price_frame(frame[tiers == t].drop(columns="service_tier"), book, on=on, date_col=date_col,
                                 cache_ttl=cache_ttl, service_tier=t)
                     for t in tiers.unique()]
            priced = pd.concat(parts).loc[frame.index] if parts else frame.copy()
            priced.insert(list(frame.columns).index("service_tier"), "service_tier", frame["service_tier"])
            return priced
    n = len(frame)

    def tokens(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=np.float64) if name in frame else np.zeros(n)

    inp, out, cached, write = (tokens(c) for c in ("input_tokens", "output_tokens", "cached_input_tokens",
                                                   "cache_write_tokens"))
    extra = {k: tokens(k) for k, _ in EXTRA_KINDS}
    batch = frame["batch"].to_numpy(dtype=bool) if "batch" in frame else np.zeros(n, dtype=bool)
    for name, arr in (("input_tokens", inp), ("output_tokens", out), ("cached_input_tokens", cached),
                      ("cache_write_tokens", write), *extra.items()):
        bad = ~(arr >= 0)  # catches NaN too
        if bad.any():
            raise PriceError(f"{name}: {int(bad.sum())} row(s) negative or missing (first at row {int(np.argmax(bad))})")
    uncached = inp - cached - write - extra["audio_input_tokens"] - extra["image_input_tokens"]
    if (uncached < 0).any():
        raise PriceError(f"{int((uncached < 0).sum())} row(s) have cached + cache-write + audio + image tokens "
                         "above input tokens")
    for part, whole, a, b in (("cache_write_long_tokens", write, "cache_write_long_tokens", "cache_write_tokens"),
                              ("cached_audio_input_tokens", cached, "cached_audio_input_tokens",
                               "cached_input_tokens"),
                              ("audio_output_tokens", out, "audio_output_tokens", "output_tokens")):
        over = extra[part] > whole
        if over.any():
            raise PriceError(f"{int(over.sum())} row(s) have {a} above {b} (they are a part of it)")

    codes, names = pd.factorize(frame["model"], use_na_sentinel=True)
    if (codes < 0).any():
        raise PriceError(f"{int((codes < 0).sum())} row(s) have no model")
    days = _row_days(frame, date_col, on, n)

    records: list[PriceRecord] = []
    rec_idx = np.full(n, -1, dtype=np.int64)
    for code, name in enumerate(names):
        info = book.model(str(name))  # raises UnknownModelError with close matches
        rows = np.flatnonzero(codes == code)
        history = sorted(info.history, key=lambda r: r.effective)
        starts = np.array([np.datetime64(r.effective, "D") for r in history])
        ends = np.array([np.datetime64(r.until, "D") if r.until else np.datetime64("9999-12-31", "D") for r in history])
        pos = np.searchsorted(starts, days[rows], side="right") - 1
        ok = pos >= 0
        ok[ok] &= days[rows][ok] <= ends[pos[ok]]
        if not ok.all():
            first = days[rows][~ok][0]
            raise NoPriceError(f"{info.id}: {int((~ok).sum())} row(s) fall on days without a price (first {first})")
        rec_idx[rows] = pos + len(records)
        records.extend(history)

    table, thresholds, errors = _rate_table(records, cache_ttl, service_tier)
    level = np.zeros(n, dtype=np.int64)
    for i, thr in enumerate(thresholds):  # long-context tiers: the count of thresholds the input exceeds
        if len(thr):
            rows = rec_idx == i
            level[rows] = np.searchsorted(thr, inp[rows], side="left")
    picked = table[rec_idx, level, batch.astype(np.int64)]
    rates = {k: picked[:, j] for j, k in enumerate(_KEYS)}
    unpriced = ~batch & np.isnan(rates["input"])
    if unpriced.any():
        raise NoPriceError(errors[int(rec_idx[np.argmax(unpriced)])] or "no price for some rows")
    no_batch = batch & np.isnan(rates["input"])
    if no_batch.any():
        bad = sorted({records[i].model for i in np.unique(rec_idx[no_batch])})
        raise NoPriceError(f"batch rows for model(s) without a batch price: {', '.join(bad)}")
    short_writes = write - extra["cache_write_long_tokens"]
    text_cached = cached - extra["cached_audio_input_tokens"]
    need = [(text_cached, "cached_input"), (short_writes, "cache_write")] + [(extra[k], r) for k, r in EXTRA_KINDS]
    for toks, key in need:
        bad = (toks > 0) & np.isnan(rates[key])
        if bad.any():
            models = sorted({records[i].model for i in np.unique(rec_idx[bad])})
            hint = " (never billed at the text rate)" if "audio" in key or "image" in key else ""
            raise NoPriceError(f"{key.replace('_', '-')} tokens for model(s) without that price{hint}: "
                               f"{', '.join(models)}")

    def usd(toks: np.ndarray, key: str) -> np.ndarray:
        return np.where(toks > 0, toks * rates[key], 0.0) / PER_MTOK

    result = frame.copy()
    result["input_usd"] = (uncached * rates["input"] / PER_MTOK + usd(extra["audio_input_tokens"], "input_audio")
                           + usd(extra["image_input_tokens"], "input_image"))
    result["cached_input_usd"] = usd(text_cached, "cached_input") + usd(extra["cached_audio_input_tokens"],
                                                                        "cached_input_audio")
    result["cache_write_usd"] = usd(short_writes, "cache_write") + usd(extra["cache_write_long_tokens"],
                                                                       "cache_write_long")
    result["output_usd"] = ((out - extra["audio_output_tokens"]) * rates["output"] / PER_MTOK
                            + usd(extra["audio_output_tokens"], "output_audio"))
    result["cost_usd"] = (result["input_usd"] + result["cached_input_usd"]
                          + result["cache_write_usd"] + result["output_usd"])
    return result
