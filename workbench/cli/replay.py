"""``workbench replay LOG --policy FILE``: what the logged traffic would have cost under a policy stack.

LOG is any format ``workbench.io.traffic.load_log`` reads (``--format`` to choose), or a Parquet
file already in the canonical schema (read directly; with ``--engine duckdb`` it is streamed from
disk under ``--memory-limit``). Progress goes to stderr; Ctrl-C stops cleanly and writes nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from workbench.cli import CliError, emit_json
from workbench.cli._args import memory_size
from workbench.core.replay import describe_policies, load_stack, replay
from workbench.core.replay.backends import ENGINES

EXIT_INTERRUPTED = 130


def add_parser(sub) -> None:
    p = sub.add_parser(
        "replay", help="replay a traffic log under a policy stack: savings, waterfall, budgets",
        description="Replay a traffic log under a stack of policies and report what it would have cost.",
        epilog="policies (the YAML file holds `policies: [{policy: NAME, ...params}]`; [] is the baseline):\n\n"
               + _policy_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", nargs="?", metavar="LOG", help="traffic log (any supported format, or canonical .parquet)")
    p.add_argument("--policy", metavar="FILE", help="policy stack (YAML)")
    p.add_argument("--format", metavar="F", help=f"log format: {_formats()} (default: detected from the "
                   "content; a .parquet file in the canonical schema is read as it is)")
    p.add_argument("--model", help="model for log rows that name none (token-only traces)")
    p.add_argument("--strict", action="store_true", help="stop at the first bad log row")
    p.add_argument("--prices", metavar="DIR", help="folder of price sheets (default: pricing/)")
    p.add_argument("--engine", choices=ENGINES, help="frame engine (default polars; duckdb for --memory-limit)")
    p.add_argument("--spark-master", metavar="URL", help="with --engine spark: the cluster (spark://host:7077, "
                   "yarn, k8s://…; default: the SPARK_MASTER variable, else local[*]); LOG may then be a "
                   "Parquet file or folder on storage the cluster reads (s3a://…, hdfs://…)")
    p.add_argument("--memory-limit", metavar="SIZE", type=memory_size, help="DuckDB memory limit, e.g. 1GB (larger logs spill to disk)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="resamples for the 95%% interval (0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--sweep", metavar="STEP.PARAM=V1,V2,…",
                   help="also evaluate each value of one parameter (STEP: the policy's 1-based position in "
                        "the file), preparing the log once; --json adds `sweep`: [{value, replayed_usd, "
                        "replayed_quality}]")
    p.add_argument("--out", metavar="FILE", help="also write the per-request decisions (.parquet or .csv; "
                   "with --engine spark: a Parquet folder written by the executors)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--list-policies", action="store_true", help="list the policies and their parameters")
    p.set_defaults(func=run)


def _formats() -> str:
    try:
        from workbench.io.traffic import FORMATS
        return ", ".join(FORMATS)
    except Exception:  # pragma: no cover - help must never crash
        return "see workbench.io.traffic"


def _policy_help() -> str:
    try:
        return describe_policies()
    except Exception as e:  # pragma: no cover - help must never crash
        return f"(policy list unavailable: {e})"


class Bar:
    """A one-line progress bar on stderr (nothing when disabled)."""

    def __init__(self, enabled: bool, width: int = 30):
        self.enabled, self.width, self._last = enabled, width, 0.0

    def __call__(self, done: float, total: float, label: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = 0.0 if not total else min(1.0, done / total)
        fill = int(frac * self.width)
        sys.stderr.write(f"\r[{'#' * fill}{'.' * (self.width - fill)}] {frac:4.0%} {label[:40]:<40}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * (self.width + 48) + "\r")
            sys.stderr.flush()
            self.enabled = False


def _load(args, book, bar: Bar):
    spark = args.engine == "spark" or args.spark_master
    if spark and args.format in (None, "parquet", "canonical", "delta") and (
            "://" in args.log or args.log.startswith("delta:") or args.log.endswith(".parquet")
            or Path(args.log).is_dir()):
        return args.log, 0                          # read by Spark itself, never loaded here
    path = Path(args.log)
    if not path.exists():
        raise CliError(f"log not found: {path}")
    if path.suffix == ".parquet" and args.format in (None, "parquet", "canonical"):
        if args.engine != "pandas":
            return str(path), 0    # scanned by Polars or streamed by DuckDB: no pandas copy of the log
        import pandas as pd
        return pd.read_parquet(path, dtype_backend="pyarrow"), 0
    from workbench.io.traffic import load_log
    result = load_log(path, args.format, model=args.model, strict=args.strict, book=book,
                      progress=lambda done, total: bar(done, total or 1, "reading log"))
    return result.frame, result.rejected_count


def run(args: argparse.Namespace) -> int:
    if args.list_policies:
        print(describe_policies())
        return 0
    if not args.log or not args.policy:
        raise CliError("LOG and --policy FILE are required (or --list-policies)")
    if args.bootstrap < 0:
        raise CliError(f"--bootstrap must be ≥ 0, got {args.bootstrap}")
    from workbench.io.pricesheets import load_prices
    stack = load_stack(args.policy)
    swept = _parse_sweep(args.sweep, stack) if args.sweep else None
    book = load_prices(args.prices)
    bar = Bar(args.progress if args.progress is not None else sys.stderr.isatty())
    try:
        log, rejected = _load(args, book, bar)
        result = replay(log, stack, book, engine=args.engine, memory_limit=args.memory_limit,
                        bootstrap=args.bootstrap, seed=args.seed, per_request=bool(args.out),
                        spark_master=args.spark_master,
                        progress=lambda d, t, label: bar(d, t, f"replay: {label}"))
        result.rejected_rows = rejected
        if swept is not None:
            from workbench.core.replay import sweep
            step, param, values = swept
            points = sweep(log, stack, book, step, param, values, engine=args.engine,
                           memory_limit=args.memory_limit)
            result.summary["sweep"] = [{"value": pt["value"], "replayed_usd": pt["replayed_usd"],
                                        "replayed_quality": pt["replayed_quality"]} for pt in points]
        if args.out:
            _write_atomic(result, Path(args.out))
    except KeyboardInterrupt:
        bar.close()
        print("workbench replay: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OverflowError as e:
        raise CliError(str(e)) from None
    finally:
        bar.close()
    try:
        if args.json:
            d = result.to_dict()
            if "sweep" in result.summary:
                d["sweep"] = result.summary["sweep"]
            emit_json(d)
        else:
            _print(result, args)
    finally:
        result.close()
    return 0


def _parse_sweep(text: str, stack) -> tuple[int, str, list]:
    """``STEP.PARAM=V1,V2,…`` → (step, param, values); values are YAML scalars (numbers, words)."""
    import yaml
    head, sep, tail = text.partition("=")
    step_text, dot, param = head.partition(".")
    if not sep or not dot or not param or not step_text.strip().isdigit() or not tail.strip():
        raise CliError(f"--sweep must look like STEP.PARAM=V1,V2,… (e.g. 2.usd=100,200), got {text!r}")
    step = int(step_text)
    if not 1 <= step <= len(stack):
        raise CliError(f"--sweep: step {step} is not in the policy file (1–{len(stack)})")
    values = []
    for item in tail.split(","):
        try:
            values.append(yaml.safe_load(item.strip()))
        except yaml.YAMLError:
            raise CliError(f"--sweep: cannot read value {item!r}") from None
    return step, param.strip(), values


def _write_atomic(result, out: Path) -> None:
    """Write the per-request frame next to ``out`` and rename: an interrupt leaves no partial file."""
    import narwhals.stable.v2 as nw
    if type(result.frame).__module__.startswith("pyspark"):
        from workbench.core.replay.spark_backend import write_decisions
        if out.suffix != ".parquet" and "://" not in str(out):
            raise CliError(f"--out with --engine spark is a Parquet folder ending in .parquet, got {out.name}")
        write_decisions(result.frame, str(out))
        return
    if out.suffix not in (".parquet", ".csv"):
        raise CliError(f"--out must end in .parquet or .csv, got {out.name}")
    frame = nw.from_native(result.frame)
    frame = frame.collect() if isinstance(frame, nw.LazyFrame) else frame
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent or Path("."))
    os.close(fd)
    try:
        (frame.write_parquet if out.suffix == ".parquet" else frame.write_csv)(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _print(result, args) -> None:
    d = result.to_dict()
    name = d["stack"].get("name") or Path(args.policy).name
    print(f"replay of {d['requests']:,} requests ({d['rejected_rows']:,} rejected rows) under {name!r} "
          f"[{d['engine']}]")
    print(f"  baseline  ${d['baseline_usd']:,.4f}")
    print(f"  replayed  ${d['replayed_usd']:,.4f}")
    ci = d["ci95"] or {}
    interval = ""
    if ci.get("savings_usd"):
        (lo, hi), (plo, phi) = ci["savings_usd"], ci["savings_pct"]
        interval = (f"\n            95% CI ${lo:,.4f} – ${hi:,.4f} ({plo:.1f}–{phi:.1f}%; {ci['unit']} bootstrap, "
                    f"{ci['resamples']} resamples)")
    print(f"  savings   ${d['savings_usd']:,.4f} ({d['savings_pct']:.1f}%){interval}")
    if d["baseline_quality"] is not None or d["replayed_quality"] is not None:
        fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"  quality   {fmt(d['baseline_quality'])} → {fmt(d['replayed_quality'])} (mean over labelled requests)")
    for pt in result.summary.get("sweep") or []:
        q = "" if pt["replayed_quality"] is None else f", quality {pt['replayed_quality']:.4f}"
        print(f"  sweep {args.sweep.split('=')[0]} = {pt['value']!r}: ${pt['replayed_usd']:,.4f}{q}")
    if d["waterfall"]:
        print("\nsavings waterfall (stack order):")
        for w in d["waterfall"]:
            print(f"  {w['step']:>2}. {w['label']:<28} ${w['savings_usd']:>12,.4f}  {w['savings_pct']:6.1f}%  "
                  f"{w['requests_touched']:>9,} requests")
    events = d["budget"]["events"]
    if events or d["blocked_requests"] or d["downgraded_requests"]:
        print(f"\nbudgets: {d['blocked_requests']:,} requests blocked, {d['downgraded_requests']:,} downgraded, "
              f"{len(events)} events")
        for e in events[:12]:
            print(f"  {e['ts'][:19]}  {e['label']:<16} {e['scope']:<12} {e['event']:<18} "
                  f"spend {e['spend']:,.4f} of {e['cap']:,.4f} {e['unit']}")
        if len(events) > 12:
            print(f"  … {len(events) - 12} more (--json for all)")
