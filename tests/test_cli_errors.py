"""Issue 9.4: ordinary mistakes get a one-line error (exit 2), never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _one_line(r, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-800:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-800:]
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("doc,needle", [
    ("[1, 2, 3]", "messages[0] must be a dict"),
    ('[{"role": "user", "content": {"a": 1}}]', "must be a str or a list of parts"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ('[{"role": "user", "content": ' + "[" * 3000 + "]" * 3000 + "}]", "chat"),
])
def test_tokens_chat_with_malformed_messages(run_cli, tmp_path, doc, needle):
    path = tmp_path / "chat.json"
    path.write_text(doc)
    _one_line(run_cli("tokens", "--chat", str(path)), "chat.json", needle)


def test_tokens_stdin_refuses_invalid_utf8_like_a_file(tmp_path):
    data = b"ab\xff\xfe"
    (tmp_path / "bad.txt").write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args, stdin in ((["-"], data), ([str(tmp_path / "bad.txt")], b"")):
        r = subprocess.run([sys.executable, "-m", "workbench.cli", "tokens", *args], input=stdin,
                           capture_output=True, cwd=ROOT, env=env, timeout=120)
        r.stderr = r.stderr.decode()
        _one_line(r, "not UTF-8 text (invalid start byte at byte 2)")
    r = subprocess.run([sys.executable, "-m", "workbench.cli", "tokens", "-", "--json"], input="héllo".encode(),
                       capture_output=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["characters"] == 5


def test_replay_memory_limit_must_be_a_size(run_cli):
    r = run_cli("replay", "sample_data/requests.parquet", "--policy", "tests/fixtures/policies/baseline.yaml",
                "--memory-limit", "lots")
    _one_line(r, "--memory-limit", "not a memory size: 'lots'")


def test_memory_size_accepts_what_duckdb_accepts():
    import argparse

    import duckdb

    from workbench.cli._args import memory_size

    for text in ("512MB", "1gb", "1.5GiB", "100 kb"):
        duckdb.connect().execute(f"SET memory_limit='{memory_size(text)}'")
    for text in ("lots", "0GB", "-1GB", "1GB'; DROP", "1PB"):
        with pytest.raises(argparse.ArgumentTypeError):
            memory_size(text)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:21/v1", "file:///etc/passwd"])
def test_bench_refuses_non_http_base_urls_up_front(run_cli, url):
    r = run_cli("bench", "--backend", "openai", "--base-url", url, "--model", "m", "--requests", "1")
    _one_line(r, "base URL must be http:// or https://")
