"""``workbench estimate``: what a feature costs per request, per day and per month."""
from __future__ import annotations

import argparse
import datetime as dt

from workbench.cli import emit_json
from workbench.cli._args import number
from workbench.core.cost import CACHE_TTLS, DAYS_PER_MONTH, estimate
from workbench.io.pricesheets import load_prices


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"malformed date {text!r}: expected YYYY-MM-DD") from None


def add_parser(sub) -> None:
    p = sub.add_parser("estimate", help="cost of a request, a day and a month of traffic",
                       description="Price average tokens per request at a daily volume.")
    p.add_argument("--model", required=True, help="model id or alias (see `workbench prices list`)")
    p.add_argument("--input-tokens", type=number(float), required=True,
                   help="average prompt tokens per request (including cached ones)")
    p.add_argument("--output-tokens", type=number(float), required=True, help="average output tokens")
    p.add_argument("--cached-input-tokens", type=number(float), default=0.0,
                   help="of the input tokens, how many are cache reads")
    p.add_argument("--cache-write-tokens", type=number(float), default=0.0,
                   help="of the input tokens, how many are written to the cache")
    p.add_argument("--cache-ttl", choices=CACHE_TTLS, default="5m",
                   help="TTL of the cache writes not given as long ones: 5m / 1h (Anthropic), 30m / 12h (OpenAI); "
                        "5m and 30m both mean the model's own short TTL")
    p.add_argument("--cache-write-long-tokens", type=number(float), default=0.0,
                   help="of the cache-write tokens, how many use the long TTL (Anthropic 1 hour, OpenAI 12 hours)")
    p.add_argument("--audio-input-tokens", type=number(float), default=0.0,
                   help="of the input tokens, how many are (uncached) audio, billed at the audio rate")
    p.add_argument("--audio-output-tokens", type=number(float), default=0.0,
                   help="of the output tokens, how many are audio")
    p.add_argument("--image-input-tokens", type=number(float), default=0.0,
                   help="of the input tokens, how many are images billed apart from text")
    p.add_argument("--requests-per-day", type=number(float), default=1.0)
    p.add_argument("--days", type=number(int), default=DAYS_PER_MONTH, help="days in a month (default 30)")
    p.add_argument("--batch", action="store_true", help="use Batch API prices")
    p.add_argument("--service-tier", default=None,
                   help="service tier the model's record offers: flex, priority (OpenAI), regional (+10%%), "
                        "us_only (Anthropic, 1.1x), …; default standard")
    p.add_argument("--price-in", type=number(float), help="override: USD per 1M input tokens")
    p.add_argument("--price-out", type=number(float), help="override: USD per 1M output tokens")
    p.add_argument("--on", type=_day, help="price date YYYY-MM-DD (default today)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    book = load_prices()
    overrides = {k: v for k, v in (("input", args.price_in), ("output", args.price_out)) if v is not None}
    if overrides:
        book = book.with_override(args.model, args.on, **overrides)
    est = estimate(book, args.model, args.input_tokens, args.output_tokens, args.cached_input_tokens,
                   args.cache_write_tokens, requests_per_day=args.requests_per_day, days=args.days,
                   batch=args.batch, on=args.on, cache_ttl=args.cache_ttl, service_tier=args.service_tier,
                   cache_write_long_tokens=args.cache_write_long_tokens, audio_input_tokens=args.audio_input_tokens,
                   audio_output_tokens=args.audio_output_tokens, image_input_tokens=args.image_input_tokens)
    if args.json:
        emit_json(est.to_dict())
        return 0
    d, rec = est.to_dict(), est.record
    from workbench.cli.prices import as_of_line

    kind = "batch" if est.batch else est.service_tier
    print(f"{est.model}  ({kind} prices, record of {rec.effective}; source: {rec.source})")
    print(f"  {as_of_line(book)}")
    print(f"  per request  ${d['usd_per_request']:,.6f}")
    print(f"  per day      ${d['usd_per_day']:,.2f}   (input ${d['input_usd_per_day']:,.2f} + output ${d['output_usd_per_day']:,.2f})")
    print(f"  per month    ${d['usd_per_month']:,.2f}   ({est.days} days × {est.requests_per_day:,g} requests/day)")
    return 0
