"""Streaming readers: JSONL, JSON arrays and CSV, in chunks, with a 1-based line number per row.

JSONL is read in byte blocks of complete lines. Each block becomes an Arrow string array over the
block's bytes (no per-line Python objects) and DuckDB parses all lines at once with ``json_valid``,
``json_type`` and ``json_transform`` (yyjson, multi-threaded) against the format's schema. Every leaf
is read as text (a number, a string or a nested object all arrive as text, type-checked later,
vectorised), so row ``k`` of a block is line ``k``: bad lines (malformed JSON, not an object, an
object field holding a scalar) are found by vectorised masks and only those are diagnosed one by one
with ``json.loads``. Memory is bounded by the block size, not by the file size.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from workbench.io.traffic import _duck
from workbench.io.traffic.result import LoadError

#: Bytes read per block; a chunk never spans more than one block of complete lines.
BLOCK_BYTES = 64 << 20

Progress = Callable[[int, int], None]


@dataclass
class RawChunk:
    """Parsed rows (``_line`` holds each row's line number) and the lines that could not be parsed."""

    frame: pl.DataFrame
    bad: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, reason)


#: Leading bytes of compressed files we cannot read (gzip is read transparently).
_COMPRESSED = {b"\x28\xb5\x2f\xfd": "zstd", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}


def open_log(path: Path) -> BinaryIO:
    """The log's bytes: gzip-compressed files are decompressed on the fly (by content, not by name);
    other compressed files are refused with a message saying so."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x1f\x8b"):
        return _GzipLog(path)
    for magic, kind in _COMPRESSED.items():
        if head.startswith(magic):
            raise LoadError(f"{path}: the file is {kind}-compressed; decompress it first "
                            "(gzip-compressed logs are read as they are)")
    return open(path, "rb")


class _GzipLog(gzip.GzipFile):
    """A gzip log whose damage is reported with the file name (a :class:`LoadError`)."""

    def __init__(self, path: Path):
        super().__init__(filename=str(path), mode="rb")
        self._path = path

    def read(self, size=-1):
        try:
            return super().read(size)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise LoadError(f"{self._path}: gzip-compressed file is damaged or truncated: {e}") from None

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readline(self, size=-1):
        try:
            return super().readline(size)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise LoadError(f"{self._path}: gzip-compressed file is damaged or truncated: {e}") from None


def is_json_array(path: Path) -> bool:
    with open_log(path) as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def first_record(path: Path) -> object:
    """The first record of a JSON/JSONL file (for format detection); ``None`` if none parses."""
    if is_json_array(path):
        with open_log(path) as fh:
            head = fh.read(1 << 20)
        try:
            text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[1:].lstrip().decode("utf-8", "replace")
            return json.JSONDecoder().raw_decode(text)[0]
        except ValueError:
            return None
    with open_log(path) as fh:
        for i, line in enumerate(fh):
            if i >= 50:
                break
            text = line.strip().lstrip(b"\xef\xbb\xbf")
            if not text:
                continue
            try:
                return json.loads(text)
            except ValueError:
                continue
    return None


def csv_header(path: Path) -> list[str]:
    with io.TextIOWrapper(open_log(path), encoding="utf-8-sig", newline="") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise LoadError(f"{path}: empty file, no CSV header") from None
        except UnicodeDecodeError as e:
            raise LoadError(f"{path}: CSV header is not UTF-8 text ({e.reason} at byte {e.start})") from None
    return [h.strip() for h in header]


# --------------------------------------------------------------------------------------- JSONL


def _line_blocks(fh: BinaryIO, chunk_rows: int, block_bytes: int, progress: Progress | None, total: int):
    """Yield ``(first_line, data, starts, lengths)`` for runs of at most ``chunk_rows`` complete lines.

    ``data`` is a memoryview over one block (read in one piece and completed to the end of its last
    line); ``starts``/``lengths`` locate each line in it (newline excluded), found with numpy.
    """
    line_no = 1
    done = 0
    first = True
    while True:
        buf = bytearray(block_bytes)
        got = fh.readinto(buf)
        if not got:
            return
        del buf[got:]
        if buf[-1] != 10:
            buf += fh.readline()  # complete the last line (nothing at the end of the file)
        done += len(buf)
        if first and buf.startswith(b"\xef\xbb\xbf"):
            buf[:3] = b"   "  # a UTF-8 BOM: whitespace keeps offsets, the parser ignores it
        first = False
        nl = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10)
        ends = nl if buf[-1] == 10 else np.append(nl, len(buf))
        starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
        lengths = (ends - starts).astype(np.int64)
        view = memoryview(buf)
        n = len(starts)
        for i in range(0, n, chunk_rows):
            j = min(i + chunk_rows, n)
            s0, s1 = int(starts[i]), int(ends[j - 1]) + 1
            yield line_no + i, view[s0:s1], starts[i:j] - s0, lengths[i:j]
            if progress is not None:
                progress(min(done - len(buf) + min(s1, len(buf)), total), total)  # gzip: total is compressed
        line_no += n


def _schema_mismatch(obj: object, schema: dict, prefix: str = "") -> tuple[str, str] | None:
    """First field whose JSON type cannot fill the schema's nested type (slow path, bad lines only)."""
    if not isinstance(obj, dict):
        return None
    for key, dtype in schema.items():
        value = obj.get(key)
        name = f"{prefix}{key}"
        if value is None or not isinstance(dtype, pl.Struct):
            continue
        if not isinstance(value, dict):
            return name, f"wrong type: expected an object, got {_json_kind(value)} {_short(value)}"
        inner = _schema_mismatch(value, {f.name: f.dtype for f in dtype.fields}, name + ".")
        if inner:
            return inner
    return None


_KINDS = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object",
          type(None): "null"}


def _json_kind(value: object) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _short(value: object, n: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= n else text[: n - 1] + "…"


def _diagnose(line: bytes, schema: dict) -> tuple[str, str] | None:
    """``(field, reason)`` for a line the parser rejected; ``None`` for a blank line."""
    text = line.strip()
    if not text:
        return None
    try:
        obj = json.loads(text)
    except UnicodeDecodeError:
        return "line", "not valid UTF-8"
    except json.JSONDecodeError as e:
        return "line", f"malformed JSON: {e.msg} (column {e.colno})"
    if not isinstance(obj, dict):
        return "line", f"not a JSON object (got {_json_kind(obj)})"
    return _schema_mismatch(obj, schema) or ("line", "cannot read this line")


def _struct_paths(schema: dict, prefix: str = "") -> list[str]:
    """JSON paths of the object fields of the schema (``$.response``, ``$.response.usage`` ...)."""
    out: list[str] = []
    for key, dtype in schema.items():
        if isinstance(dtype, pl.Struct):
            out.append(f"$.{prefix}{key}")
            out += _struct_paths({f.name: f.dtype for f in dtype.fields}, f"{prefix}{key}.")
    return out


def _duck_structure(schema: dict) -> dict:
    """The ``json_transform`` structure for a schema: text leaves, nested objects."""
    out: dict = {}
    for key, dtype in schema.items():
        if isinstance(dtype, pl.Struct):
            out[key] = _duck_structure({f.name: f.dtype for f in dtype.fields})
        elif dtype == pl.String:
            out[key] = "VARCHAR"
        else:
            raise TypeError(f"schema field {key!r}: only text leaves and objects are supported, got {dtype}")
    return out


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _JsonlParser:
    """Parses blocks of JSON lines against one schema with DuckDB (see the module docstring)."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.paths = _struct_paths(schema)
        structure = _sql_text(json.dumps(_duck_structure(schema)))
        types = f"json_type(t, [{', '.join(map(_sql_text, ['$', *self.paths]))}])"
        # Two queries: the fast one assumes every line is valid JSON (json_type raises otherwise);
        # after the first failure the file is "dirty" and every later block is checked first.
        self.sql_fast = (f"SELECT _types, CASE WHEN _types[1] = 'OBJECT' THEN json_transform(t, {structure}) END AS _r "
                         f"FROM (SELECT t, {types} AS _types FROM lines)")
        self.sql_safe = (f"SELECT _types, CASE WHEN _types[1] = 'OBJECT' THEN json_transform(t, {structure}) END AS _r "
                         f"FROM (SELECT t, CASE WHEN json_valid(t) THEN {types} END AS _types FROM lines)")
        self.dirty = False

    def _query(self, arr: pa.Array) -> pl.DataFrame:
        table = pa.table({"t": arr})
        if not self.dirty:
            import duckdb

            try:
                return _duck.run(self.sql_fast, lines=table)
            except duckdb.InvalidInputException:  # a malformed line: check every line from now on
                self.dirty = True
        return _duck.run(self.sql_safe, lines=table)

    def __call__(self, data, base_line: int, starts: np.ndarray, lengths: np.ndarray) -> RawChunk:
        """Parse the lines ``data[starts[k]:starts[k] + lengths[k]]`` (line ``base_line + k``)."""
        n = len(lengths)
        if n == 0:
            return RawChunk(_empty(self.schema))
        offsets = np.append(starts, len(data)).astype(np.int64)
        arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
        utf8_bad = np.zeros(n, dtype=bool)
        try:
            arr.validate(full=True)
        except pa.ArrowInvalid:  # rare: find the lines that are not UTF-8 and blank them
            arr, utf8_bad = self._without_bad_utf8(data, starts, lengths)
        result = self._query(arr)
        types = result["_types"]
        ok = types.list.get(0, null_on_oob=True) == "OBJECT"
        for i in range(1, len(self.paths) + 1):
            kind = types.list.get(i, null_on_oob=True)
            ok = ok & (kind.is_null() | kind.is_in(["OBJECT", "NULL"]))
        ok_np = ok.fill_null(False).to_numpy()
        bad: list[tuple[int, str, str]] = []
        for k in np.flatnonzero(~ok_np):
            k = int(k)
            if utf8_bad[k]:
                bad.append((base_line + k, "line", "not valid UTF-8"))
                continue
            found = _diagnose(bytes(data[int(starts[k]):int(starts[k] + lengths[k])]), self.schema)
            if found is not None:  # None: a blank line, not a row
                bad.append((base_line + k, *found))
        lines = pl.int_range(base_line, base_line + n, dtype=pl.Int64, eager=True).alias("_line")
        frame = result.select(lines, "_r").filter(pl.Series(ok_np)).unnest("_r")
        return RawChunk(frame, bad)

    @staticmethod
    def _without_bad_utf8(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        bad = np.zeros(len(starts), dtype=bool)
        text = []
        for k, (a, m) in enumerate(zip(starts.tolist(), lengths.tolist())):
            try:
                text.append(bytes(data[a:a + m]).decode("utf-8"))
            except UnicodeDecodeError:
                bad[k] = True
                text.append("")
        return pa.array(text, pa.large_string()), bad


def _empty(schema: dict) -> pl.DataFrame:
    return pl.DataFrame(schema={"_line": pl.Int64, **schema})


def iter_ndjson(
    path: Path,
    schema: dict,
    chunk_rows: int,
    progress: Progress | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[RawChunk]:
    """Chunks of a JSONL file (or of a JSON array, read whole and split into records)."""
    total = path.stat().st_size
    parse = _JsonlParser(schema)
    if is_json_array(path):
        yield from _iter_json_array(path, parse, chunk_rows, progress, total)
        return
    with open_log(path) as fh:
        for first_line, data, starts, lengths in _line_blocks(fh, chunk_rows, block_bytes, progress, total):
            yield parse(data, first_line, starts, lengths)


def _iter_json_array(path: Path, parse: _JsonlParser, chunk_rows: int, progress: Progress | None, total: int):
    """A JSON array is parsed whole (arrays cannot be streamed line by line); element ``k`` is
    reported as line ``k`` (1-based). Use JSONL for files larger than memory."""
    try:
        with open_log(path) as fh:
            records = json.loads(fh.read().decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as e:
        raise LoadError(f"{path}: not a valid JSON array: {e}") from None
    if not isinstance(records, list):
        raise LoadError(f"{path}: expected a JSON array of records")
    for i in range(0, len(records), chunk_rows):
        part = [json.dumps(r, ensure_ascii=False).encode() for r in records[i:i + chunk_rows]]
        lengths = np.fromiter(map(len, part), dtype=np.int64, count=len(part))
        starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.int64)
        yield parse(b"\n".join(part), i + 1, starts, lengths)
        if progress is not None:
            progress(int(total * min(1.0, (i + len(part)) / max(len(records), 1))), total)


# ----------------------------------------------------------------------------------------- CSV


def _native_stream(path: Path) -> tuple[pa.NativeFile, pa.NativeFile]:
    """``(stream, file)``: the CSV's bytes as an Arrow-native stream (gzip decompressed natively).

    Never a Python file object: Arrow's CSV reader reads ahead on its I/O threads, and a read that
    calls back into Python while the interpreter is exiting aborts the process (``terminate called
    without an active exception``, exit 134, seen on header-only files). Native reads need no GIL.
    """
    raw = pa.OSFile(str(path), "rb")
    head = raw.read(2)
    raw.seek(0)
    return (pa.CompressedInputStream(raw, "gzip") if head == b"\x1f\x8b" else raw), raw


def iter_csv(
    path: Path,
    chunk_rows: int,
    progress: Progress | None = None,
    block_bytes: int = 8 << 20,
) -> Iterator[RawChunk]:
    """Chunks of a CSV file, every column as text; rows with the wrong number of fields are reported.

    ``_line`` is the record number with the header as record 1 (the physical line unless a quoted
    field holds a newline). Empty lines (and rows whose every field is empty) are not rows.
    """
    names = csv_header(path)
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise LoadError(f"{path}: duplicate CSV column(s) {dupes}")
    pending_bad: list[tuple[int, str, str]] = []
    pending_blank: list[int] = []  # empty lines: not rows, but they count for the line numbers

    def on_invalid(row) -> str:
        line = row.number if row.number is not None else -1
        if not (row.text or "").strip():
            pending_blank.append(line)
        else:
            pending_bad.append((line, "line", f"expected {row.expected_columns} fields, got {row.actual_columns}"))
        return "skip"

    total = path.stat().st_size
    stream, raw = _native_stream(path)
    with stream, raw:
        try:
            reader = _open_csv(stream, names, block_bytes, on_invalid)
        except (pa.ArrowInvalid, OSError) as e:
            raise LoadError(f"{path}: cannot read: {e}") from None
        try:
            yield from _csv_chunks(path, reader, names, chunk_rows, pending_bad, pending_blank,
                                   lambda: progress(min(raw.tell(), total), total) if progress else None)
        finally:
            reader.close()  # no read-ahead left running on Arrow's I/O threads


def _open_csv(stream: pa.NativeFile, names: list[str], block_bytes: int, on_invalid) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(use_threads=False, block_size=block_bytes, column_names=names, skip_rows=1),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True,
            null_values=[""], quoted_strings_can_be_null=True,
        ),
    )


def _csv_chunks(path, reader, names, chunk_rows, pending_bad, pending_blank, report):
    """Batches of the CSV reader as chunks with their record numbers (see :func:`iter_csv`)."""
    next_record = 2
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError) as e:
            raise LoadError(f"{path}: CSV cannot be parsed after record {next_record - 1}: {e}") from None
        k = batch.num_rows
        skipped = sorted([b[0] for b in pending_bad if b[0] >= next_record]
                         + [n for n in pending_blank if n >= next_record])
        lines = np.arange(next_record, next_record + k + len(skipped), dtype=np.int64)
        if skipped:
            lines = lines[~np.isin(lines, skipped)]
        lines = lines[:k]
        bad, pending_bad[:], pending_blank[:] = list(pending_bad), [], []
        if k:
            next_record = int(lines[-1]) + 1
        if skipped:
            next_record = max(next_record, skipped[-1] + 1)
        report()
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_columns(pl.Series("_line", lines, dtype=pl.Int64))
        if names:  # empty lines come through as all-null rows: they are not rows (like blank JSONL lines)
            frame = frame.filter(~pl.all_horizontal(pl.col(names).is_null()))
        for i in range(0, max(frame.height, 1), chunk_rows):
            yield RawChunk(frame.slice(i, chunk_rows), bad if i == 0 else [])
    if pending_bad:
        yield RawChunk(pl.DataFrame({n: pl.Series([], dtype=pl.String) for n in names}).with_columns(
            pl.Series("_line", [], dtype=pl.Int64)), list(pending_bad))
