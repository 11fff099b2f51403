"""``route``: model routing by rules — feature, tenant, tenant plan, prompt length, current model,
keywords, and the seed's rule-based complexity classifier (light / standard / heavy).

Rules are tried in order; the first rule whose conditions all hold sends the request to its
``model``. A rule without conditions matches everything (a default route).

The classifier is the seed's ``classify_query`` (guide BEE-30011), evaluated on the logged prompt
and the request's input tokens, in this order:

* light    — fewer than ``light_max_words`` words and fewer than ``light_max_input_tokens`` tokens
* heavy    — a ``heavy_keywords`` phrase in the prompt (case-insensitive), or more than
  ``heavy_min_input_tokens`` tokens
* standard — everything else.

Words are counted as single spaces + 1 in the prompt with leading/trailing spaces removed (equal to
``len(prompt.split())`` for normally spaced text). A request without a prompt is never light and is
heavy only by its length.

Tenant plans come from the ``plans`` mapping (tenant → plan); unlisted tenants are on ``default_plan``.
"""
from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param, PolicyError
from workbench.core.replay.pricing import CALLED, FATE, IN, MODEL
from workbench.core.replay.registry import Policy, Reason, register_policy

SEED_HEAVY_KEYWORDS = ("explain why", "compare", "design", "analyze", "implement")
TIERS = ("light", "standard", "heavy")
_LISTS = ("feature", "tenant", "plan", "from_model", "keywords")
_INTS = ("min_input_tokens", "max_input_tokens")
RULE_KEYS = ("model", "name", "tier", *_LISTS, *_INTS)


def _rules(value: Any, at: str) -> tuple[dict, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise PolicyError(f"{at} must be a non-empty list of rules like {{feature: [search], model: gpt-4o-mini}}")
    rules = []
    for i, raw in enumerate(value, 1):
        where = f"{at}: rule {i}"
        if not isinstance(raw, dict):
            raise PolicyError(f"{where} must be a mapping, got {raw!r}")
        unknown = sorted(set(raw) - set(RULE_KEYS))
        if unknown:
            raise PolicyError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; valid: {', '.join(RULE_KEYS)}")
        if not isinstance(raw.get("model"), str) or not raw["model"].strip():
            raise PolicyError(f"{where}: 'model' (the model to route to) is required")
        rule: dict[str, Any] = {"model": raw["model"].strip()}
        if "name" in raw:
            rule["name"] = str(raw["name"])
        for key in _LISTS:
            if key in raw:
                v = [raw[key]] if isinstance(raw[key], str) else raw[key]
                if not isinstance(v, (list, tuple)) or not v or not all(isinstance(x, str) and x for x in v):
                    raise PolicyError(f"{where}: {key!r} must be a string or a non-empty list of strings, got {raw[key]!r}")
                rule[key] = tuple(v)
        if "tier" in raw:
            v = [raw["tier"]] if isinstance(raw["tier"], str) else raw["tier"]
            if not isinstance(v, (list, tuple)) or not v or any(x not in TIERS for x in v):
                raise PolicyError(f"{where}: 'tier' must be one of {', '.join(TIERS)} (or a list), got {raw['tier']!r}")
            rule["tier"] = tuple(v)
        for key in _INTS:
            if key in raw:
                v = raw[key]
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise PolicyError(f"{where}: {key!r} must be a non-negative integer, got {v!r}")
                rule[key] = v
        rules.append(rule)
    return tuple(rules)


_META = set("\\.^$*+?()[]{}|")


def _escape(text: str) -> str:
    """Escape regex metacharacters only (the subset every backend's dialect agrees on)."""
    return "".join("\\" + c if c in _META else c for c in text)


def describe_rule(rule: dict) -> str:
    bits = []
    for key in ("feature", "tenant", "plan", "from_model", "tier"):
        if key in rule:
            bits.append(f"{key} in [{', '.join(rule[key])}]" if len(rule[key]) > 1 else f"{key} = {rule[key][0]}")
    if "keywords" in rule:
        bits.append(f"prompt mentions {' / '.join(rule['keywords'])}")
    if "min_input_tokens" in rule:
        bits.append(f"input ≥ {rule['min_input_tokens']} tokens")
    if "max_input_tokens" in rule:
        bits.append(f"input ≤ {rule['max_input_tokens']} tokens")
    return " and ".join(bits) or "every request"


@register_policy
class Route(Policy):
    name = "route"
    summary = "send requests to another model by rules (feature, tenant plan, prompt length, keyword classifier)"
    params = (
        Param("rules", "custom", "ordered rules, first match wins: {model: M, feature|tenant|plan|from_model|"
              "keywords: [..], tier: light|standard|heavy, min_input_tokens: N, max_input_tokens: N, name: ..}",
              parse=_rules, example=[{"tier": "light", "model": "gpt-4o-mini"}], label="list of rules"),
        Param("plans", "mapping_str", "tenant → plan, for rules on plan", default={}),
        Param("default_plan", "str", "plan of tenants not listed in plans", default="default"),
        Param("light_max_words", "int", "classifier: a light prompt has fewer words than this",
              default=20, minimum=0, maximum=100_000),
        Param("light_max_input_tokens", "int", "classifier: a light request has fewer input tokens than this",
              default=500, minimum=0),
        Param("heavy_min_input_tokens", "int", "classifier: more input tokens than this is heavy",
              default=10_000, minimum=0),
        Param("heavy_keywords", "strings", "classifier: phrases that make a prompt heavy (case-insensitive)",
              default=SEED_HEAVY_KEYWORDS),
    )

    def requires(self) -> set[str]:
        need = set()
        for r in self.p["rules"]:
            if "feature" in r:
                need.add("feature")
            if "tenant" in r or "plan" in r:
                need.add("tenant")
        return need

    @property
    def _uses_tier(self) -> bool:
        return any("tier" in r for r in self.p["rules"])

    def reads(self) -> set[str]:
        return {"prompt"} if self._uses_tier or any("keywords" in r for r in self.p["rules"]) else set()

    def derive(self, ctx):
        """Prompt facts, once: few enough words to be light, heavy phrases, each rule's keywords."""
        cols = {}
        if self._uses_tier:
            cols[ctx.private("few_words")] = self._few_words(self.p["light_max_words"])
            cols[ctx.private("heavy_words")] = self._mentions(self.p["heavy_keywords"])
        for i, rule in enumerate(self.p["rules"], 1):
            if "keywords" in rule:
                cols[ctx.private(f"kw{i}")] = self._mentions(rule["keywords"])
        return ctx.frame.with_columns(**cols) if cols else ctx.frame

    def target_models(self) -> dict[str, str]:
        out = {r["model"]: "rules" for r in self.p["rules"]}
        for r in self.p["rules"]:
            for m in r.get("from_model", ()):
                out.setdefault(m, "rules")
        return out

    def reasons(self):
        return tuple(Reason(f"rule {i}{' (' + r['name'] + ')' if 'name' in r else ''}: {describe_rule(r)} → {r['model']}", kind="moved")
                     for i, r in enumerate(self.p["rules"], 1))

    # -- expressions ----------------------------------------------------------------------------
    @staticmethod
    def _few_words(limit: int) -> nw.Expr:
        """Fewer than ``limit`` words (single spaces + 1 in the prompt stripped of spaces).

        One anchored regex instead of counting spaces: "at least ``limit`` words" is a non-space,
        then ``limit - 1`` spaces, then a non-space. No string is copied (counting by
        ``replace_all`` costs 2.5x the time and a copy of every prompt)."""
        if limit <= 0:
            return nw.lit(False)
        many = "[^ ]" if limit == 1 else "^ *[^ ](?:[^ ]* ){%d} *[^ ]" % (limit - 1)
        return (~nw.col("prompt").str.contains(many)).fill_null(False)

    def _mentions(self, phrases) -> nw.Expr:
        """The prompt contains one of ``phrases`` (case-insensitive): one regex alternation."""
        pattern = "(?i)(?:" + "|".join(_escape(p) for p in phrases) + ")"
        return nw.col("prompt").str.contains(pattern).fill_null(False)

    def tier_expr(self, ctx) -> nw.Expr:
        """0 light, 1 standard, 2 heavy (the seed's classify_query) on the current input tokens."""
        light = nw.col(ctx.private("few_words")) & (nw.col(IN) < self.p["light_max_input_tokens"])
        heavy = nw.col(ctx.private("heavy_words")) | (nw.col(IN) > self.p["heavy_min_input_tokens"])
        return (nw.when(light).then(nw.lit(0, nw.Int8)).when(heavy).then(nw.lit(2, nw.Int8))
                .otherwise(nw.lit(1, nw.Int8)))

    def _condition(self, ctx, rule: dict, tier: str | None) -> nw.Expr:
        cond = nw.lit(True)
        if "feature" in rule:
            cond = cond & ctx.isin("feature", rule["feature"])
        if "tenant" in rule:
            cond = cond & ctx.isin("tenant", rule["tenant"])
        if "plan" in rule:
            cond = cond & ctx.plan_in(self.p["plans"], self.p["default_plan"], rule["plan"])
        if "from_model" in rule:
            cond = cond & ctx.model_in(rule["from_model"], "rules")
        if "keywords" in rule:
            cond = cond & nw.col(ctx.private(f"kw{self.p['rules'].index(rule) + 1}"))
        if "min_input_tokens" in rule:
            cond = cond & (nw.col(IN) >= rule["min_input_tokens"])
        if "max_input_tokens" in rule:
            cond = cond & (nw.col(IN) <= rule["max_input_tokens"])
        if "tier" in rule:
            cond = cond & nw.col(tier).is_in([TIERS.index(t) for t in rule["tier"]])
        return cond

    def apply(self, ctx):
        frame = ctx.frame
        tier = ctx.private("tier")
        if self._uses_tier:
            frame = frame.with_columns(**{tier: self.tier_expr(ctx)})
        rule_col = ctx.private("rule")
        which = nw.lit(0, nw.Int8)
        target = nw.col(MODEL)
        for i, rule in reversed(list(enumerate(self.p["rules"], 1))):
            cond = self._condition(ctx, rule, tier)
            which = nw.when(cond).then(nw.lit(i, nw.Int8)).otherwise(which)
        frame = frame.with_columns(**{rule_col: nw.when(nw.col(FATE) == CALLED).then(which)
                                      .otherwise(nw.lit(0, nw.Int8))})
        for i, rule in enumerate(self.p["rules"], 1):
            target = nw.when(nw.col(rule_col) == i).then(nw.lit(ctx.code(rule["model"], "rules"), nw.Int32)) \
                .otherwise(target)
        changed, cols = ctx.move_to(nw.col(rule_col) > 0, target, "rules")
        cols[ctx.act] = nw.when(changed).then(nw.col(rule_col)).otherwise(nw.lit(0, nw.Int8))
        private = [c for c in frame.collect_schema().names() if c.startswith(ctx.private(""))]
        return frame.with_columns(**cols).drop(*private)
