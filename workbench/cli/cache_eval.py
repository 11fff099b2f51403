"""``workbench cache-eval PAIRS.jsonl --threshold T``: how a semantic cache would do on labelled pairs.

Each line is ``{"text_a": ..., "text_b": ..., "label": 0|1}`` (1 = the same answer serves both).
Texts are embedded offline (all-MiniLM-L6-v2); a pair with cosine ≥ T is served from the cache.
Output: hits, false hits, misses, true negatives, precision, recall (and the false-hit rate with
its Wilson 95 % interval); ``--target-false-hit-rate R`` also picks the loosest threshold whose
interval stays under R; ``--guards`` vetoes hits whose numbers / negation / names differ.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli import CliError, emit_json


def _unit(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {v}")
    return v


def add_parser(sub) -> None:
    p = sub.add_parser("cache-eval", help="hits / false hits / misses of a semantic cache on labelled pairs",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs", metavar="PAIRS.jsonl", help="labelled pairs {text_a, text_b, label}")
    p.add_argument("--threshold", type=_unit, required=True, metavar="T", help="cosine similarity threshold in [0, 1]")
    p.add_argument("--target-false-hit-rate", type=_unit, metavar="R",
                   help="also choose the loosest threshold whose false-hit rate (95%% upper bound) is ≤ R")
    p.add_argument("--guards", default="", metavar="G,..", help="veto hits: numbers, negation, entities (comma list)")
    p.add_argument("--strict", action="store_true", help="stop at the first bad line")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from workbench.core.cache.embed import default_embed
    from workbench.core.cache.quality import GUARDS, choose_threshold, confusion, guard_veto, read_pairs, similarities
    path = Path(args.pairs)
    if not path.is_file():
        raise CliError(f"pairs file not found: {path}")
    guards = [g.strip() for g in args.guards.split(",") if g.strip()]
    bad = [g for g in guards if g not in GUARDS]
    if bad:
        raise CliError(f"unknown guard(s) {', '.join(bad)}; valid: {', '.join(GUARDS)}")
    try:
        pairs = read_pairs(path)
    except UnicodeDecodeError as e:
        raise CliError(f"{path}: not UTF-8 text ({e.reason})") from None
    rejected = pairs.attrs["rejected"]
    if rejected and args.strict:
        raise CliError(rejected[0])
    if pairs.empty:
        raise CliError(f"{path}: no valid pairs" + (f" ({len(rejected)} rejected; first: {rejected[0]})" if rejected else ""))
    for line in rejected[:20]:
        print(f"workbench cache-eval: skipped {line}", file=sys.stderr)
    sim = similarities(pairs, default_embed())
    label = pairs["label"].to_numpy()
    veto = guard_veto(pairs["text_a"].tolist(), pairs["text_b"].tolist(), guards) if guards else None
    out = {"pairs": int(len(pairs)), "rejected_rows": len(rejected), "guards": guards,
           "embedding": "all-MiniLM-L6-v2 (int8 ONNX, offline)", **confusion(sim, label, args.threshold, veto)}
    if args.target_false_hit_rate is not None:
        out["chosen"] = choose_threshold(sim, label, args.target_false_hit_rate)
    if args.json:
        emit_json(out)
        return 0
    print(f"{out['pairs']:,} pairs ({out['rejected_rows']} rejected), threshold {args.threshold}"
          + (f", guards {', '.join(guards)}" if guards else ""))
    print(f"  hits {out['hits']:,}   false hits {out['false_hits']:,}   misses {out['misses']:,}   "
          f"true negatives {out['true_negatives']:,}")
    fmt = lambda v: "n/a (nothing served)" if v is None else f"{v:.3f}"  # noqa: E731
    lo, hi = out["false_hit_rate_ci95"]
    print(f"  precision {fmt(out['precision'])}   recall {fmt(out['recall'])}   "
          f"false-hit rate {fmt(out['false_hit_rate'])} (95% CI {lo:.3f}–{hi:.3f})")
    if "chosen" in out:
        c = out["chosen"]
        if c["threshold"] is None:
            print(f"  no threshold keeps the false-hit rate's 95% upper bound ≤ {args.target_false_hit_rate}")
        else:
            print(f"  threshold for false-hit rate ≤ {args.target_false_hit_rate}: {c['threshold']:.4f} "
                  f"({c['hits']:,} hits, {c['false_hits']:,} false hits)")
    return 0
