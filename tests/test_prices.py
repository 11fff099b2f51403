"""Price book: resolution, history, validation errors that name file and model, what-if copies."""
from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from workbench.core.prices import NoPriceError, PriceError, UnknownModelError
from workbench.io.pricesheets import load_prices, load_sheet


def test_price_on_follows_history(frozen_book):
    assert frozen_book.price_on("gpt-4o", "2024-05-13").input == 5.0
    assert frozen_book.price_on("gpt-4o", "2024-10-01").output == 15.0
    assert frozen_book.price_on("gpt-4o", "2024-10-02").input == 2.5
    assert frozen_book.price_on("gpt-4o", dt.date(2026, 1, 1)).output == 10.0


def test_price_before_first_record_and_after_until_raise(frozen_book):
    with pytest.raises(NoPriceError, match="gpt-4o has no price on 2024-01-01"):
        frozen_book.price_on("gpt-4o", "2024-01-01")
    with pytest.raises(NoPriceError, match="2025-01-01..2025-06-30"):
        frozen_book.price_on("tiered-sonnet", "2025-07-01")


def test_default_day_is_today(frozen_book):
    assert frozen_book.price_on("gpt-4o") == frozen_book.price_on("gpt-4o", dt.date.today())


def test_aliases_resolve_case_insensitively(frozen_book):
    assert frozen_book.resolve("GPT-4o-2024-08-06") == "gpt-4o"
    assert frozen_book.model("SONNET-TEST").id == "tiered-sonnet"


def test_unknown_model_lists_close_matches_and_is_never_zero(frozen_book):
    with pytest.raises(UnknownModelError) as e:
        frozen_book.price_on("gpt4o-mini")
    assert "gpt-4o-mini" in e.value.close
    assert "close matches" in str(e.value)


def test_malformed_date_is_a_clear_error(frozen_book):
    with pytest.raises(PriceError, match="malformed date '2024-13-01'"):
        frozen_book.price_on("gpt-4o", "2024-13-01")


def test_with_override_is_a_copy(frozen_book):
    what_if = frozen_book.with_override("gpt-4o", input=1.0, output=2.0)
    assert what_if.price_on("gpt-4o").input == 1.0
    assert what_if.price_on("gpt-4o", "2024-06-01").output == 2.0  # every day
    assert what_if.price_on("gpt-4o").cached_input == 1.25  # kept from the base record
    assert frozen_book.price_on("gpt-4o").input == 2.5      # original untouched
    assert "override" in what_if.price_on("gpt-4o").source
    with pytest.raises(PriceError, match="non-negative"):
        frozen_book.with_override("gpt-4o", input=-1)
    with pytest.raises(PriceError, match="unknown rate"):
        frozen_book.with_override("gpt-4o", inputs=1)


def test_override_drops_only_overridden_tier_rates(frozen_book):
    what_if = frozen_book.with_override("tiered-sonnet", day="2025-02-01", input=1.0)
    rec = what_if.price_on("tiered-sonnet", "2030-01-01")
    assert rec.rate("input", 500_000) == 1.0
    assert rec.rate("output", 500_000) == 22.5


def test_tier_rate_applies_above_threshold(frozen_book):
    rec = frozen_book.price_on("tiered-sonnet", "2025-03-01")
    assert rec.rate("input", 200_000) == 3.0
    assert rec.rate("input", 200_001) == 6.0
    assert rec.rate("cache_write_1h", 300_000) == 6.0  # tier leaves it out: base rate


def _sheet(tmp_path, body: str, name: str = "acme.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p


GOOD_RECORD = """
      - effective: 2025-01-01
        source: https://example.com/pricing
        input: "1.00"
        output: "2.00"
"""


@pytest.mark.parametrize("body, message", [
    ("""
    vendor: acme
    models:
      m1:
        prices:
          - effective: 2025-01-01
            input: "1.00"
            output: "2.00"
    """, "acme.yaml: model m1: price record #1 has no source"),
    ("""
    vendor: acme
    models:
      m1:
        prices:
          - effective: 2025-01-01
            source: x
            input: "-1.00"
            output: "2.00"
    """, "acme.yaml: model m1: input must be a non-negative price"),
    ("""
    vendor: acme
    models:
      m1:
        colour: blue
        prices:
          - effective: 2025-01-01
            source: x
            input: "1"
            output: "2"
    """, r"acme.yaml: model m1: unknown key\(s\) \['colour'\]"),
    ("""
    vendor: acme
    models:
      m1:
        prices:
          - effective: 2025-01-01
            until: 2025-12-31
            source: x
            input: "1"
            output: "2"
          - effective: 2025-06-01
            source: y
            input: "1"
            output: "2"
    """, "acme.yaml: model m1: price records overlap"),
    ("""
    vendor: acme
    models:
      m1:
        prices:
          - effective: 2025-01-01
            source: x
            input: 1.5
            output: "2"
    """, "quoted decimal string"),
    ("""
    vendor: acme
    models:
      m1:
        tokenizer: magic
        prices:
          - effective: 2025-01-01
            source: x
            input: "1"
            output: "2"
    """, "unknown tokenizer 'magic'"),
])
def test_validation_errors_name_file_and_model(tmp_path, body, message):
    with pytest.raises(PriceError, match=message):
        load_sheet(_sheet(tmp_path, body))


def test_duplicate_alias_across_sheets_is_an_error(tmp_path):
    _sheet(tmp_path, "vendor: a\nmodels:\n  m1:\n    aliases: [shared]\n    prices:" + GOOD_RECORD, "a.yaml")
    _sheet(tmp_path, "vendor: b\nmodels:\n  m2:\n    aliases: [shared]\n    prices:" + GOOD_RECORD, "b.yaml")
    with pytest.raises(PriceError, match="name 'shared' is already used by m1"):
        load_prices(tmp_path)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(PriceError, match="no price sheets"):
        load_prices(tmp_path)


def test_edited_sheet_is_reloaded(tmp_path):
    p = _sheet(tmp_path, "vendor: a\nmodels:\n  m1:\n    prices:" + GOOD_RECORD)
    assert load_prices(tmp_path).price_on("m1").input == 1.0
    p.write_text(p.read_text().replace('"1.00"', '"1.50"'))
    assert load_prices(tmp_path).price_on("m1").input == 1.5
