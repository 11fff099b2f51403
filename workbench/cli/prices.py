"""``workbench prices``: list the models, show one model's price history, diff against LiteLLM."""
from __future__ import annotations

import argparse
import datetime as dt

from workbench.cli import emit_json
from workbench.cli._args import number
from workbench.core.prices import RATE_FIELDS, decimal_text
from workbench.io.pricesheets import load_prices

PEERS = ("litellm", "genai-prices")


def add_parser(sub) -> None:
    p = sub.add_parser("prices", help="price sheets: list, show MODEL, diff --against PEER, check")
    ps = p.add_subparsers(dest="action", metavar="ACTION")
    ps.required = True
    lst = ps.add_parser("list", help="every model with today's input/output price")
    lst.add_argument("--vendor")
    lst.add_argument("--on", help="price date YYYY-MM-DD (default today)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=run_list)
    chk = ps.add_parser("check", help="warn about stale sheets and promotional prices past their guaranteed end",
                        description="Exit 1 when there is something to re-check, 0 when there is nothing.")
    chk.add_argument("--max-age-days", type=number(int), default=90,
                     help="a sheet not reviewed for more days than this is stale (default 90)")
    chk.add_argument("--on", type=_day, help="check as of YYYY-MM-DD (default today)")
    chk.add_argument("--json", action="store_true")
    chk.set_defaults(func=run_check)
    show = ps.add_parser("show", help="one model: aliases, context window, price history with sources")
    show.add_argument("model")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=run_show)
    diff = ps.add_parser("diff", help="review a peer price list against our sheets (never writes)",
                         description="Show where a peer price list disagrees with our sheets on a day "
                                     "(default today). Nothing is written: edit pricing/*.yaml by hand, with a source.")
    diff.add_argument("--against", choices=PEERS, required=True, help="the peer to compare with")
    _diff_args(diff)
    old = ps.add_parser("litellm-diff", help="alias of `prices diff --against litellm`")
    old.set_defaults(against="litellm")
    _diff_args(old)


def _diff_args(p) -> None:
    p.add_argument("path", nargs="?", help="the peer's data file (LiteLLM: model_prices_and_context_window.json; "
                                           "default: the shared copy / the installed genai-prices package)")
    p.add_argument("--on", type=_day, help="compare the prices in force on YYYY-MM-DD (default today)")
    p.add_argument("--all-new", action="store_true", help="list every model we lack, not only our vendors' chat models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_diff)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"malformed date {text!r}: expected YYYY-MM-DD") from None


def run_list(args: argparse.Namespace) -> int:
    from workbench.core.prices import NoPriceError, _parse_day

    book = load_prices()
    day = _parse_day(args.on)
    rows = []
    for m in sorted(book.models(args.vendor), key=lambda m: (m.vendor, m.id)):
        try:
            rec = m.price_on(day)
        except NoPriceError:
            rec = None
        rows.append({"model": m.id, "vendor": m.vendor, "context_window": m.context_window,
                     "tokenizer": m.tokenizer, "status": m.status,
                     "input": rec.input if rec else None, "output": rec.output if rec else None,
                     "effective": rec.effective.isoformat() if rec else None,
                     "until": rec.until.isoformat() if rec and rec.until else None,
                     "source": rec.source if rec else None,
                     "guaranteed_until": rec.guaranteed_until.isoformat() if rec and rec.guaranteed_until else None,
                     "sheet": m.sheet, "reviewed": m.reviewed.isoformat() if m.reviewed else None})
    if args.vendor and not rows:
        raise ValueError(f"no models for vendor {args.vendor!r}; vendors: {', '.join(book.vendors())}")
    if args.json:
        emit_json(rows)
        return 0
    print(f"prices in force on {day}; {as_of_line(book)}")
    print(f"{'model':34} {'vendor':12} {'in $/1M':>9} {'out $/1M':>9}  {'context':>9}  since")
    for r in rows:
        price = (f"{decimal_text(r['input']):>9} {decimal_text(r['output']):>9}"
                 if r["input"] is not None else f"{'no price on ' + day.isoformat():>19}")
        print(f"{r['model']:34} {r['vendor']:12} {price}  {r['context_window'] or '-':>9}  {r['effective'] or '-'}")
    return 0


def as_of_line(book) -> str:
    """"prices as of DAY" (the oldest sheet review), for every human-readable price output."""
    as_of = book.reviewed_as_of()
    return f"prices as of {as_of} (sheets last reviewed)" if as_of else "prices as of: a sheet records no review date"


def run_check(args: argparse.Namespace) -> int:
    from workbench.core.prices import _parse_day, freshness_warnings

    book = load_prices()
    day = _parse_day(args.on)
    warnings = freshness_warnings(book, day, args.max_age_days)
    if args.json:
        emit_json({"on": day.isoformat(), "max_age_days": args.max_age_days,
                   "reviewed": {k: v.isoformat() if v else None for k, v in book.sheets_reviewed().items()},
                   "warnings": warnings})
    else:
        print(f"{as_of_line(book)}; checked on {day}, sheets older than {args.max_age_days} days are stale")
        for w in warnings:
            print(f"  WARNING {w['message']}")
        if not warnings:
            print("  nothing to re-check")
    return 1 if warnings else 0


def run_show(args: argparse.Namespace) -> int:
    info = load_prices().model(args.model)
    if args.json:
        emit_json({"model": info.id, "vendor": info.vendor, "aliases": list(info.aliases),
                   "context_window": info.context_window, "max_output_tokens": info.max_output_tokens,
                   "tokenizer": info.tokenizer, "status": info.status, "litellm": list(info.litellm),
                   "litellm_diff": info.litellm_diff, "genai_prices_diff": info.genai_prices_diff,
                   "notes": info.notes, "sheet": info.sheet,
                   "reviewed": info.reviewed.isoformat() if info.reviewed else None,
                   "history": [r.to_dict() for r in info.history]})
        return 0
    print(f"{info.id} ({info.vendor}, {info.status})  context {info.context_window or '?'}  tokenizer {info.tokenizer}")
    if info.aliases:
        print(f"  aliases: {', '.join(info.aliases)}")
    for r in info.history:
        rates = "  ".join(f"{k}={decimal_text(getattr(r, k))}" for k in RATE_FIELDS if getattr(r, k) is not None)
        print(f"  {r.effective} .. {r.until or 'now'}: {rates}")
        for t in r.tiers:
            print(f"      above {t.above_input_tokens:,} input tokens: "
                  + "  ".join(f"{k}={decimal_text(v)}" for k, v in t.rates.items()))
        print(f"      source: {r.source}" + (f"  ({r.note})" if r.note else ""))
        for name, t in r.service_tiers.items():
            rates = (f"x{decimal_text(t.multiplier)} every rate" if t.multiplier is not None
                     else "  ".join(f"{k}={decimal_text(v)}" for k, v in t.rates.items()))
            print(f"      service tier {name}: {rates}  (source: {t.source})")
        if r.guaranteed_until:
            print(f"      promotional price, guaranteed through {r.guaranteed_until}")
    if info.litellm_diff:
        print(f"  differs from LiteLLM: {info.litellm_diff}")
    if info.genai_prices_diff:
        print(f"  differs from genai-prices: {info.genai_prices_diff}")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    from workbench.io.litellm_import import diff_against_litellm, format_diff, load_litellm_map

    if args.against == "genai-prices":
        from workbench.io.genai_prices_import import diff_against_genai_prices

        if args.path:
            raise ValueError("genai-prices is read from the installed package; PATH is for LiteLLM's map")
        diff = diff_against_genai_prices(load_prices(), on=args.on)
    else:
        diff = diff_against_litellm(load_prices(), load_litellm_map(args.path), on=args.on, all_new=args.all_new)
    if args.json:
        emit_json(diff.to_dict())
    else:
        print(format_diff(diff))
    return 0
