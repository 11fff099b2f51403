"""Benchmark token counting: count_batch vs a Python loop of count_tokens vs raw tiktoken.

Run: ``python benchmarks/bench_tokens.py [--n 20000] [--repeat 5]``

Texts are generated deterministically (fixed seed) from a small English-like vocabulary with
punctuation, numbers and code-ish fragments: one set of documents (10-300 words each) and one
of chat-sized snippets (5-30 words each). Each timing is the best of ``--repeat`` runs after a
warm-up, so encoding load time is excluded. All exact methods are checked to agree.
"""
from __future__ import annotations

import argparse
import os
import random
import time
from typing import Callable

import numpy as np

from workbench.core.tokens import count_batch, count_tokens, get_encoding

WORDS = (
    "the of and to in is that for it as with was on be by this are or from at an which "
    "model token cost price input output cache prompt latency throughput request batch "
    "invoice customer support ticket summary report quarterly revenue growth pipeline "
    "deployment inference server GPU memory context window retrieval embedding vector "
    "database query answer question evaluation benchmark accuracy error budget estimate "
    "Paris London Tokyo Berlin café naïve résumé über straße"
).split()
FRAGMENTS = ("$12.50", "2024-05-13", "3.14159", "user_id=42", "foo(bar)", "{\"k\": 1}", "#123", "e.g.", "100%")
PUNCT = (".", ",", ";", ":", "?", "!")


def make_texts(n: int, min_words: int = 10, max_words: int = 300, seed: int = 20240513) -> list[str]:
    """``n`` deterministic pseudo-English texts of ``min_words``-``max_words`` words."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words: list[str] = []
        for i in range(rng.randint(min_words, max_words)):
            w = rng.choice(FRAGMENTS) if rng.random() < 0.05 else rng.choice(WORDS)
            if i == 0 or words[-1][-1] in ".?!":
                w = w[:1].upper() + w[1:]
            if rng.random() < 0.08:
                w += rng.choice(PUNCT)
            words.append(w)
        texts.append(" ".join(words) + ".")
    return texts


def best_times(cases: list[tuple[str, Callable[[], np.ndarray]]], repeat: int) -> tuple[dict, dict]:
    """Fastest wall time per case over ``repeat`` rounds, and each case's result.

    Rounds interleave the cases so background load affects them alike.
    """
    timings = {label: float("inf") for label, _ in cases}
    results: dict[str, np.ndarray] = {}
    for _ in range(repeat):
        for label, fn in cases:
            start = time.perf_counter()
            results[label] = fn()
            timings[label] = min(timings[label], time.perf_counter() - start)
    return timings, results


def run_set(title: str, texts: list[str], encoding: str, repeat: int) -> None:
    """Time every method on ``texts`` and print a table with ratios to raw tiktoken batch."""
    enc = get_encoding(encoding)
    count_batch(texts[:100], encoding=encoding)  # warm-up
    count_batch(texts[:100], tokenizer="estimate:anthropic")

    cases: list[tuple[str, Callable[[], np.ndarray]]] = [
        (
            "raw tiktoken encode_ordinary_batch + len",
            lambda: np.fromiter(map(len, enc.encode_ordinary_batch(texts)), np.int64, len(texts)),
        ),
        ("count_batch (exact)", lambda: count_batch(texts, encoding=encoding)),
        (
            "loop of count_tokens (exact)",
            lambda: np.array([count_tokens(t, encoding=encoding).tokens for t in texts]),
        ),
        ("raw tiktoken loop of encode_ordinary", lambda: np.array([len(enc.encode_ordinary(t)) for t in texts])),
        ("count_batch estimate:anthropic", lambda: count_batch(texts, tokenizer="estimate:anthropic")),
        ("count_batch estimate:google", lambda: count_batch(texts, tokenizer="estimate:google")),
    ]
    timings, results = best_times(cases, repeat)

    reference = results["raw tiktoken encode_ordinary_batch + len"]
    for label in ("count_batch (exact)", "loop of count_tokens (exact)", "raw tiktoken loop of encode_ordinary"):
        assert np.array_equal(results[label], reference), f"{label} disagrees with raw tiktoken"

    total_tokens = int(reference.sum())
    total_chars = sum(map(len, texts))
    raw = timings["raw tiktoken encode_ordinary_batch + len"]
    print(
        f"\n{title}: {len(texts)} texts, {total_chars:,} chars, {total_tokens:,} {encoding} "
        f"tokens; best of {repeat}"
    )
    print(f"{'method':<42} {'seconds':>9} {'Mtok/s':>8} {'vs raw batch':>13}")
    for label, _ in cases:
        t = timings[label]
        print(f"{label:<42} {t:>9.4f} {total_tokens / t / 1e6:>8.2f} {t / raw:>12.2f}x")
    print(f"count_batch / raw tiktoken encode_ordinary_batch: {timings['count_batch (exact)'] / raw:.2f}x")
    print(
        "count_batch / raw tiktoken loop of encode_ordinary: "
        f"{timings['count_batch (exact)'] / timings['raw tiktoken loop of encode_ordinary']:.2f}x"
    )
    print(
        "loop of count_tokens / count_batch: "
        f"{timings['loop of count_tokens (exact)'] / timings['count_batch (exact)']:.2f}x"
    )
    print(f"(CPUs available: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--encoding", default="o200k_base", choices=("o200k_base", "cl100k_base"))
    args = parser.parse_args()
    run_set("documents (10-300 words)", make_texts(args.n, 10, 300), args.encoding, args.repeat)
    run_set("chat snippets (5-30 words)", make_texts(args.n, 5, 30), args.encoding, args.repeat)


if __name__ == "__main__":
    main()
