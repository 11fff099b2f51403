"""An operating point replayed over traffic by the replay engine: both calls billed, the draft
carried into the retry, savings by feature, the quality change labelled as carried over."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.replay.conftest import one_row
from workbench.core.cascade.traffic import traffic_savings
from workbench.core.replay import replay


def test_cascade_policy_bills_the_attempt_and_the_draft(frozen_book):
    log = pd.concat([one_row(request_id="good", quality=0.9), one_row(request_id="bad", quality=0.2),
                     one_row(request_id="other", model="claude-3-haiku", cached_input_tokens=0, quality=0.1)], ignore_index=True)
    r = replay(log, [{"policy": "cascade", "cheap": "gpt-4o-mini", "strong": "gpt-4o", "escalate_below": 0.5}],
               frozen_book, bootstrap=0, )
    cost = r.frame.set_index("request_id")["cost_pusd"].to_dict()
    # good: gpt-4o-mini 1000 × 0.15 + 1000 × 0.075 + 400 × 0.60 = 465 per 1M
    # bad: gpt-4o with the draft: (2000 + 400 + 20 − 1000 cached) × 2.50 + 1000 × 1.25 + 400 × 10 = 8,800,
    #      plus the gpt-4o-mini attempt 465 = 9,265 per 1M; other (not on gpt-4o): untouched
    assert cost["good"] == 465_000_000 and cost["bad"] == 9_265_000_000
    assert cost["other"] == r.frame.set_index("request_id")["baseline_pusd"]["other"]
    assert r.frame.set_index("request_id")["replayed_model"].to_dict() == {
        "good": "gpt-4o-mini", "bad": "gpt-4o", "other": "claude-3-haiku"}


def test_sample_week_savings_by_feature_with_the_quality_change_labelled(real_book):
    log = pd.read_parquet(ROOT / "sample_data" / "requests.parquet")
    r = traffic_savings(log, real_book, cheap="gpt-4.1-mini", strong="gpt-4.1", escalation_rate=0.3,
                        quality_change=-0.024, labelled="RouteLLM MMLU, held-out split")
    assert r["days"] == 7
    assert sum(f["saved_usd_per_month"] for f in r["by_feature"]) == pytest.approx(r["saved_usd_per_month"])
    assert r["saved_usd_per_month"] == pytest.approx(r["saved_usd_per_day"] * 30)
    saved = {f["feature"]: f["saved_usd_per_month"] for f in r["by_feature"]}
    assert saved["support_chat"] == 0 and saved["classification"] == 0        # never on gpt-4.1
    assert saved["rag_answer"] > 0
    assert 0.2 < r["escalation_rate_on_traffic"] <= 0.3
    assert "carried over from the labelled set" in r["quality_note"]
    with pytest.raises(ValueError, match="no request of the log went to"):
        traffic_savings(log, real_book, cheap="gpt-4.1-mini", strong="gpt-4o", escalation_rate=0.3)


def test_a_policy_file_can_name_the_cascade(tmp_path, run_cli):
    """A fresh process finds ``cascade`` through the registry's discovery, as any built-in policy."""
    from tests.conftest import FROZEN_PRICES

    log = pd.concat([one_row(request_id="good", quality=0.9), one_row(request_id="bad", quality=0.2)],
                    ignore_index=True)
    log.to_parquet(tmp_path / "log.parquet")
    (tmp_path / "stack.yaml").write_text(
        "policies:\n  - {policy: cascade, cheap: gpt-4o-mini, strong: gpt-4o, escalate_below: 0.5}\n")
    r = run_cli("replay", str(tmp_path / "log.parquet"), "--policy", str(tmp_path / "stack.yaml"),
                "--prices", str(FROZEN_PRICES), "--bootstrap", "0", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["replayed_usd"] == pytest.approx((465 + 9_265) / 1e6)   # the costs of the test above, in $
    assert "cascade" in run_cli("replay", "--list-policies").stdout
