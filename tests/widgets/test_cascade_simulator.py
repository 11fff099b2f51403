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
