"""Usage fields of the token kinds billed at their own rates, read from real API response shapes
(field names as in Anthropic's Messages API and OpenAI's Chat Completions usage objects)."""
from __future__ import annotations

import json

import pytest

from workbench.core.frame_cost import price_frame
from workbench.io.traffic import load_log

ANTHROPIC = {  # Messages API usage: input_tokens excludes the cache; creation split by TTL
    "id": "msg_1", "created": 1760000000, "model": "claude-sonnet-4-5",
    "usage": {"input_tokens": 2000, "cache_read_input_tokens": 50000, "cache_creation_input_tokens": 10000,
              "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 10000},
              "output_tokens": 1000},
}
OPENAI = {  # GPT-5.6 chat completion with an explicit cache write and audio
    "id": "chatcmpl-2", "created": 1760000001, "model": "gpt-5.6-sol",
    "usage": {"prompt_tokens": 10000, "completion_tokens": 100, "total_tokens": 10100,
              "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 8000, "audio_tokens": 0},
              "completion_tokens_details": {"audio_tokens": 0}},
}
OLD = {"id": "chatcmpl-3", "created": 1760000002, "model": "gpt-4o-mini",
       "usage": {"prompt_tokens": 100, "completion_tokens": 10, "prompt_tokens_details": {"cached_tokens": 0}}}


def test_cache_write_kinds_from_logs_priced_per_request(tmp_path, frozen_book):
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (ANTHROPIC, OPENAI, OLD)) + "\n")
    frame = load_log(path, "openai-jsonl", book=frozen_book).frame
    rows = frame.set_index("request_id")
    assert rows.loc["msg_1", ["input_tokens", "cached_input_tokens", "cache_write_tokens",
                              "cache_write_long_tokens"]].tolist() == [62000, 50000, 10000, 10000]
    assert rows.loc["chatcmpl-2", "cache_write_tokens"] == 8000
    assert rows.loc["chatcmpl-3", ["cache_write_long_tokens", "audio_input_tokens"]].tolist() == [0, 0]  # old logs
    priced = price_frame(frame, frozen_book, date_col=None, on="2026-10-01").set_index("request_id")
    assert priced.loc["msg_1", "cost_usd"] == pytest.approx(0.096)      # not $0.0735
    assert priced.loc["chatcmpl-2", "cost_usd"] == pytest.approx(0.05)  # writes at $5, not as uncached input


def test_a_part_above_its_whole_rejects_the_row_not_the_file(tmp_path, frozen_book):
    bad = json.loads(json.dumps(ANTHROPIC))
    bad["id"] = "msg_bad"
    bad["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] = 20000
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (ANTHROPIC, bad)) + "\n")
    result = load_log(path, "openai-jsonl", book=frozen_book)
    assert list(result.frame["request_id"]) == ["msg_1"]
    assert [(r.line, r.field) for r in result.rejected] == [(2, "cache_write_long_tokens")]
