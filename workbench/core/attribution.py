"""Spend attribution: what did we spend, on which feature, tenant and model, per day?

Pure, vectorised functions over a frame in the canonical request schema
(:mod:`workbench.core.schema`). A frame without ``cost_usd`` is priced first with
:func:`workbench.core.frame_cost.price_frame` when a price book is given.

Definitions (one row of the log is one model call; a retry is its own row):

- ``spend_usd``: the sum of ``cost_usd`` over every call, failed attempts included.
- ``requests``: calls (rows). ``logical_requests``: calls with ``attempt == 1``; every logical
  request has exactly one first attempt, so this counts distinct logical requests.
- ``retry_amplification = requests / logical_requests``: calls per logical request
  (1.0 = no retries; 1.25 = one retry per four requests).
- ``successful``: calls with ``status == "ok"`` whose ``quality`` is missing or at least
  ``success_quality`` (default 0.5). A logical request succeeds at most once.
- ``cost_per_success_usd = spend_usd / successful``: what one successful task costs when the
  failed attempts and the unsuccessful answers are paid for too.
- ``p50/p95_input_tokens`` and ``p50/p95_output_tokens``: percentiles (linear interpolation,
  as numpy) over the calls that returned (``status == "ok"``).

A row whose ``attempt == 1`` and its retries can fall in different periods (a retry after
midnight); amplification per day is then off by that retry, which is the price of needing no
logical-request id.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from workbench.core.frame_cost import price_frame
from workbench.core.prices import PriceBook

#: Periods :func:`spend_by` understands -> pandas frequency.
PERIODS = {"hour": "h", "day": "D", "week": "W-MON"}
SUCCESS_QUALITY = 0.5
NONE_LABEL = "(none)"

SPEND_COLUMNS = (
    "spend_usd", "share", "requests", "logical_requests", "retry_amplification", "failed",
    "successful", "success_rate", "cost_per_success_usd", "input_tokens", "cached_input_tokens",
    "output_tokens", "p50_input_tokens", "p95_input_tokens", "p50_output_tokens", "p95_output_tokens",
)


def _keys(by: str | Iterable[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def priced(frame: pd.DataFrame, book: PriceBook | None = None) -> pd.DataFrame:
    """``frame`` itself when it has ``cost_usd``; otherwise priced with ``book`` (required then)."""
    if "cost_usd" in frame.columns:
        return frame
    if book is None:
        raise ValueError("the frame has no cost_usd column: price it first (price_frame) or pass book=")
    return price_frame(frame, book)


def _utc(ts: pd.Series) -> pd.Series:
    if not pd.api.types.is_datetime64_any_dtype(ts):
        ts = pd.to_datetime(ts, utc=True)
    if getattr(ts.dt, "tz", None) is None:
        ts = ts.dt.tz_localize("UTC")
    return ts.dt.tz_convert("UTC")


def period_start(ts: pd.Series, period: str) -> pd.Series:
    """The UTC start of each timestamp's hour / day / week (weeks start on Monday), tz-naive."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}; valid: {', '.join(PERIODS)} or None")
    naive = _utc(ts).dt.tz_localize(None)
    if period == "week":
        day = naive.dt.floor("D")
        return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
    return naive.dt.floor(PERIODS[period])


def _work_frame(frame: pd.DataFrame, keys: list[str], period: str | None, success_quality: float) -> pd.DataFrame:
    n = len(frame)
    status = frame["status"].astype("string").str.lower().to_numpy(dtype=object, na_value="")
    ok = status == "ok"
    if "quality" in frame.columns:
        q = pd.to_numeric(frame["quality"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        good = np.isnan(q) | (q >= success_quality)
    else:
        good = np.ones(n, dtype=bool)
    attempt = pd.to_numeric(frame["attempt"], errors="coerce").fillna(1).to_numpy() if "attempt" in frame else np.ones(n)
    work = pd.DataFrame({
        "_cost": frame["cost_usd"].to_numpy(dtype=np.float64),
        "_first": attempt == 1,
        "_failed": ~ok,
        "_success": ok & good,
        "_in": frame["input_tokens"].to_numpy(dtype=np.float64),
        "_cached": frame["cached_input_tokens"].to_numpy(dtype=np.float64) if "cached_input_tokens" in frame else 0.0,
        "_out": frame["output_tokens"].to_numpy(dtype=np.float64),
    }, index=frame.index)
    work["_in_ok"] = np.where(ok, work["_in"], np.nan)
    work["_out_ok"] = np.where(ok, work["_out"], np.nan)
    for k in keys:
        col = frame[k]
        if not pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_datetime64_any_dtype(col):
            col = col.astype("string").fillna(NONE_LABEL).astype(object)
        work[k] = col.to_numpy()
    if period is not None:
        work[period] = period_start(frame["ts"], period).to_numpy()
    return work


def spend_by(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = ("feature",),
    period: str | None = "day",
    *,
    book: PriceBook | None = None,
    success_quality: float = SUCCESS_QUALITY,
) -> pd.DataFrame:
    """Spend and its drivers per group (``by``) and per ``period`` ("hour", "day", "week" or None).

    One row per group and period, sorted by the keys, with the columns of :data:`SPEND_COLUMNS`
    (see the module docstring for their definitions). ``share`` is the row's part of the
    frame's total spend. ``by=()`` with ``period=None`` gives one row of totals.
    Missing group values are labelled ``"(none)"``; a period column holds tz-naive UTC starts.
    """
    f = priced(frame, book)
    group = _keys(by)
    keys = group + ([period] if period is not None else [])
    work = _work_frame(f, group, period, success_quality)
    if not keys:
        work["_all"] = "total"
        keys = ["_all"]
    g = work.groupby(keys, sort=True, observed=True, dropna=False)
    out = g.agg(
        spend_usd=("_cost", "sum"), requests=("_cost", "size"), logical_requests=("_first", "sum"),
        failed=("_failed", "sum"), successful=("_success", "sum"), input_tokens=("_in", "sum"),
        cached_input_tokens=("_cached", "sum"), output_tokens=("_out", "sum"),
    )
    for col, src in (("input", "_in_ok"), ("output", "_out_ok")):
        qs = g[src].quantile([0.5, 0.95]).unstack()
        out[f"p50_{col}_tokens"] = qs[0.5]
        out[f"p95_{col}_tokens"] = qs[0.95]
    total = work["_cost"].sum()
    out["share"] = out["spend_usd"] / total if total > 0 else np.nan
    for c in ("requests", "logical_requests", "failed", "successful", "input_tokens",
              "cached_input_tokens", "output_tokens"):
        out[c] = out[c].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["retry_amplification"] = np.where(out["logical_requests"] > 0,
                                              out["requests"] / out["logical_requests"], np.nan)
        out["success_rate"] = np.where(out["logical_requests"] > 0,
                                       out["successful"] / out["logical_requests"], np.nan)
        out["cost_per_success_usd"] = np.where(out["successful"] > 0,
                                               out["spend_usd"] / out["successful"], np.nan)
    out = out.reset_index()
    if keys == ["_all"]:
        out = out.drop(columns="_all")
        keys = []
    return out[[*keys, *SPEND_COLUMNS]]


def totals(frame: pd.DataFrame, *, book: PriceBook | None = None,
           success_quality: float = SUCCESS_QUALITY) -> dict[str, float]:
    """The whole frame as one row of :func:`spend_by`, as a dict (zeros for an empty frame)."""
    if len(frame) == 0:
        return {c: 0 for c in SPEND_COLUMNS}
    table = spend_by(frame, by=(), period=None, book=book, success_quality=success_quality)
    return {c: table[c].iloc[0].item() for c in SPEND_COLUMNS}


_ALL = "_all"


def daily_spend(frame: pd.DataFrame, by: str | Sequence[str] | None = "feature", *,
                book: PriceBook | None = None) -> pd.DataFrame:
    """Spend per day (rows: every calendar day from first to last, zeros filled) x group (columns).

    With ``by=()`` the single column is ``"total"``.
    """
    f = priced(frame, book)
    group = _keys(by)
    work = _work_frame(f, group, "day", SUCCESS_QUALITY)
    if not group:
        work[_ALL] = "total"
    wide = work.pivot_table(index="day", columns=group or [_ALL], values="_cost", aggfunc="sum",
                            fill_value=0.0, observed=True)
    if len(wide):
        days = pd.date_range(wide.index.min(), wide.index.max(), freq="D", name="day")
        wide = wide.reindex(days, fill_value=0.0)
    return wide


def anomalies(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = "feature",
    factor: float = 2.0,
    window_days: int = 7,
    *,
    min_history: int = 3,
    min_spend_usd: float = 0.0,
    book: PriceBook | None = None,
) -> pd.DataFrame:
    """Flag each group's days whose spend is at least ``factor`` x the median of the previous days.

    The baseline of a day is the median daily spend of the group over the ``window_days``
    calendar days before it (days without calls count as $0), needing at least ``min_history``
    of them. A day is an anomaly when its baseline is above 0, ``spend >= factor * baseline``
    and ``spend >= min_spend_usd``. Returns one row per group and day with ``spend_usd``,
    ``baseline_usd`` (NaN while the history is short), ``ratio`` and ``anomaly`` (bool);
    filter with ``result[result.anomaly]``. ``by=()`` checks the frame's total spend.
    """
    group = _keys(by)
    wide = daily_spend(frame, group, book=book)
    if wide.empty:
        return pd.DataFrame(columns=[*group, "day", "spend_usd", "baseline_usd", "ratio", "anomaly"])
    baseline = wide.shift(1).rolling(window_days, min_periods=min_history).median()
    levels = list(range(wide.columns.nlevels))
    long = pd.DataFrame({"spend_usd": wide.stack(levels), "baseline_usd": baseline.stack(levels)}).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        long["ratio"] = np.where(long["baseline_usd"] > 0, long["spend_usd"] / long["baseline_usd"], np.nan)
    long["anomaly"] = ((long["baseline_usd"] > 0) & (long["spend_usd"] >= factor * long["baseline_usd"])
                       & (long["spend_usd"] >= min_spend_usd)).astype(bool)
    long = long[[*group, "day", "spend_usd", "baseline_usd", "ratio", "anomaly"]]
    return long.sort_values([*group, "day"], kind="stable").reset_index(drop=True)


def top_spenders(
    frame: pd.DataFrame,
    by: str | Sequence[str] = "tenant",
    n: int = 10,
    *,
    book: PriceBook | None = None,
    success_quality: float = SUCCESS_QUALITY,
) -> pd.DataFrame:
    """The ``n`` groups with the highest spend over the whole frame, highest first, with ``rank``.

    ``share`` is of the whole frame's spend (so the shares of the top ``n`` may sum below 1).
    Ties keep the groups' sort order.
    """
    table = spend_by(frame, by=by, period=None, book=book, success_quality=success_quality)
    table = table.sort_values("spend_usd", ascending=False, kind="stable").head(n).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return table


def latest_day(frame: pd.DataFrame) -> pd.Timestamp | None:
    """The last UTC day with calls in ``frame`` (tz-naive midnight), or None when empty."""
    if len(frame) == 0:
        return None
    return _utc(frame["ts"]).max().tz_localize(None).floor("D")


def _naive_day(day: str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(day)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.floor("D")


def day_summary(
    frame: pd.DataFrame,
    by: str | Sequence[str] | None = "feature",
    day: str | pd.Timestamp | None = None,
    *,
    window_days: int = 7,
    factor: float = 2.0,
    min_history: int = 3,
    book: PriceBook | None = None,
) -> pd.DataFrame:
    """One day ("yesterday": the log's last day by default) per group, highest spend first.

    Columns: the :func:`spend_by` columns for that day plus ``baseline_usd`` (median of the
    previous ``window_days`` days, as in :func:`anomalies`), ``change`` (spend / baseline - 1)
    and ``anomaly``.
    """
    f = priced(frame, book)
    group = _keys(by)
    day = latest_day(f) if day is None else _naive_day(day)
    columns = [*group, *SPEND_COLUMNS, "baseline_usd", "change", "anomaly"]
    on_day = f[period_start(f["ts"], "day") == day] if day is not None else f.iloc[:0]
    if len(on_day) == 0:
        return pd.DataFrame(columns=columns)
    table = spend_by(on_day, by=group, period=None)
    flags = anomalies(f, by=group, factor=factor, window_days=window_days, min_history=min_history)
    flags = flags[flags["day"] == day].drop(columns=["day", "spend_usd"])
    table = table.merge(flags, on=group, how="left") if group else table.assign(**flags.iloc[0].to_dict())
    table["change"] = table["ratio"] - 1.0
    table["anomaly"] = table["anomaly"].fillna(False).astype(bool)
    table = table.drop(columns="ratio")
    return table.sort_values("spend_usd", ascending=False, kind="stable").reset_index(drop=True)
