"""Each log format, read from a small hand-written fixture in its real field names."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.core.schema import ALL_COLUMNS as COLUMNS  # the optional token kinds (issue 8) included
from workbench.core.tokens import count_batch, count_messages
from workbench.io.traffic import FORMATS, UnknownFormatError, detect_format, load_log


def rows(result) -> dict[str, dict]:
    return {r["request_id"]: r for r in result.frame.to_dict("records")}


def tokens(row) -> tuple[int, int, int, int]:
    return tuple(int(row[c]) for c in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"))


def reasons(result) -> dict[int, tuple[str, str]]:
    return {r.line: (r.field, r.reason) for r in result.rejected}


def assert_canonical(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == [c.name for c in COLUMNS]
    for c in COLUMNS:
        assert str(frame[c.name].dtype) == c.dtype, c.name
        if c.required:
            assert not frame[c.name].isna().any(), c.name
    assert frame["ts"].is_monotonic_increasing
    assert (frame["cached_input_tokens"] + frame["cache_write_tokens"] <= frame["input_tokens"]).all()


def test_registry_names_and_unknown_format():
    assert list(FORMATS) == ["openai-jsonl", "openai-batch", "litellm", "langfuse", "helicone", "csv",
                             "azure-2023", "mooncake", "burstgpt"]
    with pytest.raises(UnknownFormatError, match="valid formats: openai-jsonl, openai-batch"):
        FORMATS["openai"]


@pytest.mark.parametrize("name, fmt", [
    ("openai_chat.jsonl", "openai-jsonl"), ("openai_batch_output.jsonl", "openai-batch"),
    ("litellm_spend_logs.jsonl", "litellm"), ("litellm_spend_logs.csv", "litellm"),
    ("langfuse_observations.jsonl", "langfuse"), ("langfuse_generations.csv", "langfuse"),
    ("helicone_export.jsonl", "helicone"), ("helicone_export.csv", "helicone"),
    ("requests_custom.csv", "csv"), ("azure_2023_sample.csv", "azure-2023"),
    ("mooncake_sample.jsonl", "mooncake"), ("burstgpt_sample.csv", "burstgpt"),
])
def test_detect_format(logs, name, fmt):
    assert detect_format(logs / name) == fmt


def test_openai_jsonl(logs, book):
    r = load_log(logs / "openai_chat.jsonl", book=book)
    assert (r.format, r.detected) == ("openai-jsonl", True)
    assert (r.rows_read, len(r.frame), r.rejected_count) == (14, 6, 8)
    assert r.summary() == f"read 14 rows from {logs / 'openai_chat.jsonl'} (format openai-jsonl): 6 kept, 8 rejected"
    assert_canonical(r.frame)
    got = rows(r)
    a = got["req-001"]
    assert a["ts"] == pd.Timestamp("2024-11-05T09:00:00Z")
    assert (a["tenant"], a["feature"], a["user"], a["model"]) == ("acme", "search", "u-17", "gpt-4o-mini-2024-07-18")
    assert tokens(a) == (1450, 1024, 0, 120)
    assert (a["status"], a["latency_ms"], a["attempt"], a["token_source"]) == ("ok", 812.5, 1, "logged")
    assert json.loads(a["prompt"])[1] == {"role": "user", "content": "Find flights to Lisbon next Friday."}
    assert len(a["system_prompt_hash"]) == 16
    bare = got["chatcmpl-AQ2"]  # a bare chat.completion: id, created (epoch s), model, usage
    assert (bare["ts"], bare["model"], bare["input_tokens"], bare["output_tokens"]) == (
        pd.Timestamp("2024-11-05T09:01:00Z"), "gpt-4o-2024-08-06", 300, 50)
    # no usage: counted from the messages (OpenAI framing) and the reply, tagged as counted
    c = got["req-003"]
    msgs = json.loads(c["prompt"])
    assert c["input_tokens"] == count_messages(msgs, tokenizer="o200k_base").tokens
    assert c["output_tokens"] == int(count_batch(["Hello there!"], tokenizer="o200k_base")[0])
    assert c["token_source"] == "counted"
    assert c["ts"] == pd.Timestamp("2024-11-05T09:02:00Z")  # +01:00 converted to UTC
    assert c["system_prompt_hash"] == a["system_prompt_hash"]  # same system prompt, same hash
    # Responses API usage (input includes cached) and Anthropic usage (input excludes the cache)
    assert (got["req-012"]["input_tokens"], got["req-012"]["cached_input_tokens"]) == (900, 512)
    d = got["req-013"]
    assert tokens(d) == (2020, 1800, 200, 90)
    retry = got["req-015"]
    assert (retry["status"], retry["attempt"], retry["latency_ms"]) == ("rate_limited", 2, 35.0)
    assert reasons(r) == {
        4: ("line", "malformed JSON: Expecting ',' delimiter (column 99)"),
        5: ("input_tokens", "negative token count -20"),
        6: ("ts", "mixed time zones: timestamp '2024-11-05 09:05:00' has no UTC offset but the file's first "
                  "timestamp has one"),
        7: ("request_id", "duplicate request_id 'req-001' (first seen on line 1)"),
        8: ("model", "unknown model 'gpt-4o-mimi' (close matches: gpt-4.1-mini, gpt-4o, gpt-4o-mini, gpt-5-mini, "
                     "gpt-5.4-mini)"),
        10: ("usage", 'wrong type: expected an object, got string "n/a"'),
        11: ("ts", "missing timestamp"),
        14: ("input_tokens", "not a whole number: 12.5"),
    }


def test_openai_batch(logs, book):
    r = load_log(logs / "openai_batch_output.jsonl", book=book)
    assert (len(r.frame), r.rejected_count) == (2, 2)
    got = rows(r)
    one = got["9f2c1a7e0b"]  # response.request_id
    assert (one["model"], one["input_tokens"], one["output_tokens"]) == ("gpt-4o-mini-2024-07-18", 210, 4)
    assert one["ts"] == pd.Timestamp(1730800000, unit="s", tz="UTC")
    assert json.loads(one["tags"]) == {"custom_id": "ticket-1", "batch_request_id": "batch_req_6730a1", "batch": True}
    assert got["9f2c1a7e0c"]["cached_input_tokens"] == 1152
    assert reasons(r) == {
        3: ("error", "batch request failed: batch_expired: This request could not be executed before the "
                     "completion window expired."),
        4: ("response", "batch request failed with HTTP 400: Invalid 'messages[0].role': did not expect 'robot'."),
    }


@pytest.mark.parametrize("name", ["litellm_spend_logs.jsonl", "litellm_spend_logs.csv"])
def test_litellm(logs, book, name):
    r = load_log(logs / name, book=book)
    assert r.format == "litellm"
    assert_canonical(r.frame)
    openai, anthropic, failed = (r.frame.iloc[i] for i in range(3))  # sorted by ts
    assert (openai["tenant"], openai["feature"], openai["user"]) == ("team-acme", "search", "u-17")
    assert (openai["input_tokens"], openai["cached_input_tokens"], openai["output_tokens"]) == (1450, 1024, 120)
    assert openai["latency_ms"] == 1333.0
    assert openai["ts"] == pd.Timestamp("2024-11-05T09:00:00.123Z")  # naive DB timestamps read as UTC
    # prompt_tokens is cache-inclusive in LiteLLM (it adds Anthropic's cache read + creation)
    assert tokens(anthropic)[:3] == (2020, 1800, 200)
    assert (failed["status"], failed["output_tokens"]) == ("error", 0)
    assert "timestamps have no UTC offset; read as UTC" in r.notes
    if name.endswith(".jsonl"):
        assert (r.rows_read, r.rejected_count) == (6, 3)
        assert reasons(r) == {
            4: ("model", "unknown model 'azure/prod-gpt4o-deployment' (no close matches)"),
            5: ("ts", "mixed time zones: timestamp '2024-11-05T09:04:00.000Z' has a UTC offset but the file's "
                      "first timestamp has none"),
            6: ("ts", "missing timestamp"),
        }
        assert json.loads(openai["tags"])["spend_usd"] == "0.000375"


@pytest.mark.parametrize("name", ["langfuse_observations.jsonl", "langfuse_generations.csv"])
def test_langfuse(logs, book, name):
    r = load_log(logs / name, book=book)
    assert_canonical(r.frame)
    f = r.frame.set_index("feature")
    # usageDetails with the OpenAI schema: "input" excludes input_cached_tokens; Langfuse sums every
    # key containing "input" for the input total
    s = f.loc["search-answer"] if name.endswith(".csv") else f.loc["search-answer"].iloc[0]
    assert (s["input_tokens"], s["cached_input_tokens"], s["output_tokens"]) == (1450, 1024, 120)
    c = f.loc["contract-review"]
    assert tokens(c) == (2020, 1800, 200, 90)
    assert s["latency_ms"] == pytest.approx(812.0)
    if name.endswith(".jsonl"):
        assert (r.rows_read, len(r.frame), r.rejected_count) == (6, 4, 2)
        assert f.loc["legacy-usage", "input_tokens"] == 9  # promptTokens / completionTokens fallback
        assert s["tenant"] == "acme" and s["user"] == "u-17"
        assert json.loads(s["tags"])["trace_id"] == "trace-a1"
        assert reasons(r) == {
            2: ("type", "observation type 'SPAN' is not a model call"),
            5: ("output_tokens", "missing output token count and no reply text to count"),
        }
        counted = r.frame[r.frame["request_id"] == "obs-0006"].iloc[0]
        assert counted["token_source"] == "counted"
        assert counted["input_tokens"] == count_messages([{"role": "user", "content": "Count me."}],
                                                         tokenizer="o200k_base").tokens


def test_helicone(logs, book):
    r = load_log(logs / "helicone_export.jsonl", book=book)
    assert_canonical(r.frame)
    got = rows(r)
    a = got["3c1e-req"]
    # Helicone's prompt_tokens exclude cache reads/writes: input = 426 + 1024 + 0
    assert (a["input_tokens"], a["cached_input_tokens"], a["output_tokens"]) == (1450, 1024, 120)
    assert (a["tenant"], a["feature"], a["user"]) == ("acme", "search", "u-17")
    assert (a["quality"], a["latency_ms"]) == (1.0, 1200.0)
    b = got["3c1f-req"]
    assert (b["input_tokens"], b["cache_write_tokens"], b["quality"]) == (2020, 200, 0.0)
    assert b["system_prompt_hash"] is not pd.NA  # Anthropic body: top-level "system"
    assert got["3c20-req"]["status"] == "rate_limited"
    assert reasons(r) == {4: ("input_tokens", "not a whole number: many")}
    csv = load_log(logs / "helicone_export.csv", book=book)
    assert rows(csv)["5d02-resp"]["status"] == "error" and rows(csv)["5d01-resp"]["input_tokens"] == 426


def test_csv_with_column_map(logs, book):
    mapping = {"request_id": "id", "ts": "created_at", "tenant": "customer", "cached_input_tokens": "cached"}
    r = load_log(logs / "requests_custom.csv", "csv", column_map=mapping, book=book)
    assert_canonical(r.frame)
    assert list(r.frame["request_id"]) == ["r-1", "r-2", "r-6"]
    assert rows(r)["r-6"]["ts"] == pd.Timestamp(1730797230, unit="s", tz="UTC")  # epoch seconds in a CSV
    assert rows(r)["r-1"]["cached_input_tokens"] == 1024 and rows(r)["r-1"]["tenant"] == "acme"
    assert reasons(r) == {
        4: ("line", "expected 10 fields, got 6"),
        5: ("input_tokens", "negative token count -5"),
        6: ("ts", "missing timestamp"),
        8: ("cached_input_tokens", "cached_input_tokens + cache_write_tokens (200) exceed input_tokens (100)"),
    }


def test_csv_column_map_errors(logs, book):
    from workbench.io.traffic import LoadError

    with pytest.raises(LoadError, match="unknown column"):
        load_log(logs / "requests_custom.csv", "csv", column_map={"when": "created_at"}, book=book)
    with pytest.raises(LoadError, match="not in the CSV header: id, created_at"):
        load_log(logs / "requests_custom.csv", "csv", column_map={"ts": "time"}, book=book)
    with pytest.raises(LoadError, match="no timestamp column"):
        load_log(logs / "requests_custom.csv", "csv", book=book)
    with pytest.raises(LoadError, match="column_map applies to format 'csv' only"):
        load_log(logs / "openai_chat.jsonl", column_map={"ts": "created"}, book=book)


def test_token_only_traces_need_a_model(logs, book):
    from workbench.io.traffic import LoadError

    with pytest.raises(LoadError, match="pass --model"):
        load_log(logs / "azure_2023_sample.csv", book=book)
    r = load_log(logs / "azure_2023_sample.csv", model="gpt-4o-mini", book=book)
    assert (len(r.frame), r.rejected_count) == (4, 2)
    assert set(r.frame["model"]) == {"gpt-4o-mini"}
    assert r.frame["request_id"].iloc[0] == "azure_2023_sample.csv:000000002"
    assert r.frame["ts"].iloc[0] == pd.Timestamp("2023-11-16 18:15:46.680590", tz="UTC")
    assert reasons(r) == {5: ("input_tokens", "not a whole number: abc"), 6: ("ts", "missing timestamp")}


def test_mooncake(logs, book):
    r = load_log(logs / "mooncake_sample.jsonl", model="gpt-4o-mini", origin="2025-01-01", book=book)
    assert list(r.frame["ts"]) == [pd.Timestamp("2025-01-01T00:00:00Z"), pd.Timestamp("2025-01-01T00:00:00.250Z"),
                                   pd.Timestamp("2025-01-01T00:00:01.500Z")]
    assert json.loads(r.frame["tags"].iloc[1]) == {"hash_ids": [0, 1, 4], "block_tokens": 512}
    assert reasons(r) == {3: ("hash_ids", 'wrong type: expected a list of integers, got ["x",5]')}


def test_burstgpt(logs, book):
    r = load_log(logs / "burstgpt_sample.csv", origin="2025-01-01T00:00:00Z", book=book)
    assert list(r.frame["model"]) == ["gpt-3.5-turbo", "gpt-3.5-turbo", "gpt-4"]
    assert list(r.frame["status"]) == ["ok", "error", "ok"]  # 0 response tokens = a failed request
    assert r.frame["ts"].iloc[2] == pd.Timestamp("2025-01-01T00:01:58Z")
    assert json.loads(r.frame["tags"].iloc[0]) == {"logged_model": "ChatGPT", "log_type": "Conversation log"}
    assert reasons(r)[5][1].startswith("unknown model 'GPT-3' (close matches:")


def test_unknown_model_argument_fails_up_front(logs, book):
    from workbench.core.prices import UnknownModelError

    with pytest.raises(UnknownModelError, match="gpt-4o-mini"):
        load_log(logs / "azure_2023_sample.csv", model="gpt-4o-mimi", book=book)


def test_format_callable_is_load_log(logs, book):
    r = FORMATS["helicone"](logs / "helicone_export.csv", book=book)
    assert (r.format, r.detected, len(r.frame)) == ("helicone", False, 2)


def test_canonical_csv_round_trip(tmp_path, logs, book):
    """A canonical frame written as CSV reads back identical (token_source labels included)."""
    frame = load_log(logs / "openai_chat.jsonl", book=book).frame
    path = tmp_path / "canonical.csv"
    frame.to_csv(path, index=False)
    back = load_log(path, book=book)
    assert (back.format, back.rejected) == ("csv", [])
    pd.testing.assert_frame_equal(back.frame, frame)
    assert "counted" in set(back.frame["token_source"])
