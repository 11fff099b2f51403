"""Parameters declared once: the same :class:`Param` validates YAML, builds widget controls and
writes CLI help.

A policy lists its parameters as a tuple of :class:`Param`. ``validate`` turns a raw mapping (from
YAML or Python keywords) into a plain dict of checked values; every error names the policy and the
parameter. ``schema()`` is a JSON-able description (type, bounds, choices, default, description) for
widget builders; ``help_line()`` is the CLI's one-line description.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

REQUIRED = object()

#: How a parameter's ``start`` sizes a new card's value to the log (see :class:`Param`).
START_RULES = ("spend", "values_matching")

#: Parameter kinds understood by :meth:`Param.check`.
KINDS = ("int", "float", "str", "bool", "choice", "strings", "strings_or_all", "fractions",
         "mapping_str", "mapping_number", "model", "custom")


class PolicyError(ValueError):
    """A policy stack or a policy parameter that cannot be used. The message names where and what."""


@dataclass(frozen=True)
class Param:
    """One declared parameter of a policy.

    ``kind`` is one of :data:`KINDS`. Numbers honour ``minimum``/``maximum`` (inclusive unless
    ``exclusive_minimum``); ``choice`` honours ``choices``; ``strings_or_all`` accepts a list of
    strings or the word ``all`` (stored as ``None``); ``fractions`` is a list of numbers in (0, 1];
    ``custom`` hands the raw value to ``parse(value, where)``.
    """

    name: str
    kind: str
    description: str
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    parse: Callable[[Any, str], Any] | None = field(default=None, compare=False)
    example: Any = None
    label: str = ""   # how help names a custom kind ("list of rules")
    values_from: str = ""   # the log column whose values the parameter takes ("feature", "tenant", "model")
    start: Mapping[str, Any] | None = field(default=None, compare=False)

    # ``start``: how an app sizes a new card's value to the log in view (JSON-able; see START_RULES).
    # ``{"spend": "median_day", "by": ["tenant"], "times": 2.0}``: the median spend of a UTC day
    # (of each group of ``by``, canonical log columns), times ``times``, to two significant digits.
    # ``{"values_matching": ["nightly", "report"], "otherwise": "all"}``: the values of
    # ``values_from`` whose name contains one of the words, else ``otherwise``.
    # A parameter with ``start`` is offered on a new card even when it is optional.

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"param {self.name}: unknown kind {self.kind!r}")
        if self.start is not None and not (set(self.start) & set(START_RULES)):
            raise ValueError(f"param {self.name}: start must name one of {', '.join(START_RULES)}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    # -- validation ---------------------------------------------------------------------------
    def check(self, value: Any, where: str) -> Any:
        """The validated value; raises :class:`PolicyError` naming ``where`` and the parameter."""
        at = f"{where}: parameter {self.name!r}"
        if value is None and not self.required and self.default is None:
            return None
        k = self.kind
        if k == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise PolicyError(f"{at} must be an integer, got {value!r}")
            value = int(value)
            self._bounds(value, at)
        elif k == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise PolicyError(f"{at} must be a number, got {value!r}")
            value = float(value)
            self._bounds(value, at)
        elif k == "str" or k == "model":
            if not isinstance(value, str) or not value.strip():
                raise PolicyError(f"{at} must be a non-empty string, got {value!r}")
            value = value.strip()
        elif k == "bool":
            if not isinstance(value, bool):
                raise PolicyError(f"{at} must be true or false, got {value!r}")
        elif k == "choice":
            if value not in self.choices:
                raise PolicyError(f"{at} must be one of {', '.join(self.choices)}, got {value!r}")
        elif k in ("strings", "strings_or_all"):
            if k == "strings_or_all" and value == "all":
                return None
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
                alt = " or the word 'all'" if k == "strings_or_all" else ""
                raise PolicyError(f"{at} must be a non-empty list of strings{alt}, got {value!r}")
            value = tuple(dict.fromkeys(value))
        elif k == "fractions":
            if not isinstance(value, (list, tuple)) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 for v in value):
                raise PolicyError(f"{at} must be a list of fractions in (0, 1], got {value!r}")
            if len(value) > 6:
                raise PolicyError(f"{at}: at most 6 alert thresholds, got {len(value)}")
            value = tuple(sorted({float(v) for v in value}))
        elif k in ("mapping_str", "mapping_number"):
            if not isinstance(value, Mapping):
                raise PolicyError(f"{at} must be a mapping, got {value!r}")
            out = {}
            for key, v in value.items():
                if k == "mapping_str" and not isinstance(v, str):
                    raise PolicyError(f"{at}: value for {key!r} must be a string, got {v!r}")
                if k == "mapping_number":
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or not math.isfinite(v):
                        raise PolicyError(f"{at}: value for {key!r} must be a non-negative number, got {v!r}")
                out[str(key)] = v
            value = out
        elif k == "custom":
            value = self.parse(value, at) if self.parse else value
        return value

    def _bounds(self, value: float, at: str) -> None:
        lo, hi = self.minimum, self.maximum
        if lo is not None and (value < lo or (self.exclusive_minimum and value == lo)):
            op = ">" if self.exclusive_minimum else "≥"
            raise PolicyError(f"{at} must be {op} {lo:g}, got {value!r}")
        if hi is not None and value > hi:
            raise PolicyError(f"{at} must be ≤ {hi:g}, got {value!r}")

    # -- descriptions -------------------------------------------------------------------------
    def schema(self) -> dict:
        """JSON-able description for widgets and docs (bounds → slider range, description → label)."""
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "description": self.description,
                             "required": self.required}
        if not self.required:
            d["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        for key in ("minimum", "maximum", "example"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.exclusive_minimum:
            d["exclusive_minimum"] = True
        if self.choices:
            d["choices"] = list(self.choices)
        if self.label:
            d["label"] = self.label
        if self.values_from:
            d["values_from"] = self.values_from
        if self.start is not None:
            d["start"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.start.items()}
        return d

    def help_line(self) -> str:
        bits = [self.label or {"strings_or_all": "list|all", "strings": "list", "fractions": "list of fractions",
                               "mapping_str": "mapping", "mapping_number": "mapping"}.get(self.kind, self.kind)]
        if self.choices:
            bits = ["|".join(self.choices)]
        if self.minimum is not None or self.maximum is not None:
            lo = "" if self.minimum is None else f"{'>' if self.exclusive_minimum else '≥'}{self.minimum:g}"
            hi = "" if self.maximum is None else f"≤{self.maximum:g}"
            bits.append(" ".join(b for b in (lo, hi) if b))
        shown = list(self.default) if isinstance(self.default, tuple) else self.default
        req = "required" if self.required else f"default {shown!r}" if shown is not None else "optional"
        return f"{self.name} ({', '.join(bits)}; {req}): {self.description}"


def validate(params: tuple[Param, ...], raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check ``raw`` against the declaration: unknown and missing names are errors."""
    known = {p.name: p for p in params}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise PolicyError(f"{where}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                          f"valid: {', '.join(known)}")
    out: dict[str, Any] = {}
    for p in params:
        if p.name in raw:
            out[p.name] = p.check(raw[p.name], where)
        elif p.required:
            raise PolicyError(f"{where}: missing required parameter {p.name!r} ({p.description})")
        else:
            out[p.name] = p.default
    return out
