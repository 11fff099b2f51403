"""The cache replay and the cascade simulator on a log the engineer uploads (the shared log source):
every figure is the core's, called here directly on the same file as ``load_log`` reads it."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import SHARED_DATA
from workbench.core.cache import CacheConfig, prefix_replay, replay_cache
from workbench.io.traffic import load_log

ROOT = Path(__file__).resolve().parents[2]


def log_csv(n: int, *, models=("gpt-4.1-mini", "gpt-4.1"), prompts: bool = True, bad_lines: int = 0) -> bytes:
    """A small log in the canonical CSV columns: four questions asked again and again by three
    tenants over two days; ``bad_lines`` rows with a negative token count at the end."""
    rows = ["request_id,ts,tenant,feature,model,prompt,input_tokens,output_tokens,status"]
    for i in range(n):
        prompt = ["reset my password", "refund policy", "track order 17", "cancel order"][i % 4] if prompts else ""
        rows.append(f"u{i:04d},2025-11-1{2 + i % 2}T{8 + (i // 30) % 12:02d}:{i % 60:02d}:07Z,t{i % 3},"
                    f"{'chat' if i % 5 else 'search'},{models[i % len(models)]},{prompt},{400 + 7 * i},{60 + i},ok")
    rows += [f"bad{j},2025-11-12T12:00:00Z,t0,chat,{models[0]},x,-5,1,ok" for j in range(bad_lines)]
    return ("\n".join(rows) + "\n").encode()


def read(tmp_path, name: str, content: bytes, book) -> pd.DataFrame:
    path = tmp_path / name
    path.write_bytes(content)
    return load_log(path, book=book).frame


# -- cache replay ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cache_app(real_book):
    from workbench.widgets.cache_replay import make_cache_replay
    return make_cache_replay(book=real_book, query="kind=exact&ttl=3600")


def test_the_cache_replay_runs_on_an_uploaded_log(cache_app, real_book, tmp_path):
    app, s = cache_app, cache_app.state
    week = s.summary
    content = log_csv(240, bad_lines=2)
    app.log_view.upload.deliver("helpdesk.csv", content)
    assert s.log_source.errors == {} and s.error == ""
    frame = read(tmp_path, "helpdesk.csv", content, real_book)
    want = replay_cache(frame, CacheConfig(kind="exact", ttl_s=3600), real_book).summary
    assert s.summary["requests"] == 240 != week["requests"]
    assert {k: s.summary[k] for k in want} == want and want["cache_hits"] > 0
    assert f"data-testid='hits' data-value='{want['cache_hits']}'>{want['cache_hits']:,}<" in app.kpis.value
    assert "240 logged requests" in app.head.value
    assert "data-testid='log-rejected'>2<" in app.log_view.summary.value
    assert app.log_view.label.value.count("Uploaded helpdesk.csv") == 1
    # the prefix what-if runs on it too (its system prompts are unknown: none given)
    assert s.prefix["as_logged"] == prefix_replay(frame, "openai", real_book).summary
    # a control still drives the replay, on the uploaded log
    app.ttl.value = 60
    assert s.summary["cache_hits"] == replay_cache(frame, CacheConfig(ttl_s=60), real_book).summary["cache_hits"]
    app.ttl.value = 3600


def test_a_log_without_prompts_is_refused_with_a_message(cache_app, real_book, tmp_path):
    app, s = cache_app, cache_app.state
    app.log_view.upload.deliver("good.csv", log_csv(60))
    before = dict(s.summary)
    app.kind.value = "semantic"                  # the kind that embeds prompt texts
    semantic = dict(s.summary)
    app.log_view.upload.deliver("tokens_only.csv", log_csv(60, prompts=False))
    msg = s.log_source.errors["upload"]
    assert msg.startswith("tokens_only.csv: no row has 'prompt'") and "compares prompt texts" in msg
    assert msg.endswith("nothing changed") and "tokens_only.csv" in app.log_view.error.value
    assert s.summary == semantic and len(s.log) == 60 and s.error == ""
    app.kind.value = "exact"
    assert s.summary == before


def test_the_sample_week_button_brings_the_week_back(cache_app, real_book):
    app, s = cache_app, cache_app.state
    app.log_view.upload.deliver("small.csv", log_csv(30))
    assert s.summary["requests"] == 30
    app.log_view.sample_button.click()
    week = pd.read_parquet(ROOT / "sample_data" / "requests.parquet")
    assert s.summary["requests"] == len(week) and s.log_source.errors == {}
    assert s.system_prompts and "Sample week" in app.log_view.label.value


# -- cascade simulator -----------------------------------------------------------------------------

@pytest.fixture
def mirror(monkeypatch, shared_data):
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(SHARED_DATA))


@pytest.mark.usefixtures("mirror")
def test_the_cascade_is_projected_onto_an_uploaded_log(real_book, tmp_path):
    from workbench.core.cascade.traffic import TrafficProjection
    from workbench.widgets.cascade import _usd, make_cascade_simulator

    app = make_cascade_simulator(query="dataset=routellm-gsm8k&signal=valid", day="2025-01-01", bootstrap=20)
    s = app.state
    assert "Sample week" in app.log_view.label.value
    week_month = s.traffic["saved_usd_per_month"]
    content = log_csv(300, bad_lines=1)
    app.log_view.upload.deliver("ours.csv", content)
    assert s.log_source.errors == {} and not s.errors, (s.log_source.errors, s.errors)
    frame = read(tmp_path, "ours.csv", content, real_book)
    mine = TrafficProjection(frame, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1")
    strong_q = s._scored.td.quality[:, -1].mean()
    at_once = mine.at(s.point["escalation_rate"])["saved_usd_per_month"]   # the point did not move
    assert f"data-testid='traffic-month'>{_usd(abs(at_once))}<" in app.traffic.value
    for i in (0, len(s.grid) // 2, len(s.grid) - 1):
        app.slider.value = i
        t, p = s.traffic, s.point
        want = mine.at(p["escalation_rate"], p["quality"] - strong_q)
        assert t["requests"] == 300 and t["cascade_pusd"] == want["cascade_pusd"]
        assert t["saved_usd_per_month"] == want["saved_usd_per_month"]
        assert {f["feature"] for f in t["by_feature"]} == {"chat", "search"}
        assert f"data-testid='traffic-month'>{_usd(abs(t['saved_usd_per_month']))}<" in app.traffic.value
    assert s.traffic["saved_usd_per_month"] != week_month
    assert "data-testid='log-rejected'>1<" in app.log_view.summary.value
    assert s.traffic_models == sorted({real_book.resolve(m) for m in frame["model"].unique()})

    # a log without the strong tier: the pair becomes the log's cheapest and dearest models
    other = log_csv(120, models=("claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"))
    app.log_view.upload.deliver("claude.csv", other)
    haiku, sonnet = (real_book.resolve(m) for m in ("claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"))
    assert s.traffic_tiers == [haiku, sonnet] and not s.errors
    theirs = TrafficProjection(read(tmp_path, "claude.csv", other, real_book), real_book, cheap=haiku, strong=sonnet)
    assert s.traffic["cascade_pusd"] == theirs.at(s.point["escalation_rate"])["cascade_pusd"]
    assert [d.value for d in app.traffic_dd] == [haiku, sonnet]

    # the cheap tier need not be in the log: every hosted model priced over its days for less than
    # the strong one is offered (the strong tier stays one of the log's models)
    day = pd.Timestamp(read(tmp_path, "claude.csv", other, real_book)["ts"].max()).date()
    usd = lambda m: real_book.price_on(m, day).input + real_book.price_on(m, day).output   # noqa: E731
    cheap = set(app.traffic_dd[0].options)
    assert {"gpt-4.1-mini", "gemini-2.5-flash-lite", haiku} <= cheap and sonnet not in cheap
    assert all(usd(m) < usd(sonnet) for m in cheap - {haiku}) and len(cheap) > 10
    assert set(app.traffic_dd[1].options) == {haiku, sonnet}
    app.traffic_dd[0].value = "gpt-4.1-mini"                 # a model the log never called
    assert s.traffic_tiers == ["gpt-4.1-mini", sonnet] and not s.errors
    mini = TrafficProjection(read(tmp_path, "claude.csv", other, real_book), real_book, cheap="gpt-4.1-mini",
                             strong=sonnet)
    assert s.traffic["cascade_pusd"] == mini.at(s.point["escalation_rate"])["cascade_pusd"]

    # the sample week comes back with its button, and with it the week's figures
    app.log_view.sample_button.click()
    assert s.traffic["requests"] == len(pd.read_parquet(ROOT / "sample_data" / "requests.parquet"))
