"""Every billed token kind at its own rate (issue 8): Anthropic 1-hour writes beside 5-minute ones in one
request, OpenAI cache writes, audio tokens (never at the text rate). Amounts from the frozen sheet."""
from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from workbench.core.cost import estimate, request_cost
from workbench.core.frame_cost import price_frame
from workbench.core.prices import NoPriceError, PriceError

FROZEN = {"WORKBENCH_PRICING_DIR": os.path.join(os.path.dirname(__file__), "fixtures", "prices")}
DAY = "2026-10-01"


def test_sonnet_45_one_hour_writes_beside_reads(frozen_book):
    # 2k uncached, 50k read, 10k 1-hour write, 1k out: 2000×3 + 50000×0.30 + 10000×6 + 1000×15 = $0.096
    rec = frozen_book.price_on("claude-sonnet-4-5", DAY)
    c = request_cost(rec, 62_000, 1_000, 50_000, 10_000, cache_write_long_tokens=10_000)
    assert c.total_usd == pytest.approx(0.096, abs=1e-12)
    assert c.cache_write_usd == pytest.approx(0.06)
    # the old single-TTL answer: every write at the 5-minute rate
    assert request_cost(rec, 62_000, 1_000, 50_000, 10_000).total_usd == pytest.approx(0.0735)


def test_one_request_with_both_write_kinds(frozen_book):
    rec = frozen_book.price_on("claude-sonnet-4-5", DAY)
    c = request_cost(rec, 20_000, 0, 0, 12_000, cache_write_long_tokens=10_000)
    assert c.cache_write_usd == pytest.approx((2_000 * 3.75 + 10_000 * 6.00) / 1e6)
    assert c.input_usd == pytest.approx(8_000 * 3.00 / 1e6)
    with pytest.raises(PriceError, match="cache_write_long_tokens"):
        request_cost(rec, 20_000, 0, 0, 5_000, cache_write_long_tokens=6_000)


def test_openai_cache_writes_30_minute_and_12_hour(frozen_book):
    rec = frozen_book.price_on("gpt-5.6-sol", DAY)
    short = request_cost(rec, 10_000, 100, 0, 8_000)                                   # 30-minute writes
    assert short.total_usd == pytest.approx((2_000 * 4 + 8_000 * 5 + 100 * 20) / 1e6)
    long = request_cost(rec, 10_000, 100, 0, 8_000, cache_write_long_tokens=8_000)     # 12-hour writes
    assert long.cache_write_usd == pytest.approx(8_000 * 10 / 1e6)
    # a model without cache-write prices still refuses them
    with pytest.raises(NoPriceError, match="cache-write"):
        request_cost(frozen_book.price_on("gpt-4o-mini", DAY), 1_000, 10, 0, 500)


def test_gemini_audio_tokens_at_the_audio_rate(frozen_book):
    # 800 audio of 1,000 prompt tokens, 100 out: 200×0.30 + 800×1.00 + 100×2.50 = $0.00111 (not $0.00055)
    est = estimate(frozen_book, "gemini-2.5-flash", 1_000, 100, on=DAY, audio_input_tokens=800)
    assert est.usd_per_request == pytest.approx(0.00111, abs=1e-12)
    assert estimate(frozen_book, "gemini-2.5-flash", 1_000, 100, on=DAY).usd_per_request == pytest.approx(0.00055)


def test_audio_without_an_audio_rate_is_an_error_not_the_text_rate(frozen_book):
    with pytest.raises(NoPriceError, match="input-audio.*never billed at the text rate"):
        estimate(frozen_book, "gpt-4o-mini", 1_000, 100, on=DAY, audio_input_tokens=800)
    with pytest.raises(NoPriceError, match="output-audio"):
        estimate(frozen_book, "gemini-2.5-flash", 1_000, 100, on=DAY, audio_output_tokens=50)


def test_price_frame_prices_each_row_with_its_own_kinds(frozen_book):
    frame = pd.DataFrame({
        "model": ["claude-sonnet-4-5", "claude-sonnet-4-5", "gemini-2.5-flash", "gpt-5.6-sol"],
        "ts": pd.to_datetime([DAY] * 4, utc=True),
        "input_tokens": [62_000, 20_000, 1_000, 10_000],
        "cached_input_tokens": [50_000, 0, 0, 0],
        "cache_write_tokens": [10_000, 12_000, 0, 8_000],
        "cache_write_long_tokens": [10_000, 10_000, 0, 0],
        "audio_input_tokens": [0, 0, 800, 0],
        "output_tokens": [1_000, 0, 100, 100],
    })
    priced = price_frame(frame, frozen_book)
    expected = [
        0.096,
        (8_000 * 3 + 2_000 * 3.75 + 10_000 * 6) / 1e6,
        0.00111,
        (2_000 * 4 + 8_000 * 5 + 100 * 20) / 1e6,
    ]
    assert priced["cost_usd"].tolist() == pytest.approx(expected, abs=1e-12)
    # same answer row by row as request_cost (batch too)
    frame["batch"] = True
    batch = price_frame(frame, frozen_book)
    rec = frozen_book.price_on("claude-sonnet-4-5", DAY)
    one = request_cost(rec, 62_000, 1_000, 50_000, 10_000, batch=True, cache_write_long_tokens=10_000)
    assert batch["cost_usd"].iloc[0] == pytest.approx(one.total_usd)
    frame["audio_input_tokens"] = [0, 0, 0, 5]
    with pytest.raises(NoPriceError, match="input-audio"):
        price_frame(frame, frozen_book)


def test_estimate_cli_accepts_openai_cache_writes_and_audio(run_cli):
    r = run_cli("estimate", "--model", "gpt-5.6-sol", "--input-tokens", "10000", "--cache-write-tokens", "8000",
                "--output-tokens", "100", "--on", DAY, "--json", env=FROZEN)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["usd_per_request"] == pytest.approx(0.05)
    r = run_cli("estimate", "--model", "gpt-5.6-sol", "--input-tokens", "10000", "--cache-write-tokens", "8000",
                "--cache-ttl", "12h", "--output-tokens", "100", "--on", DAY, "--json", env=FROZEN)
    assert json.loads(r.stdout)["usd_per_request"] == pytest.approx((2_000 * 4 + 8_000 * 10 + 100 * 20) / 1e6)
    r = run_cli("estimate", "--model", "gemini-2.5-flash", "--input-tokens", "1000", "--audio-input-tokens", "800",
                "--output-tokens", "100", "--on", DAY, "--json", env=FROZEN)
    assert json.loads(r.stdout)["usd_per_request"] == pytest.approx(0.00111)
    r = run_cli("estimate", "--model", "claude-sonnet-4-5", "--input-tokens", "62000", "--cached-input-tokens",
                "50000", "--cache-write-tokens", "10000", "--cache-write-long-tokens", "10000",
                "--output-tokens", "1000", "--on", DAY, "--json", env=FROZEN)
    assert json.loads(r.stdout)["usd_per_request"] == pytest.approx(0.096)


def test_service_tiers_per_scenario_and_per_request(frozen_book):
    rec = frozen_book.price_on("gpt-5.6-sol", DAY)
    std = request_cost(rec, 10_000, 100, 2_000, 0)
    flex = request_cost(rec, 10_000, 100, 2_000, 0, service_tier="flex")
    prio = request_cost(rec, 10_000, 100, 2_000, 0, service_tier="priority")
    regional = request_cost(rec, 10_000, 100, 2_000, 0, service_tier="regional")
    assert std.total_usd == pytest.approx((8_000 * 4 + 2_000 * 0.4 + 100 * 20) / 1e6)
    assert flex.total_usd == pytest.approx((8_000 * 2 + 2_000 * 0.2 + 100 * 10) / 1e6)
    assert prio.total_usd == pytest.approx((8_000 * 8 + 2_000 * 0.8 + 100 * 40) / 1e6)
    assert regional.total_usd == pytest.approx(std.total_usd * 1.10)
    us = estimate(frozen_book, "claude-sonnet-4-5", 62_000, 1_000, 50_000, 10_000, on=DAY,
                  cache_write_long_tokens=10_000, service_tier="us_only")
    assert us.usd_per_request == pytest.approx(0.096 * 1.1)
    with pytest.raises(NoPriceError, match="no service tier 'priority'.*us_only"):
        estimate(frozen_book, "claude-sonnet-4-5", 1_000, 10, on=DAY, service_tier="priority")
    with pytest.raises(NoPriceError, match="12h cache-write"):  # the flex tier lists no 12-hour write
        request_cost(rec, 10_000, 100, 0, 1_000, cache_ttl="12h", service_tier="flex")
    with pytest.raises(PriceError, match="batch"):
        request_cost(rec, 10_000, 100, batch=True, service_tier="flex")
    frame = pd.DataFrame({"model": ["gpt-5.6-sol"] * 4, "input_tokens": [10_000] * 4, "output_tokens": [100] * 4,
                          "cached_input_tokens": [2_000] * 4,
                          "service_tier": ["flex", None, "priority", "regional"]})
    priced = price_frame(frame, frozen_book, date_col=None, on=DAY)
    assert priced["cost_usd"].tolist() == pytest.approx([flex.total_usd, std.total_usd, prio.total_usd,
                                                         regional.total_usd])
    assert list(priced["service_tier"]) == list(frame["service_tier"])
    scenario = price_frame(frame.drop(columns="service_tier"), frozen_book, date_col=None, on=DAY,
                           service_tier="priority")
    assert scenario["cost_usd"].tolist() == pytest.approx([prio.total_usd] * 4)


def test_estimate_cli_service_tier(run_cli):
    r = run_cli("estimate", "--model", "gpt-5.6-sol", "--input-tokens", "10000", "--output-tokens", "100",
                "--service-tier", "flex", "--on", DAY, "--json", env=FROZEN)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["service_tier"] == "flex" and d["usd_per_request"] == pytest.approx((10_000 * 2 + 100 * 10) / 1e6)
    bad = run_cli("estimate", "--model", "gpt-4o-mini", "--input-tokens", "1", "--output-tokens", "1",
                  "--service-tier", "flex", "--on", DAY, env=FROZEN)
    assert bad.returncode == 2 and "no service tier 'flex'" in bad.stderr


def test_replay_prices_openai_cache_writes_and_keeps_them_when_routing(frozen_book):
    from workbench.core.replay import replay

    log = pd.DataFrame({"request_id": ["a", "b"], "ts": pd.to_datetime([DAY, DAY], utc=True),
                        "model": ["gpt-5.6-sol", "claude-sonnet-4-5"], "input_tokens": [10_000, 10_000],
                        "cached_input_tokens": [0, 0], "cache_write_tokens": [8_000, 8_000],
                        "output_tokens": [100, 100]})
    base = replay(log, [], frozen_book, bootstrap=0)
    assert base.baseline_usd == pytest.approx(price_frame(log, frozen_book)["cost_usd"].sum())
    # route the Sonnet row to GPT-5.6: its 30-minute write price keeps the cache-write split
    routed = replay(log, [{"policy": "route", "rules": [{"model": "gpt-5.6-sol", "from_model": "claude-sonnet-4-5"}]}], frozen_book, bootstrap=0)
    assert routed.replayed_usd == pytest.approx(2 * (2_000 * 4 + 8_000 * 5 + 100 * 20) / 1e6)
