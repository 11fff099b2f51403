"""The cost preview app without a browser: set a control, assert on the state and what the view shows."""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import altair as alt
import pytest

from workbench.core import preview as pv
from workbench.widgets.cost_preview import CostPreviewState, make_cost_preview

TODAY = dt.date(2025, 1, 1)


@pytest.fixture
def app(frozen_book):
    return make_cost_preview(book=frozen_book, query="", base_url="http://127.0.0.1:8866/app.ipynb",
                             today=TODAY, address_bar=False)


def figures(app, model):
    r = next(r for r in app.state.result.rows if r.model == model)
    return r.usd_per_request, r.usd_per_day, r.usd_per_month


def shown(app, model, what="usd-per-day"):
    """The number a cell of the summary table shows, and its exact data-value."""
    html = app.summary.value
    row = re.search(rf"<tr data-testid='row-{re.escape(model)}'>(.*?)</tr>", html).group(1)
    m = re.search(rf"data-testid='{what}' data-value='([^']+)'>([^<]+)<", row)
    return float(m.group(1)), m.group(2)


def all_html(app) -> str:
    out = []

    def walk(w):
        for attr in ("value",):
            v = getattr(w, attr, None)
            if isinstance(v, str):
                out.append(v)
        for c in getattr(w, "children", ()):
            walk(c)
    walk(app)
    return "\n".join(out)


def test_defaults_are_the_seed_worked_example(app):
    s = app.state
    assert s.errors == {} and s.price_date == "2025-01-01"
    per_request, per_day, per_month = figures(app, "gpt-4o-mini")
    assert per_request == pytest.approx((3500 * 0.15 + 350 * 0.60) / 1e6)
    assert per_day == pytest.approx(per_request * 20_000) and per_month == pytest.approx(per_day * 30)
    value, text = shown(app, "gpt-4o-mini")
    assert value == pytest.approx(14.70) and text == "$14.70"
    assert shown(app, "gpt-4o", "usd-per-month") == (pytest.approx(7350.0), "$7,350.00")
    assert "data-over='false'" in app.verdict.value


def test_setting_controls_recomputes(app):
    c = app.controls
    c["input_tokens"].value = "1,200"
    c["output_tokens"].value = "300"
    c["requests_per_day"].value = "50k"
    c["models"].value = "gpt-4o"
    expected = (1200 * 2.50 + 300 * 10.0) / 1e6 * 50_000
    assert app.state.errors == {}
    assert [r.model for r in app.state.result.rows] == ["gpt-4o"]
    assert shown(app, "gpt-4o")[0] == pytest.approx(expected)
    assert shown(app, "gpt-4o")[1] == pv.usd(expected) == "$300.00"


def test_threshold_flag_when_crossing_500_a_day(app):
    app.controls["requests_per_day"].value = "50,000"  # gpt-4o: 0.01225 × 50,000 = $612.50
    assert "data-over='true'" in app.verdict.value
    assert "routing or caching plan" in app.verdict.value and "$612.50" in app.verdict.value
    app.controls["threshold_usd_per_day"].value = "1000"
    assert "data-over='false'" in app.verdict.value
    app.controls["threshold_usd_per_day"].value = "612.5"  # exceeding means strictly above
    assert "data-over='false'" in app.verdict.value


def test_growth_projection_and_charts_update(app):
    app.controls["growth_pct"].value = "20"
    r = app.state.result.rows[0]
    assert r.projection() == pytest.approx([r.usd_per_day * 1.2 ** m * 30 for m in range(12)])
    spec = app.projection.chart.to_dict()
    values = next(iter(spec["datasets"].values()))
    assert len(values) == 12 * 2
    assert values[11]["usd"] == pytest.approx(r.usd_per_day * 1.2 ** 11 * 30)
    assert isinstance(app.daily, alt.JupyterChart) and isinstance(app.projection, alt.JupyterChart)
    bars = next(iter(app.daily.chart.to_dict()["datasets"].values()))
    assert {b["model"]: b["usd_per_day"] for b in bars} == pytest.approx(
        {r.model: r.usd_per_day for r in app.state.result.rows})


@pytest.mark.parametrize("field, bad, message", [
    ("requests_per_day", "lots", "not a number"),
    ("requests_per_day", "-100", "at least 0"),
    ("input_tokens", "5e9", "at most 2,000,000"),
    ("output_tokens", "", "enter a number"),
    ("growth_pct", "ten", "not a number"),
    ("models", "gpt-4o, gtp-4o-mini", "unknown model 'gtp-4o-mini'"),
    ("threshold_usd_per_day", "-1", "at least 0"),
])
def test_bad_input_shows_inline_message_and_keeps_last_good_result(app, field, bad, message):
    before = app.state.result
    summary = app.summary.value
    app.controls[field].value = bad
    assert message in app.state.errors[field]
    assert app.state.result is before and app.summary.value == summary
    box = app.messages[field].value
    assert f"data-testid='error-{field}'" in box and message.split("'")[0] in box
    assert "last good result" in app.general_error.value
    assert "Traceback" not in all_html(app)
    app.controls[field].value = pv.PARAM_BY_NAME[field].display(pv.PARAM_BY_NAME[field].default)
    assert app.state.errors == {} and app.messages[field].value == ""


def test_unknown_model_suggests_the_right_name(app):
    app.controls["models"].value = "gpt-4o-mni"
    assert "did you mean" in app.messages["models"].value and "gpt-4o-mini" in app.messages["models"].value


def test_model_too_big_for_context_is_a_row_message_not_a_crash(app):
    app.controls["input_tokens"].value = "150,000"
    assert app.state.errors == {}
    assert "context window" in app.state.field_notes["input_tokens"]
    assert "context window of 128,000" in app.summary.value


def test_cache_without_cached_price_is_noted_next_to_the_field(app):
    app.controls["models"].value = "claude-3-haiku, gpt-4o-mini"
    app.controls["cache_hit_pct"].value = 50.0
    note = app.messages["cache_hit_pct"].value
    assert "claude-3-haiku has no cached-input price" in note and "full input rate" in note
    haiku = figures(app, "claude-3-haiku")[0]
    assert haiku == pytest.approx((3500 * 0.25 + 350 * 1.25) / 1e6)  # never $0
    mini = figures(app, "gpt-4o-mini")[0]
    assert mini == pytest.approx((1750 * 0.15 + 1750 * 0.075 + 350 * 0.6) / 1e6)


def test_batch_without_batch_price_is_an_error_note(app):
    app.controls["models"].value = "claude-3-haiku, gpt-4o"
    app.controls["batch_pct"].value = 25.0
    assert "no batch price" in app.messages["batch_pct"].value
    assert figures(app, "gpt-4o")[0] == pytest.approx(
        0.75 * (3500 * 2.5 + 350 * 10) / 1e6 + 0.25 * (3500 * 1.25 + 350 * 5) / 1e6)


def test_effective_cost_parts_table(app):
    c = app.controls
    c["escalation_pct"].value = 10.0
    c["tier_multiplier"].value = 3.0
    c["retry_factor"].value = 1.25
    r = app.state.result.rows[0]
    base = (3500 * 0.15 + 350 * 0.60) / 1e6
    assert r.usd_per_request == pytest.approx(base * 1.3 * 1.25)
    html = app.steps.value
    for step in ("list price", "batch", "cache", "escalation", "retries"):
        assert f"data-testid='step-{step}'" in html
    assert pv.usd(base * 1.3 * 1.25 * 20_000) in html and "seed formula" in html and "price sheet" in html


def test_price_date_picker_changes_the_record(app):
    app.controls["price_date"].value = dt.date(2024, 6, 1)
    assert app.state.price_date == "2024-06-01"
    assert app.state.result.rows[1].record.input == 5.0
    assert "2024-05-13" in app.prices.value
    app.controls["price_date"].value = dt.date(2024, 1, 1)  # before gpt-4o-mini existed
    assert "no price on 2024-01-01" in app.messages["price_date"].value


def test_add_model_dropdown(app):
    app.add_model.value = "claude-3-haiku"
    assert app.state.models == "gpt-4o-mini, gpt-4o, claude-3-haiku" and app.add_model.value == ""
    assert [r.model for r in app.state.result.rows] == ["gpt-4o-mini", "gpt-4o", "claude-3-haiku"]


def test_chat_mode_shows_quadratic_growth(app):
    assert app.chat_box.layout.display == "none"
    c = app.controls
    c["chat"].value = True
    c["system_tokens"].value = "400"
    c["user_tokens"].value = "100"
    c["output_tokens"].value = "200"
    c["turns"].value = 8
    assert app.chat_box.layout.display is None and c["input_tokens"].disabled
    r = app.state.result.rows[0]  # gpt-4o-mini
    loop = [((400 + k * 100 + (k - 1) * 200) * 0.15 + 200 * 0.60) / 1e6 for k in range(1, 9)]
    assert r.turn_usd == pytest.approx(loop)
    assert r.usd_per_request == pytest.approx(sum(loop) / 8)
    assert r.usd_per_day == pytest.approx(sum(loop) / 8 * 20_000)
    assert "data-testid='turn-8'" in app.turns_table.value
    data = next(iter(app.conversation.chart.to_dict()["datasets"].values()))
    real = [d["usd"] for d in data if d["model"] == "gpt-4o-mini" and d["kind"].startswith("history")]
    linear = [d["usd"] for d in data if d["model"] == "gpt-4o-mini" and d["kind"].startswith("if")]
    assert real[-1] == pytest.approx(sum(loop)) and linear[-1] == pytest.approx(8 * loop[0])
    assert real[-1] > linear[-1]


def test_count_prompt_sets_input_tokens(app):
    app.prompt.value = "You are a helpful support agent. Answer briefly. " * 20
    app.count_button.click()
    assert app.state.errors == {}
    n = int(pv.PARAM_BY_NAME["input_tokens"].parse(app.state.input_tokens))
    assert 150 < n < 300 and app.controls["input_tokens"].value == f"{n:,}"
    assert "gpt-4o-mini" in app.token_note.value and "exact" in app.token_note.value
    assert app.state.result.rows[0].input_tokens == n
    app.prompt.value = "   "
    app.count_button.click()
    assert "paste an example prompt" in app.token_note.value


def test_share_url_restores_the_scenario(frozen_book, app):
    c = app.controls
    c["feature"].value = "Support bot & FAQ"
    c["requests_per_day"].value = "45,000"
    c["models"].value = "gpt-4o, claude-3-haiku"
    c["cache_hit_pct"].value = 30.0
    c["chat"].value = True
    c["turns"].value = 6
    s = app.state
    assert s.share_url.startswith("http://127.0.0.1:8866/app.ipynb?")
    assert s.share_url in app.share.value.replace("&amp;", "&")
    reopened = make_cost_preview(book=frozen_book, query=s.share_query, today=TODAY, address_bar=False)
    assert reopened.state.scenario == s.scenario
    assert reopened.controls["feature"].value == "Support bot & FAQ"
    assert reopened.controls["turns"].value == 6 and reopened.controls["chat"].value is True
    assert [r.usd_per_day for r in reopened.state.result.rows] == [r.usd_per_day for r in s.result.rows]


def test_voila_query_string_environment(frozen_book, monkeypatch):
    monkeypatch.setenv("QUERY_STRING", "requests_per_day=50000&models=gpt-4o")
    monkeypatch.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:9999/voila/render/cost_preview.ipynb?x=1")
    view = make_cost_preview(book=frozen_book, today=TODAY)
    assert view.state.scenario.requests_per_day == 50_000 and view.state.scenario.models == ("gpt-4o",)
    assert view.state.share_url.startswith("http://127.0.0.1:9999/voila/render/cost_preview.ipynb?")
    assert view.address_bar.query == view.state.share_query


def test_bad_link_values_are_reported_and_defaults_kept(frozen_book):
    view = make_cost_preview(book=frozen_book, query="requests_per_day=-3&models=nope&colour=red",
                             today=TODAY, address_bar=False)
    s = view.state
    assert s.errors == {} and s.scenario.requests_per_day == 20_000
    text = html.unescape(view.link_notes.value)
    assert "-3" in text and "unknown model 'nope'" in text and "colour" in text


def test_exports(app):
    app.controls["feature"].value = "Support bot"
    md = app.state.to_markdown()
    assert md == app.markdown.value and md.startswith("### Cost preview: Support bot")
    assert "| gpt-4o-mini | $0.000735 | $14.70 | $441.00 |" in md
    assert "source: seed 000" in md and app.state.share_url in md
    rows = list(csv.DictReader(io.StringIO(app.state.to_csv())))
    assert [float(r["usd_per_day"]) for r in rows] == pytest.approx([14.7, 245.0])
    assert "data:text/csv" in app.downloads.value and "data:text/markdown" in app.downloads.value
    assert "cost_preview_support_bot.csv" in app.downloads.value


def test_state_works_without_a_view(frozen_book):
    s = CostPreviewState(frozen_book, today=TODAY, requests_per_day="1000")
    assert s.result.rows[0].usd_per_day == pytest.approx(0.000735 * 1000)
    s.requests_per_day = "oops"
    assert s.result.rows[0].usd_per_day == pytest.approx(0.000735 * 1000) and "requests_per_day" in s.errors


def test_startup_failure_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("vendor: x\nmodels: 3\n")
    from workbench.io.pricesheets import load_prices

    monkeypatch.setenv("WORKBENCH_PRICING_DIR", str(tmp_path))
    view = make_cost_preview(query="")
    assert view.state is None and "could not start" in view.value
    with pytest.raises(Exception):
        load_prices(tmp_path)
