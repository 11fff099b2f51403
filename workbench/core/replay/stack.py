"""A policy stack: policies applied in order, from Python objects or a YAML file.

YAML contract::

    name: cheaper support          # optional
    description: …                 # optional
    policies:                      # applied top to bottom; an empty list is the baseline
      - {policy: output_cap, max_output_tokens: 512}
      - {policy: batch, features: [reports]}
      - {policy: daily_budget, usd: 250, action: block}

Every error names the file, the item, the policy and the parameter.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml

from workbench.core.replay.params import PolicyError
from workbench.core.replay.registry import Policy, get_policy
from workbench.io.safe_yaml import brief, load_yaml

_TOP_KEYS = {"name", "description", "policies"}


class PolicyStack:
    """An ordered, immutable list of validated policies."""

    def __init__(self, policies: Iterable[Policy] = (), name: str = "", description: str = ""):
        self.policies: tuple[Policy, ...] = tuple(policies)
        for i, p in enumerate(self.policies, 1):
            if not isinstance(p, Policy):
                raise PolicyError(f"item {i}: expected a Policy, got {type(p).__name__}")
        self.name, self.description = name, description

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, where: str = "policy stack") -> "PolicyStack":
        if data is None:
            data = {"policies": []}
        if isinstance(data, list):
            data = {"policies": data}
        if not isinstance(data, Mapping):
            raise PolicyError(f"{where}: expected a mapping with a 'policies' list, got {type(data).__name__}")
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                              f"valid: {', '.join(sorted(_TOP_KEYS))}")
        items = data.get("policies")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise PolicyError(f"{where}: 'policies' must be a list, got {type(items).__name__}")
        policies = []
        for i, item in enumerate(items, 1):
            at = f"{where}: item {i}"
            if not isinstance(item, Mapping) or "policy" not in item:
                raise PolicyError(f"{at}: expected a mapping with a 'policy' key, got {brief(item)}")
            params = {k: v for k, v in item.items() if k != "policy"}
            try:
                policies.append(get_policy(str(item["policy"]))(**params))
            except PolicyError as e:
                raise PolicyError(f"{at}: {e}") from None
        return cls(policies, str(data.get("name") or ""), str(data.get("description") or ""))

    @classmethod
    def from_yaml(cls, source: str | Path) -> "PolicyStack":
        """Parse a YAML file path, or YAML text (anything containing a newline or a colon)."""
        path = Path(source) if isinstance(source, Path) or not _looks_like_yaml(str(source)) else None
        if path is not None:
            if not path.is_file():
                raise PolicyError(f"policy file not found: {path}")
            text, where = path.read_text(encoding="utf-8"), str(path)
        else:
            text, where = str(source), "policy stack"
        try:
            data = load_yaml(text)  # bounded: alias bombs refused before expansion
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f" (line {mark.line + 1})" if mark is not None else ""
            raise PolicyError(f"{where}: not valid YAML{line}: {getattr(e, 'problem', e)}") from None
        return cls.from_dict(data, where)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {}
        if self.name:
            d["name"] = self.name
        if self.description:
            d["description"] = self.description
        d["policies"] = [p.to_config() for p in self.policies]
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    # -- sequence -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.policies)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    def __getitem__(self, i: int) -> Policy:
        return self.policies[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolicyStack) and other.to_dict()["policies"] == self.to_dict()["policies"]

    def __repr__(self) -> str:
        return f"PolicyStack({list(self.policies)!r})"

    def without(self, index: int) -> "PolicyStack":
        """The same stack with the policy at ``index`` removed."""
        return PolicyStack(self.policies[:index] + self.policies[index + 1:], self.name, self.description)

    def then(self, *policies: Policy) -> "PolicyStack":
        return PolicyStack(self.policies + tuple(policies), self.name, self.description)


def _looks_like_yaml(text: str) -> bool:
    return "\n" in text or text.lstrip().startswith(("{", "[", "policies"))


def load_stack(path: str | Path) -> PolicyStack:
    return PolicyStack.from_yaml(Path(path))


def as_stack(obj: Any) -> PolicyStack:
    """A stack from a PolicyStack, a list of policies or config dicts, a mapping or a YAML path."""
    if isinstance(obj, PolicyStack):
        return obj
    if obj is None:
        return PolicyStack()
    if isinstance(obj, Policy):
        return PolicyStack([obj])
    if isinstance(obj, (str, Path)):
        return PolicyStack.from_yaml(obj)
    if isinstance(obj, Mapping):
        return PolicyStack.from_dict(obj)
    if isinstance(obj, (list, tuple)):
        if all(isinstance(p, Policy) for p in obj):
            return PolicyStack(obj)
        return PolicyStack.from_dict({"policies": list(obj)})
    raise PolicyError(f"cannot make a policy stack from {type(obj).__name__}")
