"""The spend explorer's state and view without a browser: set an input, assert on the results."""
from __future__ import annotations

from pathlib import Path

import json

import numpy as np
import pandas as pd
import pytest

from workbench.core import attribution as attr
from workbench.core.frame_cost import price_frame
from workbench.widgets import spend_explorer as se
from workbench.widgets.spend_explorer import SpendExplorerState, make_spend_explorer

ROOT = Path(__file__).resolve().parents[2]


def tiny_log(days: int = 9) -> pd.DataFrame:
    """Two features, two tenants, priced by the frozen sheet; feature 'report' spikes on the last day."""
    rows = []
    for d in range(days):
        day = pd.Timestamp("2025-03-01", tz="UTC") + pd.Timedelta(days=d)
        n_report = 4 if d == days - 1 else 1
        for i in range(3):
            rows.append(dict(ts=day + pd.Timedelta(hours=9 + i), tenant="t1", feature="chat", model="gpt-4o-mini",
                             input_tokens=100_000, output_tokens=10_000, status="ok", attempt=1, quality=0.9))
        rows.append(dict(ts=day + pd.Timedelta(hours=12), tenant="t2", feature="chat", model="gpt-4o-mini",
                         input_tokens=100_000, output_tokens=0, status="error", attempt=1, quality=np.nan))
        rows.append(dict(ts=day + pd.Timedelta(hours=12, seconds=2), tenant="t2", feature="chat",
                         model="gpt-4o-mini", input_tokens=100_000, output_tokens=10_000, status="ok", attempt=2,
                         quality=0.3))
        for i in range(n_report):
            rows.append(dict(ts=day + pd.Timedelta(hours=2, minutes=i), tenant="t2", feature="report",
                             model="gpt-4o", input_tokens=200_000, output_tokens=20_000, status="ok", attempt=1,
                             quality=np.nan))
    df = pd.DataFrame(rows)
    df.insert(0, "request_id", [f"r{i:04d}" for i in range(len(df))])
    df["cached_input_tokens"] = 0
    df["cache_write_tokens"] = 0
    df["token_source"] = "logged"
    return se.conform(df)


@pytest.fixture
def state(frozen_book):
    s = SpendExplorerState(frozen_book)
    s.set_log(tiny_log(), "tiny")
    return s


def test_kpis_and_tables_are_the_attribution(state, frozen_book):
    priced = price_frame(tiny_log(), frozen_book)
    totals = attr.totals(priced)
    assert state.kpis["spend_usd"] == pytest.approx(totals["spend_usd"])
    assert state.kpis["requests"] == totals["requests"] == 9 * 6 + 3
    assert state.kpis["retry_amplification"] == pytest.approx(totals["retry_amplification"])
    assert state.kpis["days"] == 9
    table = state.table.set_index("feature")
    expected = attr.spend_by(priced, by="feature", period=None).set_index("feature")
    pd.testing.assert_series_equal(table["spend_usd"].sort_index(), expected["spend_usd"], check_names=False)
    assert list(state.top["tenant"]) == ["t2", "t1"]
    assert set(state.by_model["model"]) == {"gpt-4o", "gpt-4o-mini"}


def test_yesterday_and_anomaly_flags(state):
    y = state.yesterday
    assert y["day"] == "2025-03-09"
    feats = {r["feature"]: r for r in y["by_feature"]}
    assert feats["report"]["anomaly"] and feats["report"]["change"] == pytest.approx(3.0)
    assert not feats["chat"]["anomaly"]
    flagged = state.flags
    assert ("feature", "report") in set(zip(flagged["dimension"], flagged["name"]))
    assert state.by_day["anomaly"].sum() == 1


def test_filters_recompute(state, frozen_book):
    priced = price_frame(tiny_log(), frozen_book)
    state.tenant = "t1"
    assert state.kpis["spend_usd"] == pytest.approx(priced.loc[priced["tenant"] == "t1", "cost_usd"].sum())
    state.set_range("2025-03-08", "2025-03-09")
    assert state.kpis["days"] == 2
    assert state.yesterday["day"] == "2025-03-09"
    state.feature = "report"
    assert state.kpis["requests"] == 0 and state.table.empty
    state.set_range("2025-03-09", "2025-03-01")
    assert "starts" in state.errors["filters"]


def test_breakdowns(state):
    for key, cols in se.BREAKDOWNS.items():
        state.breakdown = key
        assert list(state.table.columns[: len(cols)]) == list(cols)
    assert len(state.table) == 3  # chat x t1, chat x t2, report x t2


def test_query_round_trip(state):
    policies = [{"policy": "output_cap", "max_output_tokens": 100}]
    state.apply_query(f"start=2025-03-05&end=2025-03-08&feature=chat&tenant=t2&by=model&policies={json.dumps(policies)}")
    assert (state.start.isoformat(), state.end.isoformat(), state.feature, state.tenant, state.breakdown) == (
        "2025-03-05", "2025-03-08", "chat", "t2", "model")
    assert state.policies == policies and "query" not in state.errors
    again = SpendExplorerState(state.prices)
    again.set_log(tiny_log(), "tiny")
    again.apply_query(state.query())
    assert (again.start, again.end, again.feature, again.tenant, again.policies) == (
        state.start, state.end, state.feature, state.tenant, state.policies)
    state.apply_query("feature=nope&colour=red&start=yesterday")
    msg = state.errors["query"]
    assert "colour" in msg and "feature='nope'" in msg and "YYYY-MM-DD" in msg
    assert state.feature == "chat"  # the bad value changed nothing


def test_policy_stack_replays(state, frozen_book):
    from workbench.core.replay import replay

    state.add_policy("batch")
    assert state.policies == [{"policy": "batch", "features": ["report"]}]  # the batch-like feature
    r = state.replay
    expected = replay(tiny_log(), state.policies, frozen_book, bootstrap=0)
    assert r["baseline_usd"] == pytest.approx(state.kpis["spend_usd"])
    assert r["replayed_usd"] == pytest.approx(expected.replayed_usd)
    assert r["waterfall"][0]["label"] == "batch" and r["savings_usd"] > 0
    assert r["timeline"] and {t["series"] for t in r["timeline"]} == {"Logged", "With policies"}

    state.add_policy("daily_budget")
    cap = state.policies[1]["usd"]
    assert cap > 0 and state.replay["daily_cap"] == cap
    state.set_policy_param(1, "usd", 0.5)
    assert any(e["kind"] == "stop" and e["action"] == "block" for e in state.replay["events"])
    state.set_policy_param(1, "usd", -3)
    # the cards now show a stack that cannot run: its error, and no result of the previous stack
    assert "usd" in state.errors["policy"] and state.replay == {}
    state.set_policy_param(1, "usd", 0.5)
    assert "policy" not in state.errors
    state.move_policy(1, -1)
    assert [p["policy"] for p in state.policies] == ["daily_budget", "batch"]
    state.remove_policy(0)
    state.remove_policy(0)
    assert state.replay["replayed_usd"] == pytest.approx(state.replay["baseline_usd"])


def test_uploads(state, real_book, tmp_path):
    s = SpendExplorerState(real_book)
    preview = (ROOT / "sample_data" / "requests_preview.csv").read_bytes()
    note = s.load_file("requests_preview.csv", preview)
    assert "230 kept" in note and s.source.startswith("Uploaded requests_preview.csv")
    assert s.kpis["requests"] == 230
    before = s.kpis
    s.load_file("junk.parquet", b"not parquet")
    assert "junk.parquet is not a readable parquet file" in s.errors["upload"]
    assert s.kpis == before
    buf = tmp_path / "canonical.parquet"
    pd.read_parquet(ROOT / "sample_data" / "requests.parquet").head(500).to_parquet(buf)
    s.load_file("canonical.parquet", buf.read_bytes())
    assert s.kpis["requests"] == 500 and "upload" not in s.errors
    pd.DataFrame({"a": [1]}).to_parquet(buf)
    s.load_file("other.parquet", buf.read_bytes())
    assert "missing required column" in s.errors["upload"]
    s.load_file("big.csv", b"x" * (se.MAX_UPLOAD_BYTES + 1))
    assert "upload limit" in s.errors["upload"] and s.kpis["requests"] == 500


def test_unpriceable_models_are_named_not_dropped_silently(frozen_book):
    log = tiny_log()
    log.loc[log.index[:3], "model"] = "mystery-model"
    s = SpendExplorerState(frozen_book)
    s.set_log(log, "tiny")
    assert "3 rows of mystery-model" in s.errors["load"]
    assert s.kpis["requests"] == len(log) - 3


def test_sample_week_opens_with_an_example_stack(real_book):
    app = make_spend_explorer(real_book, query="")
    s = app.state
    assert s.source.startswith("Sample week") and s.yesterday["day"] == "2025-11-09"
    assert [p["policy"] for p in s.policies] == [p["policy"] for p in se.SAMPLE_POLICIES]
    assert s.replay["savings_usd"] > 0 and s.replay["budget_pace"] == pytest.approx(1110 / 30)
    flagged = s.flags[s.flags["dimension"] == "feature"]
    assert list(flagged["name"]) == ["rag_answer"]
    # the view forwards its controls to the state and shows the results
    everything = s.kpis["spend_usd"]
    app.tenant_dd.value = "initech"
    assert s.tenant == "initech" and 0 < s.kpis["spend_usd"] < everything
    app.breakdown.value = "tenant"
    assert s.breakdown == "tenant" and "attr-initech" in app.table.value and "attr-acme" not in app.table.value
    assert "data-testid='kpi-spend'" in app.kpis.value
    n_cards = len(app.cards.children)
    app.add_dd.value = "output_cap"
    app.add_button.click()
    assert len(app.cards.children) == n_cards + 1
    empty = make_spend_explorer(real_book, query="policies=[]")
    assert empty.state.policies == [] and empty.state.replay["savings_usd"] == 0


def test_placeholder_without_the_replay_engine(state, monkeypatch):
    monkeypatch.setattr(se, "replay_available", lambda: False)
    view = se.SpendExplorer(state)
    text = " ".join(getattr(c, "value", "") for c in view.policy_box.children)
    assert "replay engine" in text and "not in this installation" in text


def test_startup_problem_is_a_message(monkeypatch, frozen_book):
    from workbench.widgets import spend_state
    monkeypatch.setattr(spend_state, "SAMPLE_LOG", ROOT / "nothing.parquet")
    view = make_spend_explorer(frozen_book, query="")
    assert view.state is not None and "nothing.parquet" in view.state.errors["load"]


def test_replay_reports_progress_and_clears_it():
    from workbench.widgets.spend_explorer import make_spend_explorer

    view = make_spend_explorer(query="policies=[]")
    seen: list[dict] = []
    view.state.observe(lambda c: seen.append(dict(c["new"])), "progress")
    view.state.add_policy("output_cap")
    reports = [p for p in seen if p]
    assert reports, "no progress was reported while replaying"
    assert all(0.0 <= p["value"] <= 1.0 for p in reports)
    assert reports[-1]["value"] == 1.0 and reports[-1]["label"].startswith("replaying")
    assert seen[-1] == {} and view.progress_row.layout.display == "none"


def _titles(app) -> list[str]:
    return [c._wb_name for c in app.cards.children]


def _waterfall(app) -> list[str]:
    return [s["policy"] if "policy" in s else s["label"] for s in app.state.replay.get("waterfall") or []]


def test_policy_cards_follow_the_log_and_the_stack(real_book, frozen_book):
    """Issue 13 item 2: after an upload the cards offer the new log's features, and every edit
    (add, remove, move, late debounced edits of a removed card) keeps cards and replay in step."""
    app = make_spend_explorer(real_book, query="", debounce_ms=0)
    s = app.state
    s.set_log(tiny_log().assign(model="gpt-4o-mini"), "upload")
    batch = next(c for c in app.cards.children if c._wb_name == "batch")
    tags = next(d for d in batch.children if "wb-param-features" in getattr(d.children[1], "_dom_classes", ())
                ).children[1].tags
    assert {"chat", "report"} <= set(tags.allowed_tags)
    tags.value = ["report"]  # a feature of the uploaded log is accepted
    assert s.policies[0]["features"] == ["report"] and "policy" not in s.errors
    # remove the first card, add it back: cards, config and waterfall name the same stack
    app.cards.children[0].children[0].children[-1].click()
    app.add_dd.value = "batch"
    app.add_button.click()
    names = [p["policy"] for p in s.policies]
    assert _titles(app) == names == ["output_cap", "batch"]
    assert [w["step"] for w in s.replay["waterfall"]] == [1, 2]
    assert [w["label"].split()[0] for w in s.replay["waterfall"]] == names
    # move the second card up
    app.cards.children[1].children[0].children[-3].click()
    assert _titles(app) == [p["policy"] for p in s.policies] == ["batch", "output_cap"]
    # an edit addressed to a card that was removed meanwhile changes nothing
    uid = app.cards.children[0]._wb_uid
    app.stack.remove(uid)
    app.stack.set_param(uid, "label", "late")
    assert [p["policy"] for p in s.policies] == ["output_cap"] and "label" not in s.policies[0]


def test_clearing_a_required_list_is_not_all(real_book):
    app = make_spend_explorer(real_book, query='policies=[{"policy":"batch","features":["nightly_summary"]}]',
                              debounce_ms=0)
    s = app.state
    box = next(d for d in app.cards.children[0].children if "wb-param-features" in
               getattr(d.children[1], "_dom_classes", ())).children[1]
    assert box.all.value is False
    box.tags.value = []
    assert s.policies[0]["features"] == []
    assert "policy" in s.errors and "features" in s.errors["policy"]
    assert s.replay == {} or s.replay.get("savings_usd") is None  # no stale result for another stack
    box.all.value = True
    assert s.policies[0]["features"] == "all" and "policy" not in s.errors and s.replay["savings_usd"] > 0


def test_a_csv_with_other_column_names_is_mapped_in_the_page(real_book):
    """Issue 13 item 3: the page offers the mapping (no talk of column_map= / --map)."""
    app = make_spend_explorer(real_book, query="policies=[]")
    s = app.state
    before = s.kpis["requests"]
    s.load_file("custom.csv", (ROOT / "tests" / "fixtures" / "logs" / "requests_custom.csv").read_bytes())
    msg = s.errors["upload"]
    assert msg.startswith("custom.csv:") and "column_map" not in msg and "--map" not in msg
    assert s.mapping["header"][:3] == ["id", "created_at", "customer"] and s.kpis["requests"] == before
    assert s.progress == {} and app.progress_row.layout.display == "none"
    controls = app._map_controls
    for target, column in {"ts": "created_at", "request_id": "id", "tenant": "customer",
                           "input_tokens": "prompt_tokens", "output_tokens": "completion_tokens",
                           "cached_input_tokens": "cached"}.items():
        controls[target].value = column
    app.mapping_box.children[-1].click()
    assert "upload" not in s.errors and s.mapping == {} and app.mapping_box.children == ()
    assert s.source.startswith("Uploaded custom.csv") and s.tenants_available[0] == "acme"


def test_upload_errors_name_the_file_and_are_whole(real_book, tmp_path):
    s = SpendExplorerState(real_book)
    s.load_file("photo.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    assert s.errors["upload"].startswith("photo.jsonl is a binary file")
    s.load_file("broken.parquet", b"PAR1" + b"\x00" * 100 + b"PAR1")
    msg = s.errors["upload"]
    assert msg.startswith("broken.parquet is not a readable parquet file") and msg.endswith("nothing changed")
    assert s.progress == {}


def test_a_runaway_loop_without_history_is_flagged_and_the_page_says_what_it_checked(frozen_book):
    """Issue 13 item 4: three days of log, a loop on the third at most of the spend."""
    log = tiny_log(days=3)
    loop = log[log["feature"] == "report"].iloc[[0] * 40].copy()
    loop["ts"] = pd.Timestamp("2025-03-03 05:00", tz="UTC")
    loop["feature"] = "agent_loop"
    loop["request_id"] = [f"loop{i}" for i in range(len(loop))]
    s = SpendExplorerState(frozen_book)
    s.set_log(se.conform(pd.concat([log, loop], ignore_index=True)), "three days")
    hit = s.flags[s.flags["name"] == "agent_loop"]
    assert len(hit) == 1 and hit.iloc[0]["reason"] == "dominant" and hit.iloc[0]["share"] > 0.8
    assert s.anomaly_check["first_judged"] is None and s.anomaly_check["days"] == 3
    html = se.flags_html(s.flags, s.anomaly_check)
    assert "agent_loop" in html and "of spend" in html and "no day has the 3 earlier days" in html
    s2 = SpendExplorerState(frozen_book)
    quiet = tiny_log()
    s2.set_log(quiet[quiet["ts"] < pd.Timestamp("2025-03-04", tz="UTC")].reset_index(drop=True), "quiet")
    assert "data-testid='no-flags'" in se.flags_html(s2.flags, s2.anomaly_check)
    assert "Checked 2 feature(s) and 2 tenant(s) over 3 day(s)" in se.flags_html(s2.flags, s2.anomaly_check)


def test_the_savings_interval_is_a_share_of_spend_within_the_logged_spend(real_book):
    """Issue 13 item 5: the interval is stated as the share of spend saved (what carries over to
    a week like this one) and, in dollars, never exceeds the logged spend."""
    app = make_spend_explorer(real_book, query="")
    r = app.state.replay
    iv = r["interval"]
    lo, hi = iv["share"]
    assert 0 <= lo <= r["savings_pct"] / 100 <= hi < 1
    assert 0 <= iv["usd"][0] <= r["savings_usd"] <= iv["usd"][1] <= r["baseline_usd"]
    assert iv["usd"][1] == pytest.approx(hi * r["baseline_usd"])
    text = app.replay_summary.value
    assert "For a week like this one" in text and f"{lo:.1%} – {hi:.1%}" in text and "of spend" in text


def test_the_address_bar_follows_every_change(real_book):
    """Issue 13 item 11: what is on the screen is in the URL."""
    app = make_spend_explorer(real_book, query="policies=[]")
    assert app.address_bar.query == app.state.query() == "policies=%5B%5D"
    app.tenant_dd.value = "initech"
    assert "tenant=initech" in app.address_bar.query
    app.breakdown.value = "model"
    assert "by=model" in app.address_bar.query
    app.add_dd.value = "output_cap"
    app.add_button.click()
    again = make_spend_explorer(real_book, query=app.address_bar.query)
    s, t = app.state, again.state
    assert (t.tenant, t.breakdown, t.policies, t.kpis) == (s.tenant, s.breakdown, s.policies, s.kpis)


def test_new_cards_are_sized_by_the_declarations_not_by_parameter_names(state, monkeypatch):
    """Issue 13: a policy declares how its new card's values are sized to the log (``start``) and
    which log column a parameter takes its values from (``values_from``); the widget reads only
    that, so a policy with other parameter names gets the same service."""
    import inspect

    from workbench.core.replay import Param, Policy, policy_schema, registry

    class Ceiling(Policy):
        name = "test_ceiling"
        summary = "test only: declared start values"
        params = (Param("ceiling", "float", "a cap", minimum=0,
                        start={"spend": "median_day", "by": ["tenant"], "times": 0.5}),
                  Param("who", "strings_or_all", "tenants", default=None, values_from="tenant",
                        start={"values_matching": ["2"], "otherwise": "all"}),
                  Param("note", "str", "optional, no start: left out of a new card", default=None))

    monkeypatch.setitem(registry._REGISTRY, Ceiling.name, Ceiling)
    schema = {p["name"]: p for p in policy_schema(Ceiling.name)["params"]}
    assert schema["who"]["values_from"] == "tenant" and schema["ceiling"]["start"]["times"] == 0.5
    assert state.options_for(schema["who"]) == ["t1", "t2"]
    config = state.new_policy(Ceiling.name)
    per_tenant_day = state.filtered().groupby(["_day", "tenant"])["cost_usd"].sum()
    assert set(config) == {"policy", "ceiling", "who"} and config["who"] == ["t2"]
    assert config["ceiling"] == pytest.approx(0.5 * per_tenant_day.median(), rel=0.05)  # 2 significant digits
    state.tenant = "t1"  # sized to the rows in view
    assert state.new_policy(Ceiling.name)["ceiling"] == pytest.approx(
        0.5 * state.filtered().groupby("_day")["cost_usd"].sum().median(), rel=0.05)
    # the built-in budgets declare theirs the same way
    assert policy_schema("daily_budget")["params"][0]["start"] == {"spend": "median_day", "times": 0.9}
    with pytest.raises(ValueError, match="start must name one of"):
        Param("x", "float", "bad", start={"p90": 1})
    # no parameter or policy name in the code that builds a new card and its options
    code = "".join(inspect.getsource(f) for f in (
        SpendExplorerState.new_policy, SpendExplorerState._default_param, SpendExplorerState.options_for))
    for name in ("usd", "limit", "features", "max_output_tokens", "daily_budget", "tenant_quota", "batch"):
        assert f'"{name}"' not in code and f"'{name}'" not in code, name


def test_a_filter_change_replays_the_rows_in_view_once(state, frozen_book):
    """The replay runs on a Polars copy of the log made once; it equals a replay of the filtered
    pandas log, a view seen before is not replayed again, and a new stack is."""
    from workbench.core.replay import replay
    from workbench.widgets.spend_state import BOOTSTRAP

    state.policies = [{"policy": "output_cap", "max_output_tokens": 5_000}]
    state.feature = "chat"
    first = state.replay_result
    view = tiny_log()
    expected = replay(view[view["feature"] == "chat"], state.policies, frozen_book, engine="pandas",
                      bootstrap=BOOTSTRAP)
    assert state.replay["replayed_usd"] == expected.replayed_usd and state.replay["requests"] == expected.requests
    assert state.replay["interval"]["share"] == [v / 100 for v in expected.ci95["savings_pct"]]
    state.feature = ""
    state.feature = "chat"
    assert state.replay_result is first  # the same rows under the same stack: not replayed again
    state.policies = [{"policy": "output_cap", "max_output_tokens": 4_000}]
    assert state.replay_result is not first and state.replay["replayed_usd"] < expected.replayed_usd
    # the budget timeline: each day's last point is that day's spend, to the exact pUSD
    frame = state.replay_result.frame.to_pandas()
    days = frame["ts"].dt.tz_convert("UTC").dt.floor("D").dt.tz_localize(None)
    tl = pd.DataFrame(state.replay["timeline"])
    last = tl.assign(day=pd.to_datetime(tl["hour"]).dt.floor("D")).groupby(["series", "day"])["usd"].last()
    for series, col in (("Logged", "baseline_pusd"), ("With policies", "cost_pusd")):
        exact = frame.groupby(days.to_numpy())[col].sum() / 10**12
        assert last[series].tolist() == exact.tolist()


def test_chart_specs_built_directly_are_the_altair_charts(real_book):
    """The explorer redraws its charts from dicts built without Altair's object model (5x faster);
    each must be exactly the spec of the Altair chart it stands for, with data and without."""
    from workbench.widgets import spend_charts as C

    s = SpendExplorerState(real_book)
    s.load_sample()

    def same(chart, spec):
        assert json.loads(json.dumps(chart.to_dict())) == json.loads(json.dumps(spec))

    for setup in (lambda: None, lambda: (s.add_policy("daily_budget"), setattr(s, "feature", "rag_answer"))):
        setup()
        same(C.spend_by_day_chart(s.by_day), C.spend_by_day_spec(s.by_day))
        same(C.bar_chart(s.top, "tenant", "Spend (USD)", width=370, color="plan"),
             C.bar_spec(s.top, "tenant", "Spend (USD)", width=370, color="plan"))
        same(C.bar_chart(s.by_model, "model", "Spend (USD)"), C.bar_spec(s.by_model, "model", "Spend (USD)"))
        same(C.waterfall_chart(s.replay), C.waterfall_spec(s.replay))
        same(C.timeline_chart(s.replay), C.timeline_spec(s.replay))
    assert any(e.get("scope") == "org" for e in s.replay["events"])  # the events layer was compared too
    assert len(C.spend_by_day_spec(s.by_day)["layer"]) == 2          # and the anomaly labels
    for empty in (None, pd.DataFrame()):
        same(C.spend_by_day_chart(empty), C.spend_by_day_spec(empty))
        same(C.bar_chart(empty, "model", "x"), C.bar_spec(empty, "model", "x"))
    same(C.waterfall_chart({}), C.waterfall_spec({}))
    same(C.timeline_chart({}), C.timeline_spec({}))


def test_in_a_kernel_the_app_shows_before_its_replay_runs():
    """First render: the explorer's cell returns with the attribution; the policy replay (below
    the fold) runs on the kernel's event loop right after, before anything else the kernel does."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from workbench import make_spend_explorer\n"
                                  "app = make_spend_explorer(query='')\n"
                                  "print(bool(app.state.kpis), app.state.replay == {})"),
        nbformat.v4.new_code_cell("print(abs(app.state.replay['baseline_usd'] - app.state.kpis['spend_usd']) < 1e-6)")])
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outs = ["".join(o.get("text", "") for o in c.outputs).strip() for c in nb.cells]
    assert outs == ["True True", "True"], outs


def test_chart_values_are_altairs_for_every_column_kind():
    """The explorer's charts turn frames into Vega values without Altair's sanitizer; each kind of
    column a frame can hold comes out as Altair makes it (missing values, NaN and inf as null)."""
    import altair as alt

    from workbench.widgets.spend_charts import vega_values

    df = pd.DataFrame({
        "f": [1.5, np.nan, np.inf, -0.0], "i": np.array([1, 2, 3, 4], dtype=np.int32), "b": [True, False, True, False],
        "s": pd.array(["a", None, "c", "d"], dtype="string"), "c": pd.Categorical(["x", "y", None, "x"]),
        "o": ["p", None, 3, np.array([1, 2])], "n": pd.array([1, None, 3, 4], dtype="Int64"),
        "d": pd.to_datetime(["2025-11-03 00:00:00", None, "2025-11-04 10:30:00.5", "2025-11-05 00:00:00"], format="ISO8601"),
        "z": pd.to_datetime(["2025-11-03 01:00", "2025-11-03 02:00", None, "2025-11-04 00:00"]).tz_localize("UTC"),
        "bn": pd.array([True, None, False, True], dtype="boolean"), "u": np.array([1, 2, 3, 4], dtype=np.uint8)})
    want = alt.data_transformers.get()(df)["values"]
    got = vega_values(df)
    assert json.dumps(got) == json.dumps(want)
    assert [type(v) for v in got[0].values()] == [type(v) for v in want[0].values()]
    assert vega_values(df.iloc[:0]) == [] == alt.data_transformers.get()(df.iloc[:0])["values"]
