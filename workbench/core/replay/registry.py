"""The policy base class and the one registry of policies.

A policy is a class registered by name with :func:`register_policy`. It declares its parameters
once (:attr:`Policy.params`, a tuple of :class:`~workbench.core.replay.params.Param`) and implements
``apply(ctx)``: a vectorised step over the replay state (see :mod:`workbench.core.replay.context`),
optionally running a sequential per-partition kernel through ``ctx.run_kernel``. Modules in
:mod:`workbench.core.replay.policies` are discovered and imported on first use, so a new policy is a
new module there (or any module that calls :func:`register_policy` before the stack is loaded).
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from workbench.core.replay.params import Param, PolicyError, validate
from workbench.core.replay.report import KINDS, StepReport

if TYPE_CHECKING:  # pragma: no cover
    from workbench.core.replay.context import StageContext


@dataclass(frozen=True)
class Reason:
    """What a policy did to a request. ``changes=False`` marks an explanation that changed nothing.

    ``kind`` (one of :data:`~workbench.core.replay.report.KINDS`) is what the engine counts by:
    ``blocked``, ``downgraded``, ``cache_hit``, ``moved`` …; default ``changed`` (``note`` when
    ``changes`` is false)."""

    text: str
    changes: bool = True
    kind: str = ""

    def __post_init__(self):
        kind = self.kind or ("changed" if self.changes else "note")
        if kind not in KINDS:
            raise ValueError(f"reason kind must be one of {', '.join(KINDS)}, got {kind!r}")
        object.__setattr__(self, "kind", kind)


LABEL = Param("label", "str", "name shown in the waterfall and the decisions (default: the policy name)",
              default=None)


class Policy:
    """Base class of replay policies. Instances are immutable once validated."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: True when a decision for one request depends on the replay state of other requests
    #: (budgets, caches). Only a stateful policy may call ``ctx.window`` or ``ctx.run_kernel`` in
    #: ``apply`` (the engine raises otherwise); the engine feeds its kernels whole partitions on every
    #: backend (no partition key = the whole log), includes it in the cache/budget fixpoint, and a
    #: sweep of a parameter above it replays it for every value (docs/replay-semantics.md § 10).
    stateful: ClassVar[bool] = False
    #: True for a response cache: its kernel takes ``ctx.may_write`` and writes entries only from
    #: those rows, and the engine decides it jointly with the budgets after it (a refused request
    #: writes no entry; docs/replay-semantics.md § 10). Implies ``stateful``.
    caches_answers: ClassVar[bool] = False
    #: True when the policy bills an amount on top of the call in the ``_extra`` state column
    #: (a cascade's discarded first call, a cache lookup): the engine then carries that column.
    bills_extra: ClassVar[bool] = False

    def __init__(self, **raw: Any):
        where = f"policy {self.name!r}"
        values = validate(self.params + (LABEL,), raw, where)
        self.label: str = values.pop("label") or self.name
        self.p: dict[str, Any] = values
        self._raw = {k: v for k, v in raw.items() if k != "label"}
        self.check()

    # -- construction ---------------------------------------------------------------------------
    def check(self) -> None:
        """Cross-parameter validation (override; raise PolicyError naming policy and parameter)."""

    def error(self, param: str | None, message: str) -> PolicyError:
        at = f"policy {self.label!r}" if self.label == self.name else f"policy {self.name!r} ({self.label})"
        return PolicyError(f"{at}: parameter {param!r} {message}" if param else f"{at}: {message}")

    def to_config(self) -> dict:
        d = {"policy": self.name}
        if self.label != self.name:
            d["label"] = self.label
        d.update(_plain(self._raw))
        return d

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._raw.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_config() == self.to_config()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((self.name, repr(self.to_config())))

    # -- engine hooks ---------------------------------------------------------------------------
    def requires(self) -> set[str]:
        """Input columns (canonical names) ``apply`` reads; they are carried through the replay."""
        return set()

    def reads(self) -> set[str]:
        """Input columns only ``derive`` reads: dropped before the requests are ordered."""
        return set()

    def derive(self, ctx: "StageContext"):
        """Per-request facts computed once from the input, before ordering (e.g. keyword flags of
        the prompt, so the long prompt text is not carried through sorts). Return ``ctx.frame``
        with private columns (``ctx.private(name)``) added; windows may order by
        ``["ts", "request_id"]``. Default: nothing."""
        return ctx.frame

    def target_models(self) -> dict[str, str]:
        """Models the policy may move requests to (so the engine prices them), each with the
        parameter that names it (for error messages)."""
        return {}

    def reasons(self) -> tuple[Reason, ...]:
        """Texts of the action codes this policy writes: code ``i`` is ``reasons()[i-1]``."""
        return ()

    def apply(self, ctx: "StageContext"):
        """Return ``ctx.frame`` with state columns updated and ``ctx.act`` (Int8 code) added."""
        raise NotImplementedError

    def outputs(self) -> dict[str, Any]:
        """Extra per-request output columns this step writes (name → Narwhals dtype), e.g. the
        request a cache hit reused or a router score. ``apply`` writes them as
        ``ctx.output(name)``; they reach the result frame as ``step{k}_{name}``."""
        return {}

    def report(self, ctx: "StageContext", frame) -> StepReport:
        """This step's typed report (events, limits, breakdown period, detail), read from the final
        state frame. The engine counts decisions itself (by reason kind). Override."""
        return StepReport()

    def sweeper(self, ctx: "StageContext", param: str):
        """Optional fast path of a sweep over ``param`` when this is the last step: score once, then
        return ``fn(value) -> (cost_pusd, quality)`` numpy arrays per request in processing order
        (int64 pUSD after this step; float64 quality, NaN = unlabelled), equal to replaying with that
        value. ``None`` (default) = the engine replays the step for every value."""
        return None


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


_REGISTRY: dict[str, type[Policy]] = {}
_DISCOVERED = False


def register_policy(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if "summarize" in vars(cls):
        raise PolicyError(f"policy {cls.name!r}: summarize() -> dict was replaced by report() -> StepReport "
                          f"(docs/replay-semantics.md § 10)")
    _discover()  # built-ins first: a plugin can never take a built-in's name, whatever the order
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls and not _same_class(existing, cls):
        raise PolicyError(f"policy name {cls.name!r} is already registered by "
                          f"{existing.__module__}.{existing.__qualname__}; choose another name")
    _REGISTRY[cls.name] = cls
    return cls


def _same_class(a: type, b: type) -> bool:
    """The same class defined again (a module re-imported), not another class with that name."""
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    from workbench.core.replay import policies
    try:
        for mod in sorted(pkgutil.iter_modules(policies.__path__), key=lambda m: m.name):
            importlib.import_module(f"{policies.__name__}.{mod.name}")
    except BaseException:
        _DISCOVERED = False  # the next lookup raises again instead of returning a partial registry
        raise


def list_policies() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def get_policy(name: str) -> type[Policy]:
    """The policy class registered as ``name``; unknown names list the valid ones."""
    _discover()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise PolicyError(f"unknown policy {name!r}{hint}; valid: {', '.join(sorted(_REGISTRY))}")


def make_policy(name: str, **params: Any) -> Policy:
    return get_policy(name)(**params)


def policy_schema(name: str) -> dict:
    """Declared parameters of a policy as JSON-able data (for widgets, docs and ``--help``)."""
    cls = get_policy(name)
    return {"policy": cls.name, "summary": cls.summary, "stateful": cls.stateful,
            "params": [p.schema() for p in cls.params + (LABEL,)]}


def describe_policies() -> str:
    """Plain-text help for every registered policy, generated from the declarations."""
    lines = []
    for name in list_policies():
        cls = _REGISTRY[name]
        lines.append(f"{name}: {cls.summary}")
        for p in cls.params:
            lines.append(f"    {p.help_line()}")
    return "\n".join(lines)
