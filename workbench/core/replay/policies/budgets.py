"""Budgets: ``daily_budget`` (the organisation's daily cap) and ``tenant_quota`` (per-tenant quotas
in dollars or tokens, per day or month), each with an action and alert thresholds.

Semantics (docs/replay-semantics.md): within a period, requests are counted in processing order;
``spend`` is the running sum of what the requests *ask for* (their cost, or tokens, after the
previous steps). Once ``spend > cap`` — the request that would pass the cap — the action applies
to it and to every later request of the period:

* ``block``      — a hard stop: the requests are refused (served from nothing, billed nothing);
* ``cache_only`` — only responses served from a response cache still go out; calls are refused;
* ``downgrade``  — the requests go to ``downgrade_to`` (cheaper model) and are billed there.

So the admitted requests are a prefix of the period, and with ``block`` or ``cache_only`` the spend
billed in a period never exceeds the cap. An alert at fraction ``f`` fires on the admitted request
where the spend first reaches ``f × cap``. Spend with ``downgrade`` continues past the cap at the
cheaper price (it is not a hard stop). A request that is already blocked, removed, or a free cache
hit adds nothing to the spend.
"""
from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param
from workbench.core.replay.pricing import (
    BLOCKED, CACHE_HIT, CALLED, DAY, FATE, IN, NEVER, OUT, PUSD_PER_USD, int_day, usd_to_units,
)
from workbench.core.replay.registry import Policy, Reason, register_policy
from workbench.core.replay.report import Event, Limit, StepReport

ACTIONS = ("block", "downgrade", "cache_only")
STOP_BIT = 64
MAX_EVENTS = 10_000

_COMMON = (
    Param("action", "choice", "what happens once the cap is reached", default="block", choices=ACTIONS),
    Param("downgrade_to", "model", "model used after the cap when action is downgrade", default=None,
          example="gpt-4o-mini"),
    Param("alerts", "fractions", "alert thresholds as fractions of the cap", default=(0.5, 0.8)),
)


def _threshold(cap: int, f: float) -> int:
    if cap >= NEVER:
        return NEVER
    return int((Decimal(cap) * Decimal(repr(f))).to_integral_value(rounding=ROUND_CEILING))


class _Budget(Policy):
    stateful = True
    scope = "org"

    def check(self) -> None:
        if self.p["action"] == "downgrade" and not self.p["downgrade_to"]:
            raise self.error("downgrade_to", "is required when action is downgrade")
        if self.p["action"] != "downgrade" and self.p["downgrade_to"]:
            raise self.error("downgrade_to", f"only applies to action downgrade (action is {self.p['action']})")

    # subclasses: unit, cap description, partition keys, cap per tenant
    unit = "usd"

    def keys(self, ctx) -> tuple[list[str], dict]:
        raise NotImplementedError

    def caps(self) -> tuple[dict[str, int], int]:
        """(tenant → cap, default cap) in units (pUSD or tokens); NEVER = unlimited."""
        raise NotImplementedError

    def target_models(self) -> dict[str, str]:
        return {self.p["downgrade_to"]: "downgrade_to"} if self.p["downgrade_to"] else {}

    def what(self) -> str:
        raise NotImplementedError

    def reasons(self):
        action = self.p["action"]
        if action == "downgrade":
            return (Reason(f"downgraded to {self.p['downgrade_to']}: {self.what()} reached", kind="downgraded"),)
        if action == "cache_only":
            return (Reason(f"blocked: {self.what()} reached (cache-only: only cache hits served)", kind="blocked"),)
        return (Reason(f"blocked: {self.what()} reached (hard stop)", kind="blocked"),)

    def _cap_expr(self, table: dict[str, int], default: int) -> nw.Expr:
        if not table:
            return nw.lit(default, nw.Int64)
        return nw.col("tenant").replace_strict(table, default=default, return_dtype=nw.Int64)

    def _measure(self, ctx) -> nw.Expr:
        return ctx.tokens if self.unit == "tokens" else ctx.cost

    def apply(self, ctx):
        table, default = self.caps()
        cap = self._cap_expr(table, default)
        keys, pre = self.keys(ctx)
        spend, x = ctx.private("spend"), ctx.private("x")
        frame = ctx.window(ctx.frame, {spend: nw.col(x).cum_sum().over(*keys, order_by=ctx.order_by).cast(nw.Int64)},
                           columns=[c for c in keys if c in ctx.columns] + [DAY] + self._reads(ctx),
                           pre={**pre, x: self._measure(ctx)})
        over = nw.col(spend) > cap
        before = nw.col(spend) - self._measure(ctx)
        ev = (over & (before <= cap)).cast(nw.Int8) * STOP_BIT
        for j, f in enumerate(self.p["alerts"]):
            thr = self._cap_expr({t: _threshold(c, f) for t, c in table.items()}, _threshold(default, f))
            ev = ev + ((nw.col(spend) >= thr) & (before < thr) & ~over).cast(nw.Int8) * (1 << j)
        action = self.p["action"]
        fate = nw.col(FATE)
        if action == "downgrade":
            changed, cols = ctx.move_to(over & ctx.called, self.p["downgrade_to"], "downgrade_to")
            cols[ctx.act] = nw.when(changed).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))
        else:
            servable = (fate == CALLED) | (fate == CACHE_HIT) if action == "block" else (fate == CALLED)
            hit = over & servable
            cols = {FATE: nw.when(hit).then(nw.lit(BLOCKED, nw.Int8)).otherwise(fate),
                    ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).otherwise(nw.lit(0, nw.Int8))}
        cols[ctx.private("ev")] = ev.cast(nw.Int8)
        return frame.with_columns(**cols)

    def sweeper(self, ctx, param):
        """Score once: the running spend of every request (one windowed cumulative sum); a cap is
        then one comparison per request. Hard stops only (block, cache_only); the swept parameter
        is the cap (``usd`` of the daily budget, the default ``limit`` of a tenant quota)."""
        if self.p["action"] == "downgrade" or param not in ("usd", "limit"):
            return None
        import numpy as np

        from workbench.core.replay.sweep import state_arrays
        table, _ = self.caps()
        keys, pre = self.keys(ctx)
        spend, x = ctx.private("spend"), ctx.private("x")
        frame = ctx.window(ctx.frame, {spend: nw.col(x).cum_sum().over(*keys, order_by=ctx.order_by).cast(nw.Int64)},
                           columns=[c for c in keys if c in ctx.columns] + [DAY] + self._reads(ctx),
                           pre={**pre, x: self._measure(ctx)})
        fate = nw.col(FATE)
        servable = (fate == CALLED) | (fate == CACHE_HIT) if self.p["action"] == "block" else (fate == CALLED)
        a = state_arrays(ctx, frame, {"spend": nw.col(spend), "fixed": self._cap_expr(table, -1),
                                      "cost": ctx.cost, "servable": servable, "q": ctx.quality.cast(nw.Float64)})
        own = a["fixed"] >= 0
        has_q = ctx.has_quality

        config = {k: v for k, v in self.to_config().items() if k != "policy"}

        def decide(value):
            _, default = type(self)(**{**config, param: value}).caps()  # the same rule as a replay
            cap = np.where(own, a["fixed"], default)
            blocked = (a["spend"] > cap) & a["servable"]
            cost = np.where(blocked, 0, a["cost"]).astype(np.int64)
            q = np.where(blocked & ~np.isnan(a["q"]), 0.0, a["q"]) if has_q else None
            return cost, q
        return decide

    def _reads(self, ctx) -> list[str]:
        """State columns the measure reads (what the narrow window needs)."""
        return [IN, OUT, FATE] if self.unit == "tokens" else [ctx.cost_column]

    # -- report ---------------------------------------------------------------------------------
    def report(self, ctx, frame) -> StepReport:
        ev, spend = ctx.private("ev"), ctx.private("spend")
        prev_cost = f"_c{ctx.step - 1}"
        table, default = self.caps()
        # the request that crosses a threshold was called before this step: it asked for its
        # pre-step cost, or its tokens (a budget step never changes token counts)
        asked_expr = nw.col(IN) + nw.col(OUT) if self.unit == "tokens" else nw.col(prev_cost)
        rows = ctx.collect(frame.filter(nw.col(ev) != 0).sort(*ctx.order_by).head(MAX_EVENTS + 1)
                           .select("ts", "request_id", "tenant", DAY, ev, spend,
                                   self._cap_expr(table, default).alias("cap"), asked_expr.alias("asked"))
                           ).to_dict(as_series=False)
        if self.p.get("period") == "month":
            rows[DAY] = [d // 100 for d in rows[DAY]]
        action = self.p["action"]
        stop_word = {"block": "hard stop", "cache_only": "cache-only starts", "downgrade": "downgrade starts"}
        events = []
        scale = PUSD_PER_USD if self.unit == "usd" else 1
        for i in range(min(len(rows["ts"]), MAX_EVENTS)):
            bits, total, limit, asked = (int(rows[c][i]) for c in (ev, spend, "cap", "asked"))
            base = {"ts": _iso(rows["ts"][i]), "request_id": rows["request_id"][i],
                    "scope": "org" if self.scope == "org" else (rows["tenant"][i] or "(none)"),
                    "period": _period(int(rows[DAY][i])), "unit": self.unit, "cap": limit / scale}
            for j, f in enumerate(self.p["alerts"]):
                if bits & (1 << j):
                    events.append(Event("alert", f"alert {f:.0%}", spend=total / scale, **base))
            if bits & STOP_BIT:  # spend before the request that would have passed the cap
                key = "request_usd" if self.unit == "usd" else "request_tokens"
                events.append(Event("stop", stop_word[action], action=action, spend=(total - asked) / scale,
                                    detail={key: asked / scale}, **base))
        period = self.p.get("period") or "day"
        limits = [Limit(self.scope, period, self.unit, v / scale, action, tenant=t)
                  for t, v in sorted(table.items()) if v < NEVER]
        if default < NEVER:
            limits.append(Limit(self.scope, period, self.unit, default / scale, action))
        return StepReport(events=events, limits=limits, breakdown=period,
                          events_truncated=len(rows["ts"]) > MAX_EVENTS)


def _period(value: int) -> str:
    if value > 999999:
        return int_day(value).isoformat()
    return f"{value // 100:04d}-{value % 100:02d}"


def _iso(ts) -> str:
    return ts.isoformat() if hasattr(ts, "isoformat") else str(ts)


@register_policy
class DailyBudget(_Budget):
    name = "daily_budget"
    summary = "the organisation's daily spend cap (UTC days), with alerts and a hard stop or a downgrade"
    params = (Param("usd", "float", "daily cap in USD", minimum=0, example=250.0,
                    start={"spend": "median_day", "times": 0.9}), *_COMMON)

    def keys(self, ctx):
        return [DAY], {}

    def caps(self):
        return {}, usd_to_units(self.p["usd"])

    def what(self) -> str:
        return f"org daily budget ${self.p['usd']:,.2f}"


@register_policy
class TenantQuota(_Budget):
    name = "tenant_quota"
    scope = "tenant"
    summary = "per-tenant quotas in USD or tokens per day or month, by tenant or plan, with an action and alerts"
    params = (
        Param("limit", "float", "quota of every tenant without its own (omit: unlimited)", default=None,
              minimum=0, example=5.0, start={"spend": "median_day", "by": ["tenant"], "times": 2.0}),
        Param("unit", "choice", "what the quota counts", default="usd", choices=("usd", "tokens")),
        Param("period", "choice", "quota period (UTC)", default="day", choices=("day", "month")),
        Param("limits", "mapping_number", "tenant → quota (overrides plan and default)", default={}),
        Param("plans", "mapping_str", "tenant → plan", default={}),
        Param("plan_limits", "mapping_number", "plan → quota", default={}),
        Param("default_plan", "str", "plan of tenants not listed in plans", default="default"),
        *_COMMON,
    )

    def check(self) -> None:
        super().check()
        if self.p["limit"] is None and not self.p["limits"] and not self.p["plan_limits"]:
            raise self.error("limit", "is required (or give limits / plan_limits)")
        if self.p["unit"] == "tokens":
            for name in ("limit",):
                v = self.p[name]
                if v is not None and v != int(v):
                    raise self.error(name, f"must be a whole number of tokens, got {v!r}")

    @property
    def unit(self) -> str:  # type: ignore[override]
        return self.p["unit"]

    def requires(self) -> set[str]:
        return {"tenant"}

    def keys(self, ctx):
        if self.p["period"] == "month":
            col = ctx.private("period")
            return ["tenant", col], {col: (nw.col(DAY) // 100).cast(nw.Int32)}
        return ["tenant", DAY], {}


    def _units(self, value) -> int:
        if value is None:
            return NEVER
        return usd_to_units(value) if self.p["unit"] == "usd" else int(math.floor(value))

    def caps(self):
        table: dict[str, int] = {}
        for tenant, plan in self.p["plans"].items():
            if plan in self.p["plan_limits"]:
                table[tenant] = self._units(self.p["plan_limits"][plan])
        for tenant, value in self.p["limits"].items():
            table[tenant] = self._units(value)
        default_plan = self.p["default_plan"]
        default = self.p["plan_limits"].get(default_plan, self.p["limit"]) if default_plan in self.p["plan_limits"] \
            else self.p["limit"]
        return table, self._units(default)

    def what(self) -> str:
        unit = "$" if self.p["unit"] == "usd" else "tokens"
        return f"tenant {self.p['period']}ly quota ({unit})"
