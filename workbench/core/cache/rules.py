"""Provider prompt-caching rules as reviewed data (``pricing/caching/rules.yaml``), validated on load.

Every provider entry needs a ``source``; multipliers are decimal strings; an unknown provider or
key is an error naming the file. Prices per token stay in the price sheets: a provider rule's
multiplier is used only where a model's sheet lacks the rate (and said so in the result).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

import yaml

PROVIDER_KEYS = {"mode", "source", "max_breakpoints", "ttl_s", "ttl_refreshed_on_hit", "write_multiplier",
                 "read_multiplier", "min_cacheable_tokens", "step_tokens", "note", "implicit", "explicit"}


class RulesError(ValueError):
    """A caching-rules file that does not validate."""


def default_rules_path() -> Path:
    return Path(__file__).resolve().parents[3] / "pricing" / "caching" / "rules.yaml"


def _num(value, where: str) -> float:
    if not isinstance(value, str):
        raise RulesError(f"{where}: write numbers as quoted decimal strings, got {value!r}")
    try:
        d = Decimal(value)
    except InvalidOperation:
        raise RulesError(f"{where}: not a number: {value!r}") from None
    if d < 0:
        raise RulesError(f"{where}: negative: {value!r}")
    return float(d)


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> dict:
    p = Path(path) if path else default_rules_path()
    where = str(p)
    with open(p, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    if not isinstance(doc, dict) or set(doc) - {"providers", "embedding"}:
        raise RulesError(f"{where}: expected keys providers, embedding")
    for name, rule in (doc.get("providers") or {}).items():
        at = f"{where}: provider {name!r}"
        unknown = set(rule) - PROVIDER_KEYS
        if unknown:
            raise RulesError(f"{at}: unknown key(s) {sorted(unknown)}")
        if not str(rule.get("source", "")).strip():
            raise RulesError(f"{at}: every rule needs a source")
        for sub in (rule, rule.get("implicit") or {}, rule.get("explicit") or {}):
            wm = sub.get("write_multiplier")
            if isinstance(wm, dict):
                sub["write_multiplier"] = {k: _num(v, f"{at}: write_multiplier.{k}") for k, v in wm.items()}
            if sub.get("read_multiplier") is not None:
                sub["read_multiplier"] = _num(sub["read_multiplier"], f"{at}: read_multiplier")
    emb = doc.get("embedding") or {}
    if not str(emb.get("source", "")).strip():
        raise RulesError(f"{where}: embedding needs a source")
    emb["usd_per_mtok"] = _num(emb.get("usd_per_mtok"), f"{where}: embedding.usd_per_mtok")
    return doc


def provider_rule(provider: str, path: str | None = None) -> dict:
    providers = load_rules(path)["providers"]
    if provider not in providers:
        raise RulesError(f"unknown provider {provider!r}; valid: {', '.join(sorted(providers))}")
    return providers[provider]


def min_cacheable(rule: dict, model: str) -> int:
    for entry in rule.get("min_cacheable_tokens") or (rule.get("implicit") or {}).get("min_cacheable_tokens", []):
        if str(model).startswith(entry["prefix"]):
            return int(entry["tokens"])
    raise RulesError(f"no minimum cacheable length for model {model!r}")


def embedding_rate(path: str | None = None) -> dict:
    return load_rules(path)["embedding"]
