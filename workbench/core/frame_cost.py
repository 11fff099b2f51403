"""Vectorised pricing of a DataFrame of requests.

One call prices every row: model names are resolved once per distinct name, the price record in
force on each row's day is found with ``searchsorted`` per model, and the dollars are numpy
arithmetic over whole columns. Same rules as :func:`workbench.core.cost.request_cost`.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from workbench.core.cost import PER_MTOK
from workbench.core.prices import NoPriceError, PriceBook, PriceError, PriceRecord

COST_COLUMNS = ("input_usd", "cached_input_usd", "cache_write_usd", "output_usd", "cost_usd")
_RATES = ("input", "output", "cached_input", "cache_write", "batch_input", "batch_output")


def _record_table(records: list[PriceRecord], cache_ttl: str) -> dict[str, np.ndarray]:
    def col(name: str) -> np.ndarray:
        attr = f"cache_write_{cache_ttl}" if name == "cache_write" else name
        return np.array([np.nan if getattr(r, attr) is None else getattr(r, attr) for r in records])
    return {k: col(k) for k in _RATES}


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
) -> pd.DataFrame:
    """Return a copy of ``frame`` with the columns of :data:`COST_COLUMNS` added.

    Required columns: ``model``, ``input_tokens``, ``output_tokens``. Optional:
    ``cached_input_tokens``, ``cache_write_tokens``, ``batch`` (bool) and the date column
    (``ts`` by default; without it every row is priced on ``on``, default today).
    Unknown models and days without a price raise; nothing is priced at $0 by default.
    """
    missing = {"model", "input_tokens", "output_tokens"} - set(frame.columns)
    if missing:
        raise PriceError(f"cannot price: missing column(s) {sorted(missing)}")
    n = len(frame)
    inp = frame["input_tokens"].to_numpy(dtype=np.float64)
    out = frame["output_tokens"].to_numpy(dtype=np.float64)
    cached = frame["cached_input_tokens"].to_numpy(dtype=np.float64) if "cached_input_tokens" in frame else np.zeros(n)
    write = frame["cache_write_tokens"].to_numpy(dtype=np.float64) if "cache_write_tokens" in frame else np.zeros(n)
    batch = frame["batch"].to_numpy(dtype=bool) if "batch" in frame else np.zeros(n, dtype=bool)
    for name, arr in (("input_tokens", inp), ("output_tokens", out),
                      ("cached_input_tokens", cached), ("cache_write_tokens", write)):
        bad = ~(arr >= 0)  # catches NaN too
        if bad.any():
            raise PriceError(f"{name}: {int(bad.sum())} row(s) negative or missing (first at row {int(np.argmax(bad))})")
    uncached = inp - cached - write
    if (uncached < 0).any():
        raise PriceError(f"{int((uncached < 0).sum())} row(s) have cached + cache-write tokens above input tokens")

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

    table = _record_table(records, cache_ttl)
    rates = {k: v[rec_idx] for k, v in table.items()}
    for i, rec in enumerate(records):  # long-context tiers: few records have them
        for tier in sorted(rec.tiers, key=lambda t: t.above_input_tokens):
            hit = (rec_idx == i) & (inp > tier.above_input_tokens)
            if hit.any():
                for k, v in tier.rates.items():
                    key = "cache_write" if k == f"cache_write_{cache_ttl}" else k
                    if key in rates:
                        rates[key][hit] = v
    if batch.any():
        no_batch = batch & (np.isnan(rates["batch_input"]) | np.isnan(rates["batch_output"]))
        if no_batch.any():
            bad = sorted({records[i].model for i in np.unique(rec_idx[no_batch])})
            raise NoPriceError(f"batch rows for model(s) without a batch price: {', '.join(bad)}")
        ratio = np.divide(rates["batch_input"], rates["input"], out=np.ones(n), where=rates["input"] > 0)
        for k in ("cached_input", "cache_write"):
            rates[k] = np.where(batch, rates[k] * ratio, rates[k])
        rates["input"] = np.where(batch, rates["batch_input"], rates["input"])
        rates["output"] = np.where(batch, rates["batch_output"], rates["output"])
    for tokens, key in ((cached, "cached_input"), (write, "cache_write")):
        bad = (tokens > 0) & np.isnan(rates[key])
        if bad.any():
            models = sorted({records[i].model for i in np.unique(rec_idx[bad])})
            raise NoPriceError(f"{key.replace('_', '-')} tokens for model(s) without that price: {', '.join(models)}")

    result = frame.copy()
    result["input_usd"] = uncached * rates["input"] / PER_MTOK
    result["cached_input_usd"] = np.where(cached > 0, cached * rates["cached_input"], 0.0) / PER_MTOK
    result["cache_write_usd"] = np.where(write > 0, write * rates["cache_write"], 0.0) / PER_MTOK
    result["output_usd"] = out * rates["output"] / PER_MTOK
    result["cost_usd"] = (result["input_usd"] + result["cached_input_usd"]
                          + result["cache_write_usd"] + result["output_usd"])
    return result
