"""The CLI contract other tooling scripts against: flags, JSON keys, exit code 2 on bad input."""
from __future__ import annotations

import json

import pytest


def test_estimate_json_keys_and_numbers(run_cli, real_book):
    r = run_cli("estimate", "--model", "gpt-4o-mini", "--input-tokens", "3500", "--output-tokens", "350",
                "--requests-per-day", "20000", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("model", "usd_per_request", "usd_per_day", "usd_per_month", "input_usd_per_day",
                "output_usd_per_day", "price"):
        assert key in d
    rec = real_book.price_on("gpt-4o-mini")
    per_request = (3500 * rec.input + 350 * rec.output) / 1e6
    assert d["usd_per_request"] == pytest.approx(per_request)
    assert d["usd_per_day"] == pytest.approx(per_request * 20000)
    assert d["usd_per_month"] == pytest.approx(per_request * 20000 * 30)
    assert d["input_usd_per_day"] + d["output_usd_per_day"] == pytest.approx(d["usd_per_day"])
    assert d["price"]["source"].startswith("http")


def test_estimate_price_override_and_history(run_cli):
    r = run_cli("estimate", "--model", "gpt-4o", "--input-tokens", "2000", "--output-tokens", "400",
                "--requests-per-day", "50000", "--price-in", "5", "--price-out", "15", "--json")
    d = json.loads(r.stdout)
    assert d["usd_per_day"] == pytest.approx(800.0)
    assert "override" in d["price"]["source"]
    r = run_cli("estimate", "--model", "gpt-4o", "--input-tokens", "2000", "--output-tokens", "400",
                "--requests-per-day", "50000", "--on", "2024-06-01", "--json")
    assert json.loads(r.stdout)["usd_per_day"] == pytest.approx(800.0)  # launch price $5/$15


def test_estimate_batch_and_cached(run_cli, real_book):
    r = run_cli("estimate", "--model", "gpt-4o", "--input-tokens", "2000", "--cached-input-tokens", "1000",
                "--output-tokens", "400", "--batch", "--days", "31", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    rec = real_book.price_on("gpt-4o")
    ratio = rec.batch_input / rec.input
    expected = (1000 * rec.batch_input + 1000 * rec.cached_input * ratio + 400 * rec.batch_output) / 1e6
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
