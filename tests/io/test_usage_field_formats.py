"""Every billed token kind and the service tier, read from each traffic format in its vendor's own field
names (issue 8): OpenAI ``service_tier`` and audio details, Anthropic ``usage.service_tier`` /
``inference_geo`` and 1-hour writes, Gemini ``usageMetadata`` modality counts, LiteLLM's ``Usage`` in spend
logs, Langfuse ``usageDetails`` keys, Helicone's audio columns. Records are in the real shapes."""
from __future__ import annotations

import json

import pytest

from workbench.core.frame_cost import price_frame
from workbench.io.traffic import load_log

KINDS = ["input_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_long_tokens",
         "audio_input_tokens", "cached_audio_input_tokens", "audio_output_tokens", "output_tokens"]


def _write(tmp_path, name: str, records: list[dict]):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


def _rows(result):
    assert not result.rejected, result.rejected
    return result.frame.set_index("request_id")


def test_openai_anthropic_and_gemini_responses(tmp_path, frozen_book):
    records = [
        {"id": "chatcmpl-a1", "object": "chat.completion", "created": 1790000000, "model": "gpt-realtime",
         "service_tier": "default",
         "usage": {"prompt_tokens": 5000, "completion_tokens": 900, "total_tokens": 5900,
                   "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 4000},
                   "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 700}}},
        {"id": "chatcmpl-a2", "object": "chat.completion", "created": 1790000001, "model": "gpt-5.6-sol",
         "service_tier": "flex",
         "usage": {"prompt_tokens": 10000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 2000}}},
        {"id": "msg_b1", "type": "message", "created": 1790000002, "model": "claude-sonnet-4-5",
         "usage": {"input_tokens": 2000, "cache_read_input_tokens": 50000, "cache_creation_input_tokens": 10000,
                   "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 10000},
                   "output_tokens": 1000, "service_tier": "standard", "inference_geo": "us"}},
        {"id": "msg_b2", "type": "message", "created": 1790000003, "model": "claude-sonnet-4-5",
         "usage": {"input_tokens": 100, "output_tokens": 10, "service_tier": "batch"}},
        {"responseId": "gem-c1", "modelVersion": "gemini-2.5-flash", "timestamp": "2026-10-01T12:00:00Z",
         "candidates": [{"content": {"parts": [{"text": "ok"}], "role": "model"}}],
         "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 60, "thoughtsTokenCount": 40,
                           "totalTokenCount": 1100,
                           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 200},
                                                   {"modality": "AUDIO", "tokenCount": 800}]}},
        {"responseId": "gem-c2", "modelVersion": "gemini-2.5-flash", "timestamp": "2026-10-01T12:01:00Z",
         "usageMetadata": {"promptTokenCount": 5000, "cachedContentTokenCount": 3000, "candidatesTokenCount": 10,
                           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2000},
                                                   {"modality": "AUDIO", "tokenCount": 3000}],
                           "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 2500},
                                                  {"modality": "TEXT", "tokenCount": 500}]}},
        # a Realtime API response.done event (the session names the model: a logger adds it)
        {"type": "response.done", "timestamp": "2026-10-01T12:02:00Z", "model": "gpt-realtime",
         "response": {"id": "resp_d1", "usage": {
             "input_tokens": 1200, "output_tokens": 800, "total_tokens": 2000,
             "input_token_details": {"text_tokens": 200, "audio_tokens": 900, "image_tokens": 100,
                                     "cached_tokens": 400,
                                     "cached_tokens_details": {"text_tokens": 100, "audio_tokens": 300}},
             "output_token_details": {"text_tokens": 150, "audio_tokens": 650}}}},
    ]
    result = load_log(_write(tmp_path, "mixed.jsonl", records), "openai-jsonl", book=frozen_book)
    rows = _rows(result)
    assert rows.loc["chatcmpl-a1", KINDS].tolist() == [5000, 0, 0, 0, 4000, 0, 700, 900]
    assert rows.loc["msg_b1", KINDS].tolist() == [62000, 50000, 10000, 10000, 0, 0, 0, 1000]
    assert rows.loc["gem-c1", KINDS].tolist() == [1000, 0, 0, 0, 800, 0, 0, 100]   # thinking billed as output
    assert rows.loc["gem-c2", KINDS].tolist() == [5000, 3000, 0, 0, 500, 2500, 0, 10]
    assert rows.loc["resp_d1", KINDS].tolist() == [1200, 400, 0, 0, 600, 300, 650, 800]
    assert rows.loc["resp_d1", "image_input_tokens"] == 100
    tiers = rows["service_tier"].astype(object).where(rows["service_tier"].notna(), None).to_dict()
    assert tiers == {"chatcmpl-a1": None, "chatcmpl-a2": "flex", "msg_b1": "us_only", "msg_b2": "batch",
                     "gem-c1": None, "gem-c2": None, "resp_d1": None}
    cost = price_frame(result.frame, frozen_book, date_col=None, on="2026-10-01").set_index("request_id")["cost_usd"]
    assert cost["gem-c1"] == pytest.approx(0.00111)                       # the Gemini case
    assert cost["msg_b1"] == pytest.approx(0.096 * 1.1)                    # 1-hour writes, US-only 1.1×
    assert cost["msg_b2"] == pytest.approx((100 * 1.5 + 10 * 7.5) / 1e6)  # batch prices
    assert cost["chatcmpl-a2"] == pytest.approx((8000 * 2.0 + 2000 * 0.2 + 100 * 10.0) / 1e6)  # flex
    assert cost["chatcmpl-a1"] == pytest.approx((1000 * 4 + 4000 * 32 + 200 * 16 + 700 * 64) / 1e6)
    # Realtime: 100 text + 600 audio + 100 image uncached, 100 text + 300 audio cached, 150 + 650 out
    assert cost["resp_d1"] == pytest.approx((100 * 4 + 600 * 32 + 100 * 5 + 100 * 0.4 + 300 * 0.4
                                             + 150 * 16 + 650 * 64) / 1e6)


def test_litellm_spend_log_usage(tmp_path, frozen_book):
    usage = {"prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 300, "text_tokens": 700,
                                       "cache_creation_token_details": {"ephemeral_5m_input_tokens": 0,
                                                                        "ephemeral_1h_input_tokens": 0}},
             "completion_tokens_details": {"audio_tokens": 40, "reasoning_tokens": 0}}
    anthropic = {"cache_creation_input_tokens": 4000, "cache_read_input_tokens": 1000,
                 "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_token_details": {
                     "ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 3000}},
                 "service_tier": "priority"}
    rows = [
        {"request_id": "ll-1", "call_type": "acompletion", "spend": 0.01, "prompt_tokens": 1000,
         "completion_tokens": 100, "startTime": "2026-10-01T09:00:00", "endTime": "2026-10-01T09:00:01",
         "model": "gpt-realtime", "metadata": {"additional_usage_values": usage}, "status": "success"},
        {"request_id": "ll-2", "call_type": "acompletion", "spend": 0.02, "prompt_tokens": 6000,
         "completion_tokens": 10, "startTime": "2026-10-01T09:01:00", "endTime": "2026-10-01T09:01:01",
         "model": "claude-sonnet-4-5", "metadata": {"additional_usage_values": anthropic}, "status": "success"},
    ]
    got = _rows(load_log(_write(tmp_path, "spend.jsonl", rows), "litellm", book=frozen_book))
    assert got.loc["ll-1", KINDS].tolist() == [1000, 0, 0, 0, 300, 0, 40, 100]
    assert got.loc["ll-2", KINDS].tolist() == [6000, 1000, 4000, 3000, 0, 0, 0, 10]
    assert got.loc["ll-2", "service_tier"] == "priority"


def test_langfuse_usage_details(tmp_path, frozen_book):
    obs = {"id": "obs-1", "traceId": "t1", "type": "GENERATION", "name": "voice", "model": "gpt-realtime",
           "startTime": "2026-10-01T09:00:00.000Z", "endTime": "2026-10-01T09:00:01.000Z",
           # OpenAI usage flattened by Langfuse: "input" is what the details leave over
           "usageDetails": {"input": 700, "input_cached_tokens": 500, "input_audio_tokens": 800, "output": 60,
                            "output_audio_tokens": 40, "total": 2100}}
    got = _rows(load_log(_write(tmp_path, "lf.jsonl", [obs]), "langfuse", book=frozen_book))
    assert got.loc["obs-1", KINDS].tolist() == [2000, 500, 0, 0, 800, 0, 40, 100]


def test_helicone_audio_columns(tmp_path, frozen_book):
    row = {"request_id": "h-1", "request_created_at": "2026-10-01T09:00:00.000Z",
           "response_created_at": "2026-10-01T09:00:01.000Z", "response_status": 200, "model": "gpt-realtime",
           "provider": "OPENAI", "prompt_tokens": 200, "prompt_cache_read_tokens": 100,
           "prompt_cache_write_tokens": 0, "prompt_audio_tokens": 700, "completion_tokens": 50,
           "completion_audio_tokens": 30, "costUSD": 0.03}
    got = _rows(load_log(_write(tmp_path, "helicone.jsonl", [row]), "helicone", book=frozen_book))
    # Helicone's prompt_tokens and completion_tokens leave out what it prices apart (its costOfPrompt)
    assert got.loc["h-1", KINDS].tolist() == [1000, 100, 0, 0, 700, 0, 30, 80]
