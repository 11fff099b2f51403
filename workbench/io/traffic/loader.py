"""``load_log`` / ``iter_log``: read any supported log into the canonical schema, in chunks."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Iterator

import polars as pl

from workbench.core.prices import PriceBook
from workbench.io.traffic.formats import FORMATS, Context, Format
from workbench.io.traffic.reader import (Progress, RawChunk, csv_header, first_record, iter_csv, iter_ndjson,
                                        open_log)
from workbench.io.traffic.result import Chunk, LoadError, LoadResult, Rejection
from workbench.io.traffic.validate import Validator, empty_frame, to_pandas

#: Formats tried by auto-detection, most specific first (JSON records / CSV headers).
DETECT_ORDER = ("openai-batch", "mooncake", "azure-2023", "burstgpt", "litellm", "langfuse", "helicone",
                "openai-jsonl")
_JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}


def _looks_csv(path: Path) -> bool:
    suffix = Path(path.name[:-3]).suffix.lower() if path.name.lower().endswith(".gz") else path.suffix.lower()
    if suffix in _JSON_SUFFIXES:
        return False
    if suffix in {".csv", ".tsv"}:
        return True
    with open_log(path) as fh:  # gzip read through; other compression refused with a message
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return not head.startswith((b"{", b"["))


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _iter_parquet(path: Path, chunk_rows: int, progress: Progress | None) -> Iterator[RawChunk]:
    """A parquet file (e.g. the canonical sample week) as text chunks, read like a CSV with the
    canonical column names: ``_line`` is the row number + 1 (row 1 is the first row)."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    total = pf.metadata.num_rows or 0
    done = 0
    for batch in pf.iter_batches(batch_size=chunk_rows):
        frame = pl.from_arrow(batch)
        cols = []
        for name, dtype in frame.schema.items():
            col = pl.col(name)
            if isinstance(dtype, pl.Datetime):
                col = (col.dt.convert_time_zone("UTC") if dtype.time_zone else col)
                col = col.dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S%.f")
            cols.append(col.cast(pl.Utf8).alias(name))
        frame = frame.select(cols).with_columns(
            pl.int_range(done + 2, done + 2 + frame.height, dtype=pl.Int64).alias("_line"))
        done += frame.height
        if progress is not None:
            progress(done, total)
        yield RawChunk(frame)


def detect_format(path: str | Path) -> str:
    """The format of a log, from its CSV header or its first JSON record; raises :class:`LoadError`.
    A parquet file is read with its column names as a CSV header (``csv``: canonical columns)."""
    path = Path(path)
    valid = ", ".join(FORMATS)
    if _is_parquet(path):
        import pyarrow.parquet as pq

        keys = frozenset(pq.ParquetFile(path).schema_arrow.names)
        for name in DETECT_ORDER:
            fmt = FORMATS[name]
            if "csv" in fmt.kind and fmt.detect(keys):
                return name
        return "csv"
    if _looks_csv(path):
        keys = frozenset(csv_header(path))
        for name in DETECT_ORDER:
            fmt = FORMATS[name]
            if "csv" in fmt.kind and fmt.detect(keys):
                return name
        return "csv"
    record = first_record(path)
    if not isinstance(record, dict):
        raise LoadError(f"cannot detect the format of {path}: no JSON object in its first lines; "
                        f"pass --format (one of: {valid})")
    keys = frozenset(record)
    for name in DETECT_ORDER:
        fmt = FORMATS[name]
        if "json" in fmt.kind and fmt.detect(keys):
            return name
    raise LoadError(f"cannot detect the format of {path} (first record's keys: {', '.join(sorted(keys)[:12])}); "
                    f"pass --format (one of: {valid})")


def _origin(origin: dt.datetime | dt.date | str | None) -> dt.datetime:
    if origin is None:
        today = dt.datetime.now(dt.timezone.utc).date()
        return dt.datetime(today.year, today.month, today.day, tzinfo=dt.timezone.utc)
    if isinstance(origin, str):
        try:
            origin = dt.datetime.fromisoformat(origin.replace("Z", "+00:00"))
        except ValueError:
            raise LoadError(f"malformed origin {origin!r}: expected an ISO date or datetime") from None
    if not isinstance(origin, dt.datetime):
        origin = dt.datetime(origin.year, origin.month, origin.day)
    return origin.replace(tzinfo=dt.timezone.utc) if origin.tzinfo is None else origin.astimezone(dt.timezone.utc)


class _Load:
    """Everything fixed for one file: format, context, validator."""

    def __init__(self, path, format, model, strict, column_map, book, origin):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no such log file: {self.path}")
        self.detected = format is None
        self.name = detect_format(self.path) if format is None else format
        self.fmt: Format = FORMATS[self.name]
        if book is None:
            from workbench.io.pricesheets import load_prices

            book = load_prices()
        self.book: PriceBook = book
        if model is not None:
            book.resolve(model)  # an unknown --model fails up front, with close matches
        if self.fmt.token_only and model is None:
            raise LoadError(f"{self.path}: format {self.name} has no model column; pass --model M (model=...) "
                            "to say which model served these requests")
        if column_map and self.name != "csv":
            raise LoadError(f"column_map applies to format 'csv' only, not {self.name!r}")
        self.ctx = Context(str(path), _origin(origin), dict(column_map or {}))
        self.model = model
        self.validator = Validator(str(path), book, model=model, strict=strict)

    def polars_chunks(
        self, chunk_rows: int, progress: Progress | None
    ) -> Iterator[tuple[pl.DataFrame, list[Rejection]]]:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        kind = self.fmt.kind
        if kind == "json|csv":
            kind = "csv" if _looks_csv(self.path) else "json"
        if _is_parquet(self.path) and "csv" in kind:
            raws = _iter_parquet(self.path, chunk_rows, progress)
        else:
            raws = (iter_csv(self.path, chunk_rows, progress) if kind == "csv"
                    else iter_ndjson(self.path, self.fmt.schema or {}, chunk_rows, progress))
        for raw in raws:
            staged = self.fmt.extract(raw.frame, self.ctx)
            yield self.validator(staged, raw.bad)

    def notes(self) -> list[str]:
        out = []
        if self.detected:
            out.append(f"format detected from content: {self.name}")
        if self.validator.tz_style == "naive":
            out.append("timestamps have no UTC offset; read as UTC")
        if self.fmt.relative_time:
            out.append(f"relative timestamps anchored at {self.ctx.origin.isoformat()}")
        if self.model is not None:
            out.append(f"model {self.model!r} assigned to rows without a model")
        if self.validator.counted:
            out.append(f"{self.validator.counted:,} rows had token counts filled by the token counter "
                       "(token_source = 'counted')")
        return out


def iter_log(
    path: str | Path,
    format: str | None = None,
    *,
    model: str | None = None,
    strict: bool = False,
    column_map: Mapping[str, str] | None = None,
    chunk_rows: int = 200_000,
    progress: Progress | None = None,
    book: PriceBook | None = None,
    origin: dt.datetime | dt.date | str | None = None,
) -> Iterator[Chunk]:
    """Stream a log as :class:`Chunk` ``(frame, rejected)`` pairs of at most ``chunk_rows`` rows.

    Each frame has the canonical columns and is sorted by ``(ts, request_id)`` within the chunk;
    duplicate ids are detected across chunks. Memory stays bounded by the chunk, not the file.
    """
    load = _Load(path, format, model, strict, column_map, book, origin)
    for frame, rejected in load.polars_chunks(chunk_rows, progress):
        yield Chunk(to_pandas(frame.sort("ts", "request_id")), rejected)


def load_log(
    path: str | Path,
    format: str | None = None,
    *,
    model: str | None = None,
    strict: bool = False,
    column_map: Mapping[str, str] | None = None,
    chunk_rows: int = 200_000,
    progress: Progress | None = None,
    book: PriceBook | None = None,
    origin: dt.datetime | dt.date | str | None = None,
) -> LoadResult:
    """Read a whole log into the canonical schema, with a per-row report of what was rejected.

    ``format``: one of :data:`FORMATS` (detected from the content when None; ``result.format`` says
    which). ``model``: assigned to rows without one (required for token-only traces). ``strict``:
    raise :class:`StrictError` at the first bad row instead of reporting it. ``column_map``: for
    ``format="csv"``, canonical name → CSV column. ``progress(bytes_done, bytes_total)`` is called as
    the file is read. ``book``: the price book models are checked against (default: ``pricing/``).
    ``origin``: start of relative-time traces (mooncake, burstgpt), default today 00:00 UTC.
    """
    load = _Load(path, format, model, strict, column_map, book, origin)
    frames: list[pl.DataFrame] = []
    rejected: list[Rejection] = []
    for frame, rej in load.polars_chunks(chunk_rows, progress):
        if frame.height:
            frames.append(frame)
        rejected.extend(rej)
    if frames:
        whole = pl.concat(frames, how="vertical", rechunk=False).sort("ts", "request_id")
        out = to_pandas(whole)
    else:
        out = empty_frame()
    return LoadResult(
        frame=out, rejected=rejected, rows_read=len(out) + len(rejected), format=load.name,
        file=str(path), detected=load.detected, notes=load.notes(),
    )
