"""Benchmark: price 1M requests in one vectorised call vs per-row loops.

Baselines, run side by side on the same rows:
  * the real ``litellm.cost_per_token`` in a per-row loop, by default: litellm is installed from
    PyPI into a scratch venv (``--litellm-venv``, default ``~/.cache/llm-cost-workbench/litellm-venv``;
    the project itself never depends on litellm) unless ``--litellm-python`` names an interpreter
    that already has it, or ``--no-litellm`` skips it. When it cannot be installed (no PyPI), the
    run says so plainly and the ratio is missing rather than guessed. It runs on ``--litellm-rows``
    rows in a subprocess with LITELLM_LOCAL_MODEL_COST_MAP=True (no network) and is scaled to the
    full row count;
  * a bare per-row loop that only does LiteLLM's core arithmetic (dict lookup of per-token
    prices in LiteLLM's map, then multiply): a lower bound for any per-row approach;
  * a per-row loop over our own scalar ``request_cost``.
Prints seconds and the ratio of each baseline to ``price_frame``. Targets: price_frame on 1M rows
≤ 1 s, and ≥ 100× faster than a per-row loop over ``litellm.cost_per_token``.

    .venv/bin/python benchmarks/bench_pricing.py [--rows 1000000] [--loop-rows 1000000]
        [--litellm-python PATH | --litellm-venv DIR | --no-litellm] [--litellm-rows 20000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.core.cost import request_cost  # noqa: E402
from workbench.core.frame_cost import price_frame  # noqa: E402
from workbench.io.litellm_import import load_litellm_map  # noqa: E402
from workbench.io.pricesheets import load_prices  # noqa: E402

MODELS = ["gpt-4o", "gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash", "claude-sonnet-4-5"]


def make_rows(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    inp = rng.lognormal(7.0, 0.8, n).astype(np.int64) + 1
    return pd.DataFrame({
        "model": pd.Categorical(rng.choice(MODELS, n)),
        "ts": pd.Timestamp("2026-06-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 30 * 86400, n), unit="s"),
        "input_tokens": inp,
        "cached_input_tokens": (inp * rng.uniform(0, 0.5, n)).astype(np.int64),
        "output_tokens": rng.lognormal(5.0, 0.7, n).astype(np.int64),
    })


def litellm_style_cost_per_token(model_cost: dict, model: str, prompt_tokens: int,
                                 completion_tokens: int, cached_tokens: int = 0) -> tuple[float, float]:
    """What a LiteLLM-style per-call cost function does: look the model up, multiply per-token prices."""
    info = model_cost.get(model)
    if info is None:
        for prefix in ("openai/", "anthropic/", "gemini/"):
            info = model_cost.get(prefix + model)
            if info is not None:
                break
    if info is None:
        raise KeyError(model)
    cache_read = info.get("cache_read_input_token_cost") or info["input_cost_per_token"]
    prompt = (prompt_tokens - cached_tokens) * info["input_cost_per_token"] + cached_tokens * cache_read
    return prompt, completion_tokens * info["output_cost_per_token"]


REAL_LITELLM = r"""
import json, sys, time
from litellm import cost_per_token
rows = json.load(sys.stdin)
t0 = time.perf_counter()
total = 0.0
for m, i, o, c in rows:
    p, q = cost_per_token(model=m, prompt_tokens=i, completion_tokens=o, cache_read_input_tokens=c)
    total += p + q
print(json.dumps({"seconds": time.perf_counter() - t0, "total": total}))
"""


def real_litellm_loop(python: str, records: list) -> float:
    """Seconds for litellm.cost_per_token over ``records`` in a subprocess (import time excluded)."""
    import os

    out = subprocess.run([python, "-c", REAL_LITELLM], input=json.dumps(records), capture_output=True,
                         text=True, check=True, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


#: The litellm release whose price map is the shared test data (litellm_price_map/); 1.107.0 was a
#: compromised release, so an exact, known version is pinned.
LITELLM_SPEC = "litellm==1.109.1"


def default_litellm_venv() -> Path:
    import os

    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "llm-cost-workbench" / "litellm-venv"


def litellm_python(venv: Path, spec: str = LITELLM_SPEC) -> tuple[str | None, str]:
    """Python of a scratch venv with ``spec`` installed (creating it on first use): (path, why-not)."""
    import venv as venv_mod

    py = venv / "bin" / "python"
    probe = [str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    if py.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and spec.endswith("==" + found.stdout.strip()):
            return str(py), ""
    print(f"installing {spec} into the scratch venv {venv} (the project does not depend on it) ...",
          flush=True)
    try:
        if not py.exists():
            venv_mod.EnvBuilder(with_pip=True, clear=True).create(venv)
        subprocess.run([str(py), "-m", "pip", "install", "-q", spec], check=True, capture_output=True,
                       text=True, timeout=900)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        detail = getattr(e, "stderr", "") or str(e)
        return None, f"could not install {spec} into {venv}: {detail.strip().splitlines()[-1] if detail.strip() else e}"
    return str(py), ""


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--loop-rows", type=int, default=1_000_000)
    ap.add_argument("--litellm-python", help="python of an environment that already has litellm installed")
    ap.add_argument("--litellm-venv", type=Path, default=default_litellm_venv(),
                    help="scratch venv to install litellm into when --litellm-python is not given")
    ap.add_argument("--no-litellm", action="store_true", help="skip the real litellm baseline")
    ap.add_argument("--litellm-rows", type=int, default=20_000)
    args = ap.parse_args()
    litellm_missing = "skipped (--no-litellm)" if args.no_litellm else ""
    if not args.no_litellm and not args.litellm_python:
        args.litellm_python, litellm_missing = litellm_python(args.litellm_venv)
    book = load_prices()
    model_cost = load_litellm_map()
    frame = make_rows(args.rows)

    t_vec, priced = timed(lambda: price_frame(frame, book), repeat=3)

    loop_frame = frame.iloc[: args.loop_rows]
    records = list(zip(loop_frame["model"].astype(str), loop_frame["input_tokens"].tolist(),
                       loop_frame["output_tokens"].tolist(), loop_frame["cached_input_tokens"].tolist()))

    def litellm_loop():
        return sum(sum(litellm_style_cost_per_token(model_cost, m, i, o, c)) for m, i, o, c in records)

    def our_scalar_loop():
        day = "2026-06-15"
        return sum(request_cost(book.price_on(m, day), i, o, c).total_usd for m, i, o, c in records)

    t_lite, _ = timed(litellm_loop)
    t_scalar, _ = timed(our_scalar_loop)
    scale = args.rows / args.loop_rows
    rows = [("price_frame (vectorised)", args.rows, t_vec, 1.0)]
    if args.litellm_python:
        n = min(args.litellm_rows, len(records))
        try:
            t_real = real_litellm_loop(args.litellm_python, [list(r) for r in records[:n]])
            rows.append(("litellm.cost_per_token loop (real)", n, t_real, t_real * args.rows / n / t_vec))
        except subprocess.CalledProcessError as e:
            litellm_missing = f"litellm failed in {args.litellm_python}: {(e.stderr or '').strip()[-300:]}"
            args.litellm_python = None
    rows += [
        ("bare dict-lookup loop (lower bound)", args.loop_rows, t_lite, t_lite * scale / t_vec),
        ("our request_cost per-row loop", args.loop_rows, t_scalar, t_scalar * scale / t_vec),
    ]
    print(f"Pricing benchmark ({args.rows:,} rows, {len(MODELS)} models; best of 3 for the vectorised run)")
    print(f"{'method':34} {'rows':>10} {'seconds':>9} {'× slower than price_frame':>27}")
    for name, n, t, ratio in rows:
        print(f"{name:34} {n:>10,} {t:>9.3f} {ratio:>27.1f}")
    print(f"\nprice_frame: {args.rows / t_vec / 1e6:.2f} M rows/s; total ${priced['cost_usd'].sum():,.2f}")
    print("target ≤ 1 s per 1M rows:", "met" if t_vec <= args.rows / 1e6 else "NOT met")
    if args.litellm_python:
        print("target ≥ 100× a litellm.cost_per_token loop:", "met" if rows[1][3] >= 100 else "NOT met")
    else:
        print(f"REAL litellm BASELINE NOT MEASURED: {litellm_missing}. The strongest peer is missing "
              "from this run; the dict-lookup loop above is only a lower bound for it.")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "pricing.json").write_text(json.dumps(
        [{"method": n, "rows": r, "seconds": t, "ratio": q} for n, r, t, q in rows], indent=2))


if __name__ == "__main__":
    main()
