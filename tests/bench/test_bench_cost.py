"""Cost maths: $/1M tokens from throughput, daily cost, break-even — every figure recomputed by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from workbench.bench.cost import (
    QUALITY_WARNING,
    HostedPrice,
    break_even,
    cost_vs_volume,
    cost_vs_volume_chart,
    hardware_presets,
    hardware_price,
    hosted_prices,
    local_cost,
    local_cost_from_summary,
    usd_per_mtok,
)

ROOT = Path(__file__).resolve().parents[2]


def test_usd_per_mtok_recomputed():
    # $2.99/h at 2,500 tok/s: 2.99 / (3600 * 2500) * 1e6 = 0.33222... $/1M
    assert usd_per_mtok(2.99, 2500) == pytest.approx(2.99 / 9_000_000 * 1e6)
    assert usd_per_mtok(2.99, 2500) == pytest.approx(0.332222, rel=1e-5)
    # half the utilisation doubles the price per token
    assert usd_per_mtok(2.99, 2500, 0.5) == pytest.approx(2 * usd_per_mtok(2.99, 2500))
    # a CPU box at $0.0816/h doing 50 tok/s: 0.0816 / 180000 * 1e6 = 0.45333 $/1M
    assert usd_per_mtok(0.0816, 50) == pytest.approx(0.453333, rel=1e-5)


@pytest.mark.parametrize("args", [(1.0, 0), (1.0, -5), (-1.0, 10), (1.0, 10, 0), (1.0, 10, 1.5)])
def test_usd_per_mtok_rejects_bad_input(args):
    with pytest.raises(ValueError):
        usd_per_mtok(*args)


def test_local_cost_output_and_total():
    lc = local_cost(60.0, 0.10, utilisation=0.5, input_per_output=3.0)
    assert lc.total_tokens_per_s == pytest.approx(240.0)
    assert lc.usd_per_mtok_output == pytest.approx(0.10 / (3600 * 60 * 0.5) * 1e6)  # 0.9259
    assert lc.usd_per_mtok_total == pytest.approx(0.10 / (3600 * 240 * 0.5) * 1e6)  # 0.2315
    assert lc.capacity_output_tokens_per_day == pytest.approx(60 * 86400 * 0.5)  # 2,592,000
    assert lc.usd_per_day == pytest.approx(2.4)


def test_local_cost_from_a_run_summary():
    summary = {"output_tokens_per_s": 40.0, "total_tokens_per_s": 100.0, "output_tokens": 400, "input_tokens": 600}
    lc = local_cost_from_summary(summary, 1.0)
    assert lc.input_per_output == pytest.approx(1.5)
    assert lc.usd_per_mtok_output == pytest.approx(1.0 / (3600 * 40) * 1e6)  # 6.944
    assert lc.usd_per_mtok_total == pytest.approx(1.0 / (3600 * 100) * 1e6)  # 2.778
    with pytest.raises(ValueError):
        local_cost_from_summary({"output_tokens_per_s": None}, 1.0)


def test_daily_cost_is_whole_machines():
    lc = local_cost(10.0, 1.0)  # capacity 864,000 output tokens/day, $24/day per machine
    assert lc.cost_per_day(0) == 0.0
    assert lc.cost_per_day(1) == pytest.approx(24.0)
    assert lc.cost_per_day(864_000) == pytest.approx(24.0)
    assert lc.cost_per_day(864_001) == pytest.approx(48.0)
    assert lc.cost_per_day(3 * 864_000 + 5) == pytest.approx(96.0)


def test_hosted_cost_per_day_includes_input():
    h = HostedPrice("m", input=0.15, output=0.60)
    # 1M output tokens/day with 3 input tokens per output token: 3 * 0.15 + 0.60 = $1.05
    assert h.cost_per_day(1_000_000, 3.0) == pytest.approx(1.05)


def test_break_even_recomputed():
    lc = local_cost(60.0, 0.10, utilisation=0.5, input_per_output=3.0)  # $2.40/day, capacity 2,592,000
    cheap, dear = HostedPrice("cheap", 0.15, 0.60), HostedPrice("dear", 2.50, 10.00)
    be_cheap, be_dear = break_even(lc, [cheap, dear])
    # cheap: $1.05 per 1M output (input included) -> 2.40 / 1.05e-6 = 2,285,714 tokens/day, fits on one machine
    assert be_cheap.hosted_usd_per_mtok_output == pytest.approx(1.05)
    assert be_cheap.break_even_output_tokens_per_day == pytest.approx(2.40 / 1.05e-6)
    # dear: 3 * 2.5 + 10 = $17.50 per 1M output -> 137,143 tokens/day
    assert be_dear.break_even_output_tokens_per_day == pytest.approx(2.40 / 17.5e-6)
    # at the break-even volume both cost the same per day
    v = be_dear.break_even_output_tokens_per_day
    assert dear.cost_per_day(v, 3.0) == pytest.approx(lc.cost_per_day(v))


def test_break_even_absent_when_hosted_is_cheaper_than_a_full_machine():
    lc = local_cost(60.0, 0.10, utilisation=0.5, input_per_output=3.0)  # $0.926/1M output at full load
    nano = HostedPrice("nano", 0.10, 0.40)  # 3*0.1 + 0.4 = $0.70 per 1M output
    (be,) = break_even(lc, [nano])
    assert be.break_even_output_tokens_per_day is None
    assert "never cheaper" in be.note
    assert be.local_usd_per_mtok_output == pytest.approx(2.40 / 2_592_000 * 1e6)


def test_break_even_with_an_explicit_ratio():
    lc = local_cost(100.0, 1.0)  # $24/day, capacity 8,640,000
    (be,) = break_even(lc, [HostedPrice("m", 1.0, 4.0)], input_per_output=0.0)
    assert be.break_even_output_tokens_per_day == pytest.approx(24 / 4e-6)  # 6,000,000


def test_cost_vs_volume_frame_and_chart():
    lc = local_cost(60.0, 0.10, input_per_output=1.0)
    hosted = [HostedPrice("a", 0.15, 0.60), HostedPrice("b", 2.5, 10.0)]
    frame = cost_vs_volume(lc, hosted, volumes=[1e5, 1e6, 1e7])
    assert set(frame["option"]) == {"local", "a", "b"}
    row = frame[(frame.option == "a") & (frame.output_tokens_per_day == 1e6)].iloc[0]
    assert row.usd_per_day == pytest.approx(0.75)  # 1M * (0.15 + 0.60) / 1M
    local_row = frame[(frame.option == "local") & (frame.output_tokens_per_day == 1e7)].iloc[0]
    assert local_row.usd_per_day == pytest.approx(math.ceil(1e7 / (60 * 86400)) * 2.4)
    spec = cost_vs_volume_chart(lc, hosted).to_dict()
    assert "layer" in spec


def test_quality_warning_is_explicit():
    assert "not comparable" in QUALITY_WARNING and "frontier" in QUALITY_WARNING


def test_hardware_presets_from_a_sheet_and_overrides(tmp_path):
    sheet = tmp_path / "self-hosted.yaml"
    sheet.write_text(
        "vendor: self-hosted\nhardware:\n"
        "  - {id: gpu-a, name: GPU A, usd_per_hour: \"2.50\", effective: 2025-01-01, source: https://example.test/a}\n"
        "  - {id: cpu-b, name: CPU B, usd_per_hour: \"0.08\", effective: 2025-01-01, source: https://example.test/b}\n",
        encoding="utf-8")
    presets = hardware_presets(sheet)
    assert [(p.id, p.usd_per_hour, p.source) for p in presets] == [
        ("gpu-a", 2.5, "https://example.test/a"), ("cpu-b", 0.08, "https://example.test/b")]
    over = hardware_presets(sheet, overrides={"gpu-a": 1.75, "my-box": 0.3})
    assert hardware_price("gpu-a", sheet, {"gpu-a": 1.75}).usd_per_hour == 1.75
    assert [p.id for p in over] == ["gpu-a", "cpu-b", "my-box"]
    assert over[0].overridden and over[0].source == "user override"
    with pytest.raises(KeyError, match="known: gpu-a, cpu-b"):
        hardware_price("nope", sheet)
    with pytest.raises(ValueError):
        hardware_presets(sheet, overrides={"gpu-a": -1})


def test_hardware_presets_tolerate_a_missing_sheet(tmp_path):
    assert hardware_presets(tmp_path / "absent.yaml") == []


def test_repository_hardware_presets_have_sources_and_include_gpu_and_cpu():
    sheet = ROOT / "pricing" / "self-hosted.yaml"
    assert sheet.exists(), "pricing/self-hosted.yaml is the source of the hardware presets"
    presets = hardware_presets(sheet)
    assert presets, "the self-hosted sheet lists no hardware"
    for p in presets:
        assert p.usd_per_hour > 0 and p.source and p.effective, p
    ids = " ".join(p.id.lower() + " " + p.name.lower() for p in presets)
    assert "cpu" in ids and any(g in ids for g in ("h100", "a100", "l4", "a10"))


def test_hosted_prices_from_the_price_book(real_book):
    day = "2026-11-15"  # pinned: a price that changes later must not turn this red
    prices, missing = hosted_prices(["gpt-4o-mini", "no-such-model"], book=real_book, date=day)
    assert [p.model for p in prices] == ["gpt-4o-mini"] and missing == ["no-such-model"]
    rec = real_book.price_on("gpt-4o-mini", day)
    assert prices[0].input == pytest.approx(rec.input) and prices[0].output == pytest.approx(rec.output)
    defaults, _ = hosted_prices(None, book=real_book, date=day)
    assert defaults and all(p.output > 0 for p in defaults)
