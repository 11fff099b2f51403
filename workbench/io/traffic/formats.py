"""The format registry and the small expression helpers every format's extractor uses.

A :class:`Format` names how a file is read (``kind``: JSON lines/array with a ``schema``, or CSV),
how its rows map onto the canonical columns (``extract``, a pure polars function), and how it is
recognised (``detect``, given the first record's keys or the CSV header). Formats register
themselves in :data:`FORMATS`; an unknown name raises an error listing the valid ones.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

import polars as pl

if TYPE_CHECKING:
    from workbench.io.traffic.result import LoadResult

S = pl.String


@dataclass(frozen=True)
class Context:
    """What an extractor may need besides the rows."""

    file: str
    origin: dt.datetime  # start of relative-time traces (UTC)
    column_map: Mapping[str, str] = field(default_factory=dict)


Extract = Callable[[pl.DataFrame, Context], pl.DataFrame]


@dataclass(frozen=True)
class Format:
    """One log format. Calling it loads a file: ``FORMATS["litellm"](path, ...)`` is
    ``load_log(path, "litellm", ...)``."""

    name: str
    description: str
    kind: str  # "json" (JSONL, or a JSON array), "csv", or "json|csv" (by file content)
    extract: Extract
    detect: Callable[[frozenset[str]], bool]
    schema: dict | None = None  # polars schema for JSON input (leaves as text)
    token_only: bool = False  # the log has no model column: --model is required
    relative_time: bool = False  # timestamps are offsets from the start: anchored at ``origin``
    sources: tuple[str, ...] = ()  # where the field names come from

    def __call__(self, path, **kwargs) -> "LoadResult":
        from workbench.io.traffic.loader import load_log

        return load_log(path, self.name, **kwargs)


class UnknownFormatError(KeyError, ValueError):
    def __init__(self, name: object, valid: list[str]):
        self.name = name
        super().__init__(f"unknown format {name!r}; valid formats: {', '.join(valid)}")

    def __str__(self) -> str:
        return self.args[0]


class FormatRegistry(Mapping[str, Format]):
    """Name → :class:`Format`, in registration order."""

    def __init__(self) -> None:
        self._formats: dict[str, Format] = {}

    def register(self, fmt: Format) -> Format:
        if fmt.name in self._formats:
            raise ValueError(f"format {fmt.name!r} is already registered")
        self._formats[fmt.name] = fmt
        return fmt

    def __getitem__(self, name: str) -> Format:
        try:
            return self._formats[name]
        except KeyError:
            raise UnknownFormatError(name, list(self._formats)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._formats)

    def __len__(self) -> int:
        return len(self._formats)

    def __repr__(self) -> str:
        return f"FormatRegistry({', '.join(self._formats)})"


FORMATS = FormatRegistry()


# ------------------------------------------------------------------------- expression helpers


class Cols:
    """``c("a.b.c")``: a (possibly nested) column as text, or null when the frame lacks it."""

    def __init__(self, df: pl.DataFrame):
        self.schema = df.schema

    def has(self, path: str) -> bool:
        parts = path.split(".")
        dtype = self.schema.get(parts[0])
        for p in parts[1:]:
            if not isinstance(dtype, pl.Struct):
                return False
            dtype = {f.name: f.dtype for f in dtype.fields}.get(p)
        return dtype is not None

    def __call__(self, path: str) -> pl.Expr:
        if not self.has(path):
            return pl.lit(None, S)
        parts = path.split(".")
        expr = pl.col(parts[0])
        for p in parts[1:]:
            expr = expr.struct.field(p)
        return expr if self._dtype(path) == S else expr.cast(S)

    def _dtype(self, path: str):
        parts = path.split(".")
        dtype = self.schema[parts[0]]
        for p in parts[1:]:
            dtype = {f.name: f.dtype for f in dtype.fields}[p]
        return dtype

    def first(self, *paths: str) -> pl.Expr:
        """The first non-null (and non-empty) of several columns."""
        exprs = [blank_to_null(self(p)) for p in paths if self.has(p)]
        return pl.coalesce(exprs) if exprs else pl.lit(None, S)


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    """Null for empty or all-whitespace text (an anchored regex: no copy of long texts)."""
    return pl.when(expr.str.contains(r"^\s*$")).then(None).otherwise(expr)


def jpath(expr: pl.Expr, path: str) -> pl.Expr:
    """JSON path into a text column (null when absent or not JSON)."""
    return expr.str.json_path_match(path)


def number(expr: pl.Expr) -> pl.Expr:
    return expr.str.strip_chars().cast(pl.Float64, strict=False)


def token_sum(*exprs: pl.Expr) -> pl.Expr:
    """Sum of token counts given as text. Null when all are missing; when one is present but not a
    number, that text is passed on unchanged so the validator reports it."""
    parsed = [number(e) for e in exprs]
    unreadable = [pl.when(e.is_not_null() & (e.str.strip_chars() != "") & p.is_null()).then(e)
                  for e, p in zip(exprs, parsed)]
    total = pl.sum_horizontal([p.fill_null(0) for p in parsed])
    any_present = pl.any_horizontal([p.is_not_null() for p in parsed])
    return (pl.when(pl.any_horizontal([u.is_not_null() for u in unreadable])).then(pl.coalesce(unreadable))
            .when(any_present).then(total.cast(S))
            .otherwise(None))


def http_status(code: pl.Expr) -> pl.Expr:
    """Canonical status from an HTTP status code given as text."""
    c = number(code)
    return (pl.when(c.is_null()).then(None)
            .when(c.is_between(200, 299)).then(pl.lit("ok"))
            .when(c == 429).then(pl.lit("rate_limited"))
            .when((c == 408) | (c == 504)).then(pl.lit("timeout"))
            .otherwise(pl.lit("error")))


def tags_json(**fields: pl.Expr) -> pl.Expr:
    """A JSON object (text) of the given fields; fields that are JSON text stay text."""
    return pl.struct([e.alias(k) for k, e in fields.items()]).struct.json_encode()


def relative_ts(offset: pl.Expr, ctx: Context, unit: str) -> pl.Expr:
    """``origin + offset`` as a UTC datetime; ``unit`` is ``"s"`` or ``"ms"``."""
    scale = {"s": 1e9, "ms": 1e6}[unit]
    origin_ns = int(ctx.origin.timestamp() * 1e9)
    v = number(offset)
    whole = v.floor()  # whole units exactly, then the fraction (no float rounding at ns scale)
    ns = (whole.cast(pl.Int64, strict=False) * int(scale)
          + ((v - whole) * scale).round(0).cast(pl.Int64, strict=False) + origin_ns)
    return ns.cast(pl.Datetime("ns", "UTC"))
