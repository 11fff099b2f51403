"""Issue 13 item 13: ``workbench ingest`` reads a parquet log (the sample week itself)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

from workbench.io.traffic import load_log

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "requests.parquet"


def test_the_sample_week_parquet_loads_as_it_was(real_book):
    result = load_log(SAMPLE, book=real_book)
    want = pd.read_parquet(SAMPLE)
    got = result.frame
    assert result.rejected == [] and len(got) == len(want)
    got, want = got.set_index("request_id"), want.set_index("request_id").loc[got["request_id"]]
    assert (got["ts"] == pd.to_datetime(want["ts"], utc=True)).all()
    for col in ("model", "tenant", "feature", "input_tokens", "output_tokens", "cached_input_tokens", "status"):
        assert (got[col].astype(str).to_numpy() == want[col].astype(str).to_numpy()).all(), col


def test_ingest_cli_reads_parquet(tmp_path):
    small = tmp_path / "week.parquet"
    pd.read_parquet(SAMPLE).head(300).to_parquet(small)
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "ingest", str(small), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["kept"] == 300 and report["rejected"] == 0
