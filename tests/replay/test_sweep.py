"""Score once, decide cheaply: every sweep point equals the replay run with that one value, on the
fast path (a budget's cap, the output cap: numpy over arrays scored once) and on the replaying one."""
from __future__ import annotations

import numpy as np
import pytest

from tests.replay import plugin_policies  # noqa: F401  (test_exact_cache)
from tests.replay.conftest import make_log
from workbench.core.replay import PolicyError, prepare_sweep, replay

ROUTE = {"policy": "route", "rules": [{"tier": "light", "model": "gpt-4o-mini"}]}


@pytest.fixture(scope="module")
def log():
    frame = make_log(300, seed=5)
    rng = np.random.default_rng(1)
    return frame.assign(quality=np.where(rng.random(len(frame)) < 0.3, np.nan, np.round(rng.random(len(frame)), 4)))


CASES = [  # (stack, step, param, values, fast)
    ([ROUTE, {"policy": "daily_budget", "usd": 1.0, "action": "cache_only"}], 2, "usd", [0, 0.05, 0.2, 0.6, 5], True),
    ([ROUTE, {"policy": "tenant_quota", "limit": 0.1, "limits": {"acme": 0.05}, "action": "block"}], 2, "limit",
     [0.01, 0.04, 0.1, 1], True),
    ([{"policy": "batch", "features": ["reports"]}, {"policy": "output_cap", "max_output_tokens": 10,
                                                     "features": ["chat"]}], 2, "max_output_tokens",
     [1, 100, 1000, 5000], True),
    ([{"policy": "daily_budget", "usd": 1.0}, ROUTE], 1, "usd", [0.1, 0.5], False),
    ([{"policy": "test_exact_cache", "ttl_s": 60}, {"policy": "daily_budget", "usd": 0.3, "action": "cache_only"}],
     2, "usd", [0.05, 0.3], False),
]


@pytest.mark.parametrize("engine", ["polars", "duckdb"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_each_point_equals_its_replay(log, book, engine, case):
    stack, step, param, values, fast = CASES[case]
    with prepare_sweep(log, stack, book, step=step, param=param, engine=engine) as prepared:
        assert prepared.fast is fast
        points = prepared.evaluate(values)
    for value, pt in zip(values, points):
        policies = [dict(p) for p in stack]
        policies[step - 1][param] = value
        one = replay(log, policies, book, engine=engine, bootstrap=0)
        assert pt["value"] == value
        assert pt["replayed_pusd"] == one.summary["replayed_pusd"], value
        assert pt["replayed_quality"] == one.replayed_quality, value
        one.close()
    assert len({p["replayed_pusd"] for p in points}) > 1  # the values matter


def test_a_bad_value_or_parameter_is_refused_before_any_work(log, book):
    with pytest.raises(PolicyError, match="has no parameter 'cap'"):
        prepare_sweep(log, [{"policy": "daily_budget", "usd": 1}], book, step=1, param="cap")
    with prepare_sweep(log, [{"policy": "daily_budget", "usd": 1}], book, step=1, param="usd") as prepared:
        with pytest.raises(PolicyError, match="must be ≥ 0"):
            prepared.evaluate([1, -1])
