"""The load generator: sends bounded streams of requests to a backend and times every token.

Load shapes (one :class:`LoadSpec` per level):

* closed loop — ``rate=None``: ``concurrency`` users, each sending its next request when the last ends.
* open loop — ``rate=R`` requests/s with gamma-distributed gaps: ``burstiness=1`` is a Poisson process,
  ``burstiness<1`` is burstier (same mean rate, higher variance), ``>1`` more regular. ``concurrency``
  caps the requests in flight; a request that waits for a free slot records the wait as ``queue_ms``.

Bounds — every level stops after ``requests`` measured requests or ``max_duration_s`` seconds
(no request starts after that), whichever comes first. Every request is bounded by the backend's
connect/read timeouts and by the run's ``request_timeout_s`` total budget (checked on each streamed
event), so nothing hangs: a level ends within ``max_duration_s + request_timeout_s`` plus one read
timeout at worst. ``stop`` (a ``threading.Event``) ends a run early.

A run = one cold-start request (reported on its own), ``warmup_requests`` warm-up requests (excluded
from the aggregates), then each level in turn.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from .aggregate import SLO, summarize
from .backends import Backend
from .faults import DeadlineExceeded, classify
from .records import (
    COLD,
    MEASURED,
    SOURCE_COUNTED,
    SOURCE_USAGE,
    WARMUP,
    BenchRequest,
    RequestResult,
    StreamEvent,
)

ProgressFn = Callable[["RequestResult", int, int], None]

_TEXT = StreamEvent.TEXT


@dataclass(frozen=True)
class LoadSpec:
    """One load level."""

    concurrency: int = 1
    requests: int = 8
    rate: float | None = None
    burstiness: float = 1.0
    max_duration_s: float = 120.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.requests < 1:
            raise ValueError("requests must be >= 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 requests/s")
        if self.burstiness <= 0:
            raise ValueError("burstiness must be > 0")
        if self.max_duration_s <= 0:
            raise ValueError("max_duration_s must be > 0")

    @property
    def mode(self) -> str:
        if self.rate is None:
            return "closed"
        return "poisson" if self.burstiness == 1.0 else "bursty"

    @property
    def label(self) -> str:
        if self.rate is None:
            return f"c{self.concurrency}"
        return f"{self.mode}{self.rate:g}rps-c{self.concurrency}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mode": self.mode, "label": self.label}


@dataclass(frozen=True)
class RunConfig:
    levels: tuple[LoadSpec, ...] = (LoadSpec(),)
    warmup_requests: int = 1
    cold_start: bool = True
    request_timeout_s: float = 60.0
    seed: int = 0
    slo: SLO = field(default_factory=SLO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": [s.to_dict() for s in self.levels],
            "warmup_requests": self.warmup_requests,
            "cold_start": self.cold_start,
            "request_timeout_s": self.request_timeout_s,
            "seed": self.seed,
            "slo": self.slo.to_dict(),
        }


@dataclass
class LevelRun:
    spec: LoadSpec
    results: list[RequestResult]
    wall_s: float
    not_sent: int
    summary: dict[str, Any]


def arrival_offsets(n: int, rate: float, burstiness: float = 1.0, seed: int = 0) -> list[float]:
    """Send times (s from the level start) of ``n`` open-loop requests; the first is at 0.

    Gaps are Gamma(shape=burstiness, scale=1/(rate*burstiness)): mean 1/rate, coefficient of variation
    1/sqrt(burstiness). ``burstiness=1`` gives exponential gaps, i.e. a Poisson process.
    """
    rng = random.Random(seed)
    t = 0.0
    out = [0.0]
    for _ in range(n - 1):
        t += rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
        out.append(t)
    return out[:n]


def _count(text: str, model: str) -> tuple[int, str]:
    from workbench.core.tokens import count_tokens

    try:
        tc = count_tokens(text, model)
    except (ValueError, KeyError):
        # The model's own tokenizer is unknown here (e.g. a local GGUF model): count with
        # o200k_base and say so in the tag, so the figure is never mistaken for the model's own.
        tc = count_tokens(text)
        return tc.tokens, f"{SOURCE_COUNTED}:{tc.encoding}-proxy"
    return tc.tokens, f"{SOURCE_COUNTED}:{tc.encoding}"


def execute_one(
    backend: Backend,
    request: BenchRequest,
    *,
    index: int = 0,
    phase: str = MEASURED,
    level: str = "",
    concurrency: int = 1,
    request_timeout_s: float = 60.0,
    t_level0: float | None = None,
    scheduled_s: float = 0.0,
    count_tokens: bool = True,
) -> RequestResult:
    """Send one streaming request and time it. Never raises for server/network faults."""
    pc = time.perf_counter
    t0 = pc()
    if t_level0 is None:
        t_level0 = t0
    deadline = t0 + request_timeout_s
    first = last = None
    gaps: list[float] = []
    parts: list[str] = []
    n = 0
    done = None
    fault = None
    gen = None
    try:
        gen = backend.stream(request)
        for ev in gen:
            now = pc()
            if ev.kind == _TEXT:
                if first is None:
                    first = now
                else:
                    gaps.append(now - last)
                last = now
                n += 1
                parts.append(ev.text)
            else:
                done = ev
            if now > deadline:
                raise DeadlineExceeded(f"request exceeded its {request_timeout_s:g} s budget")
    except Exception as exc:  # noqa: BLE001 - every fault becomes a recorded reason
        fault = classify(exc, tokens_received=n)
    finally:
        if gen is not None:
            try:
                gen.close()
            except Exception:  # noqa: BLE001
                pass
    t_end = pc()

    r = RequestResult(
        index=index,
        phase=phase,
        level=level,
        concurrency=concurrency,
        prompt_id=request.prompt_id,
        dataset=request.dataset,
        scheduled_s=scheduled_s,
        start_s=t0 - t_level0,
        queue_ms=max(0.0, (t0 - t_level0 - scheduled_s) * 1000.0),
        ok=fault is None,
        e2e_ms=(t_end - t0) * 1000.0,
        chunks=n,
        itl_ms=[g * 1000.0 for g in gaps],
    )
    if first is not None:
        r.ttft_ms = (first - t0) * 1000.0
    if fault is not None:
        r.error_reason, r.error_message, r.http_status = fault.reason, fault.message, fault.http_status

    if done is not None:
        r.finish_reason = done.finish_reason
        if done.output_tokens is not None:
            r.output_tokens, r.output_tokens_source = int(done.output_tokens), SOURCE_USAGE
        if done.input_tokens is not None:
            r.input_tokens, r.input_tokens_source = int(done.input_tokens), SOURCE_USAGE
        s = done.server or {}
        r.server_load_ms = s.get("load_ms")
        r.server_prompt_eval_ms = s.get("prompt_eval_ms")
        r.server_eval_ms = s.get("eval_ms")
        r.server_total_ms = s.get("total_ms")
        r.server_ttft_ms = s.get("ttft_ms")
        r.server_output_tokens_per_s = s.get("output_tokens_per_s")
    if count_tokens:
        if r.output_tokens is None and n:
            r.output_tokens, r.output_tokens_source = _count("".join(parts), backend.model)
        if r.input_tokens is None:
            r.input_tokens, r.input_tokens_source = _count(request.prompt_text, backend.model)
    if r.output_tokens is None:
        r.output_tokens = 0 if n == 0 else n
        r.output_tokens_source = r.output_tokens_source or "chunks"
    if r.ok and r.e2e_ms:
        r.output_tokens_per_s = r.output_tokens / (r.e2e_ms / 1000.0)
        if r.ttft_ms is not None and r.output_tokens > 1:
            r.tpot_ms = (r.e2e_ms - r.ttft_ms) / (r.output_tokens - 1)
    return r


def run_level(
    backend: Backend,
    prompts: Sequence[BenchRequest],
    spec: LoadSpec,
    *,
    request_timeout_s: float = 60.0,
    seed: int = 0,
    slo: SLO | None = None,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> LevelRun:
    """Run one load level; returns its results (in index order) and summary."""
    if not prompts:
        raise ValueError("no prompts to send")
    stop = stop or threading.Event()
    results: list[RequestResult | None] = [None] * spec.requests
    lock = threading.Lock()
    done_count = [0]
    pc = time.perf_counter
    t0 = pc()

    def record(i: int, r: RequestResult) -> None:
        with lock:
            results[i] = r
            done_count[0] += 1
            k = done_count[0]
        if progress is not None:
            try:
                progress(r, k, spec.requests)
            except Exception:  # noqa: BLE001 - a broken progress callback must not break the run
                pass

    def send(i: int, scheduled: float) -> None:
        r = execute_one(
            backend, prompts[i % len(prompts)], index=i, phase=MEASURED, level=spec.label,
            concurrency=spec.concurrency, request_timeout_s=request_timeout_s, t_level0=t0,
            scheduled_s=scheduled,
        )
        record(i, r)

    if spec.rate is None:
        next_index = iter(range(spec.requests))

        def user() -> None:
            while not stop.is_set() and pc() - t0 < spec.max_duration_s:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                send(i, pc() - t0)

        threads = [threading.Thread(target=user, name=f"bench-user-{u}", daemon=True)
                   for u in range(spec.concurrency)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    else:
        offsets = arrival_offsets(spec.requests, spec.rate, spec.burstiness, seed)

        def task(i: int, scheduled: float) -> None:
            # A request still queued for a free slot when time is up is not sent at all.
            if stop.is_set() or pc() - t0 >= spec.max_duration_s:
                return
            send(i, scheduled)

        with ThreadPoolExecutor(max_workers=spec.concurrency, thread_name_prefix="bench-open") as pool:
            for i, off in enumerate(offsets):
                if off >= spec.max_duration_s:
                    break
                wait = t0 + off - pc()
                if wait > 0 and stop.wait(wait):
                    break
                pool.submit(task, i, off)

    wall = pc() - t0
    finished = [r for r in results if r is not None]
    not_sent = spec.requests - len(finished)
    summary = summarize(finished, wall_s=_measured_wall(finished) or wall, slo=slo)
    summary["not_sent"] = not_sent
    return LevelRun(spec, finished, wall, not_sent, summary)


def _measured_wall(results: Sequence[RequestResult]) -> float | None:
    if not results:
        return None
    start = min(r.start_s for r in results)
    end = max(r.start_s + (r.e2e_ms or 0.0) / 1000.0 for r in results)
    return end - start


def run_benchmark(
    backend: Backend,
    prompts: Sequence[BenchRequest],
    config: RunConfig | None = None,
    *,
    server_settings: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    on_level: Callable[[LevelRun], None] | None = None,
    stop: threading.Event | None = None,
):
    """Cold start, warm-up, then every level of ``config``. Returns a :class:`~workbench.bench.results.BenchRun`."""
    from .results import BenchRun, capture_environment

    config = config or RunConfig()
    stop = stop or threading.Event()
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    environment = capture_environment(backend, server_settings)
    cold = None
    warm: list[RequestResult] = []
    if config.cold_start and not stop.is_set():
        cold = execute_one(backend, prompts[0], index=-1, phase=COLD, level="cold",
                           request_timeout_s=config.request_timeout_s)
    for k in range(config.warmup_requests):
        if stop.is_set():
            break
        warm.append(execute_one(backend, prompts[(k + 1) % len(prompts)], index=-(k + 2), phase=WARMUP,
                                level="warmup", request_timeout_s=config.request_timeout_s))
    levels: list[LevelRun] = []
    for spec in config.levels:
        if stop.is_set():
            break
        lv = run_level(backend, prompts, spec, request_timeout_s=config.request_timeout_s, seed=config.seed,
                       slo=config.slo, progress=progress, stop=stop)
        levels.append(lv)
        if on_level is not None:
            on_level(lv)
    return BenchRun(
        run_id=f"{created:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}",
        created_at=created.isoformat(),
        environment=environment,
        config=config.to_dict(),
        cold_start=cold,
        warmup=warm,
        levels=levels,
        stopped_early=stop.is_set(),
    )
