"""File upload for every app: chunked, with a progress bar, a size limit and errors that name the file.

Why not ``ipywidgets.FileUpload``: it reads the whole file in the browser and sends it as *one*
websocket message. Tornado (under Jupyter server and Voila) closes a websocket whose message is over
``websocket_max_message_size`` (10 MiB by default), so a 12 MB log was silently dropped, and the
closed kernel connection made the *next* upload do nothing too. :class:`ChunkedUpload` checks the
size in the browser before anything is sent, then sends the file in slices (1 MiB by default), each
acknowledged by the kernel before the next goes, so no message comes near the limit, the bar shows
real progress, and a failure is reported and leaves the widget ready for the next file.

The kernel side writes the slices to a temporary file and calls ``on_file(name, path)`` once the
last one has arrived; what that callback raises becomes the widget's one-line ``error`` (the app
shows it). :func:`sniff` tells a gzip, parquet or binary file from text by its first bytes.
"""
from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path
from html import escape
from typing import Callable

import anywidget
import ipywidgets as w
from traitlets import Bool, Dict, Int, Unicode

from workbench.widgets._state import one_line

CHUNK_BYTES = 1 << 20
#: Largest decompressed size of a gzip upload (a bound against gzip bombs).
MAX_GUNZIP_BYTES = 500_000_000

_ESM = r"""
function fmt(n) { return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : n >= 1e3 ? (n / 1e3).toFixed(0) + " kB" : n + " B"; }
function render({ model, el }) {
  el.classList.add("wb-upload-widget");
  const input = document.createElement("input");
  input.type = "file"; input.style.display = "none"; input.accept = model.get("accept");
  const button = document.createElement("button");
  button.className = "jupyter-widgets jupyter-button widget-button wb-upload";
  button.type = "button";
  button.innerHTML = '<i class="fa fa-upload"></i> ' + model.get("description");
  el.appendChild(input); el.appendChild(button);
  let waiting = null;
  model.on("msg:custom", (msg) => { if (msg && msg.type === "ack" && waiting) { const w = waiting; waiting = null; w(msg); } });
  function ack(timeoutMs) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { waiting = null; reject(new Error("the server did not answer")); }, timeoutMs);
      waiting = (msg) => { clearTimeout(t); resolve(msg); };
    });
  }
  function sync() { button.disabled = model.get("busy"); }
  model.on("change:busy", sync); sync();
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    const limit = model.get("max_bytes");
    if (file.size > limit) {  // nothing is sent: the kernel only gets the name and size
      model.send({ type: "refused", name: file.name, size: file.size });
      return;
    }
    const chunk = model.get("chunk_bytes");
    const id = String(Date.now()) + Math.random().toString(16).slice(2);
    try {
      let p = ack(30000);
      model.send({ type: "start", id, name: file.name, size: file.size });
      let a = await p;
      if (!a.ok) return;
      for (let off = 0; off < file.size; off += chunk) {
        const buf = await file.slice(off, Math.min(file.size, off + chunk)).arrayBuffer();
        p = ack(60000);
        model.send({ type: "chunk", id, offset: off }, undefined, [buf]);
        a = await p;
        if (!a.ok) return;
      }
      p = ack(600000);
      model.send({ type: "end", id });
      await p;
    } catch (e) {
      model.send({ type: "failed", id, name: file.name, reason: String(e && e.message || e) });
    }
  });
}
export default { render };
"""


class UploadError(ValueError):
    """An upload that cannot be used; the message names the file."""


def sniff(name: str, head: bytes) -> str:
    """What the first bytes of a file say it is: 'gzip', 'parquet', 'binary' or 'text'."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"PAR1":
        return "parquet"
    if b"\x00" in head[:8192]:
        return "binary"
    try:
        head[:8192].decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head[:8192]) - 4:  # not just a character cut at the end of the sample
            return "binary"
    return "text"


def prepare(name: str, path: Path, workdir: Path, *, max_bytes: int | None = None) -> tuple[Path, str]:
    """Check an uploaded file and return ``(path to read, kind)`` with a suffix the readers know.

    A gzip file is decompressed (bounded by :data:`MAX_GUNZIP_BYTES`); a file of binary bytes
    that is not parquet is refused with its name."""
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise UploadError(f"{name}: {size:,} bytes is over the {max_bytes:,}-byte upload limit; "
                          "use the CLI (workbench ingest) for large logs. Nothing changed.")
    if size == 0:
        raise UploadError(f"{name} is empty; nothing changed")
    with open(path, "rb") as f:
        head = f.read(8192)
    kind = sniff(name, head)
    stem = name[:-3] if name.lower().endswith(".gz") else name
    suffix = Path(stem).suffix.lower()
    if kind == "gzip":
        out = workdir / f"gunzipped{suffix or '.jsonl'}"
        try:
            with gzip.open(path, "rb") as src, open(out, "wb") as dst:
                copied = 0
                while block := src.read(1 << 20):
                    copied += len(block)
                    if copied > MAX_GUNZIP_BYTES:
                        raise UploadError(f"{name}: over {MAX_GUNZIP_BYTES:,} bytes once decompressed; "
                                          "use the CLI for large logs. Nothing changed.")
                    dst.write(block)
        except (OSError, EOFError) as e:
            raise UploadError(f"{name} looks gzip-compressed but cannot be decompressed ({one_line(e)}); "
                              "nothing changed") from None
        return prepare(stem, out, workdir)
    if kind == "parquet" or suffix == ".parquet":
        target, kind = workdir / "upload.parquet", "parquet"
    elif kind == "binary":
        raise UploadError(f"{name} is a binary file, not a text log (JSONL or CSV) or parquet; nothing changed")
    else:
        target = workdir / f"upload{suffix or '.csv'}"
    if path != target:
        shutil.move(str(path), target)
    return target, kind


class ChunkedUpload(anywidget.AnyWidget):
    """An upload button whose file travels in acknowledged slices (see the module's docstring).

    ``received``/``size`` and ``name`` say how far the current file is; ``busy`` is true while one
    is under way; ``error`` holds the last failure, one line with the file's name."""

    _esm = _ESM
    description = Unicode("Upload log").tag(sync=True)
    accept = Unicode("").tag(sync=True)
    max_bytes = Int(50_000_000).tag(sync=True)
    chunk_bytes = Int(CHUNK_BYTES).tag(sync=True)
    busy = Bool(False).tag(sync=True)
    name = Unicode("")
    size = Int(0)
    received = Int(0)
    error = Unicode("")
    last = Dict(help="name and size of the last file delivered to on_file")

    def __init__(self, on_file: Callable[[str, Path], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.on_file = on_file
        self._id: str | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._out = None
        self.on_msg(self._message)

    # -- protocol (also driven directly by the tests) ---------------------------------------
    def _message(self, _widget, content: dict, buffers) -> None:
        kind = content.get("type")
        try:
            if kind == "refused":
                self._fail(f"{content.get('name')}: {int(content.get('size', 0)):,} bytes is over the "
                           f"{self.max_bytes:,}-byte upload limit; use the CLI (workbench ingest) for large "
                           "logs. Nothing was sent; nothing changed.")
            elif kind == "start":
                self._start(str(content.get("name") or "upload"), int(content.get("size") or 0), content.get("id"))
                self.send({"type": "ack", "ok": True})
            elif kind == "chunk":
                ok = self._chunk(content.get("id"), int(content.get("offset", -1)), buffers)
                self.send({"type": "ack", "ok": ok})
            elif kind == "end":
                self._end(content.get("id"))
                self.send({"type": "ack", "ok": True})
            elif kind == "failed":
                self._fail(f"{content.get('name')}: the upload stopped ({content.get('reason')}); nothing changed")
        except Exception as e:  # never leave the browser waiting or the widget busy
            self._fail(one_line(e))
            self.send({"type": "ack", "ok": False})

    def _start(self, name: str, size: int, upload_id) -> None:
        self._cleanup()
        self.error = ""
        if size > self.max_bytes:
            raise UploadError(f"{name}: {size:,} bytes is over the {self.max_bytes:,}-byte upload limit; "
                              "use the CLI (workbench ingest) for large logs. Nothing changed.")
        self._id = upload_id
        self._tmp = tempfile.TemporaryDirectory(prefix="wb-upload-")
        self._out = open(Path(self._tmp.name) / "received", "wb")
        with self.hold_trait_notifications():
            self.name, self.size, self.received, self.busy = name, size, 0, True

    def _chunk(self, upload_id, offset: int, buffers) -> bool:
        if self._out is None or upload_id != self._id:
            return False  # a slice of an upload that was given up: the browser stops sending
        if offset != self.received:
            raise UploadError(f"{self.name}: a slice arrived out of order (at byte {offset:,}, "
                              f"expected {self.received:,}); nothing changed")
        data = b"".join(bytes(b) for b in buffers or ())
        if self.received + len(data) > self.max_bytes:
            raise UploadError(f"{self.name}: more than the {self.max_bytes:,}-byte upload limit arrived; "
                              "nothing changed")
        self._out.write(data)
        self.received += len(data)
        return True

    def _end(self, upload_id) -> None:
        if self._out is None or upload_id != self._id:
            return
        self._out.close()
        self._out = None
        path = Path(self._tmp.name) / "received"
        name = self.name
        try:
            if path.stat().st_size != self.size:
                raise UploadError(f"{name}: {path.stat().st_size:,} of {self.size:,} bytes arrived; nothing changed")
            if self.on_file is not None:
                self.on_file(name, path)
            self.last = {"name": name, "size": self.size}
        except Exception as e:
            self.error = one_line(e)
        finally:
            self._cleanup()
            self.busy = False

    def _fail(self, message: str) -> None:
        self._cleanup()
        with self.hold_trait_notifications():
            self.error = message
            self.busy = False
            self.received = 0

    def _cleanup(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._id = None

    def deliver(self, name: str, content: bytes, upload_id: str = "local") -> None:
        """Run ``content`` through the same path as a browser upload (tests, notebooks)."""
        self._message(self, {"type": "start", "id": upload_id, "name": name, "size": len(content)}, [])
        if self.busy:
            for off in range(0, len(content), self.chunk_bytes):
                self._message(self, {"type": "chunk", "id": upload_id, "offset": off},
                              [memoryview(content)[off:off + self.chunk_bytes]])
                if not self.busy:
                    return
            self._message(self, {"type": "end", "id": upload_id}, [])

    def send(self, content, buffers=None):  # no frontend in tests: sending is best effort
        try:
            super().send(content, buffers)
        except Exception:
            pass


def temp_copy(content: bytes) -> tuple[tempfile.TemporaryDirectory, Path]:
    """``content`` in a new temporary folder (for callers that hold bytes, not a file)."""
    tmp = tempfile.TemporaryDirectory(prefix="wb-upload-")
    path = Path(tmp.name) / "received"
    path.write_bytes(content)
    return tmp, path


class ProgressRow(w.HBox):
    """A progress bar with a label, hidden when idle; ``show(value 0..1, label)`` / ``hide()``."""

    def __init__(self, width: str = "360px"):
        self.bar = w.FloatProgress(min=0.0, max=1.0, layout=w.Layout(width=width))
        self.label = w.HTML()
        super().__init__([self.bar, self.label], layout=w.Layout(display="none", align_items="center"))
        self.add_class("wb-progress")

    def show(self, value: float, label: str) -> None:
        with self.hold_sync():
            self.bar.value = min(1.0, max(0.0, float(value)))
            self.label.value = f"<span class='wb-sub' data-testid='progress-label'>{escape(label)}</span>"
            self.layout.display = "flex"

    def hide(self) -> None:
        self.bar.value = 0.0
        self.label.value = ""
        self.layout.display = "none"


def transfer_label(name: str, received: int, size: int) -> str:
    return f"receiving {name}: {received / 1e6:,.1f} of {size / 1e6:,.1f} MB"


__all__ = ["ChunkedUpload", "ProgressRow", "UploadError", "sniff", "prepare", "temp_copy", "transfer_label",
           "CHUNK_BYTES"]
