"""“Prices as of”: which price snapshot an app's figures used, in one line every app shows.

The line names the oldest review date of the price sheets (``PriceBook.reviewed_as_of``) and, for the
models an app priced, the price records in force over the days it priced (their effective dates), so a
reader can tell a figure made on last quarter's prices from today's.
"""
from __future__ import annotations

import datetime as dt
from html import escape
from typing import Iterable

from workbench.core.prices import PriceBook, PriceError

MAX_MODELS = 8  # beyond this the line names how many more


def records_in_force(book: PriceBook, model: str, start: dt.date, end: dt.date | None = None) -> list:
    """The price records of ``model`` in force on some day of [start, end] (oldest first)."""
    end = end or start
    info = book.model(model)
    return [r for r in sorted(info.history, key=lambda r: r.effective)
            if r.effective <= end and (r.until is None or r.until >= start)]


def prices_as_of_text(book: PriceBook, models: Iterable[str] = (), start: dt.date | str | None = None,
                      end: dt.date | str | None = None) -> str:
    """One plain-text line: the sheets' review date and each priced model's records in force."""
    reviewed = book.reviewed_as_of()
    text = (f"Prices as of {reviewed} (oldest price-sheet review)" if reviewed
            else "Prices as of: a price sheet records no review date")
    names = list(dict.fromkeys(str(m) for m in models if m))
    first = _day(start) if start is not None else dt.date.today() if names else None  # priced today
    last = _day(end) if end is not None else first
    if first is None or not names:
        return text + "."
    parts = []
    for name in names[:MAX_MODELS]:
        try:
            recs = records_in_force(book, book.resolve(name), first, last)
        except PriceError:
            continue  # an app's what-if or unknown model: its own error says so
        if recs:
            parts.append(f"{book.resolve(name)} from {', '.join(str(r.effective) for r in recs)}")
    more = f" and {len(names) - MAX_MODELS} more" if len(names) > MAX_MODELS else ""
    span = f"on {first}" if last == first else f"from {first} to {last}"
    return text + (f"; records in force {span}: {'; '.join(parts)}{more}." if parts else ".")


def prices_as_of_html(book: PriceBook, models: Iterable[str] = (), start: dt.date | str | None = None,
                      end: dt.date | str | None = None) -> str:
    """The line as HTML (``data-testid='prices-as-of'``), for an app's output widget."""
    return (f"<p class='wb-sub' data-testid='prices-as-of'>"
            f"{escape(prices_as_of_text(book, models, start, end))}</p>")


def prices_as_of_frame_html(book: PriceBook, frame, ts: str = "ts") -> str:
    """The line for a priced log: its models and the UTC days its ``ts`` spans (each row's own day)."""
    if frame is None or not len(frame) or "model" not in frame:
        return prices_as_of_html(book)
    days = frame[ts].dropna() if ts in frame else None
    start, end = (days.min(), days.max()) if days is not None and len(days) else (None, None)
    return prices_as_of_html(book, frame["model"].dropna().astype(str).unique(), start, end)


def _day(value: dt.date | str) -> dt.date:
    if hasattr(value, "tz_convert") and getattr(value, "tzinfo", None) is not None:
        value = value.tz_convert("UTC")  # a pandas Timestamp: its UTC day
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
