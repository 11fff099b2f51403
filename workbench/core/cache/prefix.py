"""Provider prefix (prompt) caching what-if: which input tokens a provider would serve from its cache.

A provider caches prompt **prefixes** at boundaries: OpenAI automatically at 1,024 tokens and every
128 tokens after; Anthropic at explicit breakpoints (assumed here at the end of each message, the
last ``max_breakpoints``); Mooncake traces carry one hash per 512-token block (equal ids = equal
prefix). Each request, in time order within one model, reads the deepest boundary an earlier
request wrote that has not expired, and writes (or refreshes, when the vendor refreshes on use) all
its boundaries. Tokens past the cached boundary are billed as input; Anthropic also bills the newly
written tokens at the write premium. Rules and sources: ``pricing/caching/rules.yaml``.
"""
from __future__ import annotations

import datetime as dt
import json
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Generator, Sequence, TypeVar

import numpy as np
import pandas as pd

from workbench.core.cache.keys import first_rows
from workbench.core.cache.rules import min_cacheable, provider_rule

PROVIDERS = ("anthropic", "openai")
#: requests per step of :func:`prefix_replay_steps` (a few milliseconds of work)
STEP_ROWS = 500
T = TypeVar("T")


def replay_boundaries(t_us: Sequence[int], group: Sequence, boundaries: Sequence[Sequence[tuple[int, int]]],
                      ttl_us: int, refresh: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Core scan. ``boundaries[i]`` lists ``(prefix_hash, tokens)`` of request ``i`` in increasing
    token order. Returns (cached tokens, newly written tokens) per request; ``ttl_us`` 0 = unbounded."""
    return finish(_scan_steps(t_us, group, boundaries, ttl_us, refresh, len(boundaries) or 1))


def finish(steps: Generator[None, None, T]) -> T:
    """Run a computation written in steps (a generator, e.g. :func:`prefix_replay_steps`) to its end
    and return its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _scan_steps(t_us, group, boundaries, ttl_us: int, refresh: bool, step_rows: int):
    """:func:`replay_boundaries`, yielding after every ``step_rows`` requests."""
    n = len(boundaries)
    cached = np.zeros(n, dtype=np.int64)
    written = np.zeros(n, dtype=np.int64)
    store: dict = {}
    never = 2**62
    for lo in range(0, n, step_rows):
        for i in range(lo, min(n, lo + step_rows)):
            t = int(t_us[i])
            g = group[i]
            b = boundaries[i]
            hit = 0
            for h, tok in b:                      # prefixes are nested: stop at the first miss
                e = store.get((g, h))
                if e is None or e <= t:
                    break
                hit = tok
            cached[i] = hit
            top = b[-1][1] if b else 0
            written[i] = max(0, top - hit)
            exp = t + ttl_us if ttl_us else never
            for h, tok in b:
                if tok <= hit and not refresh:
                    continue
                store[(g, h)] = exp
        yield
    return cached, written


def mooncake_block_replay(trace: pd.DataFrame, ttl_s: float | None = None, block_tokens: int = 512) -> dict:
    """Block-level replay of a Mooncake trace (``timestamp`` ms, ``input_length``, ``hash_ids``)."""
    t_us = (trace["timestamp"].to_numpy(dtype=np.int64) * 1000)
    order = np.argsort(t_us, kind="stable")
    hashes = trace["hash_ids"].to_numpy()[order]
    bounds = [[(int(h), (k + 1) * block_tokens) for k, h in enumerate(hs)] for hs in hashes]
    cached, _ = replay_boundaries(t_us[order], np.zeros(len(order), dtype=np.int64), bounds,
                                  int(round((ttl_s or 0) * 1e6)))
    blocks_total = int(sum(len(b) for b in bounds))
    blocks_hit = int((cached // block_tokens).sum())
    inp = trace["input_length"].to_numpy(dtype=np.int64)[order]
    cached_tokens = np.minimum(cached, inp)
    return {"requests": len(order), "blocks": blocks_total, "blocks_hit": blocks_hit,
            "block_hit_ratio": blocks_hit / blocks_total if blocks_total else 0.0,
            "input_tokens": int(inp.sum()), "cached_tokens": int(cached_tokens.sum()),
            "cached_token_share": float(cached_tokens.sum() / inp.sum()) if inp.sum() else 0.0}


# -- text logs -------------------------------------------------------------------------------------

def prompt_parts(prompt: str | None) -> list[str]:
    """A prompt's parts: chat messages (role + content), or the whole text."""
    if prompt is None:
        return []
    if prompt[:1] == "[":
        try:
            msgs = json.loads(prompt)
            if isinstance(msgs, list) and all(isinstance(m, dict) for m in msgs):
                return [f"{m.get('role', '')}: {m.get('content', '')}\n" for m in msgs]
        except ValueError:
            pass
    return [prompt]


def _encoder():
    from workbench.core.tokens import get_encoding
    return get_encoding("o200k_base")


def token_boundaries(parts: list, provider: str, model: str, enc, rule: dict, memo: dict | None = None) -> list[tuple[int, int]]:
    """Cacheable prefix boundaries ``(hash, tokens)`` of one prompt under a provider's rule. A part
    is text, or ``(identity, n_tokens)`` for content known only by its hash and length (a system
    prompt logged as ``system_prompt_hash``): ``n_tokens`` copies of one negative id.

    Two boundaries have equal hashes when their models and token ids up to the boundary are equal.
    Each segment between boundaries is hashed in a compact form that is equal exactly when the
    token ids are: a run of one known-content id is written ``(id, count)``, text tokens as they are
    (they are ≥ 0, the run ids < 0, so the form cannot be ambiguous)."""
    pieces: list[list] = []     # [is_run, run id or token list, length]
    ends: list[int] = []
    total = 0
    for p in parts:
        if isinstance(p, tuple):
            v, n = -1 - (zlib.crc32(str(p[0]).encode()) & 0x7FFFFFFF), max(0, int(p[1]))
            if n and pieces and pieces[-1][0] and pieces[-1][1] == v:
                pieces[-1][2] += n                      # one maximal run
            elif n:
                pieces.append([True, v, n])
        else:
            t = memo.get(p) if memo is not None else None
            if t is None:
                t = enc.encode_ordinary(p)
                if memo is not None:
                    memo[p] = t
            n = len(t)
            if n:
                pieces.append([False, t, n])
        total += n
        ends.append(total)
    minimum = min_cacheable(rule, model)
    out, h, prev = [], zlib.crc32(model.encode()), 0
    if provider == "openai":
        step = int(rule.get("step_tokens", 128))
        cuts = range(minimum, total + 1, step)
        if memo is not None and parts and ends[0] >= minimum:
            # the boundaries inside the first part (a shared system prompt) depend on it alone
            head_at = ("head", provider, model, parts[0])
            if head_at not in memo:
                memo[head_at] = _chain(pieces, [c for c in cuts if c <= ends[0]], h, 0)
            out = list(memo[head_at])
            h, prev = out[-1]
            cuts = range(prev + step, total + 1, step)
    else:
        cuts = [e for e in ends if e >= minimum][-int(rule.get("max_breakpoints", 4)):]
    return out + _chain(pieces, cuts, h, prev)


def _chain(pieces: list, cuts, h: int, prev: int) -> list[tuple[int, int]]:
    out = []
    for c in cuts:
        h = hash((h, _segment(pieces, prev, c)))
        out.append((h, c))
        prev = c
    return out


def _segment(pieces: list, a: int, b: int) -> tuple:
    """Token ids ``[a, b)`` of a prompt's pieces, each run of a known-content id as ``(id, count)``."""
    seg: list = []
    s = 0
    for is_run, val, n in pieces:
        e = s + n
        if e > a:
            if s >= b:
                break
            lo, hi = max(a, s) - s, min(b, e) - s
            if is_run:
                seg.append((val, hi - lo))
            else:
                seg.extend(val[lo:hi])
        s = e
    return tuple(seg)


@dataclass
class PrefixReplay:
    frame: pd.DataFrame
    summary: dict


def _rates(book, model: str, day: dt.date, provider: str, rule: dict, ttl: str) -> tuple[float, float, float, str]:
    rec = book.price_on(model, day)
    base = rec.input
    read = rec.cached_input
    how = "sheet"
    if read is None:
        mult = rule.get("read_multiplier")
        if mult is None:
            raise ValueError(f"{model} on {day}: no cached-input price in the sheet and no {provider} read rule")
        read, how = base * mult, "rule multiplier"
    write = getattr(rec, f"cache_write_{ttl}", None) if provider == "anthropic" else base
    if write is None:
        write, how = base * rule["write_multiplier"][ttl], "rule multiplier"
    return base, read, write, how


def prefix_replay(log: pd.DataFrame, provider: str, book, *, ttl: str | None = None,
                  static_first: bool = False, system_prompts: dict | None = None,
                  memo: dict | None = None) -> PrefixReplay:
    """Prefix-cache what-if for a text log (columns ``ts``, ``model``, ``prompt``, ``input_tokens``).

    Tokens are counted with ``o200k_base`` (exact for OpenAI models, an estimate for others — the
    summary says which). ``static_first`` reorders each prompt's parts so parts seen in other
    requests come first (the "static content first" what-if). ``system_prompts`` maps a
    ``system_prompt_hash`` to its length in tokens: that system prompt is then the first part.
    ``memo``: one dict passed to several calls on the same log keeps each prompt's parts, each
    text's tokens and each prompt's boundaries between them (both layouts, both providers:
    tokenised once)."""
    return finish(prefix_replay_steps(log, provider, book, ttl=ttl, static_first=static_first,
                                      system_prompts=system_prompts, memo=memo))


def prefix_replay_steps(log: pd.DataFrame, provider: str, book, *, ttl: str | None = None,
                        static_first: bool = False, system_prompts: dict | None = None,
                        memo: dict | None = None, step_rows: int = STEP_ROWS) -> Generator[None, None, PrefixReplay]:
    """:func:`prefix_replay` in steps: a generator that yields ``None`` after every ``step_rows``
    requests of each pass over the log and returns the same :class:`PrefixReplay` (as
    ``StopIteration.value``; :func:`finish` runs it through). A caller with other work to serve
    (an app's event loop) does it between steps."""
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    rule = provider_rule(provider)
    ttl = ttl or ("5m" if provider == "anthropic" else "default")
    ttl_s = rule["ttl_s"][ttl]
    f = log.sort_values(["ts", "request_id"], kind="stable").reset_index(drop=True)
    enc = _encoder()
    memo = {} if memo is None else memo                   # text -> tokens; equal prompts -> equal boundaries
    prompts = f["prompt"].astype("object").where(f["prompt"].notna(), None).tolist()
    parts_of = memo.setdefault(("parts",), {})            # each distinct prompt split once
    steps = range(0, len(f), step_rows)
    parts: list = []
    for lo in steps:
        parts += [parts_of[p] if p in parts_of else parts_of.setdefault(p, prompt_parts(p))
                  for p in prompts[lo:lo + step_rows]]
        yield
    if system_prompts and "system_prompt_hash" in f:
        sph = f["system_prompt_hash"].astype("object").tolist()
        for lo in steps:
            parts[lo:lo + step_rows] = [([(h, system_prompts[h])] if h in system_prompts else []) + ps
                                        for h, ps in zip(sph[lo:lo + step_rows], parts[lo:lo + step_rows])]
            yield
    if static_first:
        counts: Counter = Counter()                       # requests each part appears in
        for lo in steps:
            counts.update(q for ps in parts[lo:lo + step_rows] for q in set(ps))
            yield
        for lo in steps:
            parts[lo:lo + step_rows] = [sorted(ps, key=lambda q: (counts.get(q, 0) <= 1))
                                        for ps in parts[lo:lo + step_rows]]
            yield
    models = f["model"].astype(str).tolist()
    bounds = []
    for lo in steps:
        for ps, m in zip(parts[lo:lo + step_rows], models[lo:lo + step_rows]):
            key = ("bounds", provider, m, *ps)
            b = memo.get(key)
            if b is None:
                b = memo[key] = token_boundaries(ps, provider, m, enc, rule, memo)
            bounds.append(b)
        yield
    t_us = f["ts"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    cached, written = yield from _scan_steps(t_us, models, bounds, int(ttl_s * 1e6), bool(rule.get("ttl_refreshed_on_hit")),
                                             step_rows)
    inp = f["input_tokens"].to_numpy(dtype=np.int64)
    cached = np.minimum(cached, inp)
    written = np.minimum(written, inp - cached) if provider == "anthropic" else np.zeros_like(cached)
    # rates once per (model, day), in order of first appearance
    mcode = pd.factorize(np.asarray(models, dtype=object))[0]
    dcode, days = pd.factorize(f["ts"].dt.normalize())
    pair = pd.factorize(mcode * max(len(days), 1) + dcode)[0]
    first = first_rows(pair)
    rates = [_rates(book, models[i], d, provider, rule, ttl) for i, d in zip(first, f["ts"].iloc[first].dt.date)]
    base, read, write = (np.array([r[k] for r in rates], dtype=np.float64)[pair] for k in range(3))
    methods = {r[3] for r in rates}
    saved = cached * (base - read) / 1e6
    premium = written * (write - base) / 1e6
    out = pd.DataFrame({"request_id": f["request_id"].to_numpy(), "ts": f["ts"].array, "model": models,
                        "input_tokens": inp, "prefix_cached_tokens": cached, "cache_write_tokens": written,
                        "saved_usd": saved, "write_premium_usd": premium})
    summary = {"provider": provider, "ttl": ttl, "ttl_s": ttl_s, "source": rule["source"],
               "requests": len(f), "input_tokens": int(inp.sum()), "prefix_cached_tokens": int(cached.sum()),
               "cached_token_share": float(cached.sum() / inp.sum()) if inp.sum() else 0.0,
               "cache_write_tokens": int(written.sum()), "gross_saved_usd": float(saved.sum()),
               "write_premium_usd": float(premium.sum()), "net_saved_usd": float(saved.sum() - premium.sum()),
               "token_method": "o200k_base (exact for OpenAI models, estimate for others)",
               "rate_method": sorted(methods), "static_first": static_first}
    return PrefixReplay(out, summary)
