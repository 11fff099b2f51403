"""Invariants of the cost model (hypothesis): additivity, monotonicity, caching never costs more."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.core.cost import request_cost
from workbench.core.frame_cost import price_frame

tokens = st.integers(min_value=0, max_value=2_000_000)
MODELS_DAYS = [("gpt-4o", "2024-06-01"), ("gpt-4o", "2025-02-01"), ("gpt-4o-mini", "2025-02-01"),
               ("claude-3-haiku", "2025-02-01"), ("tiered-sonnet", "2025-03-01")]
model_day = st.sampled_from(MODELS_DAYS)


@settings(max_examples=300, deadline=None)
@given(model_day, tokens, tokens, tokens)
def test_output_cost_is_additive(frozen_book, md, i, o1, o2):
    rec = frozen_book.price_on(*md)
    a = request_cost(rec, i, o1).output_usd + request_cost(rec, i, o2).output_usd
    assert request_cost(rec, i, o1 + o2).output_usd == pytest.approx(a, rel=1e-12, abs=1e-15)


@settings(max_examples=300, deadline=None)
@given(model_day, tokens, tokens, tokens, tokens)
def test_input_cost_is_additive_within_a_tier(frozen_book, md, i1, i2, o, _):
    rec = frozen_book.price_on(*md)
    threshold = min((t.above_input_tokens for t in rec.tiers), default=None)
    if threshold is not None and i1 + i2 > threshold:
        i1, i2 = i1 % (threshold // 2 + 1), i2 % (threshold // 2 + 1)
    whole = request_cost(rec, i1 + i2, o)
    parts = request_cost(rec, i1, o).input_usd + request_cost(rec, i2, o).input_usd
    assert whole.input_usd == pytest.approx(parts, rel=1e-12, abs=1e-15)


@settings(max_examples=300, deadline=None)
@given(model_day, tokens, tokens, st.integers(0, 10_000), st.integers(0, 10_000))
def test_cost_is_monotone_in_tokens(frozen_book, md, i, o, di, do):
    rec = frozen_book.price_on(*md)
    assert request_cost(rec, i + di, o + do).total_usd >= request_cost(rec, i, o).total_usd


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([("gpt-4o", "2025-02-01"), ("gpt-4o-mini", "2025-02-01"), ("tiered-sonnet", "2025-03-01")]),
       tokens, tokens, st.floats(0, 1))
def test_cache_reads_never_cost_more(frozen_book, md, i, o, share):
    rec = frozen_book.price_on(*md)
    cached = int(i * share)
    assert request_cost(rec, i, o, cached).total_usd <= request_cost(rec, i, o).total_usd + 1e-15


@settings(max_examples=200, deadline=None)
@given(model_day, tokens, tokens)
def test_batch_never_costs_more_where_offered(frozen_book, md, i, o):
    rec = frozen_book.price_on(*md)
    if rec.batch_input is None:
        return
    assert request_cost(rec, i, o, batch=True).total_usd <= request_cost(rec, i, o).total_usd


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(model_day, tokens, tokens, st.floats(0, 1), st.booleans()), min_size=1, max_size=40))
def test_vectorised_pricing_equals_scalar(frozen_book, rows):
    data = []
    for (model, day), i, o, share, batch in rows:
        rec = frozen_book.price_on(model, day)
        cached = int(i * share) if rec.cached_input is not None else 0
        batch = batch and rec.batch_input is not None
        data.append(dict(model=model, ts=pd.Timestamp(day, tz="UTC"), input_tokens=i, output_tokens=o,
                         cached_input_tokens=cached, batch=batch))
    frame = pd.DataFrame(data)
    priced = price_frame(frame, frozen_book)
    expected = [request_cost(frozen_book.price_on(r["model"], r["ts"].date()), r["input_tokens"],
                             r["output_tokens"], r["cached_input_tokens"], batch=r["batch"]).total_usd
                for r in data]
    np.testing.assert_allclose(priced["cost_usd"].to_numpy(), expected, rtol=1e-12, atol=1e-15)
