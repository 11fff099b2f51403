"""Issue 9.4: ``ingest`` aborted natively at exit (``terminate called without an active exception``,
exit 134) about 2 runs in 85 on a header-only CSV. Cause: Arrow's CSV reader reads ahead on its I/O
threads, and it was reading a *Python* file object; a read still pending when the interpreter
finalised needed the GIL and aborted the process. The reader now gets an Arrow-native stream."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from workbench.io.traffic import reader

ROOT = Path(__file__).resolve().parents[2]


def test_arrow_never_reads_a_python_file_object(tmp_path, monkeypatch):
    seen = []
    real = pacsv.open_csv

    def spy(source, *a, **kw):
        seen.append(source)
        return real(source, *a, **kw)

    monkeypatch.setattr(reader.pacsv, "open_csv", spy)
    for name, body in (("h.csv", "a,b\n"), ("d.csv", "a,b\n1,2\n")):
        (tmp_path / name).write_text(body)
        list(reader.iter_csv(tmp_path / name, chunk_rows=10))
    assert seen and all(isinstance(s, pa.NativeFile) for s in seen), [type(s) for s in seen]


def test_header_only_csv_exits_cleanly_every_time(tmp_path):
    """The race, looped a bounded number of times (before the fix: ~1 run in 40 exited 134)."""
    path = tmp_path / "header.csv"
    path.write_text("request_id,ts,model,input_tokens,output_tokens\n")
    code = ("import sys\nfrom workbench.io.traffic import load_log\n"
            f"r = load_log({str(path)!r})\nprint(len(r.frame))\n")

    def once(_):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(once, range(12)))
    bad = [(r.returncode, r.stderr[-300:]) for r in runs if r.returncode != 0 or r.stdout.strip() != "0"]
    assert not bad, bad
