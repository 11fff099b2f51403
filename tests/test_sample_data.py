"""The committed sample week: regenerates row for row, conforms to the schema, keeps its stated figures."""
from __future__ import annotations

from pathlib import Path

import importlib.util
import json

import pandas as pd
import pytest

from workbench.core import attribution as attr
from workbench.core.frame_cost import price_frame
from workbench.core.schema import COLUMNS, COLUMN_NAMES, REQUIRED

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = ROOT / "sample_data"
SCRIPT = ROOT / "scripts" / "make_sample_data.py"

#: Figures stated in sample_data/README.md ("Figures of the generated week").
DOCUMENTED = {
    "rows": 58_565, "logical_requests": 56_918,
    "support_chat_input_mean": 4_029, "support_chat_input_p50": 3_512, "support_chat_input_p95": 7_518,
    "support_chat_output_mean": 214, "support_chat_cached_share": 0.785,
    "support_chat_retry_amplification": 1.0284,
    "rag_answer_input_mean": 2_396, "rag_answer_output_mean": 217, "rag_answer_cached_share": 0.383,
    "rag_answer_retry_amplification": 1.0426,
    "classification_input_mean": 3_151, "classification_output_mean": 23,
    "nightly_summary_input_mean": 4_141, "nightly_summary_cached_share": 0.272,
    "support_conversations": 5_555, "support_turns_mean": 3.82, "support_first_message_words": 7.37,
    "rag_exact_repeat_share": 0.316, "rag_normalised_repeat_share": 0.366, "rag_cluster_repeat_share": 0.963,
    "rag_paraphrase_jaccard": 0.411, "success_rate_strong": 0.808, "success_rate_cheap": 0.682,
    "spike_day_rag_calls": 5_775, "spike_baseline_rag_calls": 2_984,
}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_sample_data", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return pd.read_parquet(SAMPLE / "requests.parquet")


@pytest.fixture(scope="module")
def generated(script):
    return script.generate(script.SEED)


def test_committed_sample_regenerates_row_identically(committed, generated):
    pd.testing.assert_frame_equal(committed, generated["requests"], check_exact=True)
    for name in ("tenants", "system_prompts"):
        on_disk = (SAMPLE / f"{name}.csv").read_text()
        assert generated[name].to_csv(index=False) == on_disk, name


def test_schema_conforms(committed):
    assert tuple(committed.columns) == COLUMN_NAMES
    for c in COLUMNS:
        assert str(committed[c.name].dtype) == c.dtype, c.name
    assert not committed[list(REQUIRED)].isna().any().any()
    assert committed["request_id"].is_unique
    assert committed["ts"].is_monotonic_increasing
    assert committed["ts"].min() >= pd.Timestamp("2025-11-03", tz="UTC")
    assert committed["ts"].max() < pd.Timestamp("2025-11-10", tz="UTC")
    assert set(committed["status"]) == {"ok", "error", "timeout", "rate_limited"}
    assert (committed["cached_input_tokens"] + committed["cache_write_tokens"] <= committed["input_tokens"]).all()
    failed = committed["status"].isin(["error", "rate_limited"])
    assert (committed.loc[failed, ["input_tokens", "output_tokens"]] == 0).all().all()
    ok = committed["status"] == "ok"
    assert committed.loc[ok, "quality"].between(0, 1).all() and committed.loc[~ok, "quality"].isna().all()
    assert committed["attempt"].min() == 1 and committed["attempt"].max() >= 3
    assert set(committed["token_source"]) == {"logged"}


def test_sample_has_what_the_apps_need(committed):
    tags = committed["tags"].map(json.loads)
    assert set(committed["feature"]) == {"support_chat", "rag_answer", "classification", "nightly_summary"}
    tenants = pd.read_csv(SAMPLE / "tenants.csv")
    assert set(committed["tenant"]) == set(tenants["tenant"]) and len(tenants) == 12
    assert set(tenants["plan"]) == {"free", "pro", "enterprise"}
    # prompts for support and RAG (exact / semantic cache replay), none for the others
    has_prompt = committed["prompt"].notna()
    assert has_prompt[committed["feature"].isin(["support_chat", "rag_answer"])].all()
    assert not has_prompt[committed["feature"].isin(["classification", "nightly_summary"])].any()
    chat = committed[committed["feature"] == "support_chat"]["prompt"].map(json.loads)
    assert chat.map(len).max() >= 20 and all(m["role"] in ("user", "assistant") for m in chat.iloc[0])
    # retries share a logical id with their first attempt
    logical = tags.map(lambda t: t["logical_id"])
    firsts = logical[committed["attempt"] == 1]
    assert firsts.is_unique and set(logical) == set(firsts)
    # shared system prompts, all documented; provider caching on OpenAI and Anthropic only
    prompts = pd.read_csv(SAMPLE / "system_prompts.csv")
    assert set(committed["system_prompt_hash"]) == set(prompts["system_prompt_hash"])
    vendor_cached = committed.groupby(committed["model"].str[:3])["cached_input_tokens"].sum()
    assert vendor_cached["cla"] > 0 and vendor_cached["gpt"] > 0 and vendor_cached["gem"] == 0
    assert committed.loc[committed["model"].str.startswith("claude"), "cache_write_tokens"].sum() > 0
    assert committed.loc[~committed["model"].str.startswith("claude"), "cache_write_tokens"].sum() == 0
    batch = tags[committed["feature"] == "nightly_summary"].map(lambda t: t.get("batch_eligible"))
    assert batch.all()
    assert (SAMPLE / "requests.parquet").stat().st_size < 10_000_000


def test_stated_figures_hold(script, committed):
    got = script.describe(committed)
    for key, stated in DOCUMENTED.items():
        assert got[key] == pytest.approx(stated, rel=0.005), key


def test_injected_anomaly_is_the_only_feature_flag(committed, real_book):
    priced = price_frame(committed, real_book)
    flags = attr.anomalies(priced, by="feature")
    flagged = flags[flags["anomaly"]]
    assert list(zip(flagged["feature"], flagged["day"])) == [("rag_answer", pd.Timestamp("2025-11-09"))]
    assert flagged.iloc[0]["ratio"] == pytest.approx(2.42, abs=0.05)
    assert attr.latest_day(priced) == pd.Timestamp("2025-11-09")


def test_real_trace_figures_are_measured(script, shared_data):
    got = script.measure(shared_data)
    assert set(got) == set(script.FIGURES)
    for key, value in got.items():
        assert value == pytest.approx(script.FIGURES[key], abs=1e-4 * max(1.0, abs(value))), key


def test_preview_is_rows_of_the_week_and_loads(committed):
    preview = pd.read_csv(SAMPLE / "requests_preview.csv")
    assert 100 < len(preview) < 500
    assert set(preview["request_id"]) <= set(committed["request_id"])
    from workbench.io.traffic import load_log

    result = load_log(SAMPLE / "requests_preview.csv")
    assert not result.rejected, result.summary()
    loaded = result.frame.set_index("request_id")
    from workbench.core.schema import EXTRA_TOKEN_NAMES  # optional token kinds: 0 in a log without them
    assert (loaded[list(EXTRA_TOKEN_NAMES)] == 0).all().all()
    assert loaded["service_tier"].isna().all()  # no tier logged: standard
    loaded = loaded.drop(columns=[*EXTRA_TOKEN_NAMES, "service_tier"])
    pd.testing.assert_frame_equal(loaded, committed.set_index("request_id").loc[loaded.index])

