"""The cascade simulator's state and view without a browser (RouteLLM data from the mirror)."""
from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.usefixtures("mirror")


@pytest.fixture
def mirror(monkeypatch, shared_data):
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(SHARED_DATA))


def make(query: str, **kw):
    from workbench.widgets.cascade import make_cascade_simulator
    return make_cascade_simulator(query=query, day="2025-01-01", bootstrap=20, **kw)


def test_slider_moves_the_point_along_the_frontier_without_rescoring():
    app = make("dataset=routellm-gsm8k&signal=valid")
    s = app.state
    assert not s.errors
    r = s.result
    scored = s._scored
    assert [round(g, 12) for g in s.grid] == [round(p["threshold"], 12) for p in r["frontier"]]
    for i in range(len(s.grid)):
        app.slider.value = i
        f = r["frontier"][i]
        assert s.point["quality"] == pytest.approx(f["quality"], abs=1e-12)
        assert s.point["usd"] == pytest.approx(f["usd"], rel=1e-12)
        assert app.chart.params.px == pytest.approx(f["usd"]) and app.chart.params.py == pytest.approx(f["quality"])
        assert s._scored is scored                                    # scored once
    app.slider.value = 0                                              # nobody escalates: the cheap model alone
    cheap = r["baselines"]["mistralai/Mixtral-8x7B-Instruct-v0.1"]
    assert (s.point["quality"], s.point["usd"]) == (cheap["quality"], cheap["usd"])
    td = scored.td
    assert s.point["trusted_wrong"] == int((td.quality[:, 0] < td.quality[:, 1]).sum())
    assert "data-testid='monthly'" in app.projection.value


def test_price_override_reprices_and_is_labelled():
    app = make("dataset=routellm-gsm8k&signal=rules")
    before = app.state.result["baselines"]["gpt-4-1106-preview"]["usd"]
    app.state.prices = {"gpt-4-1106-preview": [5.0, 15.0]}
    after = app.state.result["baselines"]["gpt-4-1106-preview"]["usd"]
    assert after == pytest.approx(before / 2)
    assert app.state.result["tiers"][1]["price_source"] == "override (user input)"


def test_url_query_sets_data_tiers_signal_volume_and_index():
    app = make("dataset=routellm-mtbench&tiers=mixtral,gpt-4&signal=length&rpd=20000&index=0")
    s = app.state
    assert s.tiers == ["mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"]   # substrings resolved
    assert s.signal == "length" and s.requests_per_day == 20000 and s.index == 0
    assert s.point["usd_per_month"] == pytest.approx(s.point["usd_per_request"] * 30 * 20000)


def test_learned_signal_embeds_the_prompts_once():
    calls = []

    def embed(texts):
        from workbench.embeddings import embed_texts
        calls.append(len(texts))
        return embed_texts(texts)
    app = make("dataset=routellm-mtbench&tiers=mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview&signal=knn",
               embed=embed)
    assert not app.state.errors, app.state.errors
    app.state.signal = "logreg"
    assert calls == [80]                                              # the second signal reuses the vectors
    assert app.state.result["split"]["frontier_scores"].startswith("out-of-fold")


def test_bad_query_values_are_inline_errors_not_exceptions():
    app = make("dataset=routellm-gsm8k&signal=rules&index=abc&rpd=lots")
    assert "threshold" in app.state.errors and "volume" in app.state.errors
    assert "wb-error" in app.message.value


# -- the address bar (issue 13 item 11): the URL follows every control --------------------------------

#: Everything the URL carries (``apply_query`` reads it, ``query`` writes it).
SETTINGS = ("dataset", "tiers", "signal", "prices", "requests_per_day", "index", "target_kind", "target_value",
            "traffic_tiers")


def settings(state) -> dict:
    return {name: getattr(state, name) for name in SETTINGS}


def test_query_round_trips_every_setting():
    from urllib.parse import parse_qs
    app = make("dataset=routellm-mtbench&tiers=mixtral,gpt-4&signal=length&rpd=12345.5&index=3"
               "&target=budget:250.75&traffic=gpt-4.1,gpt-4.1-mini&price=gpt-4-1106-preview=12.5/37.25")
    s = app.state
    assert not s.errors, s.errors
    assert s.requests_per_day == 12345.5 and s.index == 3 and (s.target_kind, s.target_value) == ("budget", 250.75)
    assert s.prices == {"gpt-4-1106-preview": [12.5, 37.25]} and s.traffic_tiers == ["gpt-4.1", "gpt-4.1-mini"]
    assert app.address_bar.query == s.query()
    again = make(s.query()).state
    assert not again.errors, again.errors
    assert settings(again) == settings(s)
    assert again.point == s.point                                      # the same figures on the screen
    q = parse_qs(s.query())
    assert q["tiers"] == ["mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview"]   # full names once loaded
    defaults = make("dataset=routellm-mtbench&signal=length").state     # defaults stay out of the link
    assert set(parse_qs(defaults.query())) == {"dataset", "tiers", "signal", "index"}
    assert settings(make(defaults.query()).state) == settings(defaults)


def test_every_control_writes_the_url():
    from urllib.parse import parse_qs
    app = make("dataset=routellm-mtbench&signal=length")
    s = app.state

    def url() -> dict:
        return {k: v[-1] for k, v in parse_qs(app.address_bar.query).items()}

    app.slider.value = 1
    assert url()["index"] == "1"
    app.rpd.value = 25_000
    assert url()["rpd"] == "25000"
    app.target_kind.value = "quality"
    app.target_value.value = 0.7
    assert url()["target"] == "quality:0.7"
    app.traffic_dd[0].value = "claude-haiku-4-5-20251001"
    assert url()["traffic"] == "claude-haiku-4-5-20251001,gpt-4.1"
    price_in = app.price_box.children[1].children[2]                  # the strong tier's $ in
    price_in.value = 7.5
    assert url()["price"].startswith("gpt-4-1106-preview=7.5/")
    app.signal.value = "rules" if "rules" in app.signal.options else app.signal.options[-1]
    assert url()["signal"] == app.signal.value
    cheap, strong = s.tiers
    app.tier_dd[1].value, app.tier_dd[0].value = cheap, strong        # the tiers swapped
    assert url()["tiers"] == f"{strong},{cheap}" and list(s.tiers) == [strong, cheap]
    app.dataset.value = "routellm-gsm8k"
    assert url()["dataset"] == "routellm-gsm8k"
    assert not s.errors, s.errors
    assert settings(make(app.address_bar.query).state) == settings(s)   # the link opens what was on screen


def test_a_link_sets_the_controls_not_only_the_state():
    app = make("dataset=routellm-mtbench&signal=length&rpd=20000&target=quality:0.7")
    assert app.rpd.value == 20000 and app.target_kind.value == "quality" and app.target_value.value == 0.7
    assert app.slider.value == app.state.index


def test_a_link_to_an_upload_asks_for_the_file():
    app = make("dataset=upload&signal=rules")
    assert "upload the CSV" in app.state.errors["data"] and "wb-error" in app.message.value
    assert app.dataset.value == "upload"


# -- the traffic projection, intervals, targets and uploads (issue 11) -------------------------------

@pytest.fixture(scope="module")
def monday():
    import pandas as pd

    from tests.conftest import ROOT
    week = pd.read_parquet(ROOT / "sample_data" / "requests.parquet")
    return week[week["ts"] < pd.Timestamp("2025-11-04", tz="UTC")].reset_index(drop=True)


def test_traffic_projection_follows_the_slider_and_is_labelled(monday, real_book):
    from workbench.core.cascade.traffic import TrafficProjection
    from workbench.widgets.cascade import _usd
    app = make("dataset=routellm-gsm8k&signal=valid", traffic_log=monday)
    s = app.state
    assert not s.errors, s.errors
    mine = TrafficProjection(monday, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1")
    strong_q = s._scored.td.quality[:, -1].mean()
    for i in (0, len(s.grid) // 2, len(s.grid) - 1):
        app.slider.value = i
        t, p = s.traffic, s.point
        assert t["escalation_rate"] == p["escalation_rate"]
        assert t["cascade_pusd"] == mine.at(p["escalation_rate"])["cascade_pusd"]
        assert t["quality_change"] == pytest.approx(p["quality"] - strong_q)
        assert f"data-testid='traffic-month'>{_usd(abs(t['saved_usd_per_month']))}<" in app.traffic.value
    assert "carried over from the labelled set" in app.traffic.value and "not measured on this traffic" in app.traffic.value
    assert "seeded random draw" in app.traffic.value
    app.slider.value = 0                                   # nobody escalates: every gpt-4.1 request on mini
    by = {f["feature"]: f for f in s.traffic["by_feature"]}
    assert by["rag_answer"]["saved_usd_per_month"] > 0 and by["support_chat"]["cascaded_requests"] == 0
    haiku, sonnet = "claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"       # the log's model ids
    assert haiku in app.traffic_dd[0].options and sonnet in app.traffic_dd[1].options
    assert sonnet not in app.traffic_dd[0].options                 # dearer than gpt-4.1: no cheap tier
    app.traffic_dd[1].value, app.traffic_dd[0].value = sonnet, haiku
    assert s.traffic_tiers == [haiku, sonnet] and not s.errors
    by = {f["feature"]: f for f in s.traffic["by_feature"]}
    assert by["support_chat"]["saved_usd_per_month"] > 0 and by["rag_answer"]["cascaded_requests"] == 0


def test_the_table_shows_bootstrap_intervals_that_follow_the_slider(monday):
    from workbench.core.cascade.metrics import bootstrap_weights
    app = make("dataset=routellm-gsm8k&signal=valid", traffic_log=monday)
    s = app.state
    w = bootstrap_weights(s._scored.td.n, 20, 1)
    for i in (0, len(s.grid) - 1):
        app.slider.value = i
        at = s._scored.at(s.grid[i])
        lo, hi = s.point["ci95"]["quality"]
        assert (lo, hi) == tuple(np.quantile(w @ at["quality"] / s._scored.td.n, [0.025, 0.975]))
        assert lo <= s.point["quality"] <= hi
    assert "data-testid='ci-quality'" in app.table.value and "data-testid='ci-usd'" in app.table.value


def test_operating_point_by_budget_or_quality_and_its_month(monday):
    app = make("dataset=routellm-gsm8k&signal=valid&rpd=20000", traffic_log=monday)
    s = app.state
    app.target_kind.value = "budget"
    app.target_value.value = 150.0
    op = s.operating
    assert op["target"] == {"kind": "budget", "value": 150.0} and op["target_met_on_calibration"]
    assert op["calibrate"]["usd_per_request"] * 30 * 20000 <= 150.0
    assert op["projection"]["usd_per_month"] == pytest.approx(op["test"]["usd_per_request"] * 30 * 20000)
    assert s.grid[s.index] == min(s.grid, key=lambda g: abs(g - op["threshold"]))   # the slider moved there
    assert "data-testid='operating-monthly'" in app.operating.value and "$150.00 per month" in app.operating.value
    app.rpd.value = 80000                                   # four times the volume: the budget buys less
    assert s.operating["calibrate"]["usd_per_request"] <= op["calibrate"]["usd_per_request"]
    app.target_kind.value, app.target_value.value = "quality", 0.99     # unreachable: said so, closest point
    assert not s.operating["target_met_on_calibration"] and "cannot be met" in app.operating.value
    app.target_value.value = 80                                          # a percentage typed for a share
    assert "between 0 and 1" in s.errors["target"] and "wb-error" in app.message.value
    app.target_kind.value, app.target_value.value = "gap", 0.5
    assert "target" not in s.errors
    app.slider.value = index = 0                                         # moved away from the operating point
    app.rpd.value = 1000                                                 # the month follows the volume; the slider stays
    assert s.index == index and s.operating["projection"]["requests_per_day"] == 1000
    assert s.operating["projection"]["usd_per_month"] == pytest.approx(s.operating["test"]["usd_per_request"] * 30_000)


def test_upload_an_eval_csv_with_bad_rows_counted(monday):
    app = make("dataset=routellm-gsm8k&signal=rules", traffic_log=monday)
    s = app.state
    rows = "".join(f"{i},question number {i},{m},{q},100,{o}\n" for i in range(40)
                   for m, q, o in (("gpt-4o-mini", int(i % 3 != 0), 50), ("gpt-4o", 1, 60)))
    content = ("id,prompt,model,quality,input_tokens,output_tokens\n" + rows + "x,bad,gpt-4o,maybe,1,1\n"
               + "y,bad,gpt-4o,1,-3,1\n").encode()
    app.upload.deliver("team_eval.csv", content)
    assert not s.errors, s.errors
    assert s.dataset == "upload" and app.dataset.value == "upload" and s.result["n"] == 40
    assert s.load_report["rejected_rows"] == 2 and s.load_report["rows_read"] == 82
    assert "team_eval.csv:82: quality" in app.load_report.value and "data-testid='rejected'>2<" in app.load_report.value
    assert list(s.result["baselines"]) == ["gpt-4o-mini", "gpt-4o"]
    app.upload.deliver("weights.bin", b"\x00\x01\x02" * 100)               # refused, nothing changed
    assert "weights.bin is a binary file" in s.errors["upload"] and s.result["n"] == 40
    unpriced = content.replace(b"gpt-4o-mini", b"house-model-7b")
    app.upload.deliver("house.csv", unpriced)
    assert "no price for 'house-model-7b'" in s.errors["config"]          # never $0
    labels = [c.children[-1].value for c in app.price_box.children]
    assert "no price: enter one" in labels[0]
    s.prices = {"house-model-7b": [0.2, 0.2]}
    assert "config" not in s.errors and s.result["tiers"][0]["price_source"] == "override (user input)"
