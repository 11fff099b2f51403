"""What a policy reports about its step, in one typed structure the generic layers read.

The engine counts every step's decisions itself, from the action codes and each
:class:`~workbench.core.replay.registry.Reason`'s ``kind`` (``blocked``, ``downgraded``,
``cache_hit`` …), and carries the columns a policy declares in ``outputs()`` into the per-request
frame. What only the policy knows goes into a :class:`StepReport`: timeline :class:`Event` s, the
:class:`Limit` s it enforces, the period of its per-tenant breakdown and free ``detail`` (shown,
never read by name by the engine, the CLI or the apps).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Reason kinds the engine knows; ``changed`` is any other change, ``note`` changes nothing.
KINDS = ("changed", "moved", "downgraded", "batched", "capped", "compressed", "removed", "blocked",
         "cache_hit", "escalated", "note")
EVENT_KINDS = ("alert", "stop", "note")
ACTIONS = ("block", "cache_only", "downgrade")


@dataclass(frozen=True)
class Event:
    """One moment of the timeline (a budget alert, the stop of a period …).

    ``kind`` is ``alert``, ``stop`` (a cap reached: ``action`` says what happens from then on) or
    ``note``; ``text`` is what a person reads ("alert 80%", "hard stop"). ``spend``/``cap`` are in
    ``unit`` (``usd`` or ``tokens``); ``scope`` is ``org`` or the tenant; ``period`` the UTC day
    (``2025-03-01``) or month (``2025-03``).
    """

    kind: str
    text: str
    ts: str
    request_id: str
    scope: str = "org"
    period: str = ""
    action: str | None = None
    spend: float | None = None
    cap: float | None = None
    unit: str | None = None
    detail: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind must be one of {', '.join(EVENT_KINDS)}, got {self.kind!r}")
        if self.action is not None and self.action not in ACTIONS:
            raise ValueError(f"event action must be one of {', '.join(ACTIONS)}, got {self.action!r}")

    def to_dict(self, step: int, policy: str, label: str) -> dict:
        d = {"step": step, "policy": policy, "label": label, "event": self.text}
        d.update({k: v for k, v in asdict(self).items() if k not in ("text", "detail")})
        d.update(self.detail)
        return d


@dataclass(frozen=True)
class Limit:
    """A cap a step enforces: ``value`` in ``unit`` per ``period`` for ``scope`` (``org``, or
    ``tenant`` with ``tenant`` naming it, ``None`` = every tenant without its own cap)."""

    scope: str
    period: str
    unit: str
    value: float
    action: str
    tenant: str | None = None

    def to_dict(self, step: int, policy: str, label: str) -> dict:
        return {"step": step, "policy": policy, "label": label, **asdict(self)}


@dataclass
class StepReport:
    """A policy's own report of its step (returned by ``Policy.report``).

    ``breakdown``: ``"day"`` or ``"month"`` asks the engine for this step's per-tenant breakdown
    (requests changed, by reason kind, and dollars saved per tenant and period).
    """

    events: list[Event] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)
    breakdown: str | None = None
    events_truncated: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
