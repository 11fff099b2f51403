"""Dates as the apps take them from links and controls."""
from __future__ import annotations

import datetime as dt


def parse_date(text: str | dt.date | None, *, field: str | None = None) -> dt.date | None:
    """``YYYY-MM-DD`` (or a date, or None) as a date; a clear error otherwise."""
    if text is None or isinstance(text, dt.date):
        return text.date() if isinstance(text, dt.datetime) else text
    text = str(text).strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        where = f"{field}={text!r}: " if field else ""
        raise ValueError(f"{where}expected a date YYYY-MM-DD") from None


def long_day(day: dt.date | str) -> str:
    """'Sunday 09 November 2025' (never a datetime repr)."""
    return (dt.date.fromisoformat(day) if isinstance(day, str) else day).strftime("%A %d %B %Y")
