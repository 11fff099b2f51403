"""The cost preview's arithmetic, parameters and URL encoding (workbench.core.preview).

Every expected number is recomputed here from the frozen sheet's rates, written out by hand.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.core import preview as pv
from workbench.core.cost import request_cost
from workbench.core.preview import PARAM_BY_NAME, PARAMS, ParamError, Scenario

DAY = "2025-01-01"  # gpt-4o at $2.50 / $10, gpt-4o-mini at $0.15 / $0.60 in the frozen sheet
TODAY = dt.date(2025, 1, 1)


def scenario(**kw) -> Scenario:
    kw.setdefault("price_date", DAY)
    kw.setdefault("models", ("gpt-4o-mini", "gpt-4o"))
    return Scenario(**kw)


def priced(book, **kw):
    return pv.price_scenario(book, scenario(**kw), today=TODAY)


def row(result, model):
    return next(r for r in result.rows if r.model == model)


# --------------------------------------------------------------------------- golden numbers

def test_seed_worked_example_rag_support_feature(frozen_book):
    """Seed 000: 3,500 in / 350 out, 20,000 requests/day on GPT-4o-mini ≈ $0.000735, ≈ $441/month."""
    r = row(priced(frozen_book, growth_pct=0.0), "gpt-4o-mini")
    per_request = (3500 * 0.15 + 350 * 0.60) / 1e6
    assert r.usd_per_request == pytest.approx(per_request) == pytest.approx(0.000735)
    assert r.usd_per_day == pytest.approx(per_request * 20_000) == pytest.approx(14.70)
    assert r.usd_per_month == pytest.approx(per_request * 20_000 * 30) == pytest.approx(441.0)
    assert r.list_usd_per_day == pytest.approx(14.70)


def test_seed_gpt4o_at_launch_price_about_13680_a_month(frozen_book):
    """Seed 000: "GPT-4o at $5 / $15: per-request ≈ $0.0228, monthly ≈ $13,680" (exactly $13,650)."""
    r = row(priced(frozen_book, price_date="2024-06-01"), "gpt-4o")
    assert r.record.effective == dt.date(2024, 5, 13)
    assert r.usd_per_request == pytest.approx((3500 * 5 + 350 * 15) / 1e6) == pytest.approx(0.02275)
    assert r.usd_per_month == pytest.approx(0.02275 * 20_000 * 30) == pytest.approx(13_650)


@pytest.mark.parametrize("model, rin, rout", [("gpt-4o-mini", 0.15, 0.60), ("gpt-4o", 2.50, 10.0),
                                              ("claude-3-haiku", 0.25, 1.25)])
@pytest.mark.parametrize("tokens_in, tokens_out, volume", [(3500, 350, 20_000), (120, 40, 1e6), (0, 900, 7)])
def test_per_request_day_month(frozen_book, model, rin, rout, tokens_in, tokens_out, volume):
    r = row(priced(frozen_book, models=(model,), input_tokens=tokens_in, output_tokens=tokens_out,
                   requests_per_day=volume), model)
    per_request = (tokens_in * rin + tokens_out * rout) / 1e6
    assert r.usd_per_request == pytest.approx(per_request)
    assert r.usd_per_day == pytest.approx(per_request * volume)
    assert r.usd_per_month == pytest.approx(per_request * volume * 30)


def test_cache_hits_priced_at_the_cached_input_rate(frozen_book):
    r = row(priced(frozen_book, cache_hit_pct=50.0), "gpt-4o-mini")
    expected = (1750 * 0.15 + 1750 * 0.075 + 350 * 0.60) / 1e6
    assert r.cached_usd == pytest.approx(expected)
    assert r.usd_per_request == pytest.approx(expected)
    assert r.effective.cache_savings == pytest.approx(1 - expected / 0.000735)
    assert r.notes == ()


def test_batch_share_priced_at_batch_rates(frozen_book):
    r = row(priced(frozen_book, batch_pct=20.0), "gpt-4o")
    realtime = (3500 * 2.50 + 350 * 10.0) / 1e6
    batch = (3500 * 1.25 + 350 * 5.0) / 1e6
    assert r.batched_usd == pytest.approx(0.8 * realtime + 0.2 * batch) == pytest.approx(0.011025)
    assert r.usd_per_day == pytest.approx(0.011025 * 20_000)


def test_batch_and_cache_together_use_the_batch_discount_on_cache_reads(frozen_book):
    r = row(priced(frozen_book, batch_pct=40.0, cache_hit_pct=30.0), "gpt-4o")
    cached, uncached = 0.3 * 3500, 0.7 * 3500
    realtime = (uncached * 2.50 + cached * 1.25 + 350 * 10.0) / 1e6
    batch = (uncached * 1.25 + cached * 1.25 * 0.5 + 350 * 5.0) / 1e6  # batch ratio 1.25/2.50
    assert r.usd_per_request == pytest.approx(0.6 * realtime + 0.4 * batch)


def test_no_cached_price_is_noted_and_never_zero(frozen_book):
    r = row(priced(frozen_book, models=("claude-3-haiku",), cache_hit_pct=80.0), "claude-3-haiku")
    assert r.ok and r.notes and "no cached-input price" in r.notes[0]
    assert r.usd_per_request == pytest.approx((3500 * 0.25 + 350 * 1.25) / 1e6)  # full input rate


def test_no_batch_price_is_an_error_for_that_model_only(frozen_book):
    res = priced(frozen_book, models=("claude-3-haiku", "gpt-4o-mini"), batch_pct=10.0)
    haiku = row(res, "claude-3-haiku")
    assert not haiku.ok and haiku.error_field == "batch_pct" and "no batch price" in haiku.error
    assert math.isnan(haiku.usd_per_day)
    assert row(res, "gpt-4o-mini").ok
    assert [r.model for r in res.ok_rows] == ["gpt-4o-mini"]


def test_seed_effective_formula_with_parts_and_cache_counted_once(frozen_book):
    r = row(priced(frozen_book, cache_hit_pct=50.0, escalation_pct=15.0, tier_multiplier=2.0,
                   retry_factor=1.2), "gpt-4o-mini")
    cached = (1750 * 0.15 + 1750 * 0.075 + 350 * 0.60) / 1e6
    expected = cached * (1 + 0.15 * 2.0) * 1.2
    assert r.usd_per_request == pytest.approx(expected)
    # base × (1 − cache_savings) reproduces the real cached price, so the cache is not applied twice
    e = r.effective
    assert e.base_usd * (1 - e.cache_savings) == pytest.approx(cached)
    steps = r.steps(scenario())
    assert [s["step"] for s in steps] == ["list price", "batch", "cache", "escalation", "retries"]
    assert [s["usd_per_request"] for s in steps] == pytest.approx(
        [0.000735, 0.000735, cached, cached * 1.3, expected])
    assert sum(s["delta_usd_per_day"] for s in steps) + steps[0]["usd_per_day"] == pytest.approx(r.usd_per_day)
    parts = {p["step"]: p["usd"] for p in e.parts()}
    assert parts["retries"] == pytest.approx(expected) and parts["cache"] == pytest.approx(cached)


def test_price_date_picks_the_record_in_force(frozen_book):
    old = row(priced(frozen_book, price_date="2024-09-30"), "gpt-4o")
    new = row(priced(frozen_book, price_date="2024-10-02"), "gpt-4o")
    assert old.record.input == 5.0 and new.record.input == 2.5
    empty = pv.price_scenario(frozen_book, scenario(price_date=""), today=dt.date(2024, 9, 30))
    assert empty.day == dt.date(2024, 9, 30) and row(empty, "gpt-4o").record.input == 5.0


def test_no_price_on_the_date_and_context_window_are_row_errors(frozen_book):
    early = row(priced(frozen_book, price_date="2024-01-01"), "gpt-4o-mini")
    assert not early.ok and early.error_field == "price_date" and "no price on 2024-01-01" in early.error
    big = priced(frozen_book, input_tokens=150_000.0, models=("gpt-4o", "claude-3-haiku"))
    assert row(big, "gpt-4o").error_field == "input_tokens" and "context window" in row(big, "gpt-4o").error
    assert row(big, "claude-3-haiku").ok  # 200k window


# --------------------------------------------------------------------------- growth and threshold

def test_projection_compounds_monthly():
    proj = pv.projection(100.0, 0.10)
    assert len(proj) == 12
    assert proj == pytest.approx([100.0 * 1.1 ** m * 30 for m in range(12)])
    assert pv.monthly_volumes(1000, 0.5)[:3] == pytest.approx([1000, 1500, 2250])
    assert pv.projection(100.0, 0.0) == pytest.approx([3000.0] * 12)


def test_threshold_verdict_and_crossing_month(frozen_book):
    res = priced(frozen_book, requests_per_day=50_000.0)
    assert [r.model for r in res.over_threshold] == ["gpt-4o"]  # 0.01225 × 50,000 = $612.50
    assert row(res, "gpt-4o").usd_per_day == pytest.approx(612.5)
    assert "routing or caching plan" in res.verdict() and "$612.50" in res.verdict()
    under = priced(frozen_book)  # gpt-4o $245/day, growing 10%/month
    assert under.over_threshold == ()
    month = next(m for m in range(1, 13) if 245 * 1.1 ** (m - 1) > 500)
    assert under.crossings() == {"gpt-4o": month} and month == 9
    assert pv.crossing_month(500.0, 0.0, 500.0) is None  # exceeding means strictly above
    assert pv.crossing_month(500.01, 0.0, 500.0) == 1


# --------------------------------------------------------------------------- multi-turn chats

@given(st.integers(0, 5000), st.integers(0, 2000), st.integers(0, 2000), st.integers(1, 200))
def test_conversation_tokens_closed_form_matches_a_loop(system, user, output, turns):
    loop, history = [], 0
    for _ in range(turns):
        history += user
        loop.append(system + history)  # the prompt resends everything said so far
        history += output
    assert [t[0] for t in pv.turn_tokens(system, user, output, turns)] == loop
    assert pv.conversation_input_tokens(system, user, output, turns) == sum(loop)


def test_conversation_cost_is_quadratic_and_matches_an_explicit_loop(frozen_book):
    s, u, o, n = 500.0, 150.0, 350.0, 10
    r = row(priced(frozen_book, chat=True, system_tokens=s, user_tokens=u, output_tokens=o, turns=n,
                   models=("gpt-4o",)), "gpt-4o")
    explicit = [(s + k * u + (k - 1) * o) * 2.5 / 1e6 + o * 10.0 / 1e6 for k in range(1, n + 1)]
    assert r.turn_usd == pytest.approx(explicit)
    assert r.conversation_usd()[-1] == pytest.approx(sum(explicit))
    total_in = n * s + u * n * (n + 1) / 2 + o * n * (n - 1) / 2
    assert r.conversation_usd()[-1] == pytest.approx((total_in * 2.5 + n * o * 10.0) / 1e6)
    assert r.usd_per_request == pytest.approx(sum(explicit) / n)  # a turn is a request
    assert r.input_tokens == pytest.approx(total_in / n)
    convo = r.conversation_usd()
    assert convo[9] > 2 * convo[4] > 4 * convo[1] / 2  # faster than linear
    assert [b - a for a, b in zip(convo, convo[1:])] == sorted(b - a for a, b in zip(convo, convo[1:]))


def test_chat_turns_use_long_context_tiers_per_turn(frozen_book):
    r = row(priced(frozen_book, chat=True, system_tokens=190_000.0, user_tokens=4000.0, output_tokens=1000.0,
                   turns=4, models=("tiered-sonnet",), price_date="2025-03-01"), "tiered-sonnet")
    for k, usd in enumerate(r.turn_usd, start=1):
        tokens = 190_000 + 4000 * k + 1000 * (k - 1)
        rin, rout = (6.0, 22.5) if tokens > 200_000 else (3.0, 15.0)
        assert usd == pytest.approx((tokens * rin + 1000 * rout) / 1e6)


def test_request_prices_agree_with_request_cost(frozen_book):
    rec = frozen_book.price_on("gpt-4o", DAY)
    lst, batched, cached, ok = pv.request_prices(rec, 1000, 100, cache_hit=0.25, batch_share=0.5)
    assert ok and lst == pytest.approx(request_cost(rec, 1000, 100).total_usd)
    assert cached == pytest.approx(0.5 * request_cost(rec, 1000, 100, 250).total_usd
                                   + 0.5 * request_cost(rec, 1000, 100, 250, batch=True).total_usd)
    assert batched == pytest.approx(0.5 * lst + 0.5 * request_cost(rec, 1000, 100, batch=True).total_usd)


# --------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("text, value", [("20,000", 20000.0), ("2e4", 20000.0), ("20k", 20000.0),
                                         (" 1_500 ", 1500.0), ("1.5M", 1.5e6), (350, 350.0)])
def test_numbers_parse_as_people_type_them(text, value):
    assert PARAM_BY_NAME["requests_per_day"].parse(text) == value


@pytest.mark.parametrize("name, text, message", [
    ("requests_per_day", "abc", "not a number"),
    ("requests_per_day", "", "enter a number"),
    ("requests_per_day", "-5", "at least 0"),
    ("requests_per_day", "nan", "finite"),
    ("input_tokens", "1e12", "at most 2,000,000"),
    ("output_tokens", "inf", "finite"),
    ("turns", "2.5", "whole number"),
    ("price_date", "2025-13-01", "not a date"),
    ("feature", "two\nlines", "one line"),
    ("models", " , ", "at least one model"),
])
def test_bad_values_have_a_message_for_the_field(name, text, message):
    with pytest.raises(ParamError, match=message):
        PARAM_BY_NAME[name].parse(text)


def test_unknown_model_suggests_close_matches(frozen_book):
    with pytest.raises(ParamError, match=r"unknown model 'gpt-4o-mni' — did you mean .*gpt-4o-mini"):
        PARAM_BY_NAME["models"].parse("gpt-4o, gpt-4o-mni", frozen_book)
    assert PARAM_BY_NAME["models"].parse("sonnet-test, GPT-4O, gpt-4o", frozen_book) == ("tiered-sonnet", "gpt-4o")


def test_parse_scenario_collects_every_error():
    s, errors = pv.parse_scenario({"requests_per_day": "-1", "output_tokens": "x", "feature": "ok"})
    assert s is None and set(errors) == {"requests_per_day", "output_tokens"}
    s, errors = pv.parse_scenario({"requests_per_day": "1,000", "chat": "1"})
    assert errors == {} and s.requests_per_day == 1000.0 and s.chat is True and s.models == ("gpt-4o-mini", "gpt-4o")


def test_parameters_are_declared_once_with_bounds_and_descriptions():
    assert [f for f in Scenario.__dataclass_fields__] == [p.name for p in PARAMS]
    for p in PARAMS:
        assert p.label and p.description
        if p.kind in ("number", "integer"):
            assert p.min is not None and p.max is not None and p.min <= p.default <= p.max
        if p.control == "slider":
            assert p.step


# --------------------------------------------------------------------------- URL query

def _value(p):
    if p.kind == "text":
        return st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)
    if p.kind == "flag":
        return st.booleans()
    if p.kind == "date":
        return st.one_of(st.just(""), st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)).map(dt.date.isoformat))
    if p.kind == "models":
        name = st.from_regex(r"[a-z0-9][a-z0-9.\-:]{0,20}", fullmatch=True)
        return st.lists(name, min_size=1, max_size=4, unique=True).map(tuple)
    if p.kind == "integer":
        return st.integers(int(p.min), int(p.max))
    return st.floats(p.min, p.max, allow_nan=False, allow_infinity=False)


SCENARIOS = st.fixed_dictionaries({p.name: _value(p) for p in PARAMS}).map(lambda d: Scenario(**d))


@settings(max_examples=300)
@given(SCENARIOS)
def test_query_round_trip(s):
    query = pv.encode_query(s)
    back, errors = pv.scenario_from_query(query)
    assert errors == {}
    assert back == s
    assert pv.decode_query("?" + query)[1] == []


def test_default_scenario_has_an_empty_query_and_urls_are_readable():
    assert pv.encode_query(Scenario()) == ""
    q = pv.encode_query(Scenario(feature="Support bot", models=("gpt-4o-mini", "gpt-4o"), requests_per_day=5e4))
    assert q == "feature=Support%20bot&requests_per_day=50000"
    q = pv.encode_query(Scenario(models=("gpt-4o",), cache_hit_pct=12.5, chat=True))
    assert q == "models=gpt-4o&cache_hit_pct=12.5&chat=1"


def test_query_with_bad_or_unknown_values(frozen_book):
    raw, notes = pv.decode_query("requests_per_day=abc&bogus=1&input_tokens=900")
    assert raw == {"requests_per_day": "abc", "input_tokens": "900"} and "bogus" in notes[0]
    s, errors = pv.scenario_from_query("requests_per_day=abc&input_tokens=900&models=gpt-4o,nope", frozen_book)
    assert s.input_tokens == 900.0 and s.requests_per_day == 20_000.0 and s.models == ("gpt-4o-mini", "gpt-4o")
    assert "abc" in errors["requests_per_day"] and "unknown model 'nope'" in errors["models"]


# --------------------------------------------------------------------------- exports

def test_markdown_block_has_everything_a_spec_needs(frozen_book):
    res = pv.price_scenario(frozen_book, scenario(feature="Support bot", requests_per_day=50_000.0),
                            today=TODAY)
    md = pv.to_markdown(res, link="http://127.0.0.1:8866/x?requests_per_day=50000")
    assert md.startswith("### Cost preview: Support bot")
    assert "| Requests / day | 50,000 |" in md
    assert "| gpt-4o | $0.0123 | $612.50 | $18,375.00 |" in md  # 0.01225; × 50,000; × 30
    assert "| gpt-4o-mini | $0.000735 | $36.75 | $1,102.50 |" in md
    assert "⚠️" in md and "routing or caching plan" in md
    assert "effective 2024-10-02; source: seed 000" in md and "effective 2024-07-18" in md
    assert "Link (works only where this app was running, e.g. your own machine): http://127.0.0.1:8866/x?requests_per_day=50000" in md
    # issue 13 item 7: the scenario itself, re-enterable without the local link
    assert "?" + pv.encode_query(res.scenario) in md and "requests_per_day=50000" in md


def test_csv_has_unrounded_figures_and_the_projection(frozen_book):
    res = priced(frozen_book, feature="Support bot", growth_pct=5.0)
    rows = list(csv.DictReader(io.StringIO(pv.to_csv(res))))
    assert [r["model"] for r in rows] == ["gpt-4o-mini", "gpt-4o"]
    mini = rows[0]
    assert float(mini["usd_per_day"]) == pytest.approx(14.7)
    assert float(mini["month_12_usd"]) == pytest.approx(14.7 * 1.05 ** 11 * 30)
    assert mini["price_effective"] == "2024-07-18" and mini["price_date"] == DAY
    assert mini["over_threshold"] == "False" and mini["feature"] == "Support bot"


@pytest.mark.parametrize("x, text", [(0, "$0.00"), (0.000735, "$0.000735"), (0.01225, "$0.0123"),
                                     (14.7, "$14.70"), (13680, "$13,680.00"), (float("nan"), "—")])
def test_usd_display(x, text):
    assert pv.usd(x) == text


INTRO_SHEET = """\
vendor: testvendor
models:
  intro-model:
    context_window: 128000
    tokenizer: o200k_base
    prices:
      - effective: 2026-06-01
        until: 2026-12-31
        source: test fixture (introductory price)
        input: "1.00"
        output: "5.00"
      - effective: 2027-01-01
        source: test fixture (list price)
        input: "2.00"
        output: "10.00"
"""


def test_projection_prices_each_month_on_its_own_date(tmp_path):
    """Issue 13 item 6: an introductory price ending 2026-12-31 doubles the cost from January;
    the projection prices each day on its record, marks the month, and the verdict says so."""
    from workbench.io.pricesheets import load_prices

    (tmp_path / "intro.yaml").write_text(INTRO_SHEET)
    book = load_prices(tmp_path)
    # 1,000 in / 100 out tokens: $0.0015 per request now, $0.003 from 2027-01-01
    res = pv.price_scenario(book, scenario(models=("intro-model",), price_date="2026-12-02", input_tokens=1000.0,
                                           output_tokens=100.0, requests_per_day=75_000.0, growth_pct=0.0,
                                           threshold_usd_per_day=200.0, cache_hit_pct=0.0, batch_pct=0.0,
                                           escalation_pct=0.0, retry_factor=1.0))
    r = res.rows[0]
    assert r.usd_per_month == pytest.approx(0.0015 * 75_000 * 30)  # $3,375 at today's price
    months = r.projection()
    assert months[0] == pytest.approx(0.0015 * 75_000 * 30)  # Dec 02 .. Dec 31: 30 days at the intro price
    assert months[1] == pytest.approx(0.003 * 75_000 * 30) == pytest.approx(6_750)  # Jan 01 ..: list price
    assert months[11] == pytest.approx(6_750)
    assert r.change_months() and list(r.change_months()) == [2]
    assert "2027-01-01" in r.change_months()[2] and "$1.00 → $2.00" in r.change_months()[2]
    assert res.over_threshold == () and res.crossings() == {"intro-model": 2}
    assert "price change 2027-01-01" in res.verdict()
    # a month that starts mid-change is prorated day by day
    mid = pv.price_scenario(book, scenario(models=("intro-model",), price_date="2026-12-17", input_tokens=1000.0,
                                           output_tokens=100.0, requests_per_day=1000.0, growth_pct=0.0,
                                           cache_hit_pct=0.0, batch_pct=0.0, escalation_pct=0.0,
                                           retry_factor=1.0)).rows[0]
    assert mid.projection()[0] == pytest.approx((15 * 0.0015 + 15 * 0.003) * 1000)


def test_csv_has_no_float_noise(frozen_book):
    """Issue 13 item 7: 751.4100000000001 is written 751.41."""
    res = priced(frozen_book, requests_per_day=1.0, input_tokens=300_564.0, output_tokens=0.0, growth_pct=0.0,
                 models=("gpt-4o",), cache_hit_pct=0.0, batch_pct=0.0, escalation_pct=0.0, retry_factor=1.0)
    text = pv.to_csv(res)
    assert not any(len(cell.split(".")[-1]) > 12 for line in text.splitlines()[1:] for cell in line.split(",")
                   if cell.replace(".", "", 1).isdigit())
    assert pv._clean(751.4100000000001) == 751.41 and pv._clean(0.000735) == 0.000735
