"""Issue 9.3: one bad row never costs the file, in every format.

Each fixture log gets two rows corrupted the way hostile or broken logs are (a token count above
2^63, a float like 1e30); ingest must reject exactly those rows with file, line and field, keep the
rest, and read the same log gzip-compressed. Plus the OpenAI batch line without a body, a year-9999
timestamp, and the ingest/replay bound on token counts (one constant in the schema).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import re
import shutil

import pytest

from workbench.core.schema import MAX_TOKENS_PER_REQUEST
from workbench.io.traffic import load_log
from workbench.io.traffic.result import LoadError

TOKEN_FIELDS = {"input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"}
TOKEN_KEY = re.compile(r"(?i)(^(prompt|completion|input|output)_tokens$|_length$|^(input|output)$|"
                       r"^(context|generated)tokens$|^(request|response) tokens$)")
FIXTURES = {  # name -> load_log options
    "openai_chat.jsonl": {}, "openai_batch_output.jsonl": {}, "litellm_spend_logs.jsonl": {},
    "litellm_spend_logs.csv": {}, "langfuse_observations.jsonl": {}, "langfuse_generations.csv": {},
    "helicone_export.jsonl": {}, "helicone_export.csv": {}, "requests_custom.csv":
        {"format": "csv", "column_map": {"request_id": "id", "ts": "created_at", "tenant": "customer",
                                         "input_tokens": "prompt_tokens", "cached_input_tokens": "cached",
                                         "output_tokens": "completion_tokens"}},
    "azure_2023_sample.csv": {"model": "gpt-4o-mini"}, "burstgpt_sample.csv": {},
    "mooncake_sample.jsonl": {"model": "gpt-4o-mini", "origin": "2025-01-01"},
}
BAD_VALUES = (2**70, 1e30)


def _poison_json(obj, value) -> bool:
    """Set the first token-count field (depth first) to ``value``; True if one was found."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if TOKEN_KEY.search(k) and isinstance(v, (int, float, str)) and str(v).strip().isdigit():
                obj[k] = value
                return True
            if _poison_json(v, value):
                return True
    elif isinstance(obj, list):
        return any(_poison_json(v, value) for v in obj)
    return False


def _poison(text: str, suffix: str, skip: set[int]) -> list[int]:
    """Corrupt the token count of the first two rows not in ``skip``; returns (new text, their lines)."""
    lines_done: list[int] = []
    if suffix == ".jsonl":
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if len(lines_done) == 2:
                break
            if i + 1 in skip or not line.strip():
                continue
            obj = json.loads(line)
            if _poison_json(obj, BAD_VALUES[len(lines_done)]):
                lines[i] = json.dumps(obj)
                lines_done.append(i + 1)
        return "\n".join(lines) + "\n", lines_done
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    for i, row in enumerate(rows[1:], start=2):  # CSV: the header is record 1
        if len(lines_done) == 2:
            break
        if i in skip:
            continue
        value = BAD_VALUES[len(lines_done)]
        for j, name in enumerate(header):
            if TOKEN_KEY.search(name) and row[j].strip().isdigit():
                row[j] = str(value)
                lines_done.append(i)
                break
            if name == "usageDetails":
                d = json.loads(row[j])
                if _poison_json(d, value):
                    row[j] = json.dumps(d)
                    lines_done.append(i)
                break
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue(), lines_done


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_huge_token_counts_cost_one_row_each_in_every_format(logs, tmp_path, book, name):
    opts = FIXTURES[name]
    base = load_log(logs / name, book=book, **opts)
    path = tmp_path / name
    base_bad = {x.line for x in base.rejected}
    text, poisoned = _poison((logs / name).read_text(encoding="utf-8"), path.suffix, base_bad)
    assert len(poisoned) == 2, name
    path.write_text(text, encoding="utf-8")
    r = load_log(path, book=book, **opts)
    bad = {x.line: x for x in r.rejected}
    for line in poisoned:
        assert line in bad, (name, [str(x) for x in r.rejected])
        assert bad[line].file == str(path) and bad[line].field in TOKEN_FIELDS, str(bad[line])
        assert "above the limit" in bad[line].reason, str(bad[line])
    assert len(r.frame) + len(r.rejected) == len(base.frame) + len(base.rejected)  # every row accounted for
    assert len(r.frame) >= len(base.frame) - 2  # the good rows kept
    assert (r.frame["input_tokens"] <= MAX_TOKENS_PER_REQUEST).all()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_gzip_logs_are_read_like_the_plain_file(logs, tmp_path, book, name):
    opts = FIXTURES[name]
    plain = load_log(logs / name, book=book, **opts)
    for gz_name in (name + ".gz", name):  # by content, whatever the name says
        path = tmp_path / gz_name
        with open(logs / name, "rb") as src, gzip.open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
        r = load_log(path, book=book, **opts)
        assert len(r.frame) == len(plain.frame) and r.rows_read == plain.rows_read
        assert [(x.line, x.field) for x in r.rejected] == [(x.line, x.field) for x in plain.rejected]


def test_other_compression_and_damaged_gzip_are_refused_naming_the_file(tmp_path, book, logs):
    z = tmp_path / "log.jsonl"
    z.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    with pytest.raises(LoadError, match=r"log\.jsonl: the file is zstd-compressed"):
        load_log(z, book=book)
    data = gzip.compress((logs / "openai_chat.jsonl").read_bytes())
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError, match=r"cut\.jsonl: gzip-compressed file is damaged"):
        load_log(cut, book=book)


def test_batch_line_without_body_and_year_9999_cost_one_row_each(logs, tmp_path, book):
    lines = (logs / "openai_batch_output.jsonl").read_text().splitlines()
    good = json.loads(lines[0])
    no_body = json.loads(lines[0])
    no_body["custom_id"], no_body["response"] = "x-nobody", {"status_code": 200, "request_id": "rq-nobody"}
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join([json.dumps(no_body), *lines]) + "\n")
    r = load_log(path, book=book)
    base = load_log(logs / "openai_batch_output.jsonl", book=book)
    assert [(x.line, x.field) for x in r.rejected if x.line == 1] == [(1, "response.body")]
    assert len(r.frame) == len(base.frame)
    assert good["response"]["request_id"] in set(r.frame["request_id"])

    csv_path = tmp_path / "ts.csv"
    csv_path.write_text("request_id,ts,model,input_tokens,output_tokens\n"
                        "a,2025-11-05T10:00:00Z,gpt-4o-mini,10,1\n"
                        "b,9999-12-31T23:59:59Z,gpt-4o-mini,10,1\n"
                        "c,2025-11-05T10:00:02Z,gpt-4o-mini,10,1\n")
    r = load_log(csv_path, book=book)
    assert list(r.frame["request_id"]) == ["a", "c"]
    (rej,) = r.rejected
    assert (rej.line, rej.field) == (3, "ts") and "out of range" in rej.reason


def test_what_ingest_accepts_replay_accepts(tmp_path, book, run_cli):
    """10^13 tokens: ingest used to keep the row and replay to refuse the file. Now ingest rejects it
    with the schema's bound, the same constant replay checks."""
    from workbench.core.replay.pricing import MAX_TOKENS

    assert MAX_TOKENS == MAX_TOKENS_PER_REQUEST
    log = tmp_path / "big.csv"
    log.write_text("request_id,ts,model,input_tokens,output_tokens\n"
                   "a,2025-11-05T10:00:00Z,gpt-4o-mini,10000000000000,1\n"
                   f"b,2025-11-05T10:00:01Z,gpt-4o-mini,{MAX_TOKENS_PER_REQUEST},1\n"
                   "c,2025-11-05T10:00:02Z,gpt-4o-mini,10,1\n")
    out = tmp_path / "big.parquet"
    r = run_cli("ingest", str(log), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "big.csv:2: input_tokens: token count 10000000000000 above the limit" in r.stdout + r.stderr
    r = run_cli("replay", str(out), "--policy", "tests/fixtures/policies/baseline.yaml", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["requests"] == 2
