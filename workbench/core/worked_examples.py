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
    """Seed 000: 85 % mini / 15 % GPT-4o on the RAG feature, 'if escalations double token use on tier-2'.

    The sentence mixes two traffic models, so both are shown, each labelled: a *split* routes 85 %
    of requests to mini and 15 % to GPT-4o; a *cascade* sends every request to mini first and
    re-runs the 15 % that escalate on GPT-4o (the doubled tier-2 tokens apply to that second call).
    """
    ex = rag_feature()
    mini_month = ex.checks[1].computed
    big_month = ex.checks[3].computed
    plain_blend = 0.85 * mini_month + 0.15 * big_month
    split_doubled = 0.85 * mini_month + 0.15 * 2 * big_month
    cascade = effective_cost(mini_month, escalation_rate=0.15, tier_multiplier=big_month / mini_month)
    doubled = effective_cost(mini_month, escalation_rate=0.15, tier_multiplier=2 * big_month / mini_month)
    return WorkedExample(
        "cascade_blend", "000", "Cascade blend 85 % mini / 15 % GPT-4o",
        {"mini_usd_per_month": mini_month, "gpt4o_usd_per_month": big_month, "escalation_rate": 0.15},
        (Check("85/15 split, tier-2 tokens doubled ('~$2,400/month')", 2_400, split_doubled, 0.10),
         Check("cascade: all try mini first, 15 % escalate with doubled tokens ('~$2,400/month')",
               2_400, doubled.total_usd, 0.10)),
        notes=(f"$2,400 is the plain 85/15 routing blend (${plain_blend:,.2f}) with no doubling. "
               f"Read literally (85 % of requests on mini, 15 % on GPT-4o with doubled tokens) it is "
               f"${split_doubled:,.2f}/month; as a cascade where every request tries mini first and "
               f"15 % also run on GPT-4o with doubled tokens, ${doubled.total_usd:,.2f}/month "
               f"(${cascade.total_usd:,.2f} without the doubling)."),
        extra={"plain_blend": plain_blend, "split_doubled": split_doubled, "cascade": cascade.total_usd,
               "cascade_doubled": doubled.total_usd},
    )


def system_prompt_per_hour() -> WorkedExample:
    """Seed 000: 'an 8K-token system prompt, 100 req/s, $3/M input on Sonnet ≈ $8.64/hour'."""
    price = stated_price("sonnet", 3.00, 15.00)
    per_hour = request_cost(price, 8_000, 0).total_usd * 100 * 3_600
    hit_rate, discount = 0.80, 0.90
    cut = hit_rate * discount  # share of the input bill removed by cache reads
    return WorkedExample(
        "system_prompt_per_hour", "000", "8K-token system prompt at 100 requests/s on Sonnet",
        {"system_prompt_tokens": 8_000, "requests_per_second": 100, "input_usd_per_mtok": 3.00,
         "cache_hit_rate": hit_rate, "cache_read_discount": discount},
        (Check("uncached input $/hour ('≈ $8.64/hour')", 8.64, per_hour, 0.05),
         Check("input cut by 80 % hits at 90 % off ('roughly 70 %')", 0.70, cut, 0.05)),
        notes=f"8,000 tokens × 100 requests/s × 3,600 s = 2.88 billion tokens/hour × $3/1M = "
              f"${per_hour:,.0f}/hour, not $8.64 (a factor of 1,000 lost). The cache figure holds: "
              f"0.80 × 0.90 = {cut:.0%} off the input bill, before cache-write premiums.",
    )


#: Vendor figures that seed 002's price table misstates, each with the vendor page that gives it.
#: tests/test_worked_examples.py checks them against pricing/ on a pinned date.
SEED_002_FACTS: dict[str, dict] = {
    "claude-haiku-4-5-20251001": {"label": "Claude Haiku 4.5", "input": 1.00, "output": 5.00,
                                  "source": "https://www.anthropic.com/news/claude-haiku-4-5"},
    "mistral-large-2512": {"label": "Mistral Large 3", "input": 0.50, "output": 1.50, "context_window": 262_144,
                           "source": "https://docs.mistral.ai/models/mistral-large-3-25-12"},
    "claude-sonnet-4-6": {"label": "Claude Sonnet 4.6", "context_window": 1_000_000,
                          "source": "https://www.anthropic.com/news/claude-sonnet-4-6"},
}


def seed_002_price_table() -> WorkedExample:
    """Seed 002's model table: Haiku 4.5 at $0.80/$4, Mistral Large 3 at $2/$6 (128K), Sonnet 4.6 at 200K."""
    f = SEED_002_FACTS
    haiku, large, sonnet = f["claude-haiku-4-5-20251001"], f["mistral-large-2512"], f["claude-sonnet-4-6"]
    return WorkedExample(
        "seed_002_price_table", "002", "Seed 002's model price table",
        {"gpt-4o": "$2.50 / $10", "gpt-4o-mini": "$0.15 / $0.60", "Claude Haiku 4.5": "$0.80 / $4.00, 200K",
         "Mistral Large 3": "$2.00 / $6.00, 128K", "Claude Sonnet 4.6": "$3 / $15, 200K"},
        (Check("GPT-4o / mini input ('17x cheaper')", 17, 2.50 / 0.15, 0.05),
         Check("Claude Haiku 4.5 input $/1M ('$0.80')", 0.80, haiku["input"], 0.0),
         Check("Claude Haiku 4.5 output $/1M ('$4.00')", 4.00, haiku["output"], 0.0),
         Check("Mistral Large 3 input $/1M ('$2.00')", 2.00, large["input"], 0.0),
         Check("Mistral Large 3 output $/1M ('$6.00')", 6.00, large["output"], 0.0),
         Check("Mistral Large 3 context ('128K')", 128_000, large["context_window"], 0.0),
         Check("Claude Sonnet 4.6 context ('200K')", 200_000, sonnet["context_window"], 0.0)),
        notes="Claude Haiku 4.5 launched at $1/$5 ($0.80/$4 was Claude 3.5 Haiku's price); Mistral "
              "Large 3 is $0.50/$1.50 with a 256K (262,144-token) context; Claude Sonnet 4.6 has a "
              "1M-token context. Sources: " + "; ".join(v["source"] for v in f.values()) + ".",
        extra={"facts": f},
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
    return [support_bot(), rag_feature(), cascade_blend(), system_prompt_per_hour(), prompt_compression(),
            seed_002_price_table(), compounding(), prefix_cache(), output_multiplier()]


def _example_markdown(ex: WorkedExample, escape: bool = True) -> str:
    rows = "\n".join(
        f"| {c.name} | {c.claimed:,.6g} | {c.computed:,.6g} | {'✔' if c.ok else '✘ wrong'} |" for c in ex.checks
    )
    inputs = ", ".join(f"{k} = {v:,}" if isinstance(v, (int, float)) else f"{k} = {v}" for k, v in ex.inputs.items())
    from workbench.core.exercises import md_text  # "$" escaped: no math typesetting in Jupyter

    text = (f"**{ex.title}** (seed {ex.seed})  \nInputs: {inputs}\n\n"
            f"| figure | article says | recomputed | |\n|---|---:|---:|---|\n{rows}\n\n{ex.notes}")
    return md_text(text) if escape else text


def _example_html(ex: WorkedExample) -> str | None:
    from workbench.core.exercises import md_html  # shielded from math typesetting (Lab, Voila)

    return md_html(_example_markdown(ex, escape=False))


WorkedExample._repr_markdown_ = _example_markdown  # type: ignore[attr-defined]
WorkedExample._repr_html_ = _example_html  # type: ignore[attr-defined]


def example(key: str) -> WorkedExample:
    """One worked example by key (see :func:`all_examples`)."""
    found = {e.key: e for e in all_examples()}
    if key not in found:
        raise KeyError(f"unknown example {key!r}; valid: {', '.join(found)}")
    return found[key]
