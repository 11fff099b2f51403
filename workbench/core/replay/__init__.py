"""Replay of logged traffic under composed policies: what would we have paid under a different policy?

    from workbench.core.replay import replay, PolicyStack
    result = replay(log_frame, PolicyStack.from_yaml("policies.yaml"), load_prices())
    result.savings_usd, result.replayed_quality, result.waterfall, result.ci95, result.events, result.decisions()
    prepare_sweep(log, stack, prices, step=2, param="usd").evaluate([100, 200])

Policies are registered classes with declared parameters (:mod:`.registry`, :mod:`.params`);
semantics are in docs/replay-semantics.md.
"""
from __future__ import annotations

from workbench.core.replay.engine import action_column, replay
from workbench.core.replay.inputs import AttachedArray
from workbench.core.replay.params import Param, PolicyError
from workbench.core.replay.registry import (
    Policy, Reason, describe_policies, get_policy, list_policies, make_policy, policy_schema, register_policy,
)
from workbench.core.replay.report import Event, Limit, StepReport
from workbench.core.replay.result import ReplayResult
from workbench.core.replay.stack import PolicyStack, as_stack, load_stack
from workbench.core.replay.sweep import PreparedSweep, prepare_sweep, state_arrays, sweep

__all__ = [
    "Param", "Policy", "PolicyError", "PolicyStack", "Reason", "ReplayResult", "action_column", "as_stack",
    "describe_policies", "get_policy", "list_policies", "load_stack", "make_policy", "policy_schema",
    "register_policy", "replay",
    "AttachedArray", "Event", "Limit", "PreparedSweep", "StepReport", "prepare_sweep", "state_arrays", "sweep",
]
