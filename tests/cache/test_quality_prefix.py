"""Hit quality on labelled pairs, guards, provider prefix caching, Mooncake blocks, caching rules."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.core.cache import (
    choose_threshold, confusion, guard_effects, mooncake_block_replay, pr_curve, prefix_replay,
    read_pairs, threshold_table, wilson,
)
from workbench.core.cache.quality import bitext_pairs, guard_veto
from workbench.core.cache.rules import RulesError, load_rules, min_cacheable, provider_rule


def test_confusion_counts_and_curve():
    sim = np.array([0.95, 0.91, 0.88, 0.80, 0.70, 0.60])
    label = np.array([1, 0, 1, 1, 0, 0])
    row = confusion(sim, label, 0.85)
    assert (row["hits"], row["false_hits"], row["misses"], row["true_negatives"]) == (2, 1, 1, 2)
    assert row["precision"] == pytest.approx(2 / 3) and row["recall"] == pytest.approx(2 / 3)
    table = threshold_table(sim, label, [0.5, 0.9, 0.99])
    assert table["hits"].tolist() == [3, 1, 0] and table["false_hits"].tolist() == [3, 1, 0]
    assert table["precision"].isna().tolist() == [False, False, True]   # nothing served: undefined, not 100 %
    curve = pr_curve(sim, label)
    assert curve["recall"].is_monotonic_increasing and curve["recall"].iloc[-1] == 1.0
    for _, c in curve.iterrows():   # every point equals the confusion at that threshold
        assert c["hits"] == confusion(sim, label, c["threshold"])["hits"]


def test_wilson_interval():
    lo, hi = wilson(5, 100)
    assert lo == pytest.approx(0.02154, abs=1e-4) and hi == pytest.approx(0.11175, abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_threshold_for_target_false_hit_rate():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 4000)
    sim = np.clip(0.75 + 0.12 * (label - 0.5) + 0.08 * rng.normal(size=4000), 0, 1)
    best = choose_threshold(sim, label, 0.10)
    assert best["false_hit_rate_ci95"][1] <= 0.10
    # one step looser breaks the target, so this is the loosest threshold that meets it
    looser = np.unique(sim)[np.unique(sim) < best["threshold"]].max()
    assert confusion(sim, label, looser)["false_hit_rate_ci95"][1] > 0.10
    assert choose_threshold(sim, label, 0.0)["threshold"] is None


def test_guards_catch_numbers_negation_entities():
    a = ["How do I process 1 million requests?", "Is the API available?", "Flights from Paris to Rome"]
    b = ["How do I process 10 requests?", "Is the API not available?", "Flights from Paris to Berlin"]
    for g, i in (("numbers", 0), ("negation", 1), ("entities", 2)):
        veto = guard_veto(a, b, [g])
        assert veto[i], g
    assert not guard_veto(["what is 2 plus 2"], ["What is 2 plus 2?"], ["numbers", "negation"])[0]
    with pytest.raises(ValueError, match="valid"):
        guard_veto(a, b, ["typo"])


def test_guard_effects_on_qqp_sample(shared_data):
    pairs = read_pairs(shared_data / "gptcache_qqp" / "qqp_pairs_sample2000.jsonl")
    assert len(pairs) == 2000 and pairs["label"].sum() == 785
    # similarity by word overlap (Jaccard) keeps this test fast; the guards act the same on any score
    def jac(x, y):
        x, y = set(x.lower().split()), set(y.lower().split())
        return len(x & y) / max(len(x | y), 1)
    sim = np.array([jac(x, y) for x, y in zip(pairs["text_a"], pairs["text_b"])])
    eff = guard_effects(pairs, sim, 0.5).set_index("guard")
    assert (eff["hits"] + eff["false_hits"]).loc["all"] < (eff["hits"] + eff["false_hits"]).loc["none"]
    assert (eff["hit_rate_cost"] >= 0).all()
    assert eff.loc["numbers", "precision_gain"] > 0


def test_read_pairs_names_bad_lines(tmp_path):
    p = tmp_path / "pairs.jsonl"
    p.write_text('{"text_a": "a", "text_b": "b", "label": 1}\nnot json\n{"text_a": "a", "text_b": 3, "label": 0}\n'
                 '{"text_a": "a", "text_b": "b", "label": 7}\n')
    pairs = read_pairs(p)
    assert len(pairs) == 1
    assert [e.split(": ", 1)[0] for e in pairs.attrs["rejected"]] == [f"{p}:2", f"{p}:3", f"{p}:4"]


def test_bitext_pairs_balanced(shared_data):
    pairs = bitext_pairs(shared_data / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv",
                         n=200)
    assert len(pairs) == 200 and pairs["label"].sum() == 100
    assert (pairs["text_a"] != pairs["text_b"]).all()


def test_mooncake_unbounded_block_hit_ratio(shared_data):
    trace = pd.read_json(shared_data / "mooncake_synthetic" / "synthetic_trace.jsonl", lines=True)
    r = mooncake_block_replay(trace)
    assert round(100 * r["block_hit_ratio"], 1) == 64.0
    short = mooncake_block_replay(trace, ttl_s=1.0)
    assert short["blocks_hit"] < r["blocks_hit"]


def _prefix_log(system: str, users: list[str], model: str, gap_s: float = 10):
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    prompts = [json.dumps([{"role": "system", "content": system}, {"role": "user", "content": u}]) for u in users]
    return pd.DataFrame({"request_id": [f"p{i}" for i in range(len(users))],
                         "ts": [t0 + pd.Timedelta(seconds=gap_s * i) for i in range(len(users))],
                         "model": model, "prompt": prompts, "input_tokens": 8000, "output_tokens": 10})


def test_openai_prefix_cache_1024_then_128_steps(frozen_book):
    system = " ".join(f"rule{i}" for i in range(1500))      # well above 1,024 tokens
    log = _prefix_log(system, ["question one", "another question", "x"], "gpt-4o")
    r = prefix_replay(log, "openai", frozen_book)
    c = r.frame["prefix_cached_tokens"].tolist()
    assert c[0] == 0 and c[1] > 1024 and (c[1] - 1024) % 128 == 0 and c[1] == c[2]
    # gpt-4o on 2025-03-01: input $2.50, cached $1.25 per 1M; no write premium at OpenAI
    assert r.summary["gross_saved_usd"] == pytest.approx(2 * c[1] * 1.25 / 1e6)
    assert r.summary["write_premium_usd"] == 0
    # past the TTL (5 min by default) nothing is cached
    late = prefix_replay(_prefix_log(system, ["a", "b"], "gpt-4o", gap_s=400), "openai", frozen_book)
    assert late.summary["prefix_cached_tokens"] == 0


def test_anthropic_prefix_cache_nets_write_premium(frozen_book):
    system = " ".join(f"rule{i}" for i in range(1500))
    log = _prefix_log(system, ["question one", "another question"], "tiered-sonnet")
    r = prefix_replay(log, "anthropic", frozen_book)
    cached, written = r.frame["prefix_cached_tokens"].tolist(), r.frame["cache_write_tokens"].tolist()
    assert cached[0] == 0 and written[0] > 1024 and cached[1] > 1024
    # tiered-sonnet: input $3.00, read $0.30, 5-minute write $3.75 per 1M
    assert r.summary["gross_saved_usd"] == pytest.approx(cached[1] * 2.70 / 1e6)
    assert r.summary["write_premium_usd"] == pytest.approx(sum(written) * 0.75 / 1e6)
    # below the model's minimum (claude-3-haiku: 2,048 tokens) nothing is cacheable
    small = prefix_replay(_prefix_log("short system", ["a", "b"], "claude-3-haiku"), "anthropic", frozen_book)
    assert small.summary["prefix_cached_tokens"] == 0


def test_static_content_first_what_if(frozen_book):
    system = " ".join(f"rule{i}" for i in range(1500))
    t0 = pd.Timestamp("2025-03-01T10:00:00Z")
    prompts = [json.dumps([{"role": "user", "content": f"ticket {i}: help"}, {"role": "system", "content": system}])
               for i in range(3)]
    log = pd.DataFrame({"request_id": ["a", "b", "c"], "ts": [t0 + pd.Timedelta(seconds=i) for i in range(3)],
                        "model": "gpt-4o", "prompt": prompts, "input_tokens": 8000, "output_tokens": 10})
    as_is = prefix_replay(log, "openai", frozen_book)
    reordered = prefix_replay(log, "openai", frozen_book, static_first=True)
    assert as_is.summary["prefix_cached_tokens"] == 0 < reordered.summary["prefix_cached_tokens"]


def test_the_what_if_in_steps_equals_the_whole_and_yields_often(frozen_book):
    """prefix_replay_steps yields every few hundred requests of each pass and returns what
    prefix_replay returns (a caller serves other work between steps)."""
    from workbench.core.cache.prefix import finish, prefix_replay_steps

    system = " ".join(f"rule{i}" for i in range(1500))
    users = [f"ticket {i % 37}: help with order {i % 11}" for i in range(1200)]
    log = _prefix_log(system, users, "gpt-4o", gap_s=1).sample(frac=1.0, random_state=0)   # any row order
    for provider in ("openai", "anthropic"):
        for static_first in (False, True):
            whole = prefix_replay(log, provider, frozen_book, static_first=static_first)
            steps = prefix_replay_steps(log, provider, frozen_book, static_first=static_first, step_rows=100)
            n = 0
            try:
                while True:
                    next(steps)
                    n += 1
            except StopIteration as done:
                stepped = done.value
            assert n == (5 if static_first else 3) * 12    # parts, (counts, reordering,) boundaries, the scan
            assert stepped.summary == whole.summary and whole.summary["prefix_cached_tokens"] > 0
            pd.testing.assert_frame_equal(stepped.frame, whole.frame)
            shared: dict = {}                    # one memo across calls gives the same figures
            again = finish(prefix_replay_steps(log, provider, frozen_book, static_first=static_first, memo=shared))
            assert again.summary == whole.summary
            assert finish(prefix_replay_steps(log, provider, frozen_book, static_first=static_first,
                                              memo=shared)).summary == whole.summary


def test_caching_rules_are_sourced_and_validated(tmp_path):
    rules = load_rules()
    for name, rule in rules["providers"].items():
        assert rule["source"].startswith("https://"), name
    assert provider_rule("anthropic")["write_multiplier"] == {"5m": 1.25, "1h": 2.0}
    assert provider_rule("openai")["step_tokens"] == 128
    assert min_cacheable(provider_rule("openai"), "gpt-4o") == 1024
    assert min_cacheable(provider_rule("anthropic"), "claude-3-haiku-20240307") == 2048
    bad = tmp_path / "rules.yaml"
    bad.write_text("providers:\n  x:\n    mode: automatic\nembedding: {usd_per_mtok: '0.02', source: s}\n")
    with pytest.raises(RulesError, match="source"):
        load_rules(str(bad))
    bad.write_text("providers:\n  x:\n    source: s\n    colour: red\nembedding: {usd_per_mtok: '0.02', source: s}\n")
    with pytest.raises(RulesError, match="colour"):
        load_rules(str(bad))
