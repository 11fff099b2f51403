"""Every output of the spend explorer, over a sequence of control changes, equals a snapshot.

The snapshot (``snapshots/spend_explorer.json``) was recorded before the explorer's recompute was
made faster; the speed work must not change any figure the page shows. Recorded per step: the
value of every HTML output, every chart's Vega-Lite spec (its data included, floats exact), the
address bar and the message lines. Record it again only for an intended change of what the page
shows: ``WB_RECORD_SNAPSHOT=1 pytest tests/widgets/test_spend_snapshot.py`` (and review the diff).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from workbench.widgets.spend_explorer import SAMPLE_POLICIES, make_spend_explorer

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "spend_explorer.json"
RECORD = os.environ.get("WB_RECORD_SNAPSHOT") == "1"

HTML_OUTPUTS = ("source", "load_error", "filter_error", "kpis", "yesterday", "flags", "table", "policy_error",
                "replay_summary")
CHARTS = ("day_chart", "top_chart", "model_chart", "waterfall", "timeline")


def outputs(app) -> dict:
    """What the page shows now: HTML values, chart specs, the address, the controls' values."""
    out = {name: getattr(app, name).value for name in HTML_OUTPUTS}
    out.update({name: json.loads(json.dumps(getattr(app, name).spec)) for name in CHARTS})
    out["address"] = app.address_bar.query
    out["controls"] = [app.feature_dd.value, app.tenant_dd.value, list(app.range.index), app.breakdown.value]
    return out


def _sample_steps(app) -> list:
    s = app.state
    tenants = s.tenants_available
    return [
        ("opens", lambda: None),
        ("feature rag_answer", lambda: setattr(app.feature_dd, "value", "rag_answer")),
        (f"tenant {tenants[0]}", lambda: setattr(app.tenant_dd, "value", tenants[0])),
        ("by model", lambda: setattr(app.breakdown, "value", "model")),
        ("days 2-5", lambda: setattr(app.range, "index", (1, 4))),
        ("all features", lambda: setattr(app.feature_dd, "value", "")),
        (f"tenant {tenants[-1]}", lambda: setattr(app.tenant_dd, "value", tenants[-1])),
        ("by feature x tenant", lambda: setattr(app.breakdown, "value", "feature_tenant")),
        ("one day", lambda: setattr(app.range, "index", (2, 2))),
        ("all tenants, whole week", lambda: (setattr(app.tenant_dd, "value", ""),
                                             setattr(app.range, "index", (0, len(s.days) - 1)))),
        ("add a daily budget", lambda: s.add_policy("daily_budget")),
        ("feature support_chat", lambda: setattr(app.feature_dd, "value", "support_chat")),
        ("back to rag_answer", lambda: setattr(app.feature_dd, "value", "rag_answer")),
        ("no policies", lambda: setattr(s, "policies", [])),
        ("feature nightly_summary, last tenant", lambda: (setattr(app.feature_dd, "value", "nightly_summary"),
                                                          setattr(app.tenant_dd, "value", tenants[-1]))),
        ("back to the opening view", lambda: (setattr(app.feature_dd, "value", ""), setattr(app.tenant_dd, "value", ""),
                                              setattr(app.breakdown, "value", "feature"),
                                              setattr(s, "policies", [dict(p) for p in SAMPLE_POLICIES]))),
    ]


def _tiny_steps(app) -> list:
    return [
        ("opens", lambda: None),
        ("output cap", lambda: setattr(app.state, "policies",
                                       [{"policy": "output_cap", "max_output_tokens": 5_000}])),
        ("feature chat", lambda: setattr(app.feature_dd, "value", "chat")),
        ("tenant t2", lambda: setattr(app.tenant_dd, "value", "t2")),
        ("by model", lambda: setattr(app.breakdown, "value", "model")),
        ("feature report", lambda: setattr(app.feature_dd, "value", "report")),
        ("last three days", lambda: setattr(app.range, "index", (6, 8))),
    ]


def record(app, steps) -> list:
    out = []
    for label, step in steps:
        step()
        out.append({"step": label, **outputs(app)})
    return out


def run_all(real_book, frozen_book) -> dict:
    from tests.widgets.test_spend_explorer import tiny_log

    sample = make_spend_explorer(real_book, query="", debounce_ms=0)
    tiny = make_spend_explorer(frozen_book, query="", log=tiny_log(), debounce_ms=0)
    return {"sample_week": record(sample, _sample_steps(sample)), "tiny": record(tiny, _tiny_steps(tiny))}


def test_every_output_equals_the_snapshot(real_book, frozen_book):
    got = run_all(real_book, frozen_book)
    if RECORD:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(got, indent=0, sort_keys=True) + "\n")
    want = json.loads(SNAPSHOT.read_text())
    assert [s["step"] for s in got["sample_week"]] == [s["step"] for s in want["sample_week"]]
    for scenario in ("sample_week", "tiny"):
        for g, w in zip(got[scenario], want[scenario], strict=True):
            for key in w:
                assert g[key] == w[key], f"{scenario}, after '{w['step']}': {key} differs from the snapshot"
    # the steps did change what is shown (a snapshot of one unchanging page proves nothing)
    for scenario in ("sample_week", "tiny"):
        for key in ("kpis", "table", "day_chart", "replay_summary"):
            assert len({json.dumps(s[key], sort_keys=True) for s in want[scenario]}) > 2, (scenario, key)
    assert any("wb-flag" in s["flags"] for s in want["sample_week"])
    if RECORD:
        pytest.fail("snapshot recorded: review the diff, then run again without WB_RECORD_SNAPSHOT")
