"""``workbench ingest``: read a traffic log into the canonical schema, with a report of rejected rows.

    workbench ingest LOG [--format F] [--model M] [--strict] [--out FILE.parquet|csv]
                         [--rejects FILE.csv] [--map CANON=COLUMN] [--origin DATE] [--json]

Prints a one-line summary and the first rejections. Exit 2 on bad input or a strict failure (one
line on stderr). Output files are written to a temporary file and renamed when complete, so Ctrl-C
never leaves a partial file. A progress bar goes to stderr for files over 32 MiB.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import tempfile
import time
from pathlib import Path

from workbench.cli import EXIT_BAD_INPUT, CliError, emit_json
from workbench.cli._args import number

#: Files at least this large get a progress bar on stderr.
PROGRESS_MIN_BYTES = 32 << 20
#: Rejections printed (all of them go to --rejects).
SHOW_REJECTIONS = 10
EXIT_INTERRUPTED = 130


def _mapping(text: str) -> tuple[str, str]:
    canon, sep, column = text.partition("=")
    if not sep or not canon.strip() or not column.strip():
        raise argparse.ArgumentTypeError(f"expected CANONICAL=COLUMN, got {text!r}")
    return canon.strip(), column.strip()


#: The names of workbench.io.traffic.FORMATS (kept here so ``workbench --help`` stays light; a test
#: checks they match). An unknown --format is rejected by the loader with the list of valid names.
FORMAT_NAMES = ("openai-jsonl", "openai-batch", "litellm", "langfuse", "helicone", "csv", "azure-2023", "mooncake",
                "burstgpt")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ingest", help="read a traffic log into the canonical schema",
        description="Read a traffic log (format detected from its content unless --format is given) into "
                    "the canonical request schema; report every rejected row with its line, field and reason.")
    p.add_argument("log", help="the log file (JSONL, JSON array or CSV)")
    p.add_argument("--format", metavar="FORMAT",
                   help=f"log format, one of: {', '.join(FORMAT_NAMES)} (default: detected from the content)")
    p.add_argument("--model", help="model for rows without one (required for token-only traces)")
    p.add_argument("--strict", action="store_true", help="fail at the first bad row instead of reporting it")
    p.add_argument("--out", help="write the canonical rows to FILE.parquet or FILE.csv")
    p.add_argument("--rejects", help="write every rejected row (file, line, field, reason) to FILE.csv")
    p.add_argument("--map", dest="column_map", action="append", type=_mapping, default=[], metavar="CANON=COLUMN",
                   help="for --format csv: canonical column <- CSV column (repeatable), e.g. --map ts=created_at")
    p.add_argument("--origin", help="start time of relative-time traces (mooncake, burstgpt); default today 00:00 UTC")
    p.add_argument("--chunk-rows", type=number(int, minimum=1), default=200_000, help="rows per streamed chunk (default 200000)")
    p.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    p.set_defaults(func=run)


class _ProgressBar:
    """Plain-text progress on stderr: redrawn in place on a terminal, a line per 10% otherwise."""

    def __init__(self, label: str, stream=sys.stderr):
        self.label, self.stream = label, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last_draw = 0.0
        self.last_decile = -1
        self.started = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        frac = min(1.0, done / total) if total else 1.0
        now = time.monotonic()
        if self.tty:
            if now - self.last_draw < 0.2 and frac < 1.0:
                return
            self.last_draw = now
            width = 30
            bar = "#" * int(frac * width)
            self.stream.write(f"\r{self.label} [{bar:<{width}}] {frac:6.1%} {done / 1e6:,.0f}/{total / 1e6:,.0f} MB "
                              f"{now - self.started:5.1f}s")
        else:
            decile = int(frac * 10)
            if decile == self.last_decile:
                return
            self.last_decile = decile
            self.stream.write(f"{self.label}: {frac:.0%} of {total / 1e6:,.0f} MB, {now - self.started:.1f}s\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class _InterruptFlag:
    """Records Ctrl-C (SIGINT) while loading, so it is honoured even when a native library (DuckDB)
    catches the signal and finishes its query: :meth:`check` raises ``KeyboardInterrupt`` then."""

    def __init__(self) -> None:
        self.hit = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        self.hit = True
        raise KeyboardInterrupt

    def check(self) -> None:
        if self.hit:
            raise KeyboardInterrupt

    def __enter__(self) -> "_InterruptFlag":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _atomic_write(*jobs: tuple[Path, object]) -> None:
    """Write each ``(target, write)`` to a temporary file in the target's folder; rename them all into
    place only when every one is complete, so an error or Ctrl-C leaves no partial file."""
    staged: list[tuple[str, Path]] = []
    try:
        for target, write in jobs:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            os.close(fd)
            staged.append((tmp, target))
            write(Path(tmp))  # type: ignore[operator]
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _frame_writer(frame, target: Path):
    if target.suffix.lower() == ".parquet":
        return lambda p: frame.to_parquet(p, index=False)
    return lambda p: frame.to_csv(p, index=False)


def run(args: argparse.Namespace) -> int:
    from workbench.io.traffic import StrictError, load_log

    path = Path(args.log)
    if not path.is_file():
        raise CliError(f"no such log file: {path}")
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".parquet", ".csv"):
        raise CliError(f"--out must end in .parquet or .csv, got {out.name!r}")
    bar = _ProgressBar(f"ingest {path.name}") if path.stat().st_size >= PROGRESS_MIN_BYTES else None
    interrupt = _InterruptFlag()

    def progress(done: int, total: int) -> None:
        interrupt.check()  # between chunks: honour a Ctrl-C a native library may have swallowed
        if bar is not None:
            bar(done, total)

    try:
        with interrupt:
            result = load_log(
                path, args.format, model=args.model, strict=args.strict, column_map=dict(args.column_map) or None,
                chunk_rows=args.chunk_rows, progress=progress, origin=args.origin,
            )
            interrupt.check()
        jobs = []
        if out is not None:
            jobs.append((out, _frame_writer(result.frame, out)))
        if args.rejects:
            jobs.append((Path(args.rejects), lambda p: result.report_frame().to_csv(p, index=False)))
        _atomic_write(*jobs)
    except StrictError as e:
        if bar:
            bar.close()
        print(f"workbench ingest: error: strict: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        if bar:
            bar.close()
        print("workbench ingest: interrupted; no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    if bar:
        bar.close()

    if args.json:
        emit_json({
            "file": str(path), "format": result.format, "detected": result.detected,
            "rows_read": result.rows_read, "kept": result.kept_count, "rejected": result.rejected_count,
            "notes": result.notes, "out": str(out) if out else None, "rejects_file": args.rejects,
            "rejections": [r.__dict__ for r in result.rejected[:SHOW_REJECTIONS]],
        })
        return 0
    print(result.summary())
    for note in result.notes:
        print(f"  note: {note}")
    for r in result.rejected[:SHOW_REJECTIONS]:
        print(f"  rejected {r}")
    more = result.rejected_count - SHOW_REJECTIONS
    if more > 0:
        hint = f" (all in {args.rejects})" if args.rejects else " (write them all with --rejects FILE.csv)"
        print(f"  ... and {more:,} more rejected rows{hint}")
    if out is not None:
        print(f"  wrote {result.kept_count:,} rows to {out}")
    return 0
