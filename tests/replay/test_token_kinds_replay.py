"""The replay prices every billed token kind as ``price_frame`` does (issue 8): long-TTL cache writes,
audio input / cached audio / audio output, image input and per-request service tiers, on every engine,
to the pico-dollar. Amounts from the frozen sheet (tests/fixtures/prices/frozen.yaml)."""
from __future__ import annotations

import pandas as pd
import pytest

from workbench.core.frame_cost import price_frame
from workbench.core.prices import PriceError
from workbench.core.replay import replay

ENGINES = ("polars", "pandas", "duckdb")
KINDS = ("cache_write_long_tokens", "audio_input_tokens", "cached_audio_input_tokens", "audio_output_tokens",
         "image_input_tokens")
COLS = ("request_id", "model", "input_tokens", "cached_input_tokens", "cache_write_tokens",
        "cache_write_long_tokens", "audio_input_tokens", "cached_audio_input_tokens", "audio_output_tokens",
        "image_input_tokens", "output_tokens", "service_tier", "feature")
ROWS = [  # id, model, in, cached, write, long write, audio in, cached audio, audio out, image, out, tier, feature
    ("s1", "claude-sonnet-4-5", 62_000, 50_000, 10_000, 10_000, 0, 0, 0, 0, 1_000, None, "chat"),  # $0.096
    ("s2", "claude-sonnet-4-5", 20_000, 0, 12_000, 10_000, 0, 0, 0, 0, 500, "us_only", "chat"),
    ("g1", "gemini-2.5-flash", 1_000, 0, 0, 0, 800, 0, 0, 0, 100, None, "voice"),                 # $0.00111
    ("g2", "gemini-2.5-flash", 5_000, 1_000, 0, 0, 2_000, 600, 0, 0, 300, "standard", "voice"),
    ("o1", "gpt-5.6-sol", 10_000, 0, 8_000, 0, 0, 0, 0, 0, 100, "flex", "chat"),
    ("o2", "gpt-5.6-sol", 10_000, 2_000, 3_000, 0, 0, 0, 0, 0, 100, "priority", "chat"),
    ("o3", "gpt-5.6-sol", 10_000, 2_000, 3_000, 1_000, 0, 0, 0, 0, 100, "Regional", "chat"),
    ("r1", "gpt-realtime", 9_000, 1_500, 0, 0, 4_000, 1_000, 2_500, 1_200, 3_000, None, "voice"),
    ("m1", "gpt-4o-mini", 1_000, 0, 0, 0, 0, 0, 0, 0, 100, None, "chat"),
    ("b1", "claude-sonnet-4-5", 3_000, 0, 0, 0, 0, 0, 0, 0, 100, "batch", "reports"),  # Anthropic's Batch API
]


@pytest.fixture
def kinds_log() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=list(COLS))
    frame.insert(1, "ts", pd.Timestamp("2026-10-01T12:00:00Z") + pd.to_timedelta(range(len(frame)), unit="min"))
    frame["tenant"] = "acme"
    return frame


def _pusd(usd: pd.Series) -> list[int]:
    return [round(v * 10**12) for v in usd]


@pytest.mark.parametrize("engine", ENGINES)
def test_baseline_equals_price_frame_to_the_pico_dollar(kinds_log, frozen_book, engine):
    expected = price_frame(kinds_log, frozen_book).set_index("request_id")["cost_usd"]
    assert expected["s1"] == pytest.approx(0.096) and expected["g1"] == pytest.approx(0.00111)  # the cases
    res = replay(kinds_log, [], frozen_book, engine=engine, bootstrap=0)
    got = res.frame.set_index("request_id").loc[expected.index]
    assert list(got["baseline_pusd"].astype("int64")) == _pusd(expected)
    assert res.summary["baseline_pusd"] == sum(_pusd(expected))
    # the per-request frame carries the kinds and the tier it priced
    assert list(got["audio_output_tokens"]) == list(kinds_log.set_index("request_id").loc[expected.index,
                                                                                          "audio_output_tokens"])
    assert got.loc["o3", "service_tier"] == "regional" and got.loc["s1", "service_tier"] == "standard"


def test_each_kind_changes_the_replayed_cost(kinds_log, frozen_book):
    """Without the kinds (the replay before issue 8's fix) every row is text at the standard tier."""
    full = replay(kinds_log, [], frozen_book, bootstrap=0).frame.set_index("request_id")["baseline_pusd"]
    plain = replay(kinds_log.drop(columns=[*KINDS, "service_tier"]), [], frozen_book,
                   bootstrap=0).frame.set_index("request_id")["baseline_pusd"]
    assert full["s1"] == 96_000_000_000 and plain["s1"] == 73_500_000_000       # 1-hour writes at $6, not $3.75
    assert full["b1"] == (3_000 * 1.5 + 100 * 7.5) * 10**6                     # batch prices
    for rid in ("s2", "g1", "g2", "o1", "o2", "o3", "r1", "b1"):
        assert full[rid] != plain[rid], rid
    assert full["m1"] == plain["m1"]


def test_steps_keep_every_kind_priced(kinds_log, frozen_book):
    """A move loses what the target does not price (cache writes → plain input, a tier it lacks →
    standard); an output cap bills capped audio output; the same on every engine."""
    stack = [{"policy": "route", "rules": [{"model": "gpt-4o-mini", "feature": ["chat"]}]},
             {"policy": "output_cap", "max_output_tokens": 2_000}]
    results = [replay(kinds_log, stack, frozen_book, engine=e, bootstrap=0) for e in ENGINES]
    frames = [r.frame.set_index("request_id").sort_index() for r in results]
    for f in frames[1:]:
        assert list(f["cost_pusd"]) == list(frames[0]["cost_pusd"])
    f = frames[0]
    moved = kinds_log.set_index("request_id").loc[["s1", "s2", "o1", "o2", "o3"]].reset_index()
    moved = moved.assign(model="gpt-4o-mini", cached_input_tokens=[50_000, 0, 0, 2_000, 2_000],
                         cache_write_tokens=0, cache_write_long_tokens=0, service_tier=None)
    expected = price_frame(moved, frozen_book).set_index("request_id")["cost_usd"]
    assert [int(f.loc[r, "cost_pusd"]) for r in expected.index] == _pusd(expected)
    # gpt-realtime, 3,000 out of which 2,500 audio, capped at 2,000: 2,000 audio output tokens billed
    capped = kinds_log.set_index("request_id").loc[["r1"]].reset_index().assign(output_tokens=2_000,
                                                                               audio_output_tokens=2_000)
    assert int(f.loc["r1", "cost_pusd"]) == _pusd(price_frame(capped, frozen_book)["cost_usd"])[0]


def test_a_kind_the_model_does_not_price_stops_the_replay(kinds_log, frozen_book):
    bad = kinds_log.copy()
    bad.loc[bad.request_id == "m1", "audio_input_tokens"] = 10      # gpt-4o-mini has no audio rate
    with pytest.raises(PriceError, match="m1.*gpt-4o-mini.*never billed at the text rate"):
        replay(bad, [], frozen_book, bootstrap=0)
    bad = kinds_log.copy()
    bad.loc[bad.request_id == "m1", "service_tier"] = "flex"          # gpt-4o-mini offers no flex tier here
    with pytest.raises(PriceError, match="m1.*service tier"):
        replay(bad, [], frozen_book, bootstrap=0)
    bad = kinds_log.copy()
    bad.loc[bad.request_id == "g1", "audio_input_tokens"] = 1_001      # a part above its whole
    with pytest.raises(ValueError, match="audio"):
        replay(bad, [], frozen_book, bootstrap=0)


@pytest.mark.parametrize("engine", ENGINES)
def test_compression_cuts_text_only(kinds_log, frozen_book, engine):
    """Prompt compression removes text: audio, image and cached-audio tokens stay (and stay billed)."""
    stack = [{"policy": "compress", "rate": 0.5, "parts": ["uncached", "cached", "cache_write"]}]
    got = replay(kinds_log, stack, frozen_book, engine=engine, bootstrap=0).frame.set_index("request_id")
    # r1: 9,000 in = 1,500 cached (1,000 audio) + 4,000 audio + 1,200 image + 2,300 text: 1,150 + 250 cut
    assert got.loc["r1", ["input_tokens", "cached_input_tokens", "audio_input_tokens",
                          "cached_audio_input_tokens", "image_input_tokens"]].tolist() == [7_600, 1_250, 4_000, 1_000, 1_200]
    # s1: 10,000 writes, all long: 5,000 of each kind left; 2,000 uncached → 1,000; 50,000 read → 25,000
    assert got.loc["s1", ["input_tokens", "cache_write_tokens", "cache_write_long_tokens"]].tolist() == [31_000, 5_000, 5_000]
    rows = got.loc[list(kinds_log.request_id)].reset_index()[["request_id", "ts", *COLS[1:11]]]
    expected = price_frame(rows.assign(service_tier=kinds_log["service_tier"].values), frozen_book)["cost_usd"]
    assert list(got.loc[list(kinds_log.request_id), "cost_pusd"]) == _pusd(expected)


def test_output_cap_sweep_with_audio_output_equals_its_replays(kinds_log, frozen_book):
    """Cost is not linear in the cap when audio output is billed apart: the sweep replays each value (no
    vectorised shortcut) and every point equals its own replay."""
    from workbench.core.replay.sweep import prepare_sweep
    stack = [{"policy": "output_cap", "max_output_tokens": 100}]
    values = [500, 2_000, 2_800]
    with prepare_sweep(kinds_log, stack, frozen_book, step=1, param="max_output_tokens") as prepared:
        assert prepared.fast is False
        points = prepared.evaluate(values)
    for value, pt in zip(values, points):
        one = replay(kinds_log, [{"policy": "output_cap", "max_output_tokens": value}], frozen_book, bootstrap=0)
        assert pt["replayed_pusd"] == one.summary["replayed_pusd"], value


def test_cached_audio_moved_to_a_model_without_cache_reads_stays_audio(frozen_book):
    """The only audio a log has is cached: a move to a model that prices no cache reads bills it as uncached
    audio (at the audio rate), never as text."""
    log = pd.DataFrame([("a1", "gpt-realtime", 3_000, 1_500, 0, 0, 0, 1_000, 0, 0, 100, None, "voice")],
                       columns=list(COLS))
    log.insert(1, "ts", pd.Timestamp("2026-10-01T12:00:00Z"))
    log["tenant"] = "acme"
    stack = [{"policy": "route", "rules": [{"model": "gpt-4o-audio-preview", "feature": ["voice"]}]}]
    moved = log.assign(model="gpt-4o-audio-preview", cached_input_tokens=0, cached_audio_input_tokens=0,
                       audio_input_tokens=1_000)
    expected = price_frame(moved, frozen_book)["cost_usd"]      # 2,000 text at $2.50 + 1,000 audio at $40
    assert expected.iloc[0] == pytest.approx((2_000 * 2.5 + 1_000 * 40 + 100 * 10) / 1e6)
    for engine in ENGINES:
        got = replay(log, stack, frozen_book, engine=engine, bootstrap=0).frame
        assert list(got["cost_pusd"]) == _pusd(expected), engine
