"""The CLI contract other tooling scripts against: flags, JSON keys, exit code 2 on bad input."""
from __future__ import annotations

import json
import os

import pytest

# Amounts come from the frozen test sheet on a pinned day, never from pricing/ on today's date.
FROZEN = {"WORKBENCH_PRICING_DIR": os.path.join(os.path.dirname(__file__), "fixtures", "prices")}


def test_estimate_json_keys_and_numbers(run_cli):
    r = run_cli("estimate", "--model", "gpt-4o-mini", "--input-tokens", "3500", "--output-tokens", "350",
                "--requests-per-day", "20000", "--on", "2025-01-01", "--json", env=FROZEN)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("model", "usd_per_request", "usd_per_day", "usd_per_month", "input_usd_per_day",
                "output_usd_per_day", "price"):
        assert key in d
    per_request = (3500 * 0.15 + 350 * 0.60) / 1e6  # frozen gpt-4o-mini: $0.15 / $0.60
    assert d["usd_per_request"] == pytest.approx(per_request)
    assert d["usd_per_day"] == pytest.approx(per_request * 20000)
    assert d["usd_per_month"] == pytest.approx(per_request * 20000 * 30)
    assert d["input_usd_per_day"] + d["output_usd_per_day"] == pytest.approx(d["usd_per_day"])
    assert d["price"]["source"].startswith("seed 000")


def test_estimate_price_override_and_history(run_cli):
    r = run_cli("estimate", "--model", "gpt-4o", "--input-tokens", "2000", "--output-tokens", "400",
                "--requests-per-day", "50000", "--price-in", "5", "--price-out", "15", "--json")
    d = json.loads(r.stdout)
    assert d["usd_per_day"] == pytest.approx(800.0)
    assert "override" in d["price"]["source"]
    r = run_cli("estimate", "--model", "gpt-4o", "--input-tokens", "2000", "--output-tokens", "400",
                "--requests-per-day", "50000", "--on", "2024-06-01", "--json")
    assert json.loads(r.stdout)["usd_per_day"] == pytest.approx(800.0)  # launch price $5/$15


def test_estimate_batch_and_cached(run_cli):
    r = run_cli("estimate", "--model", "gpt-4o", "--input-tokens", "2000", "--cached-input-tokens", "1000",
                "--output-tokens", "400", "--batch", "--days", "31", "--on", "2025-01-01", "--json", env=FROZEN)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    # frozen gpt-4o from 2024-10-02: batch $1.25 / $5.00, cached $1.25 at the batch ratio 0.5
    expected = (1000 * 1.25 + 1000 * 1.25 * 0.5 + 400 * 5.00) / 1e6
    assert d["usd_per_request"] == pytest.approx(expected)
    assert d["usd_per_month"] == pytest.approx(expected * 31)


@pytest.mark.parametrize("args, message", [
    (["estimate", "--model", "gpt-4o-minii", "--input-tokens", "1", "--output-tokens", "1"], "gpt-4o-mini"),
    (["estimate", "--model", "gpt-4o", "--input-tokens", "-5", "--output-tokens", "1"], "non-negative"),
    (["estimate", "--model", "gpt-4o", "--input-tokens", "abc", "--output-tokens", "1"], "not a number"),
    (["estimate", "--model", "gpt-4o", "--input-tokens", "1", "--output-tokens", "1", "--on", "2024-02-30"],
     "malformed date"),
    (["estimate", "--model", "gpt-4o", "--input-tokens", "1", "--output-tokens", "1", "--on", "1999-01-01"],
     "no price on 1999-01-01"),
    (["prices", "show", "nonexistent-model-x"], "unknown model"),
    (["tokens", "/nonexistent/file.txt"], "No such file"),
])
def test_bad_input_is_one_line_exit_2(run_cli, args, message):
    r = run_cli(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr


def test_tokens_exact_and_estimate(run_cli):
    r = run_cli("tokens", "--json", stdin="hello world")
    d = json.loads(r.stdout)
    assert (d["tokens"], d["encoding"], d["method"]) == (2, "o200k_base", "exact")
    r = run_cli("tokens", "--model", "gpt-4", "--json", stdin="hello world")
    assert json.loads(r.stdout)["encoding"] == "cl100k_base"
    r = run_cli("tokens", "--model", "claude-3-haiku", "--json", stdin="hello world " * 50)
    d = json.loads(r.stdout)
    assert d["method"] == "estimate" and d["encoding"].startswith("estimate:") and d["tokens"] > 0


def test_tokens_chat(run_cli):
    msgs = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "hello world"}]
    r = run_cli("tokens", "--chat", "--model", "gpt-4o", "--json", stdin=json.dumps(msgs))
    assert r.returncode == 0, r.stderr
    plain = sum(json.loads(run_cli("tokens", "--json", stdin=m["content"]).stdout)["tokens"] for m in msgs)
    roles = sum(json.loads(run_cli("tokens", "--json", stdin=m["role"]).stdout)["tokens"] for m in msgs)
    assert json.loads(r.stdout)["tokens"] == plain + roles + 3 * len(msgs) + 3


def test_prices_list_and_show(run_cli, real_book):
    r = run_cli("prices", "list", "--json")
    rows = json.loads(r.stdout)
    assert len(rows) == len(real_book)
    r = run_cli("prices", "show", "gpt-4o", "--json")
    d = json.loads(r.stdout)
    assert d["model"] == "gpt-4o"
    assert [h["input"] for h in d["history"]][:2] == [5.0, 2.5]
    r = run_cli("prices", "show", "gpt-4o")
    assert "source:" in r.stdout and r.returncode == 0


def test_prices_litellm_diff_never_writes(run_cli, shared_data):
    from pathlib import Path
    sheets = sorted(Path("pricing").glob("*.yaml")) if Path("pricing").exists() else []
    before = {p: p.read_bytes() for p in sheets}
    r = run_cli("prices", "litellm-diff", str(shared_data / "litellm_price_map" / "model_prices_and_context_window.json"))
    assert r.returncode == 0, r.stderr
    assert "Nothing was written" in r.stdout
    assert {p: p.read_bytes() for p in sheets} == before


@pytest.mark.parametrize("command", [["prices", "diff", "--against", "litellm"], ["prices", "litellm-diff"]])
def test_prices_diff_on_a_day_as_json_never_writes(run_cli, shared_data, command):
    from pathlib import Path
    sheets = sorted(Path("pricing").glob("*.yaml"))
    before = {p: p.read_bytes() for p in sheets}
    peer_map = str(shared_data / "litellm_price_map" / "model_prices_and_context_window.json")
    r = run_cli(*command, peer_map, "--on", "2026-11-15", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["on"] == "2026-11-15" and d["peer"] == "LiteLLM" and d["unexplained"] == 0
    assert {p: p.read_bytes() for p in sheets} == before
    # the day matters: gemini-4-argon's $4/$20 record starts 2026-12-01 and LiteLLM's map predates it
    later = json.loads(run_cli(*command, peer_map, "--on", "2026-12-15", "--json").stdout)
    argon = lambda d: {x["field"] for x in d["disagreements"] if x["model"] == "gemini-4-argon"}  # noqa: E731
    assert argon(later) - argon(d), "the record that starts 2026-12-01 must show up on a later day"


def test_prices_diff_against_genai_prices(run_cli):
    r = run_cli("prices", "diff", "--against", "genai-prices", "--on", "2026-11-15", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["peer"] == "genai-prices" and d["on"] == "2026-11-15" and d["unexplained"] == 0
    assert any(x["kind"] == "only our sheet has it" for x in d["disagreements"])
    text = run_cli("prices", "diff", "--against", "genai-prices", "--on", "2026-11-15")
    assert "Nothing was written" in text.stdout and "genai-prices 0.2.3" in text.stdout
