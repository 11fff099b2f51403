"""Policy files and declarations: parsing, validation errors naming the policy and the parameter,
the registry, and parameters declared once for configs, widgets and help."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay.conftest import make_log
from workbench.core.replay import (
    PolicyError, PolicyStack, describe_policies, get_policy, list_policies, load_stack, make_policy, policy_schema,
    replay,
)

POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
BUILTIN = {"batch", "budget_fill", "compress", "daily_budget", "drop_retries", "output_cap", "route", "tenant_quota"}


@pytest.mark.parametrize("name", ["baseline.yaml", "contract.yaml", "full.yaml", "sample_week.yaml"])
def test_example_files_load_and_round_trip(name):
    stack = load_stack(POLICIES / name)
    again = PolicyStack.from_yaml(stack.to_yaml())
    assert again == stack and again.to_dict() == stack.to_dict()
    assert len(stack) == len(__import__("yaml").safe_load((POLICIES / name).read_text())["policies"])


@pytest.mark.parametrize("name", ["contract.yaml", "full.yaml"])
def test_example_files_replay_on_the_frozen_sheet(name, run):
    result = run(make_log(120, seed=5), load_stack(POLICIES / name))
    assert result.requests == 120
    assert [w["policy"] for w in result.waterfall] == [p.name for p in load_stack(POLICIES / name)]


def test_empty_list_is_the_baseline(run):
    assert len(load_stack(POLICIES / "baseline.yaml")) == 0
    assert len(PolicyStack.from_yaml("policies: []\n")) == 0
    assert len(PolicyStack.from_yaml("policies:\n")) == 0


@pytest.mark.parametrize("text, message", [
    ("policies:\n  - {policy: output_caps, max_output_tokens: 5}\n",
     r"item 1: unknown policy 'output_caps' \(did you mean output_cap\?\); valid: batch, "),
    ("policies:\n  - {policy: output_cap, max_output_tokens: -5}\n",
     r"item 1: policy 'output_cap': parameter 'max_output_tokens' must be ≥ 1, got -5"),
    ("policies:\n  - {policy: output_cap, max_output_tokens: 1.5}\n",
     r"parameter 'max_output_tokens' must be an integer, got 1.5"),
    ("policies:\n  - {policy: output_cap}\n",
     r"policy 'output_cap': missing required parameter 'max_output_tokens'"),
    ("policies:\n  - {policy: output_cap, max_output_tokens: 5, max_tokens: 3}\n",
     r"policy 'output_cap': unknown parameter\(s\) 'max_tokens'; valid: max_output_tokens, features, label"),
    ("policies:\n  - {policy: batch, features: []}\n", r"policy 'batch': parameter 'features' must be a non-empty list"),
    ("policies:\n  - {policy: compress, rate: 0.99}\n", r"policy 'compress': parameter 'rate' must be ≤ 0.95"),
    ("policies:\n  - {policy: compress, rate: 0.5, parts: [system]}\n", r"parameter 'parts' must be a non-empty list of"),
    ("policies:\n  - {policy: daily_budget, usd: 10, action: throttle}\n",
     r"policy 'daily_budget': parameter 'action' must be one of block, downgrade, cache_only, got 'throttle'"),
    ("policies:\n  - {policy: daily_budget, usd: 10, action: downgrade}\n",
     r"policy 'daily_budget': parameter 'downgrade_to' is required when action is downgrade"),
    ("policies:\n  - {policy: daily_budget, usd: 10, alerts: [0.5, 1.5]}\n",
     r"parameter 'alerts' must be a list of fractions in \(0, 1\]"),
    ("policies:\n  - {policy: tenant_quota, unit: usd}\n", r"policy 'tenant_quota': parameter 'limit' is required"),
    ("policies:\n  - {policy: tenant_quota, limit: 5, limits: {acme: -1}}\n",
     r"parameter 'limits': value for 'acme' must be a non-negative number"),
    ("policies:\n  - {policy: route, rules: [{feature: [a]}]}\n",
     r"policy 'route': parameter 'rules': rule 1: 'model' \(the model to route to\) is required"),
    ("policies:\n  - {policy: route, rules: [{model: x, colour: red}]}\n",
     r"parameter 'rules': rule 1: unknown key\(s\) 'colour'"),
    ("policies:\n  - {policy: route, rules: [{model: x, tier: medium}]}\n",
     r"rule 1: 'tier' must be one of light, standard, heavy"),
    ("policies:\n  - {policy: drop_retries, link: 'a.b'}\n", r"parameter 'link' must be a plain JSON key"),
    ("policies:\n  - output_cap\n", r"item 1: expected a mapping with a 'policy' key"),
    ("policy: output_cap\n", r"unknown key\(s\) policy; valid: description, name, policies"),
    ("policies: {policy: batch}\n", r"'policies' must be a list"),
    ("policies: [\n", r"not valid YAML \(line 2\)"),
])
def test_validation_errors_name_policy_and_parameter(text, message):
    with pytest.raises(PolicyError, match=message):
        PolicyStack.from_yaml(text)


def test_file_errors_name_the_file_and_item():
    with pytest.raises(PolicyError, match=r"invalid/unknown_policy.yaml: item 2: unknown policy 'output_caps'"):
        load_stack(POLICIES / "invalid" / "unknown_policy.yaml")
    with pytest.raises(PolicyError, match=r"bad_param.yaml: item 2: policy 'output_cap': parameter 'max_output_tokens'"):
        load_stack(POLICIES / "invalid" / "bad_param.yaml")
    with pytest.raises(PolicyError, match="policy file not found"):
        load_stack(POLICIES / "nope.yaml")


def test_unknown_model_is_named_at_replay_time(run):
    stack = load_stack(POLICIES / "invalid" / "unknown_model.yaml")
    with pytest.raises(PolicyError, match=r"policy 'route': parameter 'rules' names unknown model 'gpt-4o-mimi'; "
                                          r"close matches: gpt-4o, gpt-4o-mini"):
        run(make_log(10), stack)
    with pytest.raises(PolicyError, match=r"policy 'daily_budget': parameter 'downgrade_to' names unknown model"):
        run(make_log(10), [{"policy": "daily_budget", "usd": 1, "action": "downgrade", "downgrade_to": "gpt-5-turbo"}])


def test_missing_columns_name_the_policy(run):
    log = make_log(10).drop(columns=["tags"])
    with pytest.raises(PolicyError, match=r"policy 'drop_retries' needs column 'tags'"):
        run(log, [{"policy": "drop_retries"}])
    run(log, [{"policy": "drop_retries", "after": "all"}])  # no linking: no tags needed
    with pytest.raises(ValueError, match="missing required column"):
        run(log.drop(columns=["output_tokens"]))


def test_registry_lists_builtins_and_rejects_unknown_names():
    assert BUILTIN <= set(list_policies())
    with pytest.raises(PolicyError, match="unknown policy 'cache'"):
        get_policy("cache")
    assert make_policy("output_cap", max_output_tokens=5) == make_policy("output_cap", max_output_tokens=5)


def test_parameters_are_declared_once_for_widgets_and_help():
    schema = policy_schema("compress")
    rate = next(p for p in schema["params"] if p["name"] == "rate")
    assert rate == {"name": "rate", "kind": "float", "description": "fraction of the compressible tokens removed",
                    "required": True, "minimum": 0, "maximum": 0.95, "example": 0.3}
    assert schema["stateful"] is False and policy_schema("daily_budget")["stateful"] is True
    help_text = describe_policies()
    for name in BUILTIN:
        assert f"\n{name}: " in "\n" + help_text
    assert "max_output_tokens (int, ≥1 ≤1e+06; required): largest number of output tokens" in help_text


def test_python_objects_and_labels():
    cap = make_policy("output_cap", max_output_tokens=100, label="short answers")
    stack = PolicyStack([cap, make_policy("batch", features=["reports"])])
    assert stack.to_dict() == {"policies": [{"policy": "output_cap", "label": "short answers", "max_output_tokens": 100},
                                            {"policy": "batch", "features": ["reports"]}]}
    assert stack.without(0).to_dict()["policies"] == [{"policy": "batch", "features": ["reports"]}]
    assert PolicyStack.from_dict(stack.to_dict()) == stack


def test_replay_requires_a_price_book():
    with pytest.raises(ValueError, match="needs a price book"):
        replay(make_log(5), [])
