"""``workbench ingest`` as a user runs it: summary, report files, exit codes, no partial output."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli.ingest import FORMAT_NAMES, _atomic_write
from workbench.io.traffic import FORMATS

ROOT = Path(__file__).resolve().parents[2]


def test_cli_format_names_match_the_registry():
    assert list(FORMAT_NAMES) == list(FORMATS)


def test_summary_rejections_and_files(run_cli, logs, tmp_path):
    out, rej = tmp_path / "canon.parquet", tmp_path / "rejects.csv"
    r = run_cli("ingest", str(logs / "openai_chat.jsonl"), "--out", str(out), "--rejects", str(rej))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"read 14 rows from {logs / 'openai_chat.jsonl'} (format openai-jsonl): 6 kept, 8 rejected"
    assert any("rejected " in x and ":4: line: malformed JSON" in x for x in lines)
    frame = pd.read_parquet(out)
    assert len(frame) == 6 and list(frame.columns)[:3] == ["request_id", "ts", "tenant"]
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    report = pd.read_csv(rej)
    assert list(report.columns) == ["file", "line", "field", "reason"] and len(report) == 8
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # not left with mkstemp's private mode
    assert not list(tmp_path.glob(".*.part"))


def test_json_output_and_csv_mapping(run_cli, logs):
    r = run_cli("ingest", str(logs / "requests_custom.csv"), "--format", "csv", "--map", "request_id=id",
                "--map", "ts=created_at", "--map", "cached_input_tokens=cached", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert (d["format"], d["detected"], d["rows_read"], d["kept"], d["rejected"]) == ("csv", False, 7, 3, 4)
    assert d["rejections"][0] == {"file": str(logs / "requests_custom.csv"), "line": 4, "field": "line",
                                  "reason": "expected 10 fields, got 6"}


def test_csv_out_and_model_for_token_only_trace(run_cli, logs, tmp_path):
    out = tmp_path / "azure.csv"
    r = run_cli("ingest", str(logs / "azure_2023_sample.csv"), "--model", "gpt-4o-mini", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "note: timestamps have no UTC offset; read as UTC" in r.stdout
    assert pd.read_csv(out)["model"].tolist() == ["gpt-4o-mini"] * 4


@pytest.mark.parametrize("args, message", [
    (["azure_2023_sample.csv"], "has no model column; pass --model M"),
    (["azure_2023_sample.csv", "--model", "gpt-4o-mimi"], "unknown model 'gpt-4o-mimi'"),
    (["azure_2023_sample.csv", "--format", "nope"], "unknown format 'nope'; valid formats: openai-jsonl"),
    (["openai_chat.jsonl", "--strict"], "strict: "),
    (["missing.jsonl"], "no such log file"),
    (["openai_chat.jsonl", "--out", "x.txt"], "--out must end in .parquet or .csv"),
    (["requests_custom.csv", "--format", "csv", "--map", "oops"], "expected CANONICAL=COLUMN"),
])
def test_bad_input_exits_2_with_one_line(run_cli, logs, args, message):
    r = run_cli("ingest", str(logs / args[0]), *args[1:])
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_strict_message_names_file_line_field(run_cli, logs):
    r = run_cli("ingest", str(logs / "openai_chat.jsonl"), "--strict")
    assert r.stderr.strip().startswith(f"workbench ingest: error: strict: {logs / 'openai_chat.jsonl'}:4: line:")


def test_interrupted_write_leaves_no_file(tmp_path):
    def write(p: Path):
        p.write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the second file fails: the first is not renamed either
        _atomic_write((tmp_path / "out.csv", lambda p: p.write_text("complete")), (tmp_path / "rej.csv", write))
    assert list(tmp_path.iterdir()) == []
    _atomic_write((tmp_path / "out.csv", lambda p: p.write_text("complete")))
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def _big_log(path: Path, lines: int) -> None:
    rec = {"request_id": "", "timestamp": "2024-11-05T09:00:00Z", "model": "gpt-4o-mini",
           "request": {"messages": [{"role": "user", "content": "x" * 600}]},
           "usage": {"prompt_tokens": 150, "completion_tokens": 20}}
    text = json.dumps(rec)
    head, tail = text.split('"request_id": ""')
    with open(path, "w") as fh:
        fh.writelines(f'{head}"request_id": "r{i}"{tail}\n' for i in range(lines))


def test_ctrl_c_leaves_no_partial_output(tmp_path):
    log, out = tmp_path / "big.jsonl", tmp_path / "out.parquet"
    _big_log(log, 50_000)  # ~36 MB: over the progress-bar threshold
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "ingest", str(log), "--out", str(out), "--chunk-rows", "2000"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # the first progress line: loading has started
        assert "ingest big.jsonl:" in first, first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, -signal.SIGINT), err
    if proc.returncode == 130:
        assert "interrupted; no output written" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["big.jsonl"]


def test_progress_bar_on_stderr_for_big_files(tmp_path):
    log = tmp_path / "big.jsonl"
    _big_log(log, 50_000)
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "ingest", str(log), "--chunk-rows", "10000"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert r.returncode == 0, r.stderr
    assert "ingest big.jsonl: 100%" in r.stderr
    assert r.stdout.startswith(f"read 50,000 rows from {log} (format openai-jsonl): 50,000 kept, 0 rejected")
