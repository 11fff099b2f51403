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

from typing import Any, Iterable, Sequence

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
    """``frame`` itself when it has ``cost_usd`` (or is a :func:`work_frame`); otherwise priced
    with ``book`` (required then)."""
    if "cost_usd" in frame.columns or _WORK in frame.columns:
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


_WORK = "_work"
#: The group columns a :func:`work_frame` carries ready to group by.
WORK_KEYS = ("feature", "tenant", "model", "user")


def work_frame(frame: pd.DataFrame, *, book: PriceBook | None = None,
               success_quality: float = SUCCESS_QUALITY) -> pd.DataFrame:
    """The per-call columns every function here groups, computed once: pass the result (or rows
    of it, e.g. ``work[mask]``) to :func:`spend_by`, :func:`totals`, :func:`top_spenders`,
    :func:`daily_spend`, :func:`anomalies` and :func:`day_summary` instead of the log, and a
    dashboard that filters the same log again and again stops re-deriving them. The group columns
    (:data:`WORK_KEYS`) are categorical; ``day`` is the tz-naive UTC day; ``ts`` is kept."""
    f = priced(frame, book)
    keys = [k for k in WORK_KEYS if k in f.columns]
    work = _work_frame(f, keys, "day", success_quality)
    for k in keys:
        work[k] = work[k].astype("category")
    work["ts"] = _utc(f["ts"]).array  # tz-aware datetimes (to_numpy() would box every one)
    for src in _RANKED:  # each row's place in the whole frame's value order (NaN last): rows of the
        order = np.argsort(work[src].to_numpy(), kind="stable")  # work frame get percentiles with no sort
        pos = np.empty(len(work), dtype=np.int64)
        pos[order] = np.arange(len(work))
        work[_RANKED[src]] = pos
    work[_WORK] = True
    return work


#: Percentile columns of a work frame -> the column holding each row's place in their value order.
_RANKED = {"_in_ok": "_in_ok_pos", "_out_ok": "_out_ok_pos"}


def _work_frame(frame: pd.DataFrame, keys: list[str], period: str | None, success_quality: float) -> pd.DataFrame:
    if _WORK in frame.columns:  # already a work frame: add only a period it lacks
        if period is not None and period not in frame.columns:
            frame = frame.assign(**{period: period_start(frame["ts"], period).to_numpy()})
        return frame
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


def _group_codes(work: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Each row's group number (groups in sorted key order) and each group's key values."""
    codes, uniques = zip(*(_key_codes(work, k) for k in keys))
    return _combine(list(codes), list(uniques), keys)


def _key_codes(work: pd.DataFrame, k: str) -> tuple[np.ndarray, np.ndarray]:
    """One key column as integer codes that sort as its values, and the values of the codes."""
    if k == _ALL and k not in work.columns:  # one group of every row (no copy of the frame)
        return np.zeros(len(work), dtype=np.int64), np.array(["total"], dtype=object)
    col = work[k]
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = col.cat.categories
        order = np.argsort(np.asarray(cats, dtype=object if cats.dtype == object else None), kind="stable")
        rank = np.empty(len(cats), dtype=np.int64)
        rank[order] = np.arange(len(cats))
        return (rank[col.cat.codes.to_numpy()],
                cats.to_numpy(dtype=object)[order] if cats.dtype == object else cats.to_numpy()[order])
    c, u = pd.factorize(col, sort=True, use_na_sentinel=False)
    return c, np.asarray(u)


def _combine(codes: list[np.ndarray], uniques: list[np.ndarray], keys: list[str]
             ) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """Rows' group numbers from their per-key codes: only the key combinations present, sorted."""
    dims = [max(len(u), 1) for u in uniques]
    flat = np.ravel_multi_index(codes, dims) if len(codes) > 1 else codes[0]
    space = int(np.prod(dims, dtype=np.float64))
    if space <= max(1 << 16, 4 * len(flat)):  # the same groups as np.unique, without its sort
        present = np.bincount(flat, minlength=space) > 0
        seen = np.flatnonzero(present)
        inverse = (np.cumsum(present) - 1)[flat]
    else:
        seen, inverse = np.unique(flat, return_inverse=True)
    parts = np.unravel_index(seen, dims) if len(codes) > 1 else (seen,)
    return inverse, {k: u[c] for k, u, c in zip(keys, uniques, parts)}, len(seen)


def _value_order(values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The rows in value order, NaN left out, from each row's place ``pos`` in the value order of
    a larger frame (a work frame's ``_RANKED`` column): placed in linear time when the rows are
    many, their few places sorted otherwise (the same order: places are distinct)."""
    top = int(pos.max()) + 1
    if len(pos) * 8 >= top:
        slot = np.full(top, -1, dtype=np.int64)
        slot[pos] = np.arange(len(pos))
        by_value = slot[slot >= 0]
    else:
        by_value = np.argsort(pos, kind="stable")
    return by_value[~np.isnan(values[by_value])]


def _group_quantiles(inverse: np.ndarray, values: np.ndarray, n: int, qs: Sequence[float],
                     pos: np.ndarray | None = None, by_value: np.ndarray | None = None) -> list[np.ndarray]:
    """Per-group quantiles (linear interpolation, NaN skipped), as pandas' groupby quantile.

    ``pos``: each row's place in a value order of a larger frame the rows come from (a work
    frame's ``_RANKED`` column): the rows are then put in order with no sort of their values.
    ``by_value``: that order already computed (:func:`_value_order`)."""
    if by_value is None and pos is not None and len(pos):
        by_value = _value_order(values, pos)
    if by_value is not None:
        g_small = inverse[by_value].astype(np.int16 if n < (1 << 15) else np.int64)
        order = by_value[np.argsort(g_small, kind="stable")]  # radix sort by group, values stay in order
        g, v = inverse[order], values[order]
    else:
        keep = ~np.isnan(values)
        g, v = inverse[keep], values[keep]
        lo_v, hi_v = (float(v.min()), float(v.max())) if len(v) else (0.0, 0.0)
        span = hi_v - lo_v + 1.0
        if span * max(n, 1) < 2.0 ** 52 and np.array_equal(v, np.floor(v)):  # integers: one float key, exact
            order = np.argsort(g * span + (v - lo_v))
        else:
            order = np.lexsort((v, g))
        g, v = g[order], v[order]
    counts = np.bincount(g, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = []
    for q in qs:
        pos = q * (counts - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.ceil(pos).astype(np.int64)
        res = np.full(n, np.nan)
        has = counts > 0
        a, b = v[(starts + lo)[has]], v[(starts + hi)[has]]
        res[has] = a + (b - a) * (pos[has] - lo[has])
        out.append(res)
    return out


def _grouped(work: pd.DataFrame, keys: list[str]) -> dict[str, Any]:
    """Sums, counts and token percentiles per group, sorted by the keys (numpy, one pass each)."""
    inverse, key_values, n = _group_codes(work, keys)
    cols: dict[str, Any] = _key_columns(work, keys, key_values)
    cols.update(_sums(lambda c: work[c].to_numpy() if c in work.columns else None, inverse, n))
    return cols


def _key_columns(work: pd.DataFrame, keys: list[str], key_values: dict) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for k in keys:
        if k not in work.columns:
            cols[k] = key_values[k]
            continue
        src = work[k].dtype
        if isinstance(src, pd.CategoricalDtype):
            src = src.categories.dtype
        cols[k] = (pd.array(key_values[k], dtype=src) if not pd.api.types.is_datetime64_any_dtype(src)
                   else pd.to_datetime(key_values[k]).astype(src))
    return cols


def _sums(column, inverse: np.ndarray, n: int, order=None) -> dict[str, Any]:
    """``column(name)``: the rows' values of a work-frame column (None when it is absent);
    ``order(name)``: the rows in that column's value order (see :func:`_value_order`), or None."""
    def total(col: str) -> np.ndarray:
        return np.bincount(inverse, weights=np.asarray(column(col), dtype=np.float64), minlength=n)

    cols: dict[str, Any] = {}
    cols["spend_usd"] = total("_cost")
    cols["requests"] = np.bincount(inverse, minlength=n)
    for name, col in (("logical_requests", "_first"), ("failed", "_failed"), ("successful", "_success"),
                      ("input_tokens", "_in"), ("cached_input_tokens", "_cached"), ("output_tokens", "_out")):
        cols[name] = np.rint(total(col))
    for col, src in (("input", "_in_ok"), ("output", "_out_ok")):
        p50, p95 = _group_quantiles(inverse, np.asarray(column(src), dtype=np.float64), n, (0.5, 0.95),
                                    column(_RANKED[src]), order(src) if order is not None else None)
        cols[f"p50_{col}_tokens"] = p50
        cols[f"p95_{col}_tokens"] = p95
    return cols


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
        keys = [_ALL]
    return _finish(_grouped(work, keys), keys, work["_cost"].sum())


def _finish(cols: dict[str, Any], keys: list[str], total: float) -> pd.DataFrame:
    """The table of grouped sums ``cols``: shares, integer counts, ratios; :data:`SPEND_COLUMNS` in order."""
    spend = cols["spend_usd"]
    cols["share"] = spend / total if total > 0 else np.full(len(spend), np.nan)
    for c in ("requests", "logical_requests", "failed", "successful", "input_tokens",
              "cached_input_tokens", "output_tokens"):
        cols[c] = cols[c].astype(np.int64)
    requests, logical, successful = cols["requests"], cols["logical_requests"], cols["successful"]
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["retry_amplification"] = np.where(logical > 0, requests / logical, np.nan)
        cols["success_rate"] = np.where(logical > 0, successful / logical, np.nan)
        cols["cost_per_success_usd"] = np.where(successful > 0, spend / successful, np.nan)
    if keys == [_ALL]:
        keys = []
    return pd.DataFrame({c: cols[c] for c in [*keys, *SPEND_COLUMNS]})


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
    keys = [*(group or [_ALL]), "day"]
    inverse, key_values, n = _group_codes(work, keys)  # sum per group and day first: a small frame
    small = pd.DataFrame(_key_columns(work, keys, key_values))
    small["_cost"] = np.bincount(inverse, weights=np.asarray(work["_cost"], dtype=np.float64), minlength=n)
    wide = small.pivot_table(index="day", columns=group or [_ALL], values="_cost", aggfunc="sum",
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
    dominant_share: float | None = None,
) -> pd.DataFrame:
    """Flag each group's days whose spend is at least ``factor`` x the median of the previous days.

    The baseline of a day is the median daily spend of the group over the ``window_days``
    calendar days before it (days without calls count as $0), needing at least ``min_history``
    of them. A day is an anomaly when its baseline is above 0, ``spend >= factor * baseline``
    and ``spend >= min_spend_usd``. Returns one row per group and day with ``spend_usd``,
    ``baseline_usd`` (NaN while the history is short), ``ratio`` and ``anomaly`` (bool);
    filter with ``result[result.anomaly]``. ``by=()`` checks the frame's total spend.

    ``dominant_share`` (e.g. 0.5): also flag a group's day that alone is at least that share of
    the whole frame's spend, history or not (a runaway loop on the log's third day has no
    baseline yet, but it is most of the bill), when the frame spans two days or more. The result
    then has ``share_of_total`` and ``reason`` (``"ratio"``, ``"dominant"`` or ``""``).
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
    for k in group:
        if isinstance(long[k].dtype, pd.CategoricalDtype):
            long[k] = long[k].astype(long[k].cat.categories.dtype)
    cols = [*group, "day", "spend_usd", "baseline_usd", "ratio", "anomaly"]
    if dominant_share is not None:
        total = float(long["spend_usd"].sum())
        long["share_of_total"] = long["spend_usd"] / total if total > 0 else 0.0
        dominant = ((long["share_of_total"] >= dominant_share) & (long["day"].nunique() >= 2)
                    & (long["spend_usd"] >= min_spend_usd) & ~long["anomaly"])
        long["reason"] = np.where(long["anomaly"], "ratio", np.where(dominant, "dominant", ""))
        long["anomaly"] = long["anomaly"] | dominant
        cols += ["share_of_total", "reason"]
    long = long[cols]
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
    flags: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One day ("yesterday": the log's last day by default) per group, highest spend first.

    Columns: the :func:`spend_by` columns for that day plus ``baseline_usd`` (median of the
    previous ``window_days`` days, as in :func:`anomalies`), ``change`` (spend / baseline - 1)
    and ``anomaly``. ``flags``: the :func:`anomalies` of ``frame`` by the same groups, when the
    caller has them already (they are not computed again).
    """
    f = priced(frame, book)
    group = _keys(by)
    day = latest_day(f) if day is None else _naive_day(day)
    columns = [*group, *SPEND_COLUMNS, "baseline_usd", "change", "anomaly"]
    days = f["day"] if _WORK in f.columns else period_start(f["ts"], "day")
    on_day = f[(days == day).to_numpy()] if day is not None else f.iloc[:0]
    if len(on_day) == 0:
        return pd.DataFrame(columns=columns)
    table = spend_by(on_day, by=group, period=None)
    if flags is None:
        flags = anomalies(f, by=group, factor=factor, window_days=window_days, min_history=min_history)
    return _against_baseline(table, flags, group, day)


def _against_baseline(table: pd.DataFrame, flags: pd.DataFrame, group: list[str], day: pd.Timestamp) -> pd.DataFrame:
    """A day's :func:`spend_by` table with its baseline, change and anomaly from ``flags`` (the
    group's row of that day; none: no baseline, no anomaly), highest spend first."""
    flags = flags[(flags["day"] == day).to_numpy()]
    if group:  # the flags row of each table row's group
        where = {key: i for i, key in enumerate(zip(*(flags[k].tolist() for k in group)))}
        pos = np.array([where.get(key, -1) for key in zip(*(table[k].tolist() for k in group))], dtype=np.int64)
    else:  # the total's row
        pos = np.zeros(len(table), dtype=np.int64) if len(flags) else np.full(len(table), -1)
    found = pos >= 0
    pick = np.where(found, pos, 0)

    def column(name: str, missing: Any) -> np.ndarray:
        values = flags[name].to_numpy()
        return np.where(found, values[pick], missing) if len(values) else np.full(len(table), missing)

    ratio = column("ratio", np.nan).astype(np.float64)
    order = np.argsort(-table["spend_usd"].to_numpy(), kind="stable")  # highest first, ties in order
    out = table.take(order)
    out.index = pd.RangeIndex(len(out))
    out["baseline_usd"] = column("baseline_usd", np.nan).astype(np.float64)[order]
    out["anomaly"] = column("anomaly", False).astype(bool)[order]
    out["change"] = (ratio - 1.0)[order]
    return out


class WorkRows:
    """A :func:`work_frame` kept as numpy columns, its group columns as integer codes in sorted order.

    :meth:`spend_by`, :meth:`totals`, :meth:`top_spenders`, :meth:`anomalies` and :meth:`day_summary`
    of any rows of it (a boolean mask) give exactly what the functions of the same names give for
    ``work[mask]`` (same sums in the same order, so the same floats), without building that frame:
    a dashboard that filters one log again and again pays a few numpy passes per change."""

    def __init__(self, work: pd.DataFrame):
        if _WORK not in work.columns:
            raise ValueError("WorkRows needs a work_frame(log)")
        self.work = work
        self._columns = {c: work[c].to_numpy() for c in (
            "_cost", "_first", "_failed", "_success", "_in", "_cached", "_out", "_in_ok", "_out_ok",
            *(c for c in _RANKED.values() if c in work.columns))}
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.day_values = self._key("day")[1]  # the log's days, sorted

    def _key(self, k: str) -> tuple[np.ndarray, np.ndarray]:
        if k not in self._codes:
            self._codes[k] = _key_codes(self.work, k)
        return self._codes[k]

    def _groups(self, rows: np.ndarray, keys: list[str]):
        codes, uniques = zip(*((c[rows], u) for c, u in (self._key(k) for k in keys)))
        return _combine(list(codes), list(uniques), keys)

    def distinct(self, mask: np.ndarray, key: str) -> int:
        """How many values of ``key`` (e.g. "day", "feature") ``work[mask]`` has: its ``nunique()``."""
        return int(np.count_nonzero(np.bincount(self._key(key)[0][mask], minlength=1)))

    def select(self, mask: np.ndarray) -> "Selection":
        """The rows of ``mask``, for several tables of the same rows (columns taken once)."""
        return Selection(self, mask)

    def spend_by(self, mask: np.ndarray, by: str | Sequence[str] | None = ("feature",)) -> pd.DataFrame:
        """:func:`spend_by` of ``work[mask]`` with ``period=None``."""
        return self.select(mask).spend_by(by)

    def totals(self, mask: np.ndarray) -> dict[str, float]:
        """:func:`totals` of ``work[mask]``."""
        return self.select(mask).totals()

    def top_spenders(self, mask: np.ndarray, by: str | Sequence[str] = "tenant", n: int = 10) -> pd.DataFrame:
        """:func:`top_spenders` of ``work[mask]``."""
        return self.select(mask).top_spenders(by, n)

    def anomalies(self, mask: np.ndarray, by: str | Sequence[str] | None = "feature", factor: float = 2.0,
                  window_days: int = 7, *, min_history: int = 3, min_spend_usd: float = 0.0) -> pd.DataFrame:
        """:func:`anomalies` of ``work[mask]`` (without ``dominant_share``): the daily spend of each
        group as a (group x calendar day) matrix and the rolling median of its previous days."""
        group = _keys(by)
        rows = np.flatnonzero(mask)
        if not len(rows):
            return pd.DataFrame(columns=[*group, "day", "spend_usd", "baseline_usd", "ratio", "anomaly"])
        inverse, key_values, n_groups = self._groups(rows, group or [_ALL])
        day_code, days = self._key("day")
        seen = np.unique(day_code[rows])
        calendar = pd.date_range(days[seen[0]], days[seen[-1]], freq="D", name="day")
        n_days = len(calendar)
        offset = ((days - days[seen[0]]) // np.timedelta64(1, "D")).astype(np.int64)  # a log day's column
        spend = np.bincount(inverse * n_days + offset[day_code[rows]], weights=self._columns["_cost"][rows],
                            minlength=n_groups * n_days).reshape(n_groups, n_days)
        baseline = np.full_like(spend, np.nan)
        for j in range(min_history, n_days):  # the median of the previous window_days days, as rolling()
            baseline[:, j] = np.median(spend[:, max(0, j - window_days):j], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(baseline > 0, spend / baseline, np.nan)
        anomaly = (baseline > 0) & (spend >= factor * baseline) & (spend >= min_spend_usd)
        cols: dict[str, Any] = {k: np.repeat(v, n_days) for k, v in
                                _key_columns(self.work, group, key_values).items()}
        cols.update(day=np.tile(calendar.to_numpy(), n_groups), spend_usd=spend.ravel(),
                    baseline_usd=baseline.ravel(), ratio=ratio.ravel(), anomaly=anomaly.ravel())
        return pd.DataFrame(cols)

    def day_summary(self, mask: np.ndarray, by: str | Sequence[str] | None, day: str | pd.Timestamp,
                    flags: pd.DataFrame) -> pd.DataFrame:
        """:func:`day_summary` of ``work[mask]`` on ``day``, with the caller's :meth:`anomalies`."""
        return self.select(mask & self.on_day(day)).day_summary(by, day, flags)

    def on_day(self, day: str | pd.Timestamp) -> np.ndarray:
        """The rows of one UTC day (a mask)."""
        day_code, days = self._key("day")
        return np.isin(day_code, np.flatnonzero(days == np.datetime64(_naive_day(day), "ns")))


class Selection:
    """Rows of a :class:`WorkRows` (a boolean mask): :meth:`spend_by`, :meth:`totals` and
    :meth:`top_spenders` of them, each column and each percentile order taken once for all."""

    def __init__(self, owner: WorkRows, mask: np.ndarray):
        self.owner = owner
        self.rows = np.flatnonzero(mask)
        self._taken: dict[str, np.ndarray] = {}
        self._orders: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray | None:
        if name not in self._taken:
            source = self.owner._columns.get(name)
            if source is None:
                return None
            self._taken[name] = source[self.rows]
        return self._taken[name]

    def order(self, src: str) -> np.ndarray | None:
        """The rows in the value order of percentile column ``src`` (NaN left out)."""
        pos = self.column(_RANKED[src])
        if pos is None or not len(pos):
            return None
        if src not in self._orders:
            self._orders[src] = _value_order(np.asarray(self.column(src), dtype=np.float64), pos)
        return self._orders[src]

    def spend_by(self, by: str | Sequence[str] | None = ("feature",)) -> pd.DataFrame:
        keys = _keys(by) or [_ALL]
        inverse, key_values, n = self.owner._groups(self.rows, keys)
        cols: dict[str, Any] = _key_columns(self.owner.work, keys, key_values)
        cols.update(_sums(self.column, inverse, n, self.order))
        return _finish(cols, keys, pd.Series(self.column("_cost")).sum())

    def totals(self) -> dict[str, float]:
        if not len(self.rows):
            return {c: 0 for c in SPEND_COLUMNS}
        table = self.spend_by(by=())
        return {c: table[c].iloc[0].item() for c in SPEND_COLUMNS}

    def day_summary(self, by: str | Sequence[str] | None, day: str | pd.Timestamp,
                    flags: pd.DataFrame) -> pd.DataFrame:
        """:meth:`WorkRows.day_summary` of these rows, all on ``day`` (see :meth:`WorkRows.on_day`)."""
        group = _keys(by)
        if not len(self.rows):
            return pd.DataFrame(columns=[*group, *SPEND_COLUMNS, "baseline_usd", "change", "anomaly"])
        return _against_baseline(self.spend_by(by=group), flags, group, _naive_day(day))

    def top_spenders(self, by: str | Sequence[str] = "tenant", n: int = 10) -> pd.DataFrame:
        table = self.spend_by(by=by)
        table = table.sort_values("spend_usd", ascending=False, kind="stable").head(n).reset_index(drop=True)
        table.insert(0, "rank", np.arange(1, len(table) + 1))
        return table
