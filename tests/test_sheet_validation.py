"""Sheets refuse bad data: each case is an error naming the file, the model and the field."""
from __future__ import annotations

import json
import textwrap

import pytest

from workbench.core.prices import PriceError
from workbench.io.pricesheets import load_prices

GOOD = """
vendor: acme
reviewed: 2026-11-15
models:
  acme-1:
    aliases: [acme-one]
    context_window: 128000
    prices:
      - effective: 2025-01-01
        source: https://acme.example/pricing
        input: "1.00"
        output: "2.00"
        tiers:
          - above_input_tokens: 200000
            input: "2.00"
"""


def write(tmp_path, text, name="acme.yaml"):
    (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_the_good_sheet_loads(tmp_path):
    book = load_prices(write(tmp_path, GOOD))
    assert book.price_on("acme-one", "2025-06-01").input == 1.0


@pytest.mark.parametrize("bad, fields", [
    (("source: https://acme.example/pricing", 'source: "   "'), ("acme-1", "source")),
    (('input: "1.00"', 'input: "1e400"'), ("acme-1", "input", "finite")),
    (('output: "2.00"', "output: .inf"), ("acme-1", "output")),
    (('            input: "2.00"', '            input: "1e999"'), ("acme-1", "tier input")),
    (("context_window: 128000", "context_window: lots"), ("acme-1", "context_window")),
    (("context_window: 128000", "context_window: 1e400"), ("acme-1", "context_window")),
    (("above_input_tokens: 200000", "above_input_tokens: 200k"), ("acme-1", "above_input_tokens")),
    (("aliases: [acme-one]", "aliases: acme-one"), ("acme-1", "aliases", "list")),
    (("reviewed: 2026-11-15", "reviewed: soon"), ("reviewed",)),
])
def test_bad_field_is_an_error_naming_file_model_and_field(tmp_path, bad, fields):
    old, new = bad
    assert old in GOOD
    write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(PriceError) as e:
        load_prices(tmp_path)
    msg = str(e.value)
    assert "acme.yaml" in msg, msg
    for f in fields:
        assert f in msg, (f, msg)


def test_models_written_as_a_list_is_an_error_not_a_traceback(tmp_path):
    text = GOOD.replace("  acme-1:\n", "  - acme-1:\n").replace("\n    ", "\n      ")
    write(tmp_path, text)
    with pytest.raises(PriceError, match=r"acme\.yaml: .*models.* mapping"):
        load_prices(tmp_path)


def test_the_same_model_in_two_sheets_is_an_error(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace("acme-one", "acme-uno").replace("vendor: acme", "vendor: other"), "other.yaml")
    with pytest.raises(PriceError) as e:
        load_prices(tmp_path)
    assert "acme-1" in str(e.value) and "acme.yaml" in str(e.value) and "other.yaml" in str(e.value)


def test_a_string_alias_cannot_make_one_letter_resolve(tmp_path):
    write(tmp_path, GOOD.replace("aliases: [acme-one]", "aliases: [o]"))
    assert load_prices(tmp_path).resolve("o") == "acme-1"   # a real one-letter alias still works
    write(tmp_path, GOOD.replace("aliases: [acme-one]", "aliases: oa"))
    with pytest.raises(PriceError, match="aliases"):
        load_prices(tmp_path)


def test_estimate_with_huge_tokens_never_prints_infinity(run_cli, tmp_path):
    env = {"WORKBENCH_PRICING_DIR": str(write(tmp_path, GOOD))}
    r = run_cli("estimate", "--model", "acme-1", "--input-tokens", "1e300", "--output-tokens", "1e300",
                "--requests-per-day", "1e300", "--on", "2025-06-01", "--json", env=env)
    assert "Infinity" not in r.stdout and "NaN" not in r.stdout
    assert r.returncode == 2 and "too large" in r.stderr, r.stderr
    assert r.stdout == "" or json.loads(r.stdout)
