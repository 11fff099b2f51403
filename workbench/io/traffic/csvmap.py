"""Plain CSV with a column mapping (``format="csv"``).

A CSV written from the canonical schema (``frame.to_csv``) reads back as it was, ``token_source``
labels included. ``column_map`` maps canonical column names to the file's column names, e.g.
``{"ts": "created_at", "input_tokens": "prompt_tokens"}`` (CLI: ``--map ts=created_at``). Columns
not mapped are taken from a header column of the same canonical name, or from one of the few
unambiguous aliases in :data:`ALIASES`. ``ts`` and the token counts (or prompt / reply text to count)
are required; everything else is optional.
"""
from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from workbench.core.schema import COLUMN_NAMES, EXTRA_TOKEN_NAMES
from workbench.io.traffic.formats import FORMATS, Context, Format
from workbench.io.traffic.result import LoadError

#: Header names accepted without a mapping, besides the canonical names themselves.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "ts": ("timestamp",),
    "input_tokens": ("prompt_tokens",),
    "output_tokens": ("completion_tokens",),
    "cached_input_tokens": ("cached_tokens",),
}
#: Extra targets a mapping may name: reply text (to count missing output tokens).
EXTRA_TARGETS = ("completion",)
MAPPABLE = COLUMN_NAMES + EXTRA_TOKEN_NAMES + ("service_tier",) + EXTRA_TARGETS


def resolve_map(header: list[str], column_map: Mapping[str, str] | None) -> dict[str, str]:
    """Canonical name → header column, from the explicit map, then same names, then aliases."""
    column_map = dict(column_map or {})
    unknown = sorted(set(column_map) - set(MAPPABLE))
    if unknown:
        raise LoadError(f"column_map names unknown column(s) {unknown}; mappable: {', '.join(MAPPABLE)}")
    missing = sorted(v for v in column_map.values() if v not in header)
    if missing:
        raise LoadError(f"column_map refers to {missing}, not in the CSV header: {', '.join(header)}")
    out = dict(column_map)
    used = set(out.values())
    for name in MAPPABLE:
        if name in out:
            continue
        for candidate in (name, *ALIASES.get(name, ())):
            if candidate in header and candidate not in used:
                out[name] = candidate
                used.add(candidate)
                break
    if "ts" not in out:
        raise LoadError(
            "no timestamp column: map one with column_map={'ts': ...} (--map ts=COLUMN); "
            f"header: {', '.join(header)}")
    return out


def extract_csv(df: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    header = [c for c in df.columns if c != "_line"]
    mapping = resolve_map(header, ctx.column_map)
    exprs = [pl.col(src).alias("_completion" if name == "completion" else name) for name, src in mapping.items()]
    return df.select("_line", *exprs)


FORMATS.register(Format(
    name="csv", description="plain CSV with a column mapping to the canonical columns",
    kind="csv", extract=extract_csv, detect=lambda keys: False,
    sources=("the canonical schema, workbench.core.schema",),
))
