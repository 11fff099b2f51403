"""Score once, decide cheaply: the cost and quality of a router or cascade at every threshold.

Two modes, one rule. A request has a score per step (step ``k`` decides between tier ``k`` and
tier ``k+1``); it moves past step ``k`` when the running maximum of its scores up to ``k`` is below
the threshold ``t`` (so "escalated at step k" implies "escalated at every earlier step").

* ``route`` — a router decides before any call: the request pays only its final tier's call.
* ``cascade`` — tier 1 answers first and a signal on the answer decides: an escalated request pays
  every attempt, and each retry carries the rejected draft as context (its tokens billed as input,
  plus a short rejection note), and a self-check signal pays its extra call on each checked tier.

Quality is the final tier's measured outcome (the data has no outcome for "strong model given the
cheap draft": that retry is assumed to score as the strong model alone; stated in the results).

Because escalation at step ``k`` is ``key_k < t`` with ``key`` fixed, the totals at any threshold
are a sum of sorted cumulative sums: :class:`Prepared` sorts once, then every threshold is a
binary search (100 thresholds over 15k requests in well under a millisecond).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.core.cascade.evalset import TierData

MODES = ("route", "cascade")


@dataclass(frozen=True)
class TierPrice:
    """USD per 1M tokens of one tier's model, with where the price came from."""

    model: str
    input: float
    output: float
    source: str

    def __post_init__(self) -> None:
        if not (self.input > 0 or self.output > 0):
            raise ValueError(f"{self.model} priced at $0 (input {self.input}, output {self.output}): "
                             "give a real price (never $0)")


@dataclass(frozen=True)
class CascadeCosts:
    """Token assumptions of a cascade's extra traffic (stated in every result)."""

    carry_draft: bool = True          # the retry carries the rejected draft as input context
    reject_note_tokens: int = 20      # "Your draft was rejected because …" added to the retry
    check_prompt_tokens: int = 40     # self-check instruction around prompt + draft
    check_output_tokens: int = 3      # the self-check's "yes"/"no"

    def describe(self) -> dict:
        return {"carry_draft": self.carry_draft, "reject_note_tokens": self.reject_note_tokens,
                "check_prompt_tokens": self.check_prompt_tokens, "check_output_tokens": self.check_output_tokens}


#: Money is summed in integer pico-dollars (as the replay engine does), so every total is exact and
#: a curve's end point equals the single model's cost to the last digit.
PUSD = 10 ** 12


def per_token_pusd(prices: list[TierPrice]) -> tuple[np.ndarray, np.ndarray]:
    """Input and output price per token in integer pico-dollars (USD per 1M × 10⁶, exact to 1e-6 $/1M)."""
    return (np.array([round(p.input * 1e6) for p in prices], dtype=np.int64),
            np.array([round(p.output * 1e6) for p in prices], dtype=np.int64))


def call_pusd(td: TierData, prices: list[TierPrice]) -> np.ndarray:
    """(n, K) int64 pico-dollars of each tier's call on its own (prompt + its answer)."""
    pin, pout = per_token_pusd(prices)
    return td.input_tokens * pin + td.output_tokens * pout


def call_usd(td: TierData, prices: list[TierPrice]) -> np.ndarray:
    """(n, K) USD of each tier's call on its own."""
    return call_pusd(td, prices) / PUSD


def step_arrays(td: TierData, prices: list[TierPrice], mode: str, costs: CascadeCosts = CascadeCosts(),
                self_check: bool = False):
    """Base (tier-1) quality and cost, and per step the change when a request moves on:
    ``(base_q, base_c, dq, dc)`` with ``dq, dc`` of shape (K-1, n); costs in int64 pico-dollars."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
    if len(prices) != td.k:
        raise ValueError(f"{len(prices)} prices for {td.k} tiers")
    pin, pout = per_token_pusd(prices)
    call = call_pusd(td, prices)
    q = td.quality
    dq = (q[:, 1:] - q[:, :-1]).T.copy()
    if mode == "route":
        return q[:, 0].copy(), call[:, 0].copy(), dq, (call[:, 1:] - call[:, :-1]).T.copy()
    check = np.zeros_like(call)
    if self_check:
        check_in = td.input_tokens + td.output_tokens + costs.check_prompt_tokens
        check = check_in * pin + costs.check_output_tokens * pout
        check[:, -1] = 0.0                              # the last tier's answer is final
    retry = call[:, 1:].copy()
    if costs.carry_draft:
        retry += (td.output_tokens[:, :-1] + costs.reject_note_tokens) * pin[1:]
    return q[:, 0].copy(), call[:, 0] + check[:, 0], dq, (retry + check[:, 1:]).T.copy()


def step_keys(scores: np.ndarray) -> np.ndarray:
    """(K-1, n) running maximum of the per-step scores: escalate at step k iff key_k < t."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    return np.maximum.accumulate(s, axis=1).T.copy()


class Prepared:
    """Sorted cumulative sums of a scored run; :meth:`curve` answers many thresholds at once."""

    def __init__(self, base_q: np.ndarray, base_c: np.ndarray, dq: np.ndarray, dc: np.ndarray, keys: np.ndarray):
        if np.isnan(keys).any():
            raise ValueError("scores contain NaN: every request needs a score")
        self.n = len(base_q)
        self.q0, self.c0 = float(base_q.sum()), int(base_c.sum())
        order = np.argsort(keys, axis=1, kind="stable")
        self.keys = np.take_along_axis(keys, order, axis=1)
        zero = np.zeros((keys.shape[0], 1))
        self.cq = np.hstack([zero, np.cumsum(np.take_along_axis(dq, order, axis=1), axis=1)])
        self.cc = np.hstack([zero.astype(np.int64),
                             np.cumsum(np.take_along_axis(dc.astype(np.int64), order, axis=1), axis=1)])

    def curve(self, thresholds) -> dict[str, np.ndarray]:
        """Mean quality, total USD, escalation rate (left tier 1) and per-step rates per threshold."""
        t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
        q = np.full(t.shape, self.q0)
        c = np.full(t.shape, self.c0, dtype=np.int64)
        rates = np.empty((self.keys.shape[0], t.size))
        for k in range(self.keys.shape[0]):
            idx = np.searchsorted(self.keys[k], t, side="left")     # how many keys < t
            q += self.cq[k, idx]
            c += self.cc[k, idx]
            rates[k] = idx / self.n
        return {"quality": q / self.n, "usd": c / PUSD, "escalation_rate": rates[0], "step_rates": rates}


def evaluate(base_q, base_c, dq, dc, keys, t: float):
    """Per-request outcome at one threshold: (final tier index, quality, USD). The plain reference
    for :class:`Prepared` and the source of per-route and per-example figures."""
    moved = keys < t                                    # (K-1, n), nested by construction
    tier = moved.sum(axis=0)
    quality = base_q + (dq * moved).sum(axis=0)
    pusd = base_c + (dc * moved).sum(axis=0)
    return tier, quality, pusd / PUSD


def loop_sweep(base_q, base_c, dq, dc, keys, thresholds) -> dict[str, np.ndarray]:
    """The plain numpy loop a user would write: one vectorised evaluation per threshold."""
    qs, cs, es = [], [], []
    for t in thresholds:
        tier, quality, usd = evaluate(base_q, base_c, dq, dc, keys, t)
        qs.append(quality.mean())
        cs.append(usd.sum())        # float sum of per-request USD (equal to 1e-9 relative)
        es.append((tier > 0).mean())
    return {"quality": np.array(qs), "usd": np.array(cs), "escalation_rate": np.array(es)}


def threshold_grid(keys: np.ndarray, count: int = 101) -> np.ndarray:
    """``count`` thresholds from "nobody escalates" to "everybody escalates", at quantiles of the
    step-1 key (the escalation decision that matters most), deduplicated."""
    first = keys[0]
    lo = float(first.min())
    hi = float(np.nextafter(keys.max(), np.inf))
    inner = np.quantile(first, np.linspace(0, 1, max(count, 2)))[1:-1] if count > 2 else np.array([])
    grid = np.unique(np.concatenate([[lo], inner, [hi]]))
    return grid
