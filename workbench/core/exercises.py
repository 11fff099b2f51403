"""Interview-style exercises for the teaching notebook, each with an answer the library computes.

The learner writes an answer; :func:`check_answer` compares it with the library's figure. Prices
are stated in each question (they are the exercise's inputs), so answers never drift with the sheets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from workbench.core.cost import effective_cost, request_cost
from workbench.core.worked_examples import stated_price

MINI = stated_price("gpt-4o-mini", 0.15, 0.60)
GPT4O = stated_price("gpt-4o", 2.50, 10.00, cached_input=1.25, batch_input=1.25, batch_output=5.00)
MONTHLY_REQUESTS = 10_000_000


def _monthly(price, i, o, cached=0, batch=False) -> float:
    return request_cost(price, i, o, cached, batch=batch).total_usd * MONTHLY_REQUESTS


def _conversation_tokens(turns: int, system: int, user: int, assistant: int) -> float:
    """Input tokens over a chat that resends its history: turn k sends system + k users + (k−1) replies."""
    return float(sum(system + k * user + (k - 1) * assistant for k in range(1, turns + 1)))


@dataclass(frozen=True)
class Exercise:
    key: str
    question: str
    unit: str
    answer: Callable[[], float]

    def _markdown(self) -> str:
        return f"**Exercise `{self.key}`** — {self.question} *(answer in {self.unit})*"

    def _repr_markdown_(self) -> str:  # "\$": a pair of dollar signs is not mathematics
        return md_text(self._markdown())

    def _repr_html_(self) -> str | None:
        return md_html(self._markdown())


EXERCISES: dict[str, Exercise] = {e.key: e for e in [
    Exercise("mini_monthly",
             "10M requests a month, 2,000 input and 300 output tokens each, on GPT-4o-mini at "
             "$0.15 / $0.60 per 1M tokens. What is the monthly bill?",
             "USD per month", lambda: _monthly(MINI, 2_000, 300)),
    Exercise("gpt4o_monthly",
             "The same traffic on GPT-4o at $2.50 / $10.00. What is the monthly bill?",
             "USD per month", lambda: _monthly(GPT4O, 2_000, 300)),
    Exercise("cascade",
             "Cascade: every request tries GPT-4o-mini first; 20 % fail the quality check and are "
             "re-run on GPT-4o with the same tokens. Monthly bill?",
             "USD per month",
             lambda: effective_cost(_monthly(MINI, 2_000, 300), escalation_rate=0.20,
                                    tier_multiplier=_monthly(GPT4O, 2_000, 300) / _monthly(MINI, 2_000, 300)).total_usd),
    Exercise("batch_share",
             "On GPT-4o, 40 % of the requests are nightly jobs that can use the Batch API at "
             "$1.25 / $5.00. Monthly bill with those moved to batch?",
             "USD per month",
             lambda: 0.6 * _monthly(GPT4O, 2_000, 300) + 0.4 * _monthly(GPT4O, 2_000, 300, batch=True)),
    Exercise("prefix_cache",
             "On GPT-4o, 1,500 of the 2,000 input tokens are a shared system prompt that the "
             "provider serves from its prefix cache at $1.25 per 1M (half price). Monthly saving?",
             "USD per month",
             lambda: _monthly(GPT4O, 2_000, 300) - _monthly(GPT4O, 2_000, 300, cached=1_500)),
    Exercise("chat_history",
             "A 5-turn chat resends its history each turn: 500-token system prompt, 100 tokens per "
             "user message, 200 per assistant reply. How many input tokens does the whole "
             "conversation bill?",
             "input tokens", lambda: _conversation_tokens(5, 500, 100, 200)),
]}


@dataclass(frozen=True)
class AnswerCheck:
    key: str
    given: float
    expected: float
    rel: float

    @property
    def ok(self) -> bool:
        return abs(self.given - self.expected) <= self.rel * max(abs(self.expected), 1e-12)

    def _repr_html_(self) -> str:
        """Folded, so a learner who scrolls past does not see the figure before trying (Lab, Voila)."""
        verdict = "right" if self.ok else "off"
        body = (f"✔ {self.given:,.2f} is right." if self.ok else
                f"✘ {self.given:,.2f} is off; the library computes {self.expected:,.2f}.")
        return (f"<details class='wb-answer'><summary>Check of <code>{self.key}</code>: {verdict} "
                f"(click to see the figure)</summary><p>{body}</p></details>")

    def _repr_markdown_(self) -> str:
        if self.ok:
            return f"✔ `{self.key}`: {self.given:,.2f} is right."
        return f"✘ `{self.key}`: {self.given:,.2f} is off; the library computes {self.expected:,.2f}."


def md_html(text: str) -> str | None:
    """Markdown ``text`` (dollars as written) as HTML that math typesetting leaves alone.

    JupyterLab and Voila typeset "$ … $" pairs in Markdown *and* HTML outputs; Voila's renderer
    even pairs escaped ones ("\\$"), so "$0.02275/request and $13,650/month" lost its words
    (seen in the browser test). MathJax skips an element of class ``tex2jax_ignore`` (MathJax 2)
    or ``mathjax_ignore`` (MathJax 3); front ends prefer this HTML to the Markdown. None (no HTML)
    without ``mistune`` (installed with nbconvert)."""
    try:
        import mistune
    except ImportError:
        return None
    return f"<div class='tex2jax_ignore mathjax_ignore'>{mistune.html(text)}</div>"


def md_text(text: str) -> str:
    """``text`` for a Markdown output: every ``$`` escaped, so Jupyter's math typesetting leaves
    "$0.02275/request and $13,650/month" as written (and tables with dollars stay tables)."""
    return text.replace("\\$", "$").replace("$", "\\$")


def exercise(key: str) -> Exercise:
    if key not in EXERCISES:
        raise KeyError(f"unknown exercise {key!r}; valid: {', '.join(EXERCISES)}")
    return EXERCISES[key]


def check_answer(key: str, given: float, rel: float = 0.01) -> AnswerCheck:
    """Compare a learner's answer with the library's (within ``rel``, 1 % by default)."""
    return AnswerCheck(key, float(given), exercise(key).answer(), rel)
