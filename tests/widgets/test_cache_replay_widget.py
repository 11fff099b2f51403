"""Cache replay app without a browser: controls drive the state, the state calls core."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.core.cache import CacheConfig, replay_cache
from workbench.widgets.cache_replay import make_cache_replay


@pytest.fixture
def log():
    rng = np.random.default_rng(0)
    n = 300
    prompts = np.array(["reset password", "refund policy", "track order", "cancel order"], dtype=object)
    pick = rng.integers(0, 4, n)
    t0 = pd.Timestamp("2025-03-01T00:00:00Z")
    return pd.DataFrame({
        "request_id": [f"r{i:04d}" for i in range(n)],
        "ts": t0 + pd.to_timedelta(np.sort(rng.integers(0, 86_400, n)), unit="s"),
        "tenant": np.array(["a", "b", "c"])[rng.integers(0, 3, n)], "feature": "chat", "model": "gpt-4o",
        "prompt": prompts[pick], "input_tokens": 500, "output_tokens": 100, "status": "ok",
        "tags": [json.dumps({"intent": ["pw", "refund", "track", "cancel"][k]}) for k in pick]})


def test_controls_drive_the_replay(log, frozen_book):
    app = make_cache_replay(log, frozen_book, query="ttl=600")
    s = app.state
    want = replay_cache(log, CacheConfig(ttl_s=600), frozen_book).summary
    assert s.summary["cache_hits"] == want["cache_hits"] > 0 and s.summary["cross_tenant_hits"] == 0
    assert f"{want['cache_hits']:,}" in app.kpis.value
    app.ttl.value = 60
    assert s.summary["cache_hits"] == replay_cache(log, CacheConfig(ttl_s=60), frozen_book).summary["cache_hits"]
    # dropping tenant without allowing sharing is refused inline; allowing it flags the result
    app.ns.value = ("model",)
    assert "share_tenants" in s.error
    app.share.value = True
    assert s.error == "" and s.summary["cross_tenant_hits"] > 0 and "cross-tenant hits" in app.kpis.value


def test_false_hits_shown_side_by_side(log, frozen_book):
    app = make_cache_replay(log, frozen_book, query="kind=normalized&ttl=3600")
    # identical prompts share intents: no false hits, and the table says so
    assert app.state.summary["false_hits"] == 0 and "none" in app.pairs.value
    assert app.state.prefix["as_logged"]["provider"] == "openai"


def test_bad_url_settings_do_not_break_the_app(log, frozen_book):
    app = make_cache_replay(log, frozen_book, query="threshold=abc&kind=nope")
    assert "threshold" in app.state.query_error and "URL setting ignored" in app.err.value
    assert app.state.kind == "exact" and app.state.result is not None


SETTINGS = ("kind", "threshold", "ttl_s", "namespaces", "share_tenants", "context", "sample", "provider")


def _settings(state) -> dict:
    return {k: getattr(state, k) for k in SETTINGS}


@pytest.mark.parametrize("changes", [
    {}, {"kind": "normalized"}, {"kind": "semantic"}, {"threshold": 0.87}, {"threshold": 0.5}, {"ttl_s": 600.0},
    {"ttl_s": 12.5}, {"namespaces": ["tenant", "model"]}, {"namespaces": ["model"], "share_tenants": True},
    {"namespaces": [], "share_tenants": True}, {"share_tenants": True}, {"context": "last_message"},
    {"sample": 250}, {"provider": "anthropic"},
    {"kind": "semantic", "threshold": 0.93, "ttl_s": 86400.0, "namespaces": ["prompt_version", "tenant"],
     "share_tenants": True, "context": "last_message", "sample": 5000, "provider": "anthropic"},
])
def test_the_url_query_gives_back_every_setting(log, frozen_book, changes):
    from workbench.widgets.cache_replay import CacheReplayState

    state = CacheReplayState(log, frozen_book, prefix_later=True)
    with state.hold_trait_notifications():
        for k, v in changes.items():
            setattr(state, k, v)
    query = state.query()
    assert (query == "") == (not changes)            # the defaults are left out
    again = CacheReplayState(log, frozen_book, query=query, prefix_later=True)
    assert _settings(again) == _settings(state) and again.query_error == ""
    assert again.query() == query


def test_the_address_bar_follows_the_controls(log, frozen_book):
    app = make_cache_replay(log, frozen_book, query="")
    assert app.address_bar.query == ""
    app.ttl.value = 600
    app.kind.value = "normalized"
    app.provider.value = "anthropic"
    assert app.address_bar.query == "kind=normalized&ttl=600&provider=anthropic" == app.state.query()


def test_a_bad_url_value_is_named_and_the_others_still_apply(log, frozen_book):
    app = make_cache_replay(log, frozen_book, query="ttl=soon&kind=normalized&threshold=2&sample=x")
    s = app.state
    assert "ttl" in s.query_error and "sample" in s.query_error and "URL setting ignored" in app.err.value
    assert s.kind == "normalized" and s.threshold == 1.0 and s.ttl_s == 3600.0 and s.result is not None
    assert app.threshold.value == s.threshold            # the control shows what the state uses


def test_intents_read_fast_equal_the_json_reading():
    """The vectorised reading of the intent tag gives what ``json`` gives, for every shape of tags."""
    from pathlib import Path

    from workbench.widgets.cache_replay import _intent, intents

    tags = pd.Series([
        '{"logical_id":"a-1","intent":"refund","client":"web"}', '{"intent":"x"}', '{"intent":""}',
        '{"intent":"café ☕"}', '{"intent":5}', '{"intent":true}', '{"intent":null}', '{"intent":-0}',
        '{"intent":1.5}', '{"intent":"a","intent":"b"}', '{"my_intent":"no"}', '{"a":"intent","b":1}',
        '{"meta":{"intent":"nested"}}', '{"intent": "spaced"}', '{"intent":"esc\\"aped"}',
        '{"intent":"tab\\there"}', '{"intent":"line\nbreak"}', '{"intent\\u0020":"k"}', '{"int\\u0065nt":"u"}',
        '["intent"]', 'intent', '{"intent":"unterminated', '{"intent":"x"}\n', ' {"intent":"lead"}', '{}',
        '{"intent":01}', None, '{"a":[1,{"intent":"in-list"}],"intent":"top"}'], dtype="object")
    want = tags.map(_intent)
    got = intents(tags)
    pd.testing.assert_series_equal(got, want)
    pd.testing.assert_series_equal(intents(tags.astype("string")), tags.astype("string").map(_intent))
    assert want.notna().sum() >= 8 and want.isna().sum() >= 8          # both kinds of rows were tried
    week = pd.read_parquet(Path(__file__).resolve().parents[2] / "sample_data" / "requests.parquet")["tags"]
    pd.testing.assert_series_equal(intents(week), week.map(_intent))
    pd.testing.assert_series_equal(intents(week.astype("object")), week.astype("object").map(_intent))


def test_the_app_uses_the_shared_stylesheet(log, frozen_book):
    """Like the other apps: the ``.wb-app`` class and its stylesheet (header, tables, errors)."""
    from workbench.widgets import _html

    app = make_cache_replay(log, frozen_book, query="kind=normalized")
    assert "wb-app" in app._dom_classes and "wb-cache-replay" in app._dom_classes
    assert app.head.value.startswith(_html.STYLE) and "class='wb-title'" in app.head.value
    for table in (app.tenants.value, app.prefix.value):
        assert "<table class='wb-table'>" in table and "class='num'" not in table
    assert "wb-num" in app.tenants.value
    broken = make_cache_replay(log.drop(columns=["ts"]), frozen_book)   # the error page too
    assert "wb-app" in broken._dom_classes and broken.value.startswith(_html.STYLE)
    assert "class='wb-error'" in broken.value


def test_an_uploaded_log_is_prepared_as_the_first_one(log, frozen_book):
    """One preparation (time order, intents from tags) for the first log and every later one."""
    from workbench.widgets.cache_replay import prepared

    app = make_cache_replay(log, frozen_book)
    shuffled = log.sample(frac=1.0, random_state=1)
    app.state.set_log(shuffled, "shuffled")
    pd.testing.assert_frame_equal(app.state.log, prepared(log))
    assert app.state.log["ts"].is_monotonic_increasing and "intent" in app.state.log
    assert app.state.log["intent"].iloc[0] == json.loads(app.state.log["tags"].iloc[0])["intent"]
