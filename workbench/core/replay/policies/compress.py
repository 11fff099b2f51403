"""``compress``: prompt compression of chosen parts of the prompt at a rate (LLMLingua-style)."""
from __future__ import annotations

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param, PolicyError
from workbench.core.replay.pricing import ACACHED, AIN, CACHED, IMG, IN, LONG, WRITE
from workbench.core.replay.policies._common import FEATURES_ALL, code_where, needs_feature
from workbench.core.replay.registry import Policy, Reason, register_policy

PARTS = ("uncached", "cached", "cache_write")
MILLION = 1_000_000


def _parts(value, at):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or any(v not in PARTS for v in value):
        raise PolicyError(f"{at} must be a non-empty list of {', '.join(PARTS)}, got {value!r}")
    return tuple(dict.fromkeys(value))


@register_policy
class Compress(Policy):
    name = "compress"
    summary = ("compress part of the prompt: remove rate × share of the chosen token parts "
               "(keep the user's query: share is the compressible background, e.g. RAG context)")
    params = (
        Param("rate", "float", "fraction of the compressible tokens removed", minimum=0, maximum=0.95,
              example=0.3),
        Param("parts", "custom", "token parts compressed: uncached (fresh context), cached (the cached "
              "prefix), cache_write", default=("uncached",), parse=_parts, label="list"),
        Param("share", "float", "fraction of those parts that is compressible background", default=1.0,
              minimum=0, maximum=1),
        Param("min_input_tokens", "int", "only prompts at least this long", default=0, minimum=0),
        FEATURES_ALL,
    )

    def requires(self) -> set[str]:
        return needs_feature(self.p["features"])

    @property
    def ppm(self) -> int:
        return round(self.p["rate"] * self.p["share"] * MILLION)

    def reasons(self):
        return (Reason(kind="compressed", text=f"prompt compressed: {self.ppm / 10_000:g}% of its {'/'.join(self.p['parts'])} "
                       f"tokens removed"),)

    def apply(self, ctx):
        ppm, parts = self.ppm, self.p["parts"]
        zero = nw.lit(0, nw.Int64)

        def cut(tokens: nw.Expr, part: str) -> nw.Expr:
            return (tokens * ppm) // MILLION if part in parts else zero

        kinds = ctx.rates.kinds  # audio and image tokens are not compressed: only text is cut
        uncached, cached = nw.col(IN) - nw.col(CACHED) - nw.col(WRITE), nw.col(CACHED)
        for k in (AIN, IMG):
            uncached = uncached - nw.col(k) if k in kinds else uncached
        cut_u = cut(uncached, "uncached")
        cut_c = cut(cached - nw.col(ACACHED) if ACACHED in kinds else cached, "cached")
        cut_w = cut(nw.col(WRITE), "cache_write")
        total = cut_u + cut_c + cut_w
        hit = (ctx.called & ctx.isin("feature", self.p["features"])
               & (nw.col(IN) >= self.p["min_input_tokens"]) & (total > 0))
        return ctx.frame.with_columns(**{
            IN: nw.when(hit).then(nw.col(IN) - total).otherwise(nw.col(IN)),
            CACHED: nw.when(hit).then(nw.col(CACHED) - cut_c).otherwise(nw.col(CACHED)),
            WRITE: nw.when(hit).then(nw.col(WRITE) - cut_w).otherwise(nw.col(WRITE)),
            # long-TTL writes shrink in proportion (floor(W·p) − floor(L·p) ≤ W − L keeps them a part of WRITE)
            **({LONG: nw.when(hit).then(nw.col(LONG) - cut(nw.col(LONG), "cache_write")).otherwise(nw.col(LONG))}
               if LONG in kinds else {}),
            ctx.act: code_where(hit),
        })
