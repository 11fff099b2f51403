"""The seeds' worked examples, recomputed from their stated inputs.

Each example keeps what the article *claims* beside what the arithmetic *gives*, so a reader sees
where a source is right and where it is not. Prices here are the ones each article states (they
are its inputs), not today's prices: use :mod:`workbench.io.pricesheets` for those.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from workbench.core.cost import effective_cost, request_cost
from workbench.core.prices import PriceRecord


def stated_price(model: str, input: float, output: float, **rates: float) -> PriceRecord:
    """A price record built from an article's stated numbers (USD per 1M)."""
    return PriceRecord(model=model, effective=dt.date.min, until=None, source="as stated in the article",
                       input=input, output=output, **rates)


@dataclass(frozen=True)
class Check:
    name: str
    claimed: float
    computed: float
    tolerance: float  # relative; the article's own "≈"/"roughly" allowance
    upper: float | None = None  # for a claimed range ("tens of thousands"): claimed..upper

    @property
    def ok(self) -> bool:
        if self.upper is not None:
            return self.claimed <= self.computed <= self.upper
        return abs(self.computed - self.claimed) <= self.tolerance * abs(self.claimed)


@dataclass(frozen=True)
class WorkedExample:
    key: str
    seed: str
    title: str
    inputs: dict
    checks: tuple[Check, ...]
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def support_bot() -> WorkedExample:
    """Seed 000: support bot, 2,000 in / 400 out, 50,000 requests/day, GPT-4o at $5/$15 vs mini."""
    n = 50_000
    big = request_cost(stated_price("gpt-4o", 5.0, 15.0), 2_000, 400).scaled(n)
    mini = request_cost(stated_price("gpt-4o-mini", 0.15, 0.60), 2_000, 400).scaled(n)
    return WorkedExample(
        "support_bot", "000", "Support bot on GPT-4o vs GPT-4o-mini",
        {"input_tokens": 2_000, "output_tokens": 400, "requests_per_day": n,
         "gpt-4o": "$5 / $15", "gpt-4o-mini": "$0.15 / $0.60"},
        (Check("GPT-4o input $/day", 500, big.prompt_usd, 0.0),
         Check("GPT-4o output $/day", 300, big.output_usd, 0.0),
         Check("GPT-4o total $/day", 800, big.total_usd, 0.0),
         Check("GPT-4o $/month (30 days)", 24_000, big.total_usd * 30, 0.0),
         Check("GPT-4o-mini $/day ('roughly $18')", 18, mini.total_usd, 0.10),
         Check("swing GPT-4o / mini ('40×')", 40, big.total_usd / mini.total_usd, 0.10)),
        notes="The article's mini figure is wrong: 2,000×50,000×$0.15/1M = $15 input + "
              "400×50,000×$0.60/1M = $12 output = $27/day, so the swing is 29.6×, not 40×.",
    )


def rag_feature() -> WorkedExample:
    """Seed 000: RAG feature, 3,500 in / 350 out, 20,000 requests/day."""
    n, days = 20_000, 30
    mini = request_cost(stated_price("gpt-4o-mini", 0.15, 0.60), 3_500, 350)
    big = request_cost(stated_price("gpt-4o", 5.0, 15.0), 3_500, 350)
    return WorkedExample(
        "rag_feature", "000", "RAG support feature: monthly cost",
        {"input_tokens": 3_500, "output_tokens": 350, "requests_per_day": n, "days": days},
        (Check("mini $/request", 0.000735, mini.total_usd, 1e-9),
         Check("mini $/month", 441, mini.total_usd * n * days, 1e-9),
         Check("GPT-4o $/request ('≈ $0.0228')", 0.0228, big.total_usd, 0.005),
         Check("GPT-4o $/month ('≈ $13,680')", 13_680, big.total_usd * n * days, 0.005),
         Check("GPT-4o / mini ('31× higher')", 31, big.total_usd / mini.total_usd, 0.02)),
        notes="Exact GPT-4o figures are $0.02275/request and $13,650/month; the article rounded "
              "the per-request cost to $0.0228 before multiplying, which gives its $13,680.",
    )


def cascade_blend() -> WorkedExample:
    """Seed 000: 85 % mini / 15 % GPT-4o on the RAG feature, 'if escalations double token use on tier-2'."""
    ex = rag_feature()
    mini_month = ex.checks[1].computed
    big_month = ex.checks[3].computed
    plain_blend = 0.85 * mini_month + 0.15 * big_month
    cascade = effective_cost(mini_month, escalation_rate=0.15, tier_multiplier=big_month / mini_month)
    doubled = effective_cost(mini_month, escalation_rate=0.15, tier_multiplier=2 * big_month / mini_month)
    return WorkedExample(
        "cascade_blend", "000", "Cascade blend 85 % mini / 15 % GPT-4o",
        {"mini_usd_per_month": mini_month, "gpt4o_usd_per_month": big_month, "escalation_rate": 0.15},
        (Check("blend with doubled tier-2 tokens ('~$2,400/month')", 2_400, doubled.total_usd, 0.10),),
        notes=(f"$2,400 is the plain 85/15 routing blend (${plain_blend:,.2f}) with no doubling. "
               f"A cascade where every request tries mini and 15 % also run on GPT-4o costs "
               f"${cascade.total_usd:,.2f}; with doubled tokens on the GPT-4o call "
               f"${doubled.total_usd:,.2f}/month."),
        extra={"plain_blend": plain_blend, "cascade": cascade.total_usd, "cascade_doubled": doubled.total_usd},
    )


def prompt_compression() -> WorkedExample:
    """Seed 002: system prompt 1,847 → 612 tokens, 50,000 requests/day on GPT-4o ($2.50 input in its table)."""
    saved = 1_847 - 612
    day = request_cost(stated_price("gpt-4o", 2.50, 10.0), saved, 0).total_usd * 50_000
    return WorkedExample(
        "prompt_compression", "002", "System-prompt compression on GPT-4o",
        {"tokens_before": 1_847, "tokens_after": 612, "requests_per_day": 50_000, "input_usd_per_mtok": 2.50},
        (Check("$/day saved ('roughly $190')", 190, day, 0.10),
         Check("$/month saved ('about $5,700')", 5_700, day * 30, 0.10)),
        notes=f"1,235 tokens × 50,000 × $2.50/1M = ${day:,.2f}/day (${day * 30:,.2f}/month). "
              "Even at GPT-4o's launch price of $5 the figure is $308.75/day; $190 matches neither.",
    )


def compounding() -> WorkedExample:
    """Seed 002: $10,000/month → prompt cleanup → routing → caching → batch."""
    steps = [("prompt cleanup", 0.30), ("routing", 0.70), ("caching", 0.40), ("batch", 0.20)]
    running, after = 10_000.0, {}
    for name, cut in steps:
        running *= 1 - cut
        after[name] = running
    claimed = {"prompt cleanup": 7_000, "routing": 2_100, "caching": 1_260, "batch": 1_008}
    return WorkedExample(
        "compounding", "002", "Compounding optimisations",
        {"baseline_usd_per_month": 10_000, "cuts": dict(steps)},
        tuple(Check(f"after {k}", claimed[k], after[k], 1e-9) for k in claimed),
        notes="Savings multiply, they do not add: 30 % + 70 % + 40 % + 20 % is a 89.9 % total cut, not 160 %.",
        extra={"total_cut": 1 - running / 10_000},
    )


def prefix_cache() -> WorkedExample:
    """Seed 003: a 4,000-token cached system prompt, reads at $0.30 vs $3.00 per 1M (Sonnet)."""
    price = stated_price("sonnet", 3.00, 15.00, cached_input=0.30)
    per_day = 300_000  # "hundreds of thousands of components per day": the low end of that range
    uncached = request_cost(price, 4_000, 0).total_usd * per_day
    cached = request_cost(price, 4_000, 0, cached_input_tokens=4_000).total_usd * per_day
    saved_month = (uncached - cached) * 30
    return WorkedExample(
        "prefix_cache", "003", "Provider prefix caching of a static system prompt",
        {"system_prompt_tokens": 4_000, "requests_per_day": per_day, "input": 3.00, "cached_input": 0.30},
        (Check("cache read discount", 0.90, 1 - 0.30 / 3.00, 1e-9),
         Check("$/month saved ('tens of thousands')", 10_000, saved_month, 0.0, upper=99_999)),
        notes=f"At 300,000 requests/day the system prompt costs ${uncached:,.0f}/day uncached and "
              f"${cached:,.0f}/day from cache: ${saved_month:,.0f}/month saved, before cache-write "
              "premiums (one write per TTL window, negligible at this volume).",
    )


def output_multiplier() -> WorkedExample:
    """Seed 001: two output tokens per input token at a 4× output price ≈ 9× the input price."""
    price = stated_price("x", 1.0, 4.0)
    per_input_token = request_cost(price, 1_000_000, 2_000_000).total_usd / 1.0
    return WorkedExample(
        "output_multiplier", "001", "Output-heavy chat: effective price per input token",
        {"output_per_input": 2, "output_price_ratio": "4–5×"},
        (Check("cost per input token, × input price ('roughly nine times')", 9, per_input_token, 0.0),),
        notes="1 + 2×4 = 9 at a 4× ratio; at 5× it is 1 + 2×5 = 11.",
    )


def all_examples() -> list[WorkedExample]:
    return [support_bot(), rag_feature(), cascade_blend(), prompt_compression(), compounding(),
            prefix_cache(), output_multiplier()]


def _example_markdown(ex: WorkedExample) -> str:
    rows = "\n".join(
        f"| {c.name} | {c.claimed:,.6g} | {c.computed:,.6g} | {'✔' if c.ok else '✘ wrong'} |" for c in ex.checks
    )
    inputs = ", ".join(f"{k} = {v:,}" if isinstance(v, (int, float)) else f"{k} = {v}" for k, v in ex.inputs.items())
    from workbench.core.exercises import md_text  # "$" escaped: no math typesetting in Jupyter

    return md_text(f"**{ex.title}** (seed {ex.seed})  \nInputs: {inputs}\n\n"
                   f"| figure | article says | recomputed | |\n|---|---:|---:|---|\n{rows}\n\n{ex.notes}")


WorkedExample._repr_markdown_ = _example_markdown  # type: ignore[attr-defined]


def example(key: str) -> WorkedExample:
    """One worked example by key (see :func:`all_examples`)."""
    found = {e.key: e for e in all_examples()}
    if key not in found:
        raise KeyError(f"unknown example {key!r}; valid: {', '.join(found)}")
    return found[key]
