"""Benchmark token counting on real text: count_batch vs the faster raw tiktoken path.

Run: ``python benchmarks/bench_tokens.py [--messages 100000] [--documents 20000] [--repeat 5]``

Texts are real and read from ``../shared/data`` at run time (never copied into the project):

* messages -- customer-support requests (Bitext), MT-Bench turns, MMLU and GSM8K questions;
* documents -- Bitext reference replies and GPT-4 / Mixtral answers to GSM8K (RouteLLM data).

Each set is cycled to the requested size. The baseline is the faster of tiktoken's two public
paths, timed in the same run: a plain ``encode_ordinary`` loop and ``encode_ordinary_batch``
(its thread pool). Timings are the best of ``--repeat`` rounds that interleave the methods, after
a warm-up. All exact methods are checked to agree. The goal printed at the end:
``count_batch`` throughput at least 0.9x the faster raw path for both sets.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.core.tokens import count_batch, count_tokens, get_encoding  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
GOAL = 0.9
csv.field_size_limit(2**31 - 1)


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def real_texts(data: Path = DATA) -> tuple[list[str], list[str]]:
    """(messages, documents) from the shared public data sets; raises if they are missing."""
    if not data.is_dir():
        raise SystemExit(f"real text not found: {data} (the shared public data folder)")
    bitext = _csv(data / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv")
    mt = [json.loads(line) for line in (data / "mt_bench" / "mt_bench__question.jsonl").open(encoding="utf-8")]
    gsm = _csv(data / "routellm" / "gsm8k" / "gsm8k_responses.csv")
    mmlu = [r["prompt"] for p in sorted((data / "routellm" / "mmlu_responses").glob("*.csv")) for r in _csv(p)]
    messages = [r["instruction"] for r in bitext] + [t for q in mt for t in q["turns"]]
    messages += [r["prompt"] for r in gsm] + mmlu
    answers = [r[k] for r in gsm for k in r if k.endswith("_response")]
    documents = [r["response"] for r in bitext] + answers
    return [t for t in messages if t], [t for t in documents if t]


def cycle_to(texts: list[str], n: int) -> list[str]:
    return list(itertools.islice(itertools.cycle(texts), n))


def best_times(cases: list[tuple[str, Callable[[], np.ndarray]]], repeat: int) -> tuple[dict, dict]:
    """Fastest wall time per case over ``repeat`` interleaved rounds, and each case's result."""
    timings = {label: float("inf") for label, _ in cases}
    results: dict[str, np.ndarray] = {}
    for _ in range(repeat):
        for label, fn in cases:
            start = time.perf_counter()
            results[label] = fn()
            timings[label] = min(timings[label], time.perf_counter() - start)
    return timings, results


LOOP = "raw tiktoken: loop of encode_ordinary"
BATCH = "raw tiktoken: encode_ordinary_batch"
OURS = "count_batch (exact)"


def run_set(title: str, texts: list[str], encoding: str, repeat: int) -> float:
    """Time every method on ``texts``, print a table; return count_batch's throughput vs the faster raw path."""
    enc = get_encoding(encoding)
    count_batch(texts[:1000], encoding=encoding)  # warm-up (loads the encodings)
    count_batch(texts[:1000], tokenizer="estimate:mistral")
    n = len(texts)
    cases: list[tuple[str, Callable[[], np.ndarray]]] = [
        (LOOP, lambda: np.array([len(enc.encode_ordinary(t)) for t in texts], dtype=np.int64)),
        (BATCH, lambda: np.fromiter(map(len, enc.encode_ordinary_batch(texts)), np.int64, n)),
        (OURS, lambda: count_batch(texts, encoding=encoding)),
        ("loop of count_tokens (exact)", lambda: np.array([count_tokens(t, encoding=encoding).tokens for t in texts])),
        ("count_batch estimate:anthropic", lambda: count_batch(texts, tokenizer="estimate:anthropic")),
        ("count_batch estimate:mistral (Tekken)", lambda: count_batch(texts, tokenizer="estimate:mistral")),
        ("count_batch gemini (exact with the Gemma 3 vocabulary installed, else the estimate)", lambda: count_batch(texts, tokenizer="estimate:google")),
    ]
    timings, results = best_times(cases, repeat)
    reference = results[LOOP]
    for label in (BATCH, OURS, "loop of count_tokens (exact)"):
        assert np.array_equal(results[label], reference), f"{label} disagrees with raw tiktoken"

    fastest_raw = min(LOOP, BATCH, key=timings.__getitem__)
    base = timings[fastest_raw]
    total_tokens = int(reference.sum())
    print(f"\n{title}: {n:,} texts, {sum(map(len, texts)):,} chars, {total_tokens:,} {encoding} tokens; "
          f"best of {repeat}")
    print(f"{'method':<40} {'seconds':>9} {'Mtok/s':>8} {'throughput vs fastest raw':>26}")
    for label, _ in cases:
        t = timings[label]
        print(f"{label:<40} {t:>9.4f} {total_tokens / t / 1e6:>8.2f} {base / t:>25.2f}x")
    ratio = base / timings[OURS]
    print(f"faster raw path: {fastest_raw} ({timings[BATCH] / timings[LOOP]:.2f}x the loop's time for the batch API)")
    print(f"count_batch throughput / faster raw path: {ratio:.2f}x (goal >= {GOAL}x: "
          f"{'met' if ratio >= GOAL else 'NOT met'})")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--documents", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--encoding", default="o200k_base", choices=("o200k_base", "cl100k_base"))
    args = parser.parse_args()
    messages, documents = real_texts()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"real text: {len(messages):,} distinct messages, {len(documents):,} distinct documents; CPUs: {cpus}")
    ratios = {
        "messages": run_set("messages (support requests, MT-Bench, MMLU, GSM8K)",
                            cycle_to(messages, args.messages), args.encoding, args.repeat),
        "documents": run_set("documents (support replies, GSM8K answers)",
                             cycle_to(documents, args.documents), args.encoding, args.repeat),
    }
    print("\nsummary: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items())
          + f" of the faster raw tiktoken path (goal >= {GOAL}x)")


if __name__ == "__main__":
    main()
