"""The shared chunked upload, without a browser: drive its message protocol as the page does."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from workbench.widgets.upload import ChunkedUpload, UploadError, prepare, sniff

ROOT = Path(__file__).resolve().parents[2]


def test_a_file_larger_than_a_websocket_message_arrives_in_acknowledged_slices():
    got: list[tuple[str, bytes]] = []
    up = ChunkedUpload(lambda name, path: got.append((name, path.read_bytes())), max_bytes=30_000_000)
    sizes: list[int] = []
    up.observe(lambda c: sizes.append(c["new"]), "received")
    content = b"x" * (12 * 2**20 + 17)  # over tornado's 10 MiB message limit in one piece
    up.deliver("big.jsonl", content)
    assert got == [("big.jsonl", content)] and not up.busy and up.error == ""
    assert len(sizes) >= 13 and sizes[-1] == len(content)  # progress slice by slice


def test_refused_and_failed_uploads_leave_the_widget_ready():
    got = []
    up = ChunkedUpload(lambda name, path: got.append(name), max_bytes=1000)
    up._message(up, {"type": "refused", "name": "huge.jsonl", "size": 51_000_000}, [])
    assert "huge.jsonl: 51,000,000 bytes is over the 1,000-byte upload limit" in up.error and not up.busy
    up.deliver("ok.csv", b"a,b\n1,2\n")
    assert got == ["ok.csv"] and up.error == ""
    # the loader fails: its message is the widget's error, and the next upload still works
    bad = ChunkedUpload(lambda name, path: (_ for _ in ()).throw(ValueError(f"{name}: broken")))
    bad.deliver("one.csv", b"x")
    assert bad.error == "one.csv: broken" and not bad.busy
    # a slice of an upload given up is ignored, a stream cut mid-way is reported
    up._message(up, {"type": "start", "id": "a", "name": "cut.jsonl", "size": 10}, [])
    up._message(up, {"type": "chunk", "id": "a", "offset": 0}, [b"12345"])
    up._message(up, {"type": "failed", "id": "a", "name": "cut.jsonl", "reason": "the server did not answer"}, [])
    assert "cut.jsonl: the upload stopped" in up.error and not up.busy
    up._message(up, {"type": "chunk", "id": "a", "offset": 5}, [b"67890"])
    assert not up.busy
    up.deliver("next.csv", b"a\n")
    assert got == ["ok.csv", "next.csv"]


def test_sniff_and_prepare(tmp_path):
    assert sniff("a.jsonl", b'{"a": 1}\n') == "text"
    assert sniff("a.parquet", b"PAR1\x15\x04") == "parquet"
    assert sniff("a.csv", b"\x1f\x8b\x08\x00") == "gzip"
    assert sniff("a.csv", b"\x89PNG\r\n\x1a\n\x00\x00") == "binary"
    binary = tmp_path / "received"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(UploadError, match=r"^photo\.jsonl is a binary file"):
        prepare("photo.jsonl", binary, tmp_path)
    packed = tmp_path / "packed"
    packed.write_bytes(gzip.compress(b'{"a": 1}\n'))
    path, kind = prepare("log.jsonl.gz", packed, tmp_path)
    assert kind == "text" and path.suffix == ".jsonl" and path.read_bytes() == b'{"a": 1}\n'
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match="e.csv is empty"):
        prepare("e.csv", empty, tmp_path)
