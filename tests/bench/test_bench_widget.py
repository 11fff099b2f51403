"""The local-vs-hosted app without a browser: set a control, read the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.bench.cost import usd_per_mtok
from workbench.bench.results import sample_data_dir
from workbench.widgets.local_vs_hosted import LocalVsHostedState, make_local_vs_hosted_app, sample_files


@pytest.fixture
def state():
    return LocalVsHostedState()


def test_opens_on_the_recorded_sample_run(state):
    assert state.source == "saved results: openai-llamacpp-smollm2-135m.json"
    assert state.run is not None and [lv["concurrency"] for lv in state.live_levels] == [1, 2, 4]
    assert state.cost is not None and state.break_evens
    assert "llama-cpp-python" in state.summary_html() and "Cold start" in state.summary_html()


def test_cost_follows_hardware_price_and_utilisation(state):
    lv = state.chosen_level()
    fastest = max(state.run.levels, key=lambda x: x.summary["output_tokens_per_s"])
    assert lv is fastest
    tps = lv.summary["output_tokens_per_s"]
    state.hardware = "custom"
    state.usd_per_hour = 1.20
    assert state.cost.usd_per_mtok_output == pytest.approx(usd_per_mtok(1.20, tps))
    state.utilisation = 0.5
    assert state.cost.usd_per_mtok_output == pytest.approx(usd_per_mtok(1.20, tps, 0.5))
    assert state.cost.usd_per_mtok_total == pytest.approx(usd_per_mtok(1.20, lv.summary["total_tokens_per_s"], 0.5))
    assert f"${state.cost.usd_per_mtok_output:.4g}" in state.cost_html()


def test_hardware_preset_sets_the_hourly_price(state):
    for pid, preset in state.presets.items():
        state.hardware = pid
        assert state.usd_per_hour == preset.usd_per_hour
    assert any(p.startswith("cpu") for p in state.presets)


def test_level_choice_prices_that_level(state):
    state.level = "c1"
    c1 = next(lv for lv in state.run.levels if lv.spec.label == "c1")
    assert state.cost.output_tokens_per_s == pytest.approx(c1.summary["output_tokens_per_s"])


def test_custom_hosted_price_break_even_recomputed(state):
    state.hosted_models = []
    state.usd_per_hour = 0.5
    state.input_per_output = 2.0
    state.custom_hosted_input, state.custom_hosted_output = 1.0, 4.0
    (be,) = state.break_evens
    per_token = (2.0 * 1.0 + 4.0) / 1e6
    expected = 0.5 * 24 / per_token  # $12/day / $6 per 1M output = 2,000,000 tokens/day
    if expected <= state.cost.capacity_output_tokens_per_day:
        assert be["break_even_output_tokens_per_day"] == pytest.approx(expected)
    else:
        assert be["break_even_output_tokens_per_day"] is None
    assert be["model"] == "custom hosted" and be["hosted_usd_per_mtok_output"] == pytest.approx(6.0)
    spec = state.break_even_chart().to_dict()
    assert "layer" in spec


def test_bad_cost_input_is_reported_not_raised(state):
    state.utilisation = 0.0
    assert state.cost is None and "utilisation" in state.cost_error
    state.utilisation = 1.0
    assert state.cost is not None


def test_view_controls_drive_the_state():
    app = make_local_vs_hosted_app()
    state = app.state
    import ipywidgets as w

    def find(widget, cls, description):
        stack = [widget]
        while stack:
            x = stack.pop()
            if isinstance(x, cls) and getattr(x, "description", None) == description:
                return x
            stack.extend(getattr(x, "children", ()))
        raise AssertionError(description)

    usd = find(app, w.BoundedFloatText, "hardware $/hour")
    usd.value = 2.0
    assert state.usd_per_hour == 2.0
    assert state.cost.usd_per_hour == 2.0
    html_box = [c for c in app.children[-1].children if isinstance(c, w.HTML)][-1]  # the cost box
    assert f"${state.cost.usd_per_mtok_output:.4g}" in html_box.value
    find(app, w.Text, "base URL").value = "http://127.0.0.1:9/v1"
    find(app, w.Combobox, "model").value = "my-model"
    assert state.model == "my-model"
    assert state.base_url == "http://127.0.0.1:9/v1"
    find(app, w.Text, "concurrency levels").value = "1,x"
    state.start_run(blocking=True)
    assert "concurrency" in state.error or "invalid" in state.error


def test_save_and_reload(state, tmp_path):
    json_path, csv_path = state.save(tmp_path)
    assert json_path.endswith(".json") and csv_path.endswith(".csv")
    fresh = LocalVsHostedState(load_sample=False)
    fresh.load_file(json_path)
    assert fresh.run.run_id == state.run.run_id and fresh.cost is not None


def test_load_other_saved_results(state):
    other = sample_data_dir() / "ollama-bridge-smollm2-135m.json"
    assert other in sample_files()
    state.load_file(other)
    assert state.source.endswith("ollama-bridge-smollm2-135m.json") and state.run.backend == "ollama"


def test_live_run_against_the_real_server(llama_server):
    state = LocalVsHostedState(load_sample=False)
    assert state.run is None and state.cost is None
    state.base_url, state.model = llama_server.base_url, llama_server.alias
    state.concurrency, state.requests, state.max_output_tokens, state.dataset = "1,2", 2, 4, "synthetic"
    seen = []
    live = []
    state.observe(lambda ch: seen.append(ch["new"]), "progress")
    state.observe(lambda ch: live.append(len(ch["new"])), "live_levels")
    state.start_run()
    assert state.wait(timeout=120), "the run did not finish"
    assert state.error == "" and state.status.startswith("done: 4 requests, 0 errors"), state.status
    assert state.progress == 1.0 and seen == sorted(seen) and len(seen) >= 4
    assert state.source == "live run"
    assert [lv["concurrency"] for lv in state.live_levels] == [1, 2]
    assert state.cost is not None and state.cost.output_tokens_per_s > 0
    assert len(live) >= 3  # the charts' data changed while the run was going on, not only at the end
    for chart in (state.latency_chart(), state.throughput_chart()):
        spec = chart.to_dict()
        assert sum(len(rows) for rows in spec["datasets"].values()) > 0


def test_fetch_models_lists_what_the_server_serves(llama_server, ollama_bridge, closed_port):
    state = LocalVsHostedState(load_sample=False)
    state.base_url, state.model = llama_server.base_url, "something-else"
    assert state.fetch_models() == [llama_server.alias] and state.model == llama_server.alias
    state.backend, state.base_url = "ollama", ollama_bridge.url
    assert state.fetch_models() == [ollama_bridge.model]
    state.base_url = f"http://127.0.0.1:{closed_port}"
    assert state.fetch_models() == [] and "connection_refused" in state.error


def test_stop_ends_a_background_run(fault_server):
    state = LocalVsHostedState(load_sample=False)
    state.backend, state.base_url, state.model = "openai", fault_server.url, "slow"
    state.request_timeout_s = 1.0
    state.concurrency, state.requests, state.dataset = "1", 50, "synthetic"
    state.start_run()
    state.stop()
    assert state.wait(timeout=20)
    assert not state.running


def test_runs_out_of_the_box_and_shows_the_error_where_the_user_looks(monkeypatch, tmp_path):
    """Issue 13 item 8: a fresh clone has no ../shared data: the default prompts are generated, and
    asking for a missing prompt set is an error shown right under the run button."""
    from workbench.widgets import local_vs_hosted as lvh

    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "nothing"))
    app = lvh.make_local_vs_hosted_app(query="")
    s = app.state
    assert s.datasets == ["synthetic"] and s.dataset == "synthetic"
    assert [label for label, _ in app.dataset_dd.options][1:] == ["mt_bench (not installed)", "bitext (not installed)"]
    s.dataset = "bitext"
    s.start_run(blocking=True)
    assert "'bitext' prompts are not installed here" in s.error and not s.running
    assert "data-testid='error-run'" in app.error_html.value and "bitext" in app.error_html.value


def test_looks_like_the_other_apps_and_downloads_instead_of_writing(monkeypatch):
    """Issue 13 item 9: friendly column names, the selector names the file shown, the table empties
    when a run starts, results are downloads (nothing written into the repository)."""
    from workbench.widgets import local_vs_hosted as lvh

    app = lvh.make_local_vs_hosted_app(query="")
    s = app.state
    assert "Time to first token p50 (ms)" in app.summary.value and "ttft_p50_ms" not in app.summary.value
    assert s.source.endswith(Path(app.load_dd.value).name)
    assert "data-testid='download-json'" in app.downloads.value and "data:application/json" in app.downloads.value
    assert "wb-app" in app._dom_classes
    s.concurrency = "0"  # invalid: nothing starts, the table stays
    s.start_run(blocking=True)
    assert s.run is not None
    monkeypatch.setattr(s, "_run", lambda levels: None)  # no server here: only the start is checked
    s.concurrency = "1"
    s.start_run(blocking=True)
    assert s.run is None and "No results" not in app.summary.value


def test_the_link_carries_the_cost_settings_not_the_endpoint():
    from workbench.widgets import local_vs_hosted as lvh

    app = lvh.make_local_vs_hosted_app(query="")
    s = app.state
    s.hardware = "custom"
    s.usd_per_hour = 2.5
    s.hosted_models = s.available_hosted[:1]
    q = app.address_bar.query
    assert "usd_per_hour=2.5" in q and "base_url" not in q and "model=" not in q.replace("models", "")
    again = lvh.make_local_vs_hosted_app(query=q).state
    assert (again.usd_per_hour, again.hosted_models, again.hardware) == (2.5, s.hosted_models, "custom")
