"""Score once, decide cheaply: evaluate many values of one parameter of one step.

    prepared = prepare_sweep(log, stack, prices, step=3, param="usd")   # reads, orders, prices once
    points = prepared.evaluate([50, 100, 200])  # [{value, replayed_usd, replayed_pusd, replayed_quality, …}]

The log is read, validated, ordered and priced once, and the steps above the swept one run once.
Then, when the swept step is the last one and its policy offers a ``sweeper`` (the budgets, the
output cap, or a plugin's threshold), each value is one vectorised numpy decision over per-request
arrays computed once (a sorted cumulative sum for a budget). Otherwise each value replays the swept
step and the steps below it from the stored state. Either way each point equals
``replay(...)`` run with that one value (tested to the pico-dollar).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import narwhals.stable.v2 as nw
import numpy as np

from workbench.core.prices import PriceBook, PriceError
from workbench.core.replay.backends import caller_kind, make_backend
from workbench.core.replay.context import StageContext
from workbench.core.replay.params import PolicyError
from workbench.core.replay.pricing import FATE, PUSD_PER_USD, QUALITY, QUALITY_UNITS, quality_units
from workbench.core.replay.stack import PolicyStack, as_stack

Sweeper = Callable[[Any], "tuple[np.ndarray, np.ndarray | None]"]


class PreparedSweep:
    """A log prepared for evaluating many values of ``param`` of step ``step`` (1-based)."""

    def __init__(self, log: Any, policies: Any, prices: PriceBook, step: int, param: str, *,
                 engine: str | None = None, memory_limit: str | None = None, temp_dir: str | None = None,
                 cache_ttl: str = "5m", outcomes: Any = None, attach: Any = None, fast: bool = True):
        from workbench.core.replay.engine import _Run
        if prices is None:
            raise PriceError("a sweep needs a price book")
        self.stack: PolicyStack = as_stack(policies)
        if not 1 <= step <= len(self.stack):
            raise PolicyError(f"sweep: step {step} is not in the stack (1–{len(self.stack)})")
        self.step, self.param = step, param
        policy = self.stack[step - 1]
        if param not in {p.name for p in policy.params}:
            raise PolicyError(f"sweep: policy {policy.name!r} (step {step}) has no parameter {param!r}; "
                              f"valid: {', '.join(p.name for p in policy.params)}")
        self.backend = make_backend(engine, caller_kind(log), memory_limit, temp_dir)
        try:
            self._run = _Run(self.stack, prices, self.backend, cache_ttl, None, outcomes=outcomes, attach=attach)
            self._run.pinned = True
            base = self._run.start(log)
            if self._run.joint:  # cache + budget fixpoint: every value replays the whole stack
                self._prefix, self._contexts, self._first = base, [], 1
            else:
                self._prefix, self._contexts = self._run.run_steps(base, 1, stop=step - 1)
                self._first = step
            self._prefix = self.backend.materialize(self._prefix)
            self._baseline = self._total("_c0")
            self._sweeper = None
            if fast and self.backend.local and step == len(self.stack) and not self._run.joint:
                ctx = StageContext(self._run, step, policy, self._prefix)
                self._sweeper = policy.sweeper(ctx, param)
        except BaseException:
            self.backend.close()
            raise

    @property
    def fast(self) -> bool:
        """True when each value is a vectorised decision (no replay of the step)."""
        return self._sweeper is not None

    def _total(self, column: str) -> int:
        got = self.backend.collect(self._prefix.select(nw.col(column).sum().alias("s"))).to_dict(as_series=False)
        return int(got["s"][0] or 0)

    def _policy(self, value: Any):
        config = self.stack[self.step - 1].to_config()
        name = config.pop("policy")
        config[self.param] = value
        from workbench.core.replay.registry import get_policy
        return get_policy(name)(**config)

    def evaluate(self, values: Iterable[Any]) -> list[dict]:
        """One point per value: ``{value, replayed_usd, replayed_pusd, savings_usd, replayed_quality,
        blocked_requests}`` — each equal to the replay with that one value."""
        values = list(values)
        policies = [self._policy(v) for v in values]  # validates every value first (bounds, types)
        return [self._point(v, p) for v, p in zip(values, policies)]

    def _point(self, value: Any, policy) -> dict:
        if self._sweeper is not None:
            cost, quality = self._sweeper(policy.p[self.param])
            total = int(cost.sum(dtype=np.int64)) if len(cost) and int(cost.max()) < 2**63 // max(1, len(cost)) \
                else sum(int(c) for c in cost)
            q = None
            if quality is not None:
                known = ~np.isnan(quality)
                units = int(np.rint(quality[known] * QUALITY_UNITS).astype(np.int64).sum())
                q = units / QUALITY_UNITS / int(known.sum()) if known.any() else None
            blocked = None
        else:
            stack = PolicyStack(self.stack.policies[:self.step - 1] + (policy,) + self.stack.policies[self.step:])
            frame, _ = self._run.run_steps(self._prefix, self._first, stack, self._contexts)
            if self._run.joint:
                self._run.stack = stack
                frame, _ = self._run._fixpoint(self._prefix, frame, [])
                self._run.stack = self.stack
                self._run.refused_column = None
            k = len(stack)
            aggs = [nw.col(f"_c{k}").sum().alias("s"), (nw.col(FATE) == 2).cast(nw.Int64).sum().alias("b")]
            if self._run.has_quality:
                aggs += [quality_units(nw.col(QUALITY)).sum().alias("qs"),
                         (~nw.col(QUALITY).is_null()).cast(nw.Int64).sum().alias("qn")]
            got = {k_: v[0] for k_, v in self.backend.collect(frame.select(*aggs)).to_dict(as_series=False).items()}
            total, blocked = int(got["s"] or 0), int(got["b"] or 0)
            q = (int(got["qs"]) / QUALITY_UNITS / int(got["qn"]) if got.get("qn") else None) \
                if self._run.has_quality else None
        return {"value": value, "replayed_usd": total / PUSD_PER_USD, "replayed_pusd": total,
                "savings_usd": (self._baseline - total) / PUSD_PER_USD, "replayed_quality": q,
                **({"blocked_requests": blocked} if blocked is not None else {})}

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def prepare_sweep(log: Any, policies: Any, prices: PriceBook, step: int, param: str, **kw) -> PreparedSweep:
    """Prepare ``log`` once for a sweep of ``param`` of step ``step`` (1-based); see the module."""
    return PreparedSweep(log, policies, prices, step, param, **kw)


def sweep(log: Any, policies: Any, prices: PriceBook, step: int, param: str, values: Iterable[Any],
          **kw) -> list[dict]:
    """``prepare_sweep(...).evaluate(values)`` in one call."""
    with prepare_sweep(log, policies, prices, step, param, **kw) as prepared:
        return prepared.evaluate(values)


def state_arrays(ctx: StageContext, frame: nw.LazyFrame, exprs: dict[str, nw.Expr]) -> dict[str, np.ndarray]:
    """Per-request facts computed once for a ``sweeper``, as numpy arrays (all in one row order;
    sums and means do not need processing order). Null quality becomes NaN."""
    data = ctx.collect(frame.select(**exprs))
    out = {}
    for c in exprs:
        series = data[c]
        if series.dtype == nw.Float64:
            out[c] = series.fill_null(float("nan")).to_numpy().astype(np.float64)
        else:
            out[c] = series.to_numpy()
    return out
