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
    assert "URL setting ignored" in app.state.error or app.state.error == ""
    assert app.state.kind == "exact" and app.state.result is not None
