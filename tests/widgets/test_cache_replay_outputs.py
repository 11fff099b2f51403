"""Every figure the cache replay app shows equals what the core computes for the same settings.

The app keeps per-log work between changes (:class:`~workbench.core.cache.CacheReplayer`) and
defers the prefix what-if; these tests change the controls one after another on real traffic (a
slice of the sample week: chats, system prompts, intents, eleven tenants, real price sheets) and
compare the KPIs, the per-tenant table, the hit pairs, the chart's data and the prefix table with
fresh calls of :func:`~workbench.core.cache.replay_cache` / :func:`~workbench.core.cache.prefix_replay`.
"""
from __future__ import annotations

import asyncio
import re
import threading
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from workbench.core.cache import CacheConfig, prefix_replay, replay_cache
from workbench.widgets import cache_replay
from workbench.widgets._html import usd
from workbench.widgets.cache_replay import CacheReplayApp, CacheReplayState, make_cache_replay
from workbench.widgets.painted import PaintSignal, after_paint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def week():
    """Every 15th request of the sample week (about 3,900: the whole week, every tenant and model)."""
    log = pd.read_parquet(ROOT / "sample_data" / "requests.parquet")
    log = log.sort_values(["ts", "request_id"]).iloc[::15].reset_index(drop=True)
    sp = pd.read_csv(ROOT / "sample_data" / "system_prompts.csv")
    return log, dict(zip(sp["system_prompt_hash"], sp["tokens"]))


@pytest.fixture(scope="module")
def real_prices():
    from workbench.io.pricesheets import load_prices
    return load_prices()


def _kpis(html: str) -> dict:
    return {k: v for k, v in re.findall(r"data-testid='([\w-]+)' data-value='([^']*)'", html)}


def _num(text: str):
    return None if text == "None" else float(text)


def _rows(html: str, row_re: str) -> list[list[str]]:
    return [[unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(row_re, html, re.S)]


def _expected(state: CacheReplayState, book):
    frame = state.log.head(state.sample) if state.kind == "semantic" else state.log
    return replay_cache(frame, state.config, book, label="intent")


def check_outputs(app: CacheReplayApp, book, system_prompts) -> None:
    s = app.state
    assert s.error == ""
    want = _expected(s, book)
    m = want.summary
    assert s.summary == dict(m, sampled=s.kind == "semantic")

    # the KPIs: every shown figure (data-value) and its text
    k = _kpis(app.kpis.value)
    assert float(k["hit-rate"]) == m["hit_rate"] and int(k["hits"]) == m["cache_hits"]
    assert int(k["false-hits"]) == m["false_hits"]
    assert float(k["saved"]) == m["saved_usd"] and float(k["net-saved"]) == m["net_saved_usd"]
    assert float(k["overhead"]) == m["embedding_usd"] + m["write_usd"]
    assert _num(k["latency"]) == m["latency_saved_ms"]
    assert f"{100 * m['hit_rate']:.1f}%" in app.kpis.value and usd(m["net_saved_usd"]) in app.kpis.value
    assert ("cross-tenant hits" in app.kpis.value) == m["shared_across_tenants"]

    # the per-tenant table, row by row
    bt = want.by_tenant()
    rows = _rows(app.tenants.value, r"<tr data-testid='tenant-[^']*'>(.*?)</tr>")
    assert len(rows) == len(bt) > 0
    for row, x in zip(rows, bt.itertuples()):
        assert row == [str(x.tenant), f"{x.requests:,}", f"{x.hits:,}", f"{100 * x.hit_rate:.1f}%",
                       f"{x.false_hits:,}", usd(x.saved_usd), f"{x.cross_tenant_hits:,}"]

    # the pairs: false hits side by side (the request, the cached request, similarity)
    pairs = want.hit_pairs(only_false=True, limit=12)
    rows = _rows(app.pairs.value, r"<tr class='wb-false-pair'>(.*?)</tr>")
    assert rows == [[str(p.prompt), str(p.cached_prompt), f"{p.similarity:.3f}"] for p in pairs.itertuples()]

    # the chart's data, as sent to the browser
    t = want.over_time("1h" if len(want.frame) < 20_000 else "6h")
    (data,) = app.chart.spec["datasets"].values()
    got = pd.DataFrame(data)
    assert len(got) == len(t) > 12
    assert (pd.to_datetime(got["ts"], utc=True) == t["ts"]).all()
    for col in ("requests", "hits", "hit_rate", "saved_usd"):
        assert got[col].tolist() == t[col].tolist(), col

    # the prefix what-if of the chosen provider, both layouts
    kw = {"system_prompts": system_prompts}
    logged = prefix_replay(s.log, s.provider, book, **kw).summary
    static = prefix_replay(s.log, s.provider, book, static_first=True, **kw).summary
    assert s.prefix == {"as_logged": logged, "static_first": static}
    for key, x in (("logged", logged), ("static", static)):
        row = re.search(rf"<tr data-testid='prefix-{key}'>(.*?)</tr>", app.prefix.value, re.S).group(1)
        assert f"data-value='{x['net_saved_usd']}'" in row
        assert f"{100 * x['cached_token_share']:.1f}%" in row and usd(x["gross_saved_usd"]) in row


def test_every_output_matches_the_core_over_a_sequence_of_changes(week, real_prices):
    log, system_prompts = week
    app = CacheReplayApp(CacheReplayState(log, real_prices, system_prompts=system_prompts))
    check_outputs(app, real_prices, system_prompts)
    seen = {app.state.summary["cache_hits"]}
    for control, value in [("ttl", 600), ("ttl", 60), ("kind", "normalized"), ("context", "last_message"),
                           ("share", True), ("ns", ("model",)), ("provider", "anthropic"), ("ttl", 86400),
                           ("kind", "exact"), ("ttl", 600), ("context", "conversation"),
                           ("ns", ("tenant", "prompt_version", "model")), ("provider", "openai"),
                           ("sample", 400), ("kind", "semantic"), ("threshold", 0.8), ("ttl", 3600)]:
        getattr(app, control).value = value
        check_outputs(app, real_prices, system_prompts)
        seen.add(app.state.summary["cache_hits"])
    assert len(seen) >= 8          # the changes really changed the figures


def test_the_prefix_what_if_comes_after_the_first_screen(week, real_prices, monkeypatch, run_async):
    """In a kernel the first screen has the cache replay; the prefix table follows by itself once
    the page reports it has drawn the app (computed in steps on the kernel's loop)."""
    log, _ = week
    log = log.head(1500)

    async def scenario():
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(cache_replay, "_kernel_loop", lambda: loop)
        app = make_cache_replay(log, real_prices, query="provider=anthropic&ttl=600")
        assert app.state.prefix == {} and "prefix-pending" in app.prefix.value
        assert app.state.summary["cache_hits"] == replay_cache(log, CacheConfig(ttl_s=600), real_prices).summary[
            "cache_hits"]
        signal = app.children[-1]
        assert isinstance(signal, PaintSignal)
        signal.painted = True                    # what the page sends once it shows the app
        for _ in range(1200):
            if app.state.prefix:
                break
            await asyncio.sleep(0.05)
        want = prefix_replay(log, "anthropic", real_prices).summary
        assert app.state.prefix["as_logged"] == want
        assert "prefix-logged" in app.prefix.value and "prefix-pending" not in app.prefix.value

    run_async(scenario)


def test_the_loop_serves_control_changes_while_the_what_if_is_computed(week, real_prices, monkeypatch, run_async):
    """The what-if runs in short steps on the kernel's loop (never on another thread, which would
    hold the GIL against the controls): a control change in that window is served between two
    steps, and both its replay and the what-if then equal fresh core calls."""
    from workbench.core.cache import prefix
    from workbench.core.cache.prefix import _encoder

    log, system_prompts = week
    _encoder()                                   # loaded once per kernel; timed in bench_cache_app.py
    threads = set()
    steps = prefix.prefix_replay_steps

    def recorded(*a, **kw):
        result = yield from steps(*a, **kw)
        threads.add(threading.get_ident())
        return result

    monkeypatch.setattr(cache_replay, "prefix_replay_steps", recorded)

    async def scenario():
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(cache_replay, "_kernel_loop", lambda: loop)
        app = make_cache_replay(log, real_prices, query="ttl=600")
        s = app.state
        s.system_prompts = system_prompts
        turns, served = 0, []
        app.children[-1].painted = True
        while not s.prefix:
            await asyncio.sleep(0)               # another callback waiting on the loop gets its turns
            turns += 1
            if turns == 5:                       # a control change in the window
                app.ttl.value = 60
                served.append(bool(s.prefix))
        assert served == [False] and turns > 10  # (how fast: benchmarks/bench_cache_app.py)
        assert threads == {threading.get_ident()}
        check_outputs(app, real_prices, system_prompts)
        assert s.summary["cache_hits"] == replay_cache(log, CacheConfig(ttl_s=60), real_prices).summary["cache_hits"]

    run_async(scenario)


def test_a_provider_or_log_change_while_the_what_if_runs_shows_the_new_one(week, real_prices, monkeypatch,
                                                                           run_async):
    log, _ = week
    log = log.head(1200)
    other = log.tail(500)

    async def scenario():
        loop = asyncio.get_running_loop()
        monkeypatch.setattr(cache_replay, "_kernel_loop", lambda: loop)
        app = make_cache_replay(log, real_prices)
        s = app.state
        task = s.run_prefix_on(loop)
        await asyncio.sleep(0)
        assert not task.done()
        app.provider.value = "anthropic"         # the table waits for the new provider's figures
        assert s.prefix == {} and "prefix-pending" in app.prefix.value
        await task
        assert s.prefix["as_logged"] == prefix_replay(log, "anthropic", real_prices).summary
        assert "prefix-logged" in app.prefix.value
        s.set_log(other, "the last 500")         # a new log: pending again, then its own figures
        assert s.prefix == {}
        await s._prefix_task
        assert s.prefix["static_first"] == prefix_replay(other, "anthropic", real_prices, static_first=True).summary
        app.provider.value = "openai"
        await s._prefix_task
        assert s.prefix["as_logged"] == prefix_replay(other, "openai", real_prices).summary
        app.provider.value = "anthropic"         # computed before: shown at once
        assert s.prefix["as_logged"] == prefix_replay(other, "anthropic", real_prices).summary

    run_async(scenario)


def test_after_paint_runs_once_and_falls_back_to_a_timer(run_async):
    async def scenario():
        loop = asyncio.get_running_loop()
        calls = []
        quick = after_paint(lambda: calls.append("timer"), loop, fallback_s=0.05)
        await asyncio.sleep(0.2)
        assert calls == ["timer"]
        quick.painted = True                     # a late report does not run it again
        painted = after_paint(lambda: calls.append("painted"), loop, fallback_s=0.2)
        painted.painted = True
        await asyncio.sleep(0.4)
        assert calls == ["timer", "painted"]

    run_async(scenario)
