"""``workbench cascade DATA --tiers M1,M2[,M3]``: a router or cascade on labelled data, in dollars.

DATA is evaluation data (see :mod:`workbench.io.evaldata`): a long or wide CSV, or RouteLLM's
MMLU folder / GSM8K CSV / MT-Bench folder. Prices come from the sheets (``--on`` picks the day),
a model the sheets lack is an error naming it; ``--price M=IN/OUT`` overrides (USD per 1M).
"""
from __future__ import annotations

import argparse
import sys

from workbench.cli import CliError, emit_json
from workbench.cli._args import number


def add_parser(sub) -> None:
    from workbench.core.cascade.signals import describe_signals
    from workbench.io.evaldata import FORMATS
    p = sub.add_parser(
        "cascade", help="simulate a router or cascade on labelled data: cost–quality frontier in dollars",
        description="Score a router or cascade once on labelled evaluation data, sweep its threshold, and "
                    "report the cost–quality frontier in dollars with all-cheap, all-strong, random and oracle "
                    "baselines, APGR, AIQ, bootstrap intervals and an operating point (calibrated on one split, "
                    "reported on the other).",
        epilog="signals:\n  " + describe_signals().replace("\n", "\n  "),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA", help="evaluation data: CSV file or RouteLLM folder")
    p.add_argument("--format", choices=FORMATS, help="data format (default: detected)")
    p.add_argument("--tiers", required=True, metavar="M1,M2[,M3]", help="models, cheapest first")
    p.add_argument("--price", action="append", default=[], metavar="M=IN/OUT",
                   help="price override in USD per 1M input/output tokens (repeatable)")
    p.add_argument("--on", metavar="YYYY-MM-DD", help="price-sheet day (default: today)")
    p.add_argument("--signal", default="logreg", help="router or cascade signal (default: logreg on prompt embeddings)")
    p.add_argument("--thresholds", type=number(int, minimum=2), default=101, help="points on the frontier (default 101)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-gap", type=number(float), metavar="F",
                        help="operating point: share of the cheap→strong quality gap to recover (default 0.8)")
    target.add_argument("--target-quality", type=number(float), metavar="Q", help="operating point: mean quality ≥ Q")
    target.add_argument("--budget", type=number(float), metavar="USD",
                        help="operating point: best quality within this many USD per month")
    p.add_argument("--requests-per-day", type=number(float, exclusive=True), default=10_000,
                   help="volume for the monthly projection (default 10,000)")
    p.add_argument("--calibrate-fraction", type=number(float, exclusive=True), default=0.5,
                   help="share of prompts in the calibration split (default 0.5)")
    p.add_argument("--bootstrap", type=number(int), default=200, help="resamples for 95%% intervals (0: none)")
    p.add_argument("--seed", type=int, default=0, help="split, folds, random router and bootstrap seed")
    p.add_argument("--no-draft", action="store_true", help="cascade: the retry does not carry the rejected draft")
    p.add_argument("--output-tokens", type=number(int), metavar="N",
                   help="assumed output tokens where the data has neither counts nor answers")
    p.add_argument("--prices", metavar="DIR", help="folder of price sheets (default: pricing/)")
    p.add_argument("--traffic", "--project", nargs="?", const="sample", metavar="LOG",
                   help="replay the operating point over a traffic log (default: the sample week): dollars saved "
                        "per day and month by feature, the quality change carried over from the labelled set. "
                        "Which requests escalate: a seeded random draw at the calibrated rate (--seed), or the "
                        "lowest --traffic-score")
    p.add_argument("--traffic-score", metavar="COLUMN",
                   help="a per-request router score in the traffic log: its lowest-scored requests escalate")
    p.add_argument("--traffic-outcomes", metavar="FILE",
                   help="per-model outcomes for the traffic (CSV/Parquet: request_id, model, output_tokens[, quality]), "
                        "e.g. the cheap model run in shadow: its answers' tokens replace the assumption")
    p.add_argument("--traffic-tiers", default="gpt-4.1-mini,gpt-4.1", metavar="CHEAP,STRONG",
                   help="the traffic's models for the two tiers (default: gpt-4.1-mini,gpt-4.1, the sample week's)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def parse_prices(items: list[str]) -> dict[str, tuple[float, float]]:
    out = {}
    for item in items:
        model, sep, rates = item.rpartition("=")
        inp, slash, outp = rates.partition("/")
        try:
            if not sep or not slash or not model:
                raise ValueError
            i, o = float(inp), float(outp)
        except ValueError:
            raise CliError(f"--price {item!r}: expected MODEL=IN/OUT in USD per 1M tokens, e.g. gpt-4o=2.5/10") from None
        if not (i >= 0 and o >= 0) or (i == 0 and o == 0) or i != i or o != o:
            raise CliError(f"--price {item!r}: prices must be non-negative and not both $0")
        out[model] = (i, o)
    return out


def run(args: argparse.Namespace) -> int:
    from workbench.core.cascade import CascadeCosts, EvalDataError, Target, get_signal, simulate
    from workbench.io.evaldata import load_eval, tier_prices
    from workbench.io.pricesheets import load_prices
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if len(tiers) < 2:
        raise CliError(f"--tiers needs at least two models, cheapest first; got {args.tiers!r}")
    if not 0 < args.calibrate_fraction < 1:
        raise CliError(f"--calibrate-fraction must be in (0, 1), got {args.calibrate_fraction}")
    overrides = parse_prices(args.price)
    try:
        signal = get_signal(args.signal)
        options = {"output_tokens": args.output_tokens} if args.output_tokens is not None else {}
        es = load_eval(args.data, args.format, **options)
        td = es.for_tiers(tiers)
        book = load_prices(args.prices)
        prices = tier_prices(td.models, book, {_match(es, k): v for k, v in overrides.items()}, args.on)
        features = None
        if signal.learned:
            from workbench.embeddings import embed_texts
            features = embed_texts(td.prompts)
        if args.target_quality is not None:
            target = Target("quality", args.target_quality)
        elif args.budget is not None:
            target = Target("budget", args.budget)
        else:
            target = Target("gap", 0.8 if args.target_gap is None else args.target_gap)
        result = simulate(td, td.models, prices, args.signal, features=features,
                          costs=CascadeCosts(carry_draft=not args.no_draft), thresholds=args.thresholds,
                          target=target, requests_per_day=args.requests_per_day,
                          calibrate_fraction=args.calibrate_fraction, bootstrap=args.bootstrap, seed=args.seed)
    except EvalDataError as e:
        raise CliError(str(e)) from None
    if args.traffic:
        result["traffic"] = _traffic(args, result, book)
    result["load"] = es.report.to_dict() if es.report else None
    result["rejected_rows"] = es.report.rejected_count if es.report else 0
    if args.json:
        emit_json(_finite(result))
    else:
        _print(result)
    return 0


def _traffic(args, result: dict, book) -> dict:
    from pathlib import Path

    import pandas as pd

    from workbench.core.cascade.traffic import traffic_savings
    pair = [t.strip() for t in args.traffic_tiers.split(",") if t.strip()]
    if len(pair) != 2:
        raise CliError(f"--traffic-tiers needs CHEAP,STRONG, got {args.traffic_tiers!r}")
    if args.traffic == "sample":
        path = Path(__file__).resolve().parents[2] / "sample_data" / "requests.parquet"
    else:
        path = Path(args.traffic)
    if not path.exists():
        raise CliError(f"traffic log not found: {path}")
    if path.suffix == ".parquet":
        log = pd.read_parquet(path)
    else:
        from workbench.io.traffic import load_log
        log = load_log(path, book=book).frame
    outcomes = None
    if args.traffic_outcomes:
        opath = Path(args.traffic_outcomes)
        if not opath.exists():
            raise CliError(f"outcomes file not found: {opath}")
        outcomes = pd.read_parquet(opath) if opath.suffix == ".parquet" else pd.read_csv(opath)
    op = result["operating_point"]
    ci = op["test"].get("ci95") or {}
    try:
        out = traffic_savings(log, book, cheap=pair[0], strong=pair[1], escalation_rate=op["test"]["escalation_rate"],
                              rate_ci=ci.get("escalation_rate"),
                              quality_change=op["projection"]["quality_change_vs_all_strong"],
                              quality_ci=ci.get("quality_change_vs_all_strong"),
                              labelled=f"{result['source']}, held-out split of {op['test']['n']:,} prompts",
                              seed=args.seed, score_column=args.traffic_score, outcomes=outcomes)
    except ValueError as e:        # PolicyError, an unknown model, a missing column: named, not a traceback
        raise CliError(f"--traffic {path}: {e}") from None
    out["log"] = str(path)
    return out


def _match(es, name: str) -> str:
    try:
        return es.models[es.model_index(name)]
    except Exception:
        return name


def _finite(obj):
    """JSON has no NaN/inf: write null."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _saves(usd: float) -> str:
    return f"saves ${usd:,.2f}" if usd >= 0 else f"costs ${-usd:,.2f} more"


def _pct(x) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _print(r: dict) -> None:
    out = sys.stdout.write
    dropped = (f", {r['dropped_prompts']:,} dropped (missing a tier: {r['missing_by_model']})"
               if r["dropped_prompts"] else "")
    out(f"{r['signal']} ({r['mode']}) on {r['source']}: {r['n']:,} prompts{dropped}, "
        f"{r['rejected_rows']:,} rejected rows\n")
    for t in r["tiers"]:
        out(f"  tier {t['model']}: ${t['usd_per_mtok_input']:g} / ${t['usd_per_mtok_output']:g} per 1M  "
            f"[{t['price_source'][:70]}]\n    tokens: {t['tokens']}\n")
    out("\nbaselines (whole data set)\n")
    for m, b in r["baselines"].items():
        out(f"  all {m:<40} quality {_pct(b['quality']):>7}   ${b['usd']:,.4f}\n")
    out(f"  oracle {'':<37} quality {_pct(r['oracle']['quality']):>7}   ${r['oracle']['usd']:,.4f}\n")
    ci = r.get("ci95") or {}

    def with_ci(key, fmt):
        v = r[key]
        s = "–" if v is None else fmt(v)
        if ci.get(key):
            s += f"  (95% CI {fmt(ci[key][0])} – {fmt(ci[key][1])})"
        return s
    out(f"\nAPGR {with_ci('apgr', lambda v: f'{v:.3f}')}\nAIQ  {with_ci('aiq', lambda v: f'{v:.4f}')}\n")
    out(f"cost at 50% of the gap {with_ci('usd_at_50pct_gap', lambda v: f'${v:,.4f}')}\n")
    out(f"cost at 80% of the gap {with_ci('usd_at_80pct_gap', lambda v: f'${v:,.4f}')}\n")
    sp, op = r["split"], r["operating_point"]
    t = op["test"]
    out(f"\noperating point (target {op['target']['kind']} {op['target']['value']:g}, calibrated on "
        f"{sp['calibrate_n']:,} prompts, reported on {sp['test_n']:,} held-out prompts): threshold {op['threshold']:.4g}\n")
    out(f"  quality {_pct(t['quality'])}, ${t['usd_per_request']:.6f}/request, escalation {_pct(t['escalation_rate'])}\n")
    pj = op["projection"]
    out(f"  at {pj['requests_per_day']:,.0f} requests/day: ${pj['usd_per_month']:,.2f}/month vs all-strong "
        f"${pj['all_strong_usd_per_month']:,.2f} ({'saves' if pj['saved_vs_all_strong_usd_per_month'] >= 0 else 'costs'} "
        f"${abs(pj['saved_vs_all_strong_usd_per_month']):,.2f}; quality "
        f"{pj['quality_change_vs_all_strong'] * 100:+.1f} pts)\n")
    if r.get("traffic"):
        tr = r["traffic"]
        out(f"\non {tr['log']} ({tr['requests']:,} requests, {tr['days']} days; {tr['cascaded_requests']:,} went to "
            f"the strong model, {tr['escalated_requests']:,} escalate): the cascade {_saves(tr['saved_usd_per_day'])}/day, "
            f"{_saves(tr['saved_usd_per_month'])}/month\n")
        cis = tr["ci95"]
        if cis.get("draw"):
            out(f"  95% range over random draws: ${cis['draw'][0]:,.2f} – ${cis['draw'][1]:,.2f}/month\n")
        if cis.get("rate"):
            out(f"  at the labelled rate's 95% interval ({_pct(cis['rate_interval'][0])} – "
                f"{_pct(cis['rate_interval'][1])}): ${cis['rate'][0]:,.2f} – ${cis['rate'][1]:,.2f}/month\n")
        out(f"  which requests escalate: {tr['escalation_method']}\n  tokens: {tr['cheap_answer_tokens']}\n")
        qc = tr["quality_change"]
        out(f"  quality change per cascaded request {'–' if qc is None else f'{qc * 100:+.1f} pts'} "
            f"({tr['quality_note']})\n")
        for f in tr["by_feature"]:
            out(f"  {str(f['feature']):<18} ${f['saved_usd_per_day']:>10,.2f}/day ${f['saved_usd_per_month']:>12,.2f}/month"
                f"  {f['cascaded_requests']:>7,} cascaded\n")
    esc = r["escalation_by_route"]
    out(f"\nescalation {_pct(esc['overall'])} overall [{esc['overall_level']}]; by classify_query route:\n")
    for row in esc["by_class"]:
        flag = "  ⚠ more than 40% of cheap routes escalate" if row["warning"] else ""
        out(f"  {row['route']:<9} {row['n']:>7,} prompts  {_pct(row['escalation_rate']):>7}{flag}\n")
