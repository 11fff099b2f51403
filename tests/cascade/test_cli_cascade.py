"""The ``workbench cascade`` contract: keys, exact end points, clear one-line errors."""
from __future__ import annotations

import json

import pytest

from tests.cascade.conftest import EVALDATA
from tests.conftest import FROZEN_PRICES

CONTRACT = ("n", "baselines", "oracle", "frontier", "apgr", "aiq")


def test_long_csv_contract_with_hand_computed_baselines(run_cli):
    p = run_cli("cascade", str(EVALDATA / "long_small.csv"), "--format", "long-csv", "--tiers", "gpt-4o-mini,gpt-4o",
                "--signal", "logprob", "--prices", str(FROZEN_PRICES), "--on", "2026-01-01", "--bootstrap", "20",
                "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert all(k in r for k in CONTRACT)
    assert r["n"] == 5 and r["dropped_prompts"] == 3 and r["rejected_rows"] == 6
    # all-mini: quality (1+0+1+.5+0)/5, $ (210+480+81+810+84)/1e6; all-4o: (3700+9000+1370+14500+1600)/1e6
    assert r["baselines"]["gpt-4o-mini"] == {"quality": 0.5, "usd": 0.001665, "usd_per_request": 0.000333}
    assert r["baselines"]["gpt-4o"]["quality"] == pytest.approx(0.98)
    assert r["baselines"]["gpt-4o"]["usd"] == 0.03017
    assert r["oracle"] == {"quality": pytest.approx(0.98), "usd": 0.025391,
                           "share_by_tier": {"gpt-4o-mini": 0.4, "gpt-4o": 0.6}}
    for point in r["frontier"]:
        assert set(point) == {"threshold", "quality", "usd", "escalation_rate"}
    assert r["frontier"][0]["usd"] == 0.001665 and r["frontier"][0]["escalation_rate"] == 0
    assert r["mode"] == "cascade" and r["cascade_costs"]["carry_draft"] is True


def test_routellm_mmlu_end_points_are_the_published_accuracies(run_cli, routellm):
    p = run_cli("cascade", str(routellm / "mmlu_responses"), "--format", "routellm-mmlu",
                "--tiers", "mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview", "--signal", "rules",
                "--on", "2025-01-01", "--bootstrap", "0", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    cheap, strong = r["baselines"]["mistralai/Mixtral-8x7B-Instruct-v0.1"], r["baselines"]["gpt-4-1106-preview"]
    assert r["n"] == 14042
    assert round(cheap["quality"], 3) == 0.681 and round(strong["quality"], 3) == 0.806
    assert (r["frontier"][0]["quality"], r["frontier"][0]["usd"]) == (cheap["quality"], cheap["usd"])
    assert (r["frontier"][-1]["quality"], r["frontier"][-1]["usd"]) == (strong["quality"], strong["usd"])
    assert cheap["usd"] > 0 and strong["usd"] > 10 * cheap["usd"]


@pytest.mark.parametrize("args,message", [
    (("--tiers", "gpt-4o-mini"), "at least two models"),
    (("--tiers", "gpt-4o-mini,gpt-4o", "--price", "gpt-4o=abc"), "expected MODEL=IN/OUT"),
    (("--tiers", "gpt-4o-mini,gpt-4o", "--price", "gpt-4o=0/0"), "not both $0"),
    (("--tiers", "gpt-4o-mini,claude"), "models: gpt-4o-mini, gpt-4o"),
    (("--tiers", "gpt-4o-mini,gpt-4o", "--signal", "confidence"), "signals present: logprob"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    from workbench.cli import main
    code = main(["cascade", str(EVALDATA / "long_small.csv"), "--prices", str(FROZEN_PRICES), "--json", *args])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_unknown_model_is_never_priced_at_zero(capsys, tmp_path):
    from workbench.cli import main
    data = tmp_path / "x.csv"
    data.write_text("id,prompt,model,quality,input_tokens,output_tokens\n"
                    + "".join(f"{i},p{i},{m},1,10,5\n" for i in range(8) for m in ("my-small", "gpt-4o")))
    code = main(["cascade", str(data), "--tiers", "my-small,gpt-4o", "--signal", "random", "--prices", str(FROZEN_PRICES)])
    _, err = capsys.readouterr()
    assert code == 2 and "no price for 'my-small'" in err and "--price my-small=IN/OUT" in err
    code = main(["cascade", str(data), "--tiers", "my-small,gpt-4o", "--signal", "random", "--prices",
                 str(FROZEN_PRICES), "--price", "my-small=0.1/0.2", "--on", "2026-01-01", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["tiers"][0]["price_source"] == "override (user input)"


def test_traffic_projection_on_the_sample_week(capsys):
    from workbench.cli import main
    code = main(["cascade", str(EVALDATA / "long_small.csv"), "--tiers", "gpt-4o-mini,gpt-4o", "--signal", "logprob",
                 "--prices", str(FROZEN_PRICES), "--on", "2026-01-01", "--bootstrap", "0", "--traffic",
                 "--traffic-tiers", "gpt-4o-mini,gpt-4o", "--json"])
    out, err = capsys.readouterr()
    # the sample week never called gpt-4o: a one-line error, not an empty "saving"
    assert code == 2 and "no request of the log went to 'gpt-4o'" in err and out == ""
    code = main(["cascade", str(EVALDATA / "long_small.csv"), "--tiers", "gpt-4o-mini,gpt-4o", "--signal", "logprob",
                 "--on", "2026-01-01", "--bootstrap", "0", "--traffic", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    r = json.loads(out)
    tr = r["traffic"]
    assert tr["log"].endswith("sample_data/requests.parquet") and tr["requests"] == 58_565
    assert tr["quality_change"] == r["operating_point"]["projection"]["quality_change_vs_all_strong"]
    assert "carried over from the labelled set" in tr["quality_note"]
    assert "seeded random draw" in tr["escalation_method"] and tr["ci95"]["draw"] is not None
    assert tr["escalation_rate"] == r["operating_point"]["test"]["escalation_rate"]
    assert sum(f["saved_usd_per_day"] for f in tr["by_feature"]) == pytest.approx(tr["saved_usd_per_day"])
    code = main(["cascade", str(EVALDATA / "long_small.csv"), "--tiers", "gpt-4o-mini,gpt-4o", "--signal", "logprob",
                 "--on", "2026-01-01", "--bootstrap", "0", "--project", "--traffic-score", "nope"])
    out, err = capsys.readouterr()
    assert code == 2 and "score column 'nope' is not in the traffic log" in err


def test_traffic_outcomes_price_the_cheap_answers(capsys, tmp_path):
    """A shadow run of the cheap model on some requests: its tokens replace the assumption there."""
    import pandas as pd

    from tests.conftest import ROOT
    from workbench.cli import main
    week = pd.read_parquet(ROOT / "sample_data" / "requests.parquet")
    shadow = week[week["model"].str.startswith("gpt-4.1-2025")].head(50)
    pd.DataFrame({"request_id": shadow["request_id"], "model": "gpt-4.1-mini", "output_tokens": 1}).to_csv(
        tmp_path / "shadow.csv", index=False)
    args = ["cascade", str(EVALDATA / "long_small.csv"), "--tiers", "gpt-4o-mini,gpt-4o", "--signal", "logprob",
            "--on", "2026-01-01", "--bootstrap", "0", "--traffic", "--json"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)["traffic"]
    assert main([*args, "--traffic-outcomes", str(tmp_path / "shadow.csv")]) == 0
    shadowed = json.loads(capsys.readouterr().out)["traffic"]
    assert "from the outcomes table" in shadowed["cheap_answer_tokens"]
    priced = int(shadowed["cheap_answer_tokens"].split(" kept answers")[0])
    assert 0 < priced < 50                         # the shadowed requests that were not escalated
    assert shadowed["saved_usd_per_month"] > plain["saved_usd_per_month"]       # 1-token answers cost less
    assert "assumed" in plain["cheap_answer_tokens"]
