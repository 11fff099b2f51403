"""Bad input is reported row by row, never dropped silently; streaming gives the same answer."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.io.traffic import StrictError, iter_log, load_log
from workbench.io.traffic.openai import JSONL_SCHEMA
from workbench.io.traffic.reader import iter_ndjson

FIXTURES = [
    ("openai_chat.jsonl", {}), ("openai_batch_output.jsonl", {}), ("litellm_spend_logs.jsonl", {}),
    ("litellm_spend_logs.csv", {}), ("langfuse_observations.jsonl", {}), ("langfuse_generations.csv", {}),
    ("helicone_export.jsonl", {}), ("helicone_export.csv", {}), ("azure_2023_sample.csv", {"model": "gpt-4o-mini"}),
    ("mooncake_sample.jsonl", {"model": "gpt-4o-mini", "origin": "2025-01-01"}),
    ("burstgpt_sample.csv", {"origin": "2025-01-01"}),
    ("requests_custom.csv", {"format": "csv", "column_map": {"request_id": "id", "ts": "created_at"}}),
]


def _key(result):
    return (result.frame.reset_index(drop=True), [(r.line, r.field, r.reason) for r in result.rejected])


@pytest.mark.parametrize("name, kw", FIXTURES)
def test_every_row_is_kept_or_reported(logs, book, name, kw):
    r = load_log(logs / name, book=book, **kw)
    assert r.rows_read == len(r.frame) + r.rejected_count
    lines = [x.line for x in r.rejected]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)  # one entry per rejected row
    rep = r.report_frame()
    assert list(rep.columns) == ["file", "line", "field", "reason"] and len(rep) == r.rejected_count
    assert (rep["file"] == str(logs / name)).all()


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5, 1000])
def test_chunk_size_does_not_change_the_answer(logs, book, chunk_rows):
    whole = load_log(logs / "openai_chat.jsonl", book=book)
    chunked = load_log(logs / "openai_chat.jsonl", book=book, chunk_rows=chunk_rows)
    pd.testing.assert_frame_equal(_key(whole)[0], _key(chunked)[0])
    assert _key(whole)[1] == _key(chunked)[1]  # duplicate ids and the time-zone style carry across chunks


def test_iter_log_streams_bounded_chunks(logs, book):
    chunks = list(iter_log(logs / "openai_chat.jsonl", "openai-jsonl", book=book, chunk_rows=4))
    assert all(len(c.frame) <= 4 for c in chunks) and len(chunks) == 4  # 15 lines, one blank
    frame = pd.concat([c.frame for c in chunks]).sort_values(["ts", "request_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, load_log(logs / "openai_chat.jsonl", book=book).frame)
    assert sum(len(c.rejected) for c in chunks) == 8
    frame_, rejected = chunks[0]  # a Chunk unpacks as (frame, rejected)
    assert isinstance(frame_, pd.DataFrame) and isinstance(rejected, list)


def test_strict_stops_at_the_first_bad_row(logs, book):
    with pytest.raises(StrictError) as err:
        load_log(logs / "openai_chat.jsonl", book=book, strict=True)
    e = err.value
    assert (e.file, e.line, e.field) == (str(logs / "openai_chat.jsonl"), 4, "line")
    assert str(e).startswith(f"{logs / 'openai_chat.jsonl'}:4: line: malformed JSON")
    assert isinstance(e, ValueError)
    with pytest.raises(StrictError, match=r"requests_custom.csv:4: line: expected 10 fields, got 6"):
        load_log(logs / "requests_custom.csv", "csv", strict=True, book=book,
                 column_map={"request_id": "id", "ts": "created_at"}, chunk_rows=2)
    ok = load_log(logs / "helicone_export.csv", book=book, strict=True)
    assert len(ok.frame) == 2


def test_crlf_bom_and_blank_lines(tmp_path, logs, book):
    text = (logs / "openai_chat.jsonl").read_text(encoding="utf-8")
    variant = tmp_path / "crlf.jsonl"
    variant.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    base, other = load_log(logs / "openai_chat.jsonl", book=book), load_log(variant, book=book)
    pd.testing.assert_frame_equal(base.frame, other.frame)
    assert [(r.line, r.field) for r in base.rejected] == [(r.line, r.field) for r in other.rejected]


def test_invalid_utf8_and_non_objects(tmp_path, book):
    good = {"request_id": "a", "timestamp": "2024-11-05T09:00:00Z", "model": "gpt-4o-mini",
            "usage": {"prompt_tokens": 10, "completion_tokens": 2}}
    lines = [json.dumps(good).encode(), b'{"request_id": "\xff\xfe"}', b"[1, 2]", b"42", b"   ",
             json.dumps({**good, "request_id": "b"}).encode(), b"null"]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    r = load_log(path, "openai-jsonl", book=book)
    assert list(r.frame["request_id"]) == ["a", "b"]
    assert [(x.line, x.reason) for x in r.rejected] == [
        (2, "not valid UTF-8"), (3, "not a JSON object (got array)"), (4, "not a JSON object (got integer)"),
        (7, "not a JSON object (got null)")]


def test_json_array_input(tmp_path, logs, book):
    records = [json.loads(line) for line in (logs / "litellm_spend_logs.jsonl").read_text().splitlines()]
    path = tmp_path / "spend.json"
    path.write_text(json.dumps(records, indent=1))
    r = load_log(path, book=book)
    assert r.format == "litellm"
    jsonl = load_log(logs / "litellm_spend_logs.jsonl", book=book)
    pd.testing.assert_frame_equal(r.frame.drop(columns="request_id"), jsonl.frame.drop(columns="request_id"))
    assert [x.line for x in r.rejected] == [4, 5, 6]  # element numbers


def test_reader_block_boundaries(logs):
    """Lines that straddle read blocks come out whole, with the right line numbers."""
    path = logs / "openai_chat.jsonl"
    small = list(iter_ndjson(path, JSONL_SCHEMA, chunk_rows=3, block_bytes=700))
    big = list(iter_ndjson(path, JSONL_SCHEMA, chunk_rows=1000))
    a = pd.concat([c.frame.to_pandas() for c in small]).reset_index(drop=True)
    b = big[0].frame.to_pandas()
    pd.testing.assert_frame_equal(a, b)
    assert sorted(x for c in small for x in c.bad) == big[0].bad


@pytest.mark.parametrize("text, expected", [
    ("2024-11-05T09:00:00Z", "2024-11-05T09:00:00Z"),
    ("2024-11-05T11:00:00+02:00", "2024-11-05T09:00:00Z"),
    ("2024-11-05 09:00:00.500 UTC", "2024-11-05T09:00:00.5Z"),
    ("1730797200", "2024-11-05T09:00:00Z"),
    ("1730797200123", "2024-11-05T09:00:00.123Z"),
    ("1730797200.25", "2024-11-05T09:00:00.25Z"),
])
def test_timestamp_forms(tmp_path, book, text, expected):
    path = tmp_path / "t.csv"
    path.write_text(f"ts,model,input_tokens,output_tokens\n{text},gpt-4o-mini,1,1\n")
    r = load_log(path, "csv", book=book)
    assert r.rejected == [] and r.frame["ts"].iloc[0] == pd.Timestamp(expected)


def test_naive_first_rejects_offsets(tmp_path, book):
    path = tmp_path / "t.csv"
    path.write_text("ts,model,input_tokens,output_tokens\n2024-11-05 09:00,gpt-4o-mini,1,1\n"
                    "2024-11-05 10:00Z,gpt-4o-mini,1,1\n2024-11-05 11:00,gpt-4o-mini,1,1\n")
    r = load_log(path, "csv", book=book, chunk_rows=1)
    assert len(r.frame) == 2 and [x.line for x in r.rejected] == [3]
    assert "has a UTC offset but the file's first timestamp has none" in r.rejected[0].reason


# ------------------------------------------------------------------------------- property test

_token = st.one_of(st.integers(0, 10**6), st.integers(-100, -1), st.just("12"), st.just("x"), st.just(1.5),
                   st.none())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_token, _token, st.booleans(), st.sampled_from(["gpt-4o-mini", "gpt-4o-mimi"])),
                min_size=1, max_size=30))
def test_property_kept_rows_are_exactly_the_valid_ones(tmp_path_factory, book, rows):
    """Whatever the mix, a row is kept iff it is valid, its tokens survive unchanged, and every other
    row is reported on its own line."""
    path = tmp_path_factory.mktemp("prop") / "p.jsonl"
    lines, expected = [], {}
    for i, (inp, out, malformed, model) in enumerate(rows):
        rec = {"request_id": f"r{i}", "timestamp": f"2024-11-05T09:00:{i % 60:02d}Z", "model": model,
               "usage": {"prompt_tokens": inp, "completion_tokens": out}}
        line = json.dumps(rec)
        if malformed:
            line = line[:-3]
        lines.append(line)

        def ok(v):
            return v is not None and (v == "12" or (isinstance(v, int) and v >= 0))
        if not malformed and model == "gpt-4o-mini" and ok(inp) and ok(out):
            expected[f"r{i}"] = (int(inp), int(out))
    path.write_text("\n".join(lines) + "\n")
    r = load_log(path, "openai-jsonl", book=book, chunk_rows=7)
    got = {x["request_id"]: (x["input_tokens"], x["output_tokens"]) for x in r.frame.to_dict("records")}
    assert got == expected
    assert r.rows_read == len(rows) == len(r.frame) + r.rejected_count
    assert sorted(x.line for x in r.rejected) == [i + 1 for i in range(len(rows)) if f"r{i}" not in expected]


def test_csv_blank_lines_keep_physical_line_numbers(tmp_path, book):
    path = tmp_path / "t.csv"
    path.write_text("ts,model,input_tokens,output_tokens\n2024-11-05T09:00:00Z,gpt-4o-mini,1,1\n\n"
                    "2024-11-05T09:00:01Z,gpt-4o-mini,-1,1\n2024-11-05T09:00:02Z,gpt-4o-mini\n"
                    "2024-11-05T09:00:03Z,gpt-4o-mini,x,1\n")
    r = load_log(path, "csv", book=book)
    assert (r.rows_read, len(r.frame)) == (4, 1)
    assert [(x.line, x.field) for x in r.rejected] == [(4, "input_tokens"), (5, "line"), (6, "input_tokens")]
