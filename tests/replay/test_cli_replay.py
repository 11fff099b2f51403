"""``workbench replay``: the JSON contract, text output, bad input (one line, exit 2).

Most cases call the CLI in-process (``workbench.cli.main``); two run it as a user would."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import sys

from tests.replay.conftest import make_log
from workbench.cli import EXIT_BAD_INPUT, CliError, _Parser
from workbench.cli import replay as replay_cli

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "tests" / "fixtures" / "policies"
PRICES = ["--prices", str(ROOT / "tests" / "fixtures" / "prices")]


class _Done:
    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


@pytest.fixture
def cli(capsys):
    """Like run_cli, in-process: the replay subcommand's parser and main()'s error handling.

    (``workbench.cli.main([...])`` itself cannot run in-process while build_parser imports
    ``workbench.cli.__main__``.)"""
    def go(*argv):
        parser = _Parser(prog="workbench")
        replay_cli.add_parser(parser.add_subparsers(dest="command"))
        try:
            args = parser.parse_args(list(argv))
            try:
                code = args.func(args)
            except (CliError, ValueError, KeyError, OSError) as e:
                print(f"workbench {args.command}: error: {e}", file=sys.stderr)
                code = EXIT_BAD_INPUT
        except SystemExit as e:  # argparse usage errors
            code = e.code
        out = capsys.readouterr()
        return _Done(code, out.out, out.err)
    return go


@pytest.fixture(scope="module")
def log_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "log.parquet"
    make_log(200, seed=2).to_parquet(path)
    return path


def test_json_contract(run_cli, log_path, frozen_book):
    r = run_cli("replay", str(log_path), "--policy", str(POLICIES / "contract.yaml"), *PRICES, "--json",
                "--bootstrap", "200")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    for key in ("requests", "rejected_rows", "baseline_usd", "replayed_usd", "savings_usd", "savings_pct",
                "waterfall", "blocked_requests", "ci95"):
        assert key in d
    assert d["requests"] == 200 and d["rejected_rows"] == 0
    assert [w["policy"] for w in d["waterfall"]] == ["output_cap", "batch", "daily_budget", "route"]
    assert d["ci95"]["resamples"] == 200
    from workbench.core.replay import load_stack, replay
    same = replay(pd.read_parquet(log_path), load_stack(POLICIES / "contract.yaml"), frozen_book, bootstrap=200)
    assert d["replayed_pusd"] == same.summary["replayed_pusd"] and d["ci95"] == same.ci95


def test_baseline_file_reproduces_logged_cost(cli, log_path):
    r = cli("replay", str(log_path), "--policy", str(POLICIES / "baseline.yaml"), *PRICES, "--json")
    d = json.loads(r.stdout)
    assert d["savings_usd"] == 0 and d["replayed_usd"] == d["baseline_usd"] > 0


def test_text_output_and_out_file(cli, log_path, tmp_path):
    out = tmp_path / "decisions.parquet"
    r = cli("replay", str(log_path), "--policy", str(POLICIES / "full.yaml"), *PRICES, "--out", str(out),
                "--engine", "duckdb", "--memory-limit", "256MB")
    assert r.returncode == 0, r.stderr
    assert "savings waterfall (stack order):" in r.stdout and "gateway safety net" in r.stdout
    assert "[duckdb]" in r.stdout
    frame = pd.read_parquet(out)
    assert len(frame) == 200 and {"request_id", "cost_usd", "fate", "act2_route"} <= set(frame.columns)
    assert r.stderr == ""  # no progress bar when stderr is not a terminal


def test_progress_bar_on_request(cli, log_path):
    r = cli("replay", str(log_path), "--policy", str(POLICIES / "contract.yaml"), *PRICES, "--progress",
                "--bootstrap", "0")
    assert r.returncode == 0 and "replay: done" in r.stderr and "100%" in r.stderr


def test_other_formats_go_through_the_traffic_loader(cli, tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text("policies:\n  - {policy: output_cap, max_output_tokens: 50}\n")
    r = cli("replay", str(ROOT / "tests" / "fixtures" / "logs" / "litellm_spend_logs.jsonl"), "--policy",
                str(policy), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["requests"] == 3 and d["rejected_rows"] == 3


def test_list_policies_and_help(run_cli):
    r = run_cli("replay", "--list-policies")
    assert r.returncode == 0 and "tenant_quota:" in r.stdout and "max_output_tokens" in r.stdout
    h = run_cli("replay", "--help")
    assert "daily_budget: the organisation's daily spend cap" in h.stdout


@pytest.mark.parametrize("args, message", [
    (["missing.parquet", "--policy", "contract.yaml"], "log not found"),
    (["LOG", "--policy", "invalid/unknown_policy.yaml"], "item 2: unknown policy 'output_caps'"),
    (["LOG", "--policy", "invalid/bad_param.yaml"], "parameter 'max_output_tokens' must be ≥ 1"),
    (["LOG", "--policy", "invalid/unknown_model.yaml"], "names unknown model 'gpt-4o-mimi'"),
    (["LOG", "--policy", "nope.yaml"], "policy file not found"),
    (["LOG"], "LOG and --policy FILE are required"),
    (["LOG", "--policy", "contract.yaml", "--engine", "ray"], "invalid choice: 'ray'"),
    (["LOG", "--policy", "contract.yaml", "--engine", "polars", "--spark-master", "local[2]"],
     "replays on engine='spark'"),
    (["LOG", "--policy", "contract.yaml", "--engine", "polars", "--memory-limit", "1GB"], "memory_limit needs"),
])
def test_bad_input_is_one_line_exit_2(cli, log_path, args, message):
    args = [str(log_path) if a == "LOG" else str(POLICIES / a) if a.endswith(".yaml") else a for a in args]
    r = cli("replay", *args, *PRICES)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_json_reports_quality_and_a_sweep(cli, tmp_path, frozen_book):
    from workbench.core.replay import load_stack, replay
    log = make_log(200, seed=2)
    log["quality"] = [None if i % 5 == 0 else (i % 7) / 7 for i in range(len(log))]
    path = tmp_path / "labelled.parquet"
    log.to_parquet(path)
    r = cli("replay", str(path), "--policy", str(POLICIES / "contract.yaml"), *PRICES, "--json", "--bootstrap", "0",
            "--sweep", "3.usd=0.5,2,25")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    stack = load_stack(POLICIES / "contract.yaml")
    same = replay(log, stack, frozen_book, bootstrap=0)
    assert (d["baseline_quality"], d["replayed_quality"]) == (same.baseline_quality, same.replayed_quality)
    assert d["replayed_quality"] != d["baseline_quality"]  # blocked: 0; routed without outcomes: unknown
    assert [p["value"] for p in d["sweep"]] == [0.5, 2, 25]
    for p in d["sweep"]:
        config = stack.to_dict()
        config["policies"][2]["usd"] = p["value"]
        one = replay(log, config, frozen_book, bootstrap=0)
        assert p == {"value": p["value"], "replayed_usd": one.replayed_usd, "replayed_quality": one.replayed_quality}


def test_json_quality_is_null_without_labels(cli, log_path):
    r = cli("replay", str(log_path), "--policy", str(POLICIES / "contract.yaml"), *PRICES, "--json", "--bootstrap", "0")
    d = json.loads(r.stdout)
    assert d["baseline_quality"] is None and d["replayed_quality"] is None


@pytest.mark.parametrize("spec, message", [
    ("usd=1,2", "--sweep must look like STEP.PARAM=V1,V2"),
    ("9.usd=1", "step 9 is not in the policy file"),
    ("3.dollars=1", "has no parameter 'dollars'"),
    ("3.usd=-1", "parameter 'usd' must be ≥ 0"),
])
def test_bad_sweep_is_one_line_exit_2(cli, log_path, spec, message):
    r = cli("replay", str(log_path), "--policy", str(POLICIES / "contract.yaml"), *PRICES, "--json", "--sweep", spec)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
