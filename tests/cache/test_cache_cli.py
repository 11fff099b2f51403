"""``workbench cache-eval`` contract: keys, bad input, real offline embeddings."""
from __future__ import annotations

import json

import pytest

PAIRS = [
    {"text_a": "How do I reset my password?", "text_b": "How can I reset my password?", "label": 1},
    {"text_a": "How do I process 1 million requests?", "text_b": "How do I process 10 requests?", "label": 0},
    {"text_a": "What is the capital of France?", "text_b": "Best pizza recipe", "label": 0},
    {"text_a": "cancel my order", "text_b": "I want to cancel my order", "label": 1},
]


@pytest.fixture
def pairs_file(tmp_path):
    p = tmp_path / "pairs.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in PAIRS) + "\nnot json\n")
    return p


def test_cache_eval_json_contract(run_cli, pairs_file):
    r = run_cli("cache-eval", str(pairs_file), "--threshold", "0.8", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("hits", "false_hits", "misses", "true_negatives", "precision", "recall"):
        assert key in out
    assert out["hits"] + out["false_hits"] + out["misses"] + out["true_negatives"] == 4
    assert out["rejected_rows"] == 1 and f"{pairs_file}:5" in r.stderr
    # MiniLM scores the paraphrases above 0.8 and the unrelated pair far below
    assert out["hits"] == 2 and out["true_negatives"] >= 1
    # the numbers guard removes the "1 million vs 10" false hit without losing a true hit
    g = json.loads(run_cli("cache-eval", str(pairs_file), "--threshold", "0.8", "--guards", "numbers",
                           "--json").stdout)
    assert g["false_hits"] == 0 and g["hits"] == out["hits"]


@pytest.mark.parametrize("args,message", [
    (["--threshold", "1.5"], "[0, 1]"),
    (["--threshold", "0.8", "--guards", "colour"], "unknown guard"),
])
def test_cache_eval_bad_input(run_cli, pairs_file, args, message):
    r = run_cli("cache-eval", str(pairs_file), *args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cache_eval_missing_file(run_cli, tmp_path):
    r = run_cli("cache-eval", str(tmp_path / "nope.jsonl"), "--threshold", "0.9", "--json")
    assert r.returncode == 2 and "not found" in r.stderr
