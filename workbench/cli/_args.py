"""Argument types shared by the subcommands: numbers with a lower bound, one-line errors."""
from __future__ import annotations

import argparse
import math
from typing import Callable


def number(kind: type = float, *, minimum: float = 0, exclusive: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: ``kind(text)``, finite, and ``>= minimum`` (``> minimum`` if exclusive)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if exclusive and not value > minimum:
            raise argparse.ArgumentTypeError(f"must be > {minimum:g}, got {text}")
        if not exclusive and not value >= minimum:
            bound = "non-negative" if minimum == 0 else f">= {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB")


def memory_size(text: str) -> str:
    """An argparse ``type`` for a memory size as DuckDB takes it (``512MB``, ``1.5GB``, ``2GiB``)."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _SIZE_UNITS or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a memory size: {text!r} (e.g. 512MB, 2GB, 1.5GiB)")
    return f"{m.group(1)}{m.group(2).upper().replace('I', 'i')}"
