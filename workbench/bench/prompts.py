"""Prompts for a benchmark: from a real data set or synthetic, with a controlled input length.

Data sets (read from the shared data folder, never copied into the repository):

* ``mt_bench`` — the first turn of each of the 80 MT-Bench questions (``mt_bench/mt_bench__question.jsonl``).
* ``bitext`` — customer-support requests (``bitext_customer_support/*.csv``, column ``instruction``).
* ``synthetic`` — generated text of an exact length in o200k tokens (no file needed).

The data folder is ``$WORKBENCH_DATA_DIR`` if set, else ``<repo>/../shared/data``.

Input length control: ``input_tokens=N`` makes every prompt exactly ``N`` o200k_base tokens long by
appending further prompts from the same data set and cutting at a token boundary. The model's own
tokenizer may count a few more or fewer; the server's reported ``prompt_tokens`` is recorded per request.
Output length is controlled by ``max_output_tokens`` (the server stops there unless the model ends
earlier; a long-answer instruction is added so small models usually use the whole budget).
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path
from typing import Iterable

from .records import BenchRequest

DATASETS = ("mt_bench", "bitext", "synthetic")

_LONG_ANSWER = "Answer in detail, in several paragraphs."
_SYNTH_WORDS = (
    "the cost of running a language model depends on tokens hardware latency throughput batch cache "
    "price volume request server queue memory bandwidth context prompt output answer question user "
    "system model local hosted cloud machine hour day month budget team product support customer order"
).split()


def data_dir() -> Path:
    """Where the shared public data sets live."""
    env = os.environ.get("WORKBENCH_DATA_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return (repo / ".." / "shared" / "data").resolve()


def _mt_bench(root: Path) -> list[tuple[str, str]]:
    path = root / "mt_bench" / "mt_bench__question.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"MT-Bench questions not found at {path} (set WORKBENCH_DATA_DIR)")
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                out.append((f"mt_bench:{row['question_id']}", row["turns"][0]))
    return out


def _bitext(root: Path) -> list[tuple[str, str]]:
    folder = root / "bitext_customer_support"
    files = sorted(folder.glob("*.csv")) if folder.exists() else []
    if not files:
        raise FileNotFoundError(f"Bitext customer-support CSV not found under {folder} (set WORKBENCH_DATA_DIR)")
    out = []
    with files[0].open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            text = (row.get("instruction") or "").strip()
            if text:
                out.append((f"bitext:{i}", text))
    return out


def load_texts(dataset: str) -> list[tuple[str, str]]:
    """(prompt_id, text) pairs of a data set, in file order."""
    if dataset == "mt_bench":
        return _mt_bench(data_dir())
    if dataset == "bitext":
        return _bitext(data_dir())
    if dataset == "synthetic":
        return []
    raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")


def _encoding():
    from workbench.core.tokens import get_encoding

    return get_encoding("o200k_base")


def fit_to_tokens(text: str, n_tokens: int, filler: Iterable[str] = ()) -> str:
    """``text`` extended with ``filler`` texts (in order, cycled) and cut to exactly ``n_tokens`` o200k tokens."""
    if n_tokens < 1:
        raise ValueError("n_tokens must be >= 1")
    enc = _encoding()
    ids = enc.encode_ordinary(text)
    fill = [f for f in filler if f]
    i = 0
    while len(ids) < n_tokens:
        piece = fill[i % len(fill)] if fill else " ".join(_SYNTH_WORDS)
        ids += enc.encode_ordinary("\n\n" + piece)
        i += 1
    # A cut can split a multi-byte character or a whitespace run that re-encodes differently:
    # re-cut by the text's own encoding, or pad with single-token words, until it is exactly n tokens.
    out = enc.decode(ids[:n_tokens])
    for _ in range(64):
        toks = enc.encode_ordinary(out)
        m = len(toks)
        if m == n_tokens:
            return out
        if m > n_tokens:
            out = enc.decode(toks[:n_tokens])
        else:
            out = out.rstrip() + " and" * (n_tokens - len(enc.encode_ordinary(out.rstrip())))
    raise RuntimeError(f"could not fit the text to exactly {n_tokens} tokens")  # pragma: no cover


def synthetic_text(n_tokens: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = [rng.choice(_SYNTH_WORDS) for _ in range(n_tokens * 2)]
    return fit_to_tokens(" ".join(words), n_tokens)


def make_requests(
    dataset: str = "mt_bench",
    n: int = 8,
    *,
    max_output_tokens: int = 64,
    input_tokens: int | None = None,
    seed: int = 0,
    shuffle: bool = True,
    system_prompt: str | None = None,
    long_answer: bool = True,
) -> list[BenchRequest]:
    """``n`` requests from ``dataset`` (cycled if it has fewer), each with the given output budget."""
    if n < 1:
        raise ValueError("n must be >= 1")
    if max_output_tokens < 1:
        raise ValueError("max_output_tokens must be >= 1")
    if input_tokens is not None and input_tokens < 1:
        raise ValueError("input_tokens must be >= 1")
    rows = load_texts(dataset)
    rng = random.Random(seed)
    if dataset == "synthetic":
        target = input_tokens or 32
        rows = [(f"synthetic:{seed}:{i}", synthetic_text(target, seed * 100003 + i)) for i in range(n)]
    elif shuffle:
        rows = rows[:]
        rng.shuffle(rows)
    picked = [rows[i % len(rows)] for i in range(n)]
    pool = [t for _, t in rows]
    requests = []
    for i, (pid, text) in enumerate(picked):
        if input_tokens is not None and dataset != "synthetic":
            start = (i + 1) % len(pool)
            text = fit_to_tokens(text, input_tokens, pool[start:] + pool[:start])
        if long_answer:
            text = f"{text}\n\n{_LONG_ANSWER}" if input_tokens is None else text
        messages = []
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages.append({"role": "user", "content": text})
        requests.append(BenchRequest(tuple(messages), max_output_tokens, pid, dataset, 0.0, seed + i))
    return requests
