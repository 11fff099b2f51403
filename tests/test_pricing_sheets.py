"""The real price sheets: schema, provenance and coverage — not amounts (golden tests use the frozen sheet).

Also the cross-check against LiteLLM's price map: every disagreement is listed, and each must be
explained in the sheet (``litellm_diff``)."""
from __future__ import annotations

import datetime as dt

import pytest

from workbench.core.prices import NoPriceError
from workbench.io.litellm_import import diff_against_litellm, format_diff, load_litellm_map

HOSTED = ("openai", "anthropic", "google", "mistral")
# Tests pin their date: a price that changes on a future day must never turn CI red on that day.
# The LiteLLM map in ../shared/data is the copy shipped in the litellm 1.109.1 wheel; compare the prices
# our sheets had in force while that copy was current. `workbench prices litellm-diff` shows a person
# today's disagreements.
LITELLM_SNAPSHOT_DAY = dt.date(2026, 11, 15)
SHEET_DAY = dt.date(2026, 11, 15)
SEED_MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4-turbo", "claude-3-haiku", "claude-3-5-sonnet", "claude-haiku-4-5",
               "claude-sonnet-4-5", "claude-sonnet-4-6", "claude-opus-4", "claude-opus-4-1", "gemini-1.5-flash",
               "gemini-2.5-flash", "gemini-2.5-pro", "mistral-large"]


def test_every_vendor_has_a_sheet(real_book):
    assert set(HOSTED) | {"self-hosted"} <= set(real_book.vendors())


def test_at_least_30_hosted_models(real_book):
    hosted = [m for m in real_book.models() if m.vendor in HOSTED]
    assert len(hosted) >= 30, len(hosted)
    for vendor in HOSTED:
        assert len(real_book.models(vendor)) >= 4, vendor


@pytest.mark.parametrize("name", SEED_MODELS)
def test_models_the_seeds_name_are_priced(real_book, name):
    info = real_book.model(name)
    assert info.history, name


def test_gpt4o_history_has_launch_and_later_price(real_book):
    launch = real_book.price_on("gpt-4o", "2024-05-13")
    later = real_book.price_on("gpt-4o", "2024-12-01")
    assert (launch.input, launch.output) == (5.0, 15.0)
    assert (later.input, later.output) == (2.5, 10.0)
    assert launch.source != later.source or launch.note != later.note


def test_every_record_has_a_source_and_sane_rates(real_book):
    for m in real_book.models():
        for r in m.history:
            assert r.source.strip(), m.id
            if m.vendor in HOSTED:
                assert "https://" in r.source, (m.id, r.source)
            assert 0 < r.input < 1_000 and 0 < r.output < 1_000, m.id
            if not r.derived:
                assert r.output >= r.input or m.vendor == "self-hosted", m.id
            if r.cached_input is not None:
                assert r.cached_input <= r.input, m.id
            if r.batch_input is not None:
                assert r.batch_input <= r.input and r.batch_output <= r.output, m.id
            for t in r.tiers:
                assert t.rates.get("input", r.input) >= r.input, m.id


def test_active_models_have_a_price_on_the_pinned_day(real_book):
    for m in real_book.models():
        if m.status == "active":
            try:
                m.price_on(SHEET_DAY)
            except NoPriceError as e:
                pytest.fail(str(e))


def test_openai_models_count_exactly_others_are_estimates(real_book):
    for m in real_book.models():
        if m.vendor == "openai" or "gpt-oss" in m.id:  # OpenAI's open weights use o200k too, wherever hosted
            assert m.tokenizer in ("o200k_base", "cl100k_base"), m.id
        else:
            assert m.tokenizer.startswith("estimate:"), m.id
        assert m.context_window and m.context_window >= 4_000, m.id


def test_litellm_cross_check_every_disagreement_is_explained(real_book, shared_data):
    litellm = load_litellm_map(shared_data / "litellm_price_map" / "model_prices_and_context_window.json")
    diff = diff_against_litellm(real_book, litellm, on=LITELLM_SNAPSHOT_DAY)
    print(format_diff(diff))  # the full list, visible with `pytest -s` or in the report on failure
    assert not diff.missing_keys, f"sheet names LiteLLM keys the map lacks: {diff.missing_keys}"
    unexplained = [f"{d.model} {d.field}: ours {d.ours} vs LiteLLM {d.theirs} ({d.kind})" for d in diff.unexplained]
    assert not unexplained, "\n".join(unexplained)
    linked = [m for m in real_book.models() if m.litellm]
    assert len(linked) >= 30


# genai-prices ships its data inside the wheel; the version is pinned in pyproject.toml (test extra),
# and the comparison day is pinned too: a price that changes later never turns CI red.
GENAI_PRICES_DAY = dt.date(2026, 11, 15)


def test_genai_prices_cross_check_every_disagreement_is_explained(real_book):
    from workbench.io.genai_prices_import import diff_against_genai_prices

    diff = diff_against_genai_prices(real_book, on=GENAI_PRICES_DAY)
    print(format_diff(diff))
    assert diff.peer == "genai-prices" and diff.source.startswith("genai-prices 0.2.3")
    unexplained = [f"{d.model} {d.field}: ours {d.ours} vs genai-prices {d.theirs} ({d.kind})" for d in diff.unexplained]
    assert not unexplained, "\n".join(unexplained)
    compared = {d.model for d in diff.disagreements} | {m.id for m in real_book.models()
                                                        if m.vendor in HOSTED and m.id not in dict(diff.missing_keys)}
    assert len(compared) >= 40, "genai-prices must match most of our hosted models"
    # the review sees the rate kinds this issue added: OpenAI 30-minute writes and Gemini audio match
    assert not [d for d in diff.disagreements if d.field in ("cache_write_30m",) or
                (d.model == "gemini-2.5-flash" and "audio" in d.field)]


def test_both_peers_review_responses_mode_and_audio_rates(real_book, shared_data):
    litellm = load_litellm_map(shared_data / "litellm_price_map" / "model_prices_and_context_window.json")
    diff = diff_against_litellm(real_book, litellm, on=LITELLM_SNAPSHOT_DAY)
    modes = {litellm[n["litellm_key"]].get("mode") for n in diff.new_models}
    assert "chat" in modes
    responses = [k for k, v in litellm.items() if v.get("mode") == "responses" and v.get("litellm_provider") == "openai"]
    assert responses, "the snapshot has responses-mode models"
    covered = {k.lower() for m in real_book.models() for k in (m.id, *m.aliases, *m.litellm)}
    listed = {n["litellm_key"] for n in diff.new_models}
    assert all(k in listed or k.lower() in covered or k.split("/")[-1].lower() in covered for k in responses
               if litellm[k].get("input_cost_per_token") is not None)


def test_a_dated_snapshot_priced_apart_from_its_alias_has_its_own_history(real_book):
    # gpt-4o-2024-08-06 launched at $2.50/$10 while the gpt-4o alias cost $5/$15 until 2024-10-02
    assert real_book.resolve("gpt-4o-2024-08-06") == "gpt-4o-2024-08-06"
    snap, alias = real_book.price_on("gpt-4o-2024-08-06", "2024-08-20"), real_book.price_on("gpt-4o", "2024-08-20")
    assert (snap.input, snap.output) == (2.5, 10.0) and (alias.input, alias.output) == (5.0, 15.0)
    assert snap.source.startswith("https://")


def test_service_tiers_have_sources_and_are_cross_checked(real_book, shared_data):
    tiers = [(m.id, n, t) for m in real_book.models() for r in m.history for n, t in r.service_tiers.items()]
    assert {n for _, n, _ in tiers} >= {"flex", "priority", "regional", "us_only"}
    assert all(t.source.startswith("https://") for _, _, t in tiers)
    litellm = load_litellm_map(shared_data / "litellm_price_map" / "model_prices_and_context_window.json")
    litellm["gpt-5.6-sol"] = dict(litellm["gpt-5.6-sol"], input_cost_per_token_priority=9e-6)  # a peer that moved
    diff = diff_against_litellm(real_book, litellm, on=LITELLM_SNAPSHOT_DAY)
    assert [(d.model, d.field, d.ours, d.theirs) for d in diff.disagreements if "priority" in d.field] == [
        ("gpt-5.6-sol", "priority input", 8.0, 9.0)]
    assert ("gemini-2.5-flash", "flex") in diff.tiers_not_recorded  # listed for a person, never guessed


def test_gpt_oss_self_hosted_and_hosted(real_book):
    """gpt-oss: GPU-time price derived from the sheet's own hardware and throughput figures, beside a hosted
    API's list price (issue 8 coverage)."""
    for model, hw, tps in (("gpt-oss-120b", "h100-80gb-x2", 7648.67 + 8393.52), ("gpt-oss-20b", "h100-80gb", 9064.40 + 10064.39)):
        rec = real_book.price_on(model, LITELLM_SNAPSHOT_DAY)
        usd_per_hour = {"h100-80gb": 3.78, "h100-80gb-x2": 7.56}[hw]
        assert rec.derived and rec.input == rec.output == pytest.approx(usd_per_hour / (3600 * tps) * 1e6)
        assert "gpustack" in rec.source and f"${usd_per_hour}/h" in rec.note
        hosted = real_book.price_on(f"bedrock/{model}", LITELLM_SNAPSHOT_DAY)
        assert hosted.source.startswith("https://pricing.us-east-1.amazonaws.com/")
        assert real_book.resolve(f"openai/{model}") == model
