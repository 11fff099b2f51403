"""Vectorised pricing of a DataFrame: correct columns, input untouched, bad rows named."""
from __future__ import annotations

import pandas as pd
import pytest

from workbench.core.frame_cost import COST_COLUMNS, price_frame
from workbench.core.prices import NoPriceError, PriceError, UnknownModelError


def _frame(**cols):
    base = dict(model=["gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini"],
                ts=pd.to_datetime(["2024-06-01T23:30:00-02:00", "2024-10-02T00:00:00Z", "2025-01-01T12:00:00Z"], utc=True),
                input_tokens=[2_000, 2_000, 3_500], output_tokens=[400, 400, 350])
    base.update(cols)
    return pd.DataFrame(base)


def test_prices_each_row_on_its_utc_day(frozen_book):
    frame = _frame()
    priced = price_frame(frame, frozen_book)
    # 2024-06-01T23:30-02:00 is 2024-06-02 UTC: launch price; 2024-10-02: new price
    assert priced["cost_usd"].tolist() == pytest.approx([0.016, 0.009, 0.000735])
    assert set(COST_COLUMNS) <= set(priced.columns)
    assert "cost_usd" not in frame.columns  # input untouched


def test_without_date_column_uses_on(frozen_book):
    priced = price_frame(_frame().drop(columns="ts"), frozen_book, on="2024-08-01")
    assert priced["cost_usd"].iloc[1] == pytest.approx(0.016)


def test_unknown_model_raises_with_close_matches(frozen_book):
    with pytest.raises(UnknownModelError, match="gpt-4o"):
        price_frame(_frame(model=["gpt-4o", "gpt-4o", "gpt-4o-mimi"]), frozen_book)


def test_negative_tokens_and_missing_columns(frozen_book):
    with pytest.raises(PriceError, match=r"output_tokens: 1 row\(s\) negative or missing \(first at row 2\)"):
        price_frame(_frame(output_tokens=[1, 2, -3]), frozen_book)
    with pytest.raises(PriceError, match="missing column"):
        price_frame(_frame().drop(columns="output_tokens"), frozen_book)


def test_day_without_price_raises(frozen_book):
    frame = _frame(ts=pd.to_datetime(["2020-01-01", "2025-01-01", "2025-01-01"], utc=True))
    with pytest.raises(NoPriceError, match="first 2020-01-01"):
        price_frame(frame, frozen_book)


def test_batch_without_batch_price_raises(frozen_book):
    frame = pd.DataFrame(dict(model=["claude-3-haiku"], input_tokens=[10], output_tokens=[10], batch=[True]))
    with pytest.raises(NoPriceError, match="claude-3-haiku"):
        price_frame(frame, frozen_book, on="2025-01-01")


def test_tier_applies_per_row(frozen_book):
    frame = pd.DataFrame(dict(model=["tiered-sonnet"] * 2, input_tokens=[200_000, 200_001], output_tokens=[0, 0]))
    priced = price_frame(frame, frozen_book, on="2025-03-01")
    assert priced["cost_usd"].tolist() == pytest.approx([0.6, 200_001 * 6e-6])
