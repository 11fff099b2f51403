"""Review LiteLLM's price map against our sheets. Reads; never writes a sheet.

LiteLLM's ``model_prices_and_context_window.json`` (MIT) prices in USD per *token*; our sheets in
USD per 1M tokens. The diff lists new models of our vendors, prices that disagree, rates one side
has and the other lacks, and keys our sheets name that the map no longer has.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.core.prices import NoPriceError, PriceBook, decimal_text

LITELLM_MAP_ENV = "WORKBENCH_LITELLM_MAP"

#: our rate field -> LiteLLM field (USD per token)
FIELD_MAP = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cached_input": "cache_read_input_token_cost",
    "cache_write_5m": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
    "batch_input": "input_cost_per_token_batches",
    "batch_output": "output_cost_per_token_batches",
    "input_audio": "input_cost_per_audio_token",
    "cached_input_audio": "cache_read_input_audio_token_cost",
    "output_audio": "output_cost_per_audio_token",
}
#: LiteLLM modes of text models we price: `responses` holds the pro and codex models (Responses API only)
REVIEWED_MODES = ("chat", "responses")
#: our vendor -> LiteLLM providers whose chat models count as "new" for that vendor
PROVIDERS = {"openai": ("openai",), "anthropic": ("anthropic",), "google": ("gemini",), "mistral": ("mistral",)}


def default_map_path() -> Path:
    env = os.environ.get(LITELLM_MAP_ENV)
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[2]
    return root.parent / "shared" / "data" / "litellm_price_map" / "model_prices_and_context_window.json"


def load_litellm_map(path: str | Path | None = None) -> dict[str, dict]:
    path = Path(path) if path else default_map_path()
    if not path.exists():
        raise FileNotFoundError(f"LiteLLM price map not found at {path} (give a path or set {LITELLM_MAP_ENV})")
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, dict) and k != "sample_spec"}


@dataclass(frozen=True)
class Disagreement:
    model: str
    litellm_key: str         # the peer's key for the model (LiteLLM key or genai-prices id)
    field: str
    ours: float | None       # USD per 1M
    theirs: float | None     # USD per 1M
    explained: str = ""      # the sheet's litellm_diff / genai_prices_diff text, if any
    peer: str = "LiteLLM"

    @property
    def kind(self) -> str:
        if self.ours is None:
            return f"only {self.peer} has it"
        if self.theirs is None:
            return "only our sheet has it"
        return "price differs"


@dataclass
class LiteLLMDiff:
    """Disagreements between a peer price list and our sheets on one day (LiteLLM's or genai-prices')."""

    on: dt.date
    disagreements: list[Disagreement] = field(default_factory=list)
    missing_keys: list[tuple[str, str]] = field(default_factory=list)     # (model, litellm key)
    new_models: list[dict] = field(default_factory=list)
    context_differs: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    peer: str = "LiteLLM"
    source: str = "LiteLLM's model_prices_and_context_window.json"
    tiers_not_recorded: list[tuple[str, str]] = field(default_factory=list)   # (model, service tier) the peer prices

    @property
    def unexplained(self) -> list[Disagreement]:
        """Disagreements that need a ``litellm_diff`` in the sheet: differing prices and rates we lack."""
        return [d for d in self.disagreements if not d.explained and d.kind != "only our sheet has it"]

    def to_dict(self) -> dict:
        return {
            "peer": self.peer,
            "source": self.source,
            "on": self.on.isoformat(),
            "disagreements": [{**asdict(d), "kind": d.kind} for d in self.disagreements],
            "unexplained": len(self.unexplained),
            "missing_keys": [{"model": m, "peer_key": k} for m, k in self.missing_keys],
            "new_models": self.new_models,
            "context_differs": [{"model": m, "ours": o, "theirs": t} for m, o, t in self.context_differs],
            "service_tiers_not_recorded": [{"model": m, "tier": t} for m, t in sorted(set(self.tiers_not_recorded))],
        }


def short_write_field(rec) -> str:
    """The record's short-TTL cache-write field: OpenAI's 30-minute write where it has one, else Anthropic's
    5-minute write (peers keep both in one field: LiteLLM's cache_creation_input_token_cost,
    genai-prices' cache_write_mtok)."""
    return "cache_write_30m" if rec.cache_write_30m is not None and rec.cache_write_5m is None else "cache_write_5m"


def _per_mtok(value) -> float | None:
    if value is None:
        return None
    return round(float(value) * 1_000_000, 9)


def diff_against_litellm(book: PriceBook, litellm: dict[str, dict], *, on: dt.date | None = None,
                         all_new: bool = False) -> LiteLLMDiff:
    on = on or dt.date.today()  # a person's review; tests pass a pinned day
    diff = LiteLLMDiff(on)
    referenced: set[str] = set()
    for info in sorted(book.models(), key=lambda m: m.id):
        referenced.update(k.lower() for k in (info.id, *info.aliases, *info.litellm))
        if not info.litellm:
            continue
        try:
            rec = info.price_on(on)
        except NoPriceError:
            continue
        for key in info.litellm:
            entry = litellm.get(key)
            if entry is None:
                diff.missing_keys.append((info.id, key))
                continue
            for ours_name, theirs_name in FIELD_MAP.items():
                ours_name = short_write_field(rec) if ours_name == "cache_write_5m" else ours_name
                ours, theirs = getattr(rec, ours_name), _per_mtok(entry.get(theirs_name))
                if ours is None and theirs is None:
                    continue
                if ours is None or theirs is None or abs(ours - theirs) > 1e-9 * max(1.0, abs(ours)):
                    diff.disagreements.append(
                        Disagreement(info.id, key, ours_name, ours, theirs, info.litellm_diff))
            for tier_name in ("flex", "priority"):  # service tiers with their own rates: LiteLLM's *_flex / *_priority
                tier = rec.service_tiers.get(tier_name)
                if tier is None or tier.multiplier is not None:  # not recorded: listed apart, not a price disagreement
                    if entry.get(f"input_cost_per_token_{tier_name}") is not None:
                        diff.tiers_not_recorded.append((info.id, tier_name))
                    continue
                for ours_name in ("input", "output", "cached_input", "cache_write_5m"):
                    if ours_name == "cache_write_5m":
                        ours_name = short_write_field(rec)
                    theirs = _per_mtok(entry.get(f"{FIELD_MAP[ours_name if ours_name in FIELD_MAP else 'cache_write_5m']}"
                                                 f"_{tier_name}"))
                    ours = tier.rates.get(ours_name) if tier and tier.multiplier is None else None
                    if ours is None and theirs is None:
                        continue
                    if ours is None or theirs is None or abs(ours - theirs) > 1e-9 * max(1.0, abs(ours)):
                        diff.disagreements.append(Disagreement(info.id, key, f"{tier_name} {ours_name}", ours, theirs,
                                                               info.litellm_diff))
            theirs_ctx = entry.get("max_input_tokens")
            if info.context_window and theirs_ctx and int(theirs_ctx) != info.context_window:
                diff.context_differs.append((info.id, info.context_window, int(theirs_ctx)))
    providers = {p for v in book.vendors() for p in PROVIDERS.get(v, ())}
    for key, entry in sorted(litellm.items()):
        if key.lower() in referenced or key.split("/")[-1].lower() in referenced:
            continue
        if not all_new and (entry.get("litellm_provider") not in providers
                            or entry.get("mode") not in REVIEWED_MODES):
            continue
        if entry.get("input_cost_per_token") is None:
            continue
        diff.new_models.append({
            "litellm_key": key, "provider": entry.get("litellm_provider"), "mode": entry.get("mode"),
            "input": _per_mtok(entry.get("input_cost_per_token")),
            "output": _per_mtok(entry.get("output_cost_per_token")),
            "context_window": entry.get("max_input_tokens"),
        })
    return diff


def format_diff(diff: LiteLLMDiff) -> str:
    peer = diff.peer
    lines = [f"{diff.source} vs our sheets, prices in force on {diff.on} (USD per 1M tokens)", ""]
    lines.append(f"Disagreements: {len(diff.disagreements)} ({len(diff.unexplained)} not explained in a sheet)")
    for d in diff.disagreements:
        mark = "explained" if d.explained else ("NOT EXPLAINED" if d in diff.unexplained else "")
        lines.append(f"  {d.model:32} {d.field:15} ours {decimal_text(d.ours):>9}  {peer} {decimal_text(d.theirs):>9}"
                     f"  [{d.kind}] {mark}".rstrip())
    if diff.missing_keys:
        lines += ["", f"Our models or keys {peer} lacks:"]
        lines += [f"  {m}: {k}" for m, k in diff.missing_keys]
    if diff.context_differs:
        lines += ["", "Context windows that differ:"]
        lines += [f"  {m}: ours {o}, {peer} {t}" for m, o, t in diff.context_differs]
    if diff.tiers_not_recorded:
        gaps = sorted(set(diff.tiers_not_recorded))
        lines += ["", f"Service tiers {peer} prices that our sheets do not record ({len(gaps)}; asking for one is an "
                      "error, never a guess):"]
        lines += [f"  {m}: {t}" for m, t in gaps]
    lines += ["", f"Models {peer} has that our sheets lack: {len(diff.new_models)}"]
    lines += [f"  {n['litellm_key']:50} {decimal_text(n['input']):>9} {decimal_text(n['output']):>9}"
              + (f"  ({n['mode']})" if n.get("mode") not in (None, "chat") else "")
              for n in diff.new_models]
    lines += ["", "Nothing was written. Review, then edit pricing/*.yaml by hand with a source for each change."]
    return "\n".join(lines)
