"""The replay's rate table (each price record's rates computed once for all the days it covers)
holds, row by row, the rates of the record in force that day."""
from __future__ import annotations

import datetime as dt

import pytest

from workbench.core.prices import NoPriceError
from workbench.core.replay.pricing import (
    BATCH, DAY, KINDS, MODEL, NEVER, NO_RATE, TIER, _X, build_rate_table, day_int, int_day, rate_units)


@pytest.mark.parametrize("cache_ttl, kinds, tiers", [("5m", (), ()), ("1h", tuple(KINDS), ()),
                                                     ("5m", ("_ain",), ("standard", "flex", "priority"))])
def test_every_row_has_its_days_record_rates(real_book, cache_ttl, kinds, tiers):
    models = sorted(m.id for m in real_book.models())
    start = dt.date(2024, 1, 1)
    days = [day_int(start + dt.timedelta(days=d)) for d in range(0, 900, 45)]  # across price changes
    table = build_rate_table(real_book, models, days, cache_ttl, kinds, tiers)
    letters = _X + tuple(KINDS[k][2] for k in kinds)
    cols = table.columns
    assert len(cols[MODEL]) == len(models) * len(days) * 2 * max(1, len(tiers))
    priced = 0
    for i in range(len(cols[MODEL])):
        model, day, batch = models[cols[MODEL][i]], cols[DAY][i], cols[BATCH][i]
        tier = (tiers or ("standard",))[cols[TIER][i] if tiers else 0]
        try:
            rec = real_book.model(model).price_on(int_day(day))
        except NoPriceError:
            rec = None
        steps = sorted(rec.tiers, key=lambda t: t.above_input_tokens) if rec else []
        for t in range(table.levels + 1):
            shape = 0 if t == 0 else steps[min(t, len(steps)) - 1].above_input_tokens + 1 if steps else 0
            want = rate_units(rec, shape, batch, cache_ttl, tier, letters) if rec else (NO_RATE,) * len(letters)
            assert tuple(cols[f"_r{t}{x}"][i] for x in letters) == want, (model, day, batch, tier, t)
            if t:
                assert cols[f"_t{t}"][i] == (steps[t - 1].above_input_tokens if t <= len(steps) else NEVER)
        priced += rec is not None
    assert priced > 1000  # most rows compare real rates (some models were not sold yet)
