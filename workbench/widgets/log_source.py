"""Where an app's traffic log comes from: the bundled sample week, or a log the engineer uploads.

:class:`LogSource` (state) reads an uploaded file — canonical parquet, or any format
:mod:`workbench.io.traffic` reads, gzip included — into the canonical request frame and hands
``(frame, source)`` to the app's ``on_log`` callback. A CSV whose columns the loaders cannot place
keeps its header in ``mapping`` so the page can ask which column holds which field; ``report``
counts the rows read, kept and rejected and names the first rejected ones (file, line, field). A
failure is one line in ``errors['upload']`` naming the file; the app's log stays as it was and the
source is ready for the next file. :class:`LogSourceView` is its part of the page: "Sample week"
and the chunked upload (:mod:`workbench.widgets.upload`) with a progress bar, the error line, the
load summary and the column-mapping form. Apps differ only in parameters (``required`` columns,
their own sample action), never in copies of this code.
"""
from __future__ import annotations

import csv
import re
import tempfile
from html import escape
from pathlib import Path
from typing import Callable, Mapping

import ipywidgets as w
import pandas as pd
from traitlets import Dict, Unicode

from workbench.core.schema import COLUMNS, REQUIRED
from workbench.widgets import _html
from workbench.widgets._state import FieldErrors, guarded, one_line
from workbench.widgets.upload import ChunkedUpload, ProgressRow, prepare, transfer_label

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOG = ROOT / "sample_data" / "requests.parquet"
MAX_UPLOAD_BYTES = 50_000_000
ACCEPT = ".parquet,.csv,.jsonl,.json,.ndjson,.tsv,.gz"
#: Canonical columns the mapping form offers, the ones every log needs first.
MAP_REQUIRED = ("ts", "model", "input_tokens", "output_tokens")
MAP_TARGETS = (*MAP_REQUIRED, "request_id", "tenant", "feature", "user", "cached_input_tokens", "status",
               "attempt", "prompt", "completion")

OnLog = Callable[[pd.DataFrame, str], None]


def sample_label(frame: pd.DataFrame) -> str:
    return (f"Sample week: {len(frame):,} calls of a fictional help-desk SaaS "
            "(sample_data/requests.parquet)")


def conform(frame: pd.DataFrame, name: str = "log") -> pd.DataFrame:
    """A frame already in canonical columns (e.g. a parquet export) with the schema's dtypes."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing required column(s) {', '.join(missing)}; "
                         "a parquet upload must already be in the canonical request schema")
    out = pd.DataFrame(index=frame.index)
    for c in COLUMNS:
        col = frame[c.name] if c.name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        out[c.name] = pd.to_datetime(col, utc=True) if c.dtype.startswith("datetime64") else col.astype(c.dtype)
    return out.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)


class LogSource(FieldErrors):
    """Loads the log an app works on and hands it over: ``on_log(frame, source)``.

    ``on_log`` gets the canonical frame and a one-line label ("Uploaded x.csv: read 230 rows …");
    what it raises is the upload's error (the app must then keep its previous log). ``sample`` is
    the app's "Sample week" action, returning the label of what it loaded (default: the bundled
    week handed to ``on_log``). ``required`` maps
    columns this app needs beyond the schema's (e.g. ``prompt``) to why: a log with none of them
    is refused with that reason, and the mapping form marks them. ``book`` is the price book the
    loaders check model names against (None: the project's sheets)."""

    source = Unicode("", help="the log in use, one line")
    mapping = Dict(help="an upload waiting for its column mapping: name, header, message, targets, required")
    progress = Dict(help="reading under way: {'value': 0..1, 'label': str}; empty when idle")
    report = Dict(help="the last upload: name, rows_read, kept, rejected, first_rejected (lines), format")

    def __init__(self, on_log: OnLog, *, book=None, sample: Callable[[], str | None] | None = None,
                 required: Mapping[str, str] | None = None, max_bytes: int = MAX_UPLOAD_BYTES, source: str = ""):
        super().__init__(source=source)
        self.on_log, self.book, self.max_bytes = on_log, book, max_bytes
        self.required = dict(required or {})
        self._sample = sample
        self._pending: tempfile.TemporaryDirectory | None = None

    # -- the sample week -----------------------------------------------------------------------
    @guarded("upload")
    def load_sample(self) -> None:
        """The app's sample action (default: the bundled week, handed to ``on_log``)."""
        self._forget_mapping()
        if self._sample is not None:
            label = self._sample()
        else:
            frame = pd.read_parquet(SAMPLE_LOG)
            label = sample_label(frame)
            self.on_log(frame, label)
        with self.hold_trait_notifications():
            self.report = {}
            if label:
                self.source = label

    # -- uploads -------------------------------------------------------------------------------
    def load_file(self, name: str, content: bytes) -> str | None:
        """Load an uploaded log held in memory (see :meth:`load_path`)."""
        if len(content) > self.max_bytes:  # checked before anything is written
            self.set_error("upload", f"{name}: {len(content):,} bytes is over the {self.max_bytes:,}-byte "
                                     "upload limit; use the CLI (workbench ingest) for large logs. Nothing changed.")
            return None
        with tempfile.TemporaryDirectory(prefix="wb-upload-") as tmp:
            path = Path(tmp) / "received"
            path.write_bytes(bytes(content))
            return self.load_path(name, path)

    @guarded("upload")
    def load_path(self, name: str, path: Path, column_map: Mapping[str, str] | None = None) -> str:
        """Load an uploaded log file: canonical parquet, or any format ``workbench.io.traffic`` reads
        (gzip is decompressed). A CSV whose columns the loaders cannot place keeps its header in
        ``mapping`` (and the file) so the page can offer the column mapping (:meth:`load_mapped`)."""
        self._forget_mapping()
        work: tempfile.TemporaryDirectory | None = tempfile.TemporaryDirectory(prefix="wb-log-")
        try:
            size = Path(path).stat().st_size
            ready, kind = prepare(name, Path(path), Path(work.name),
                                  max_bytes=self.max_bytes if size > self.max_bytes else None)
            return self._load(name, ready, kind, column_map)
        except _NeedsMapping as e:  # keep the file: the page asks for the mapping
            self._pending, work = work, None
            self.mapping = {"name": name, "header": e.header, "message": str(e), "path": str(ready),
                            "targets": list(dict.fromkeys([*MAP_TARGETS, *self.required])),
                            "required": [*MAP_REQUIRED, *self.required]}
            raise ValueError(str(e)) from None
        finally:
            self.progress = {}
            if work is not None:
                work.cleanup()

    @guarded("upload")
    def load_mapped(self, column_map: Mapping[str, str]) -> str:
        """Read the CSV that needed a mapping again with ``column_map`` (canonical -> file column).
        If it still cannot be loaded, the form and the file stay for another try."""
        m = dict(self.mapping)
        if not m:
            raise ValueError("no upload is waiting for a column mapping")
        try:
            note = self._load(m["name"], Path(m["path"]), "text", {k: v for k, v in column_map.items() if v})
        finally:
            self.progress = {}
        self._forget_mapping()
        return note

    def _forget_mapping(self) -> None:
        self.mapping = {}
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.cleanup()

    def _progress(self, label: str):
        def report(done: int, total: int, step: str = "") -> None:
            self.progress = {"value": min(1.0, done / total) if total else 0.0, "label": f"{label} {step}".strip()}
        return report

    def _load(self, name: str, path: Path, kind: str, column_map) -> str:
        """Read the prepared file ``path`` and hand it to the app; returns the note on the load."""
        if kind == "parquet":
            try:
                raw = pd.read_parquet(path)
            except Exception as e:
                why = one_line(e).replace(str(path), name)
                raise ValueError(f"{name} is not a readable parquet file ({why}); nothing changed") from None
            frame = conform(raw, name)
            report = {"name": name, "format": "canonical parquet", "rows_read": len(frame), "kept": len(frame),
                      "rejected": 0, "first_rejected": []}
        else:
            from workbench.io.traffic import load_log

            try:
                result = load_log(path, format="csv" if column_map else None, column_map=column_map or None,
                                  book=self.book, progress=self._progress(f"reading {name}"))
            except Exception as e:  # name the upload, not the temporary file
                message = one_line(e).replace(str(path), name)
                header = _csv_header(path) if path.suffix in (".csv", ".tsv") else []
                if header:
                    raise _NeedsMapping(f"{name}: {_plain(message)}", header) from None
                raise ValueError(f"{name}: {message}" if name not in message else message) from None
            frame = result.frame
            report = {"name": name, "format": result.format, "rows_read": result.rows_read, "kept": len(frame),
                      "rejected": result.rejected_count,
                      "first_rejected": [str(r).replace(str(path), name) for r in result.rejected[:5]]}
        note = _note(report)
        if len(frame) == 0:
            first = "; ".join(report["first_rejected"][:3])
            raise ValueError(f"{name}: no usable rows ({note}{f'; first rejected: {first}' if first else ''}); "
                             "nothing changed")
        for column, why in self.required.items():
            if column not in frame or not frame[column].notna().any():
                raise ValueError(f"{name}: no row has {column!r} ({why}); nothing changed")
        label = f"Uploaded {name}: {note}"
        self.on_log(frame, label)
        with self.hold_trait_notifications():
            self.report = report
            self.source = label
        return note


def _note(report: Mapping) -> str:
    """'read 240 rows (format csv): 230 kept, 10 rejected'."""
    return (f"read {report['rows_read']:,} rows (format {report['format']}): {report['kept']:,} kept, "
            f"{report['rejected']:,} rejected")


class _NeedsMapping(ValueError):
    def __init__(self, message: str, header: list[str]):
        super().__init__(message)
        self.header = header


def _csv_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = f.readline()
        dialect = "excel-tab" if first.count("\t") > first.count(",") else "excel"
        return [h.strip() for h in next(csv.reader([first], dialect=dialect), []) if h.strip()]
    except (OSError, UnicodeDecodeError):
        return []


def _plain(message: str) -> str:
    """A loader message without the Python-API / CLI advice (the page offers the mapping instead)."""
    message = re.sub(r":? ?map one with column_map=\{[^}]*\} \(--map [^)]*\);?", ";", message)
    message = re.sub(r"\s*\(?(--map|column_map=)[^;)]*\)?", "", message)
    return message.replace(";;", ";").strip(" ;") + ". Choose the columns below."


# =============================================================================================
# View
# =============================================================================================

def upload_into(state: FieldErrors, load: Callable[[str, Path], object], row: ProgressRow, *,
                description: str, max_bytes: int, accept: str) -> ChunkedUpload:
    """A chunked upload handing each whole file to ``load(name, path)``, shown in ``row``: the
    transfer, then the reading when ``state`` has a ``progress`` trait (see :func:`show_progress`).
    A new transfer clears ``state.errors['upload']``; the widget's own error (a file over the limit)
    goes there, and an error ``load`` leaves there is the widget's error too. Every upload of every
    app (traffic logs, evaluation sets) goes through here."""
    def received(name: str, path) -> None:
        load(name, path)
        if state.errors.get("upload"):
            raise ValueError(state.errors["upload"])

    upload = ChunkedUpload(received, description=description, max_bytes=max_bytes, accept=accept)
    reading = state.has_trait("progress")

    def transfer(_=None) -> None:
        if upload.busy:
            state.set_error("upload", "")
            row.show(upload.received / upload.size if upload.size else 0.0,
                     transfer_label(upload.name, upload.received, upload.size))
        elif not (reading and state.progress):
            row.hide()

    upload.observe(transfer, ["received", "busy"])
    upload.observe(lambda c: c["new"] and state.set_error("upload", c["new"]), "error")
    if reading:
        show_progress(state, row, upload)
    return upload


def show_progress(state, row: ProgressRow, upload: ChunkedUpload | None = None) -> None:
    """Show ``state.progress`` (``{'value': 0..1, 'label': str}``, empty when idle) in ``row``; the
    row stays while ``upload`` is still receiving."""
    def show(_=None) -> None:
        p = state.progress
        if p:
            row.show(p.get("value", 0.0), p.get("label", ""))
        elif upload is None or not upload.busy:
            row.hide()

    state.observe(show, "progress")


class LogSourceView(w.VBox):
    """"Sample week" and "Upload log" with a progress bar, the upload's error, the load summary and
    the column-mapping form over ``source``. ``label``: the widget left of the buttons (default:
    the source's own line); ``progress_row`` is public so an app can show its own long work there."""

    def __init__(self, source: LogSource, *, label: w.Widget | None = None, description: str = "Upload log"):
        self.source = source
        self._own_label = label is None
        self.label = w.HTML(layout=w.Layout(flex="1 1 auto")) if label is None else label
        self.sample_button = w.Button(description="Sample week", icon="refresh", layout=w.Layout(width="140px"))
        self.sample_button.add_class("wb-sample")
        self.progress_row = ProgressRow()
        self.upload = upload_into(source, source.load_path, self.progress_row, description=description,
                                  max_bytes=source.max_bytes, accept=ACCEPT)
        self.upload.add_class("wb-log-upload")
        self.error = w.HTML()
        self.summary = w.HTML()
        self.mapping_box = w.VBox()
        self.mapping_box.add_class("wb-mapping")
        self.map_controls: dict[str, w.Dropdown] = {}
        super().__init__([
            w.HBox([self.label, w.HBox([self.sample_button, self.upload], layout=w.Layout(flex="0 0 auto"))],
                   layout=w.Layout(justify_content="space-between", align_items="center", width="100%")),
            self.error, self.summary, self.progress_row, self.mapping_box], layout=w.Layout(width="100%"))
        self.add_class("wb-log-source")
        self.sample_button.on_click(lambda _: source.load_sample())
        source.observe(self._show_errors, "errors")
        source.observe(self._show_mapping, "mapping")
        source.observe(self._show_source, ["source", "report"])
        self._show_source()
        self._show_errors()

    def _show_errors(self, change=None) -> None:
        self.error.value = _html.error(self.source.errors.get("upload", ""), "load")

    def _show_source(self, change=None) -> None:
        s = self.source
        if self._own_label:
            self.label.value = f"<div class='wb-sub' data-testid='log-source'>{escape(s.source)}</div>"
        r = s.report  # the label has the counts; the rows left out are named here
        if not r or not r["rejected"]:
            self.summary.value = ""
            return
        bad = "".join(f"<li>{escape(line)}</li>" for line in r["first_rejected"])
        more = r["rejected"] - len(r["first_rejected"])
        self.summary.value = (
            f"<div class='wb-sub wb-log-report' data-testid='log-report'><b data-testid='log-rejected'>"
            f"{r['rejected']:,}</b> of the {r['rows_read']:,} rows of {escape(r['name'])} rejected and left out "
            f"(file:line: field: reason):<ul class='wb-rejected'>{bad}</ul>"
            + (f"<span>… and {more:,} more</span>" if more > 0 else "") + "</div>")

    def _show_mapping(self, change=None) -> None:
        m = self.source.mapping
        if not m:
            self.mapping_box.children = ()
            self.map_controls = {}
            return
        options = [("(none)", "")] + [(h, h) for h in m["header"]]
        self.map_controls = {}
        for target in m["targets"]:
            dd = w.Dropdown(options=options, value=target if target in m["header"] else "",
                            layout=w.Layout(width="220px"), style={"description_width": "150px"},
                            description=target + (" *" if target in m["required"] else ""))
            dd.add_class(f"wb-map-{target}")
            self.map_controls[target] = dd
        go = w.Button(description="Load with this mapping", icon="check", button_style="primary",
                      layout=w.Layout(width="220px"))
        go.add_class("wb-map-apply")
        go.on_click(lambda _: self.source.load_mapped({t: dd.value for t, dd in self.map_controls.items()}))
        self.mapping_box.children = (
            w.HTML(f"<p data-testid='mapping-help'>Which column of <b>{escape(m['name'])}</b> holds each field? "
                   "(* required; token counts may be left out when the file has the prompt and reply text, "
                   "they are then counted.)</p>"),
            w.GridBox(list(self.map_controls.values()),
                      layout=w.Layout(grid_template_columns="repeat(auto-fill, minmax(380px, 1fr))", width="100%")),
            go)


__all__ = ["LogSource", "LogSourceView", "MAX_UPLOAD_BYTES", "SAMPLE_LOG", "conform", "sample_label", "show_progress",
           "upload_into"]
