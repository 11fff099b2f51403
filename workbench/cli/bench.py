"""``workbench bench``: benchmark a model server (Ollama or OpenAI-compatible) and price its throughput.

Example::

    workbench bench --backend openai --base-url http://127.0.0.1:8080/v1 --model smollm2-135m \
        --requests 8 --concurrency 1,2 --max-output-tokens 32 --gpu-usd-per-hour 0.10 --json

JSON keys (stable): ``requests``, ``errors``, ``ttft_ms`` / ``itl_ms`` (``p50``, ``p90``, ``p99``),
``output_tokens_per_s``; with ``--gpu-usd-per-hour`` or ``--hardware`` also ``usd_per_mtok_output``,
``usd_per_mtok_total`` and ``break_even``. With several concurrency levels the top-level figures are
over all levels and ``levels`` holds each one. The API key is read from the environment variable named
by ``--api-key-env``; it is never printed or saved.
"""

from __future__ import annotations

import argparse
import sys
import threading

from workbench.cli import CliError, emit_json
from workbench.cli._args import number

_POS_INT = number(int, minimum=1)
_NONNEG_INT = number(int)
_POS_FLOAT = number(float, exclusive=True)
_NONNEG_FLOAT = number(float)


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"concurrency must be integers separated by commas, got {text!r}") from None
    if not levels or any(c < 1 for c in levels):
        raise argparse.ArgumentTypeError(f"concurrency levels must be >= 1, got {text!r}")
    return levels


def _setting(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip(), v.strip()


def add_parser(sub) -> None:
    from workbench.bench.backends import backend_names
    from workbench.bench.prompts import DATASETS

    p = sub.add_parser("bench", help="benchmark a local or hosted model server; $/1M tokens and break-even",
                       description="Benchmark a model server (Ollama or OpenAI-compatible) and price its throughput.")
    p.add_argument("--backend", required=True, choices=backend_names())
    p.add_argument("--base-url", required=True, help="server URL, e.g. http://127.0.0.1:11434 or .../v1")
    p.add_argument("--model", required=True)
    p.add_argument("--requests", type=_POS_INT, default=8, help="measured requests per level (default 8)")
    p.add_argument("--concurrency", type=_levels, default=[1], help="level(s), e.g. 1 or 1,2,4 (default 1)")
    p.add_argument("--rate", type=_POS_FLOAT, help="open loop: arrival rate in requests/s (Poisson)")
    p.add_argument("--burstiness", type=_POS_FLOAT, default=1.0,
                   help="open loop gamma shape: 1 = Poisson, <1 bursty (default 1)")
    p.add_argument("--max-output-tokens", type=_POS_INT, default=64)
    p.add_argument("--input-tokens", type=_POS_INT, help="make every prompt this many (o200k) tokens long")
    p.add_argument("--dataset", choices=DATASETS, default="mt_bench")
    p.add_argument("--warmup", type=_NONNEG_INT, default=1, help="warm-up requests, not measured (default 1)")
    p.add_argument("--no-cold-start", action="store_true", help="skip the separate cold-start request")
    p.add_argument("--timeout", type=_POS_FLOAT, default=60.0, help="per-request time budget, s (default 60)")
    p.add_argument("--connect-timeout", type=_POS_FLOAT, default=5.0)
    p.add_argument("--duration", type=_POS_FLOAT, default=300.0,
                   help="max seconds per level; no request starts after it (default 300)")
    p.add_argument("--slo-ttft-ms", type=_POS_FLOAT, help="goodput: max time to first token")
    p.add_argument("--slo-tpot-ms", type=_POS_FLOAT, help="goodput: max time per output token")
    p.add_argument("--gpu-usd-per-hour", type=_NONNEG_FLOAT, help="hardware price, USD/hour")
    p.add_argument("--hardware", help="hardware preset id from pricing/self-hosted.yaml (price per hour)")
    p.add_argument("--utilisation", type=_POS_FLOAT, default=1.0,
                   help="fraction of the time the hardware is busy, (0, 1] (default 1)")
    p.add_argument("--hosted", action="append", metavar="MODEL", help="hosted model for break-even (repeatable)")
    p.add_argument("--api-key-env", help="environment variable holding the API key "
                                         "(default OPENAI_API_KEY / OLLAMA_API_KEY)")
    p.add_argument("--ollama-endpoint", choices=("chat", "generate"), default="chat")
    p.add_argument("--server-setting", type=_setting, action="append", metavar="KEY=VALUE",
                   help="describe the server (runtime, threads, GPU...); saved with the results")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", metavar="DIR", help="write <run>.json and <run>.csv into DIR")
    p.add_argument("--fail-on-errors", action="store_true", help="exit 1 if any measured request failed")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def _hourly_price(args) -> tuple[float | None, str]:
    """The hardware $/hour (``--gpu-usd-per-hour`` wins over the ``--hardware`` preset's price) and its label."""
    from workbench.bench.cost import hardware_price

    usd, label = args.gpu_usd_per_hour, "custom"
    if args.hardware:
        try:
            preset = hardware_price(args.hardware)
        except KeyError as e:
            raise CliError(e.args[0]) from None
        label = preset.id
        if usd is None:
            usd = preset.usd_per_hour
    return usd, label


def _cost_block(args, summary: dict) -> dict:
    from workbench.bench.cost import QUALITY_WARNING, break_even, hosted_prices, local_cost_from_summary

    usd, label = _hourly_price(args)
    if usd is None:
        return {}
    if not summary.get("output_tokens_per_s"):
        return {"usd_per_mtok_output": None, "usd_per_mtok_total": None,
                "cost": {"error": "no successful request: no throughput to price"}, "quality_warning": QUALITY_WARNING}
    lc = local_cost_from_summary(summary, usd, utilisation=args.utilisation, hardware=label)
    out = {"usd_per_mtok_output": lc.usd_per_mtok_output, "usd_per_mtok_total": lc.usd_per_mtok_total,
           "cost": lc.to_dict(), "quality_warning": QUALITY_WARNING}
    try:
        prices, missing = hosted_prices(args.hosted)
    except Exception as e:  # noqa: BLE001 - price sheets absent or invalid: report, keep the run
        prices, missing = [], [f"price sheets unavailable: {e}"]
    out["break_even"] = [b.to_dict() for b in break_even(lc, prices)]
    if missing:
        out["hosted_not_found"] = missing
    return out


def _print_human(data: dict) -> None:
    def f(x, nd=1):
        return "-" if x is None else f"{x:.{nd}f}"

    env = data["environment"]["backend"]
    print(f"{env['backend']} {env['base_url']} model={env['model']}")
    cs = data.get("cold_start")
    if cs:
        print(f"cold start: ttft {f(cs['ttft_ms'])} ms, e2e {f(cs['e2e_ms'])} ms"
              + (f" ({cs['error_reason']})" if not cs["ok"] else ""))
    print(f"{'level':<18}{'req':>5}{'err':>5}{'ttft p50':>10}{'p90':>8}{'p99':>8}{'itl p50':>9}{'p90':>7}{'p99':>7}"
          f"{'out tok/s':>11}{'goodput':>9}")
    for lv in data["levels"]:
        s = lv["summary"]
        print(f"{lv['spec']['label']:<18}{s['requests']:>5}{s['errors']:>5}{f(s['ttft_ms']['p50']):>10}"
              f"{f(s['ttft_ms']['p90']):>8}{f(s['ttft_ms']['p99']):>8}{f(s['itl_ms']['p50']):>9}"
              f"{f(s['itl_ms']['p90']):>7}{f(s['itl_ms']['p99']):>7}{f(s['output_tokens_per_s']):>11}"
              f"{f(s['goodput_fraction'], 2) if s['goodput_fraction'] is not None else '-':>9}")
        if s["errors"]:
            print(f"{'':<18}errors: " + ", ".join(f"{k}={v}" for k, v in s["errors_by_reason"].items()))
    if "usd_per_mtok_output" in data and data["usd_per_mtok_output"] is not None:
        c = data["cost"]
        print(f"cost at ${c['usd_per_hour']}/h, utilisation {c['utilisation']:.0%}: "
              f"${data['usd_per_mtok_output']:.4g}/1M output tokens, ${data['usd_per_mtok_total']:.4g}/1M total")
        for b in data.get("break_even", []):
            print(f"  vs {b['model']} (${b['hosted_usd_per_mtok_output']:.4g}/1M out incl. input): {b['note']}")
        print(f"note: {data['quality_warning']}")
    if data.get("saved"):
        print("saved: " + ", ".join(data["saved"]))


def run(args: argparse.Namespace) -> int:
    from workbench.bench.aggregate import SLO
    from workbench.bench.backends import create_backend
    from workbench.bench.harness import LoadSpec, RunConfig, run_benchmark
    from workbench.bench.prompts import make_requests
    from workbench.bench.results import save_run, scrub_secrets

    if not 0 < args.utilisation <= 1:
        raise CliError(f"--utilisation must be in (0, 1], got {args.utilisation}")
    if args.hardware is None and args.gpu_usd_per_hour is None and args.hosted:
        raise CliError("--hosted needs --gpu-usd-per-hour or --hardware to compute a break-even")
    _hourly_price(args)  # an unknown --hardware preset fails before any request is sent
    if args.hosted:
        from workbench.bench.cost import hosted_prices

        _, missing = hosted_prices(args.hosted)
        if missing:
            raise CliError(f"unknown hosted model(s): {', '.join(missing)}")
    options = {"timeout_s": args.timeout, "connect_timeout_s": args.connect_timeout}
    if args.api_key_env:
        options["api_key_env"] = args.api_key_env
    if args.backend == "ollama":
        options["endpoint"] = args.ollama_endpoint
    try:
        backend = create_backend(args.backend, args.base_url, args.model, **options)
    except ValueError as e:
        raise CliError(str(e)) from None
    try:
        prompts = make_requests(args.dataset, max(args.requests, args.warmup + 1), max_output_tokens=args.max_output_tokens,
                                input_tokens=args.input_tokens, seed=args.seed)
    except FileNotFoundError as e:
        raise CliError(str(e)) from None
    levels = tuple(LoadSpec(concurrency=c, requests=args.requests, rate=args.rate, burstiness=args.burstiness,
                            max_duration_s=args.duration) for c in args.concurrency)
    config = RunConfig(levels=levels, warmup_requests=args.warmup, cold_start=not args.no_cold_start,
                       request_timeout_s=args.timeout, seed=args.seed,
                       slo=SLO(ttft_ms=args.slo_ttft_ms, tpot_ms=args.slo_tpot_ms))
    settings = dict(args.server_setting or [])
    stop = threading.Event()
    try:
        with backend:
            bench_run = run_benchmark(backend, prompts, config, server_settings=settings, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        print("workbench bench: interrupted", file=sys.stderr)
        return 130
    data = bench_run.to_dict()
    out = {**data.pop("summary")}
    out.update({"levels": data["levels"], "cold_start": data["cold_start"], "run_id": data["run_id"],
                "created_at": data["created_at"], "environment": data["environment"], "config": data["config"]})
    out.update(_cost_block(args, out))
    if args.save:
        json_path, csv_path = save_run(bench_run, args.save)
        out["saved"] = [str(json_path), str(csv_path)]
    out = scrub_secrets(out)
    if args.json:
        emit_json(out)
    else:
        _print_human(out)
    if args.fail_on_errors and out["errors"]:
        return 1
    return 0
