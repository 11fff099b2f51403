"""Golden numbers from the frozen sheet, the effective-cost formula, and the seeds' worked examples."""
from __future__ import annotations

import pytest

from workbench.core.cost import effective_cost, estimate, request_cost
from workbench.core.prices import NoPriceError, PriceError
from workbench.core.worked_examples import all_examples


@pytest.mark.parametrize("model, day, tokens, batch, expected", [
    # (input, output, cached, cache_write)
    ("gpt-4o", "2024-06-01", (2_000, 400, 0, 0), False, 0.016),
    ("gpt-4o", "2025-01-01", (2_000, 400, 0, 0), False, 0.009),
    ("gpt-4o", "2025-01-01", (2_000, 400, 1_000, 0), False, 0.001000 * 2.5 + 0.001 * 1.25 + 0.0004 * 10),
    ("gpt-4o", "2025-01-01", (2_000, 400, 0, 0), True, 0.002 * 1.25 + 0.0004 * 5),
    ("gpt-4o-mini", "2025-01-01", (3_500, 350, 0, 0), False, 0.000735),
    ("claude-3-haiku", "2025-01-01", (1_000_000, 1_000_000, 0, 0), False, 1.50),
    # long-context tier: the whole request at the tier's rates
    ("tiered-sonnet", "2025-03-01", (200_000, 1_000, 0, 0), False, 0.6 + 0.015),
    ("tiered-sonnet", "2025-03-01", (200_001, 1_000, 0, 0), False, 200_001 * 6e-6 + 0.0225),
    # cache write 5m (3.75) + read (0.30) + uncached
    ("tiered-sonnet", "2025-03-01", (10_000, 0, 4_000, 4_000), False, 2_000 * 3e-6 + 4_000 * 0.3e-6 + 4_000 * 3.75e-6),
    # batch discounts cache reads by the same ratio as input (1.50 / 3.00)
    ("tiered-sonnet", "2025-03-01", (10_000, 0, 4_000, 0), True, 6_000 * 1.5e-6 + 4_000 * 0.15e-6),
])
def test_golden_request_cost(frozen_book, model, day, tokens, batch, expected):
    cost = request_cost(frozen_book.price_on(model, day), *tokens, batch=batch)
    assert cost.total_usd == pytest.approx(expected, rel=1e-12)


def test_one_hour_cache_write_rate(frozen_book):
    rec = frozen_book.price_on("tiered-sonnet", "2025-03-01")
    cost = request_cost(rec, 10_000, 0, 0, 10_000, cache_ttl="1h")
    assert cost.cache_write_usd == pytest.approx(0.06)
    with pytest.raises(PriceError, match="cache_ttl"):
        request_cost(rec, 1, 1, cache_ttl="2h")


def test_missing_rates_raise_instead_of_pricing_zero(frozen_book):
    haiku = frozen_book.price_on("claude-3-haiku", "2025-01-01")
    with pytest.raises(NoPriceError, match="no batch price"):
        request_cost(haiku, 10, 10, batch=True)
    with pytest.raises(NoPriceError, match="cached-input price"):
        request_cost(haiku, 10, 10, cached_input_tokens=5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_tokens=-1, output_tokens=1), "input_tokens must be a non-negative"),
    (dict(input_tokens=1, output_tokens=float("nan")), "output_tokens must be a non-negative"),
    (dict(input_tokens=10, output_tokens=1, cached_input_tokens=11), "exceed input tokens"),
])
def test_bad_tokens(frozen_book, kwargs, message):
    with pytest.raises(PriceError, match=message):
        request_cost(frozen_book.price_on("gpt-4o"), **kwargs)


def test_estimate_day_and_month(frozen_book):
    est = estimate(frozen_book, "gpt-4o", 2_000, 400, requests_per_day=50_000, on="2024-06-01")
    d = est.to_dict()
    assert (d["input_usd_per_day"], d["output_usd_per_day"]) == pytest.approx((500.0, 300.0))
    assert d["usd_per_day"] == pytest.approx(800.0)
    assert d["usd_per_month"] == pytest.approx(24_000.0)
    assert d["price"]["source"].startswith("seed 000")
    assert estimate(frozen_book, "gpt-4o", 2_000, 400, requests_per_day=50_000, days=31,
                    on="2024-06-01").usd_per_month == pytest.approx(24_800.0)


def test_effective_cost_parts_multiply_out():
    eff = effective_cost(1_000.0, cache_savings=0.3, escalation_rate=0.15, tier_multiplier=4.0, retry_factor=1.1)
    assert eff.total_usd == pytest.approx(1_000 * 0.7 * 1.6 * 1.1)
    parts = eff.parts()
    assert [p["step"] for p in parts] == ["base", "cache", "escalation", "retries"]
    assert parts[-1]["usd"] == pytest.approx(eff.total_usd)
    assert sum(p["delta_usd"] for p in parts) == pytest.approx(eff.total_usd)
    assert parts[1]["delta_usd"] == pytest.approx(-300.0)


@pytest.mark.parametrize("kwargs", [dict(cache_savings=1.2), dict(escalation_rate=-0.1),
                                    dict(retry_factor=0.9), dict(tier_multiplier=-1)])
def test_effective_cost_rejects_out_of_range(kwargs):
    with pytest.raises(PriceError):
        effective_cost(100.0, **kwargs)


EXAMPLES = {e.key: e for e in all_examples()}


def test_seed_examples_that_hold():
    for key in ("rag_feature", "compounding", "prefix_cache", "output_multiplier"):
        assert EXAMPLES[key].ok, key


def test_seed_support_bot_mini_figure_is_wrong():
    ex = EXAMPLES["support_bot"]
    by_name = {c.name: c for c in ex.checks}
    assert by_name["GPT-4o total $/day"].computed == pytest.approx(800.0)
    mini = by_name["GPT-4o-mini $/day ('roughly $18')"]
    assert mini.computed == pytest.approx(27.0) and not mini.ok
    assert by_name["swing GPT-4o / mini ('40×')"].computed == pytest.approx(800 / 27)


def test_seed_rag_exact_month_is_13650():
    by_name = {c.name: c for c in EXAMPLES["rag_feature"].checks}
    assert by_name["GPT-4o $/month ('≈ $13,680')"].computed == pytest.approx(13_650.0)


def test_seed_cascade_claim_does_not_include_the_doubling():
    ex = EXAMPLES["cascade_blend"]
    assert ex.extra["plain_blend"] == pytest.approx(0.85 * 441 + 0.15 * 13_650)
    assert ex.extra["cascade_doubled"] == pytest.approx(441 + 0.15 * 2 * 13_650)
    assert not ex.ok


def test_seed_prompt_compression_figure_is_wrong():
    ex = EXAMPLES["prompt_compression"]
    assert ex.checks[0].computed == pytest.approx(1_235 * 50_000 * 2.5 / 1e6)
    assert not ex.ok
