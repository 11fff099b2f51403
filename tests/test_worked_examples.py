"""The seeds' slips that issue 8 lists, recomputed from each claim's own inputs (seeds 000 and 002)."""
from __future__ import annotations

import datetime as dt

import pytest

from workbench.core.worked_examples import SEED_002_FACTS, all_examples, example

PINNED_DAY = dt.date(2026, 6, 1)  # prices checked on a fixed day, never "today"


def _checks(key: str) -> dict:
    return {c.name: c for c in example(key).checks}


def test_system_prompt_per_hour_is_8640_not_8_64() -> None:
    checks = _checks("system_prompt_per_hour")
    hourly = checks["uncached input $/hour ('≈ $8.64/hour')"]
    assert hourly.computed == pytest.approx(8_000 * 100 * 3_600 * 3.00 / 1e6) == pytest.approx(8_640.0)
    assert not hourly.ok
    assert checks["input cut by 80 % hits at 90 % off ('roughly 70 %')"].computed == pytest.approx(0.72)
    assert checks["input cut by 80 % hits at 90 % off ('roughly 70 %')"].ok
    assert "$8,640/hour" in example("system_prompt_per_hour").notes


def test_cascade_shows_both_traffic_models_labelled() -> None:
    ex = example("cascade_blend")
    checks = _checks("cascade_blend")
    split = checks["85/15 split, tier-2 tokens doubled ('~$2,400/month')"]
    cascade = checks["cascade: all try mini first, 15 % escalate with doubled tokens ('~$2,400/month')"]
    assert split.computed == pytest.approx(0.85 * 441 + 0.15 * 2 * 13_650) == pytest.approx(4_469.85)
    assert cascade.computed == pytest.approx(441 + 0.15 * 2 * 13_650) == pytest.approx(4_536.0)
    assert not split.ok and not cascade.ok
    assert "$4,469.85" in ex.notes and "$4,536.00" in ex.notes and "$2,422.35" in ex.notes


@pytest.mark.parametrize(("name", "claimed", "correct"), [
    ("Claude Haiku 4.5 input $/1M ('$0.80')", 0.80, 1.00),
    ("Claude Haiku 4.5 output $/1M ('$4.00')", 4.00, 5.00),
    ("Mistral Large 3 input $/1M ('$2.00')", 2.00, 0.50),
    ("Mistral Large 3 output $/1M ('$6.00')", 6.00, 1.50),
    ("Mistral Large 3 context ('128K')", 128_000, 262_144),
    ("Claude Sonnet 4.6 context ('200K')", 200_000, 1_000_000),
])
def test_seed_002_table_slips(name: str, claimed: float, correct: float) -> None:
    check = _checks("seed_002_price_table")[name]
    assert (check.claimed, check.computed, check.ok) == (claimed, correct, False)


def test_seed_002_ratio_that_holds() -> None:
    assert _checks("seed_002_price_table")["GPT-4o / mini input ('17x cheaper')"].ok


def test_seed_002_facts_agree_with_the_price_sheets_on_a_pinned_day() -> None:
    from workbench.io.pricesheets import load_prices

    book = load_prices()
    for model, fact in SEED_002_FACTS.items():
        info = book.model(model)
        if "context_window" in fact:
            assert info.context_window == fact["context_window"], model
        if "input" in fact:
            rec = book.price_on(model, PINNED_DAY)
            assert (float(rec.input), float(rec.output)) == (fact["input"], fact["output"]), model
            assert rec.source == fact["source"], model


def test_every_example_renders_and_keys_are_unique() -> None:
    examples = all_examples()
    assert len({e.key for e in examples}) == len(examples)
    for ex in examples:
        md = ex._repr_markdown_()
        assert ex.title in md and (("✘ wrong" in md) == (not ex.ok))
