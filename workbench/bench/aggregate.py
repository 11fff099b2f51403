"""Aggregates over per-request results: percentiles, throughput, error rate and goodput against an SLO.

Definitions (all over the *measured* requests of one load level; warm-up and cold start excluded):

* ``ttft_ms``   time from sending the request to the first streamed token, per successful request.
* ``itl_ms``    inter-token latency: every gap between consecutive streamed tokens, pooled over requests.
* ``tpot_ms``   time per output token after the first: ``(e2e - ttft) / (output_tokens - 1)``, per request.
* ``e2e_ms``    sending the request to the end of the stream.
* percentiles   linear interpolation between closest ranks (numpy's default, ``method="linear"``).
* ``output_tokens_per_s``  output tokens of successful requests / the level's wall time (first send to
  last completion): the server's aggregate decode throughput at that load.
* ``goodput_rps``  successful requests that met every SLO limit, per second of wall time;
  ``goodput_fraction`` the same count over all measured requests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .records import MEASURED, RequestResult

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True, slots=True)
class SLO:
    """Latency limits a request must meet to count toward goodput (``None`` = no limit)."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None

    def met(self, r: RequestResult) -> bool:
        if not r.ok:
            return False
        if self.ttft_ms is not None and (r.ttft_ms is None or r.ttft_ms > self.ttft_ms):
            return False
        if self.tpot_ms is not None and r.tpot_ms is not None and r.tpot_ms > self.tpot_ms:
            return False
        if self.e2e_ms is not None and (r.e2e_ms is None or r.e2e_ms > self.e2e_ms):
            return False
        return True

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def percentiles(values: Iterable[float | None], qs: Sequence[int] = PERCENTILES) -> dict[str, float | None]:
    """``{"p50":…, "p90":…, "p99":…, "mean":…, "min":…, "max":…, "n":…}``; ``None`` values are ignored."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    out: dict[str, float | None] = {}
    if arr.size == 0:
        for q in qs:
            out[f"p{q}"] = None
        out.update(mean=None, min=None, max=None, n=0)
        return out
    pct = np.percentile(arr, list(qs))
    for q, v in zip(qs, pct):
        out[f"p{q}"] = float(v)
    out.update(mean=float(arr.mean()), min=float(arr.min()), max=float(arr.max()), n=int(arr.size))
    return out


def wall_time_s(results: Sequence[RequestResult]) -> float:
    """First send to last completion, from the results' own offsets."""
    starts = [r.start_s for r in results]
    ends = [r.start_s + (r.e2e_ms or 0.0) / 1000.0 for r in results]
    if not starts:
        return 0.0
    return max(ends) - min(starts)


def summarize(
    results: Sequence[RequestResult], wall_s: float | None = None, slo: SLO | None = None
) -> dict[str, Any]:
    """Aggregate the measured requests in ``results`` (other phases are ignored)."""
    measured = [r for r in results if r.phase == MEASURED]
    ok = [r for r in measured if r.ok]
    if wall_s is None:
        wall_s = wall_time_s(measured)
    slo = slo or SLO()
    n = len(measured)
    errors = n - len(ok)
    out_tok = sum(r.output_tokens or 0 for r in ok)
    in_tok = sum(r.input_tokens or 0 for r in ok)
    good = sum(1 for r in ok if slo.met(r))
    per_s = (lambda x: x / wall_s) if wall_s and wall_s > 0 else (lambda x: None)
    itl = [g for r in ok for g in r.itl_ms]
    summary: dict[str, Any] = {
        "requests": n,
        "ok": len(ok),
        "errors": errors,
        "error_rate": errors / n if n else None,
        "errors_by_reason": dict(sorted(Counter(r.error_reason or "error" for r in measured if not r.ok).items())),
        "ttft_ms": percentiles(r.ttft_ms for r in ok),
        "itl_ms": percentiles(itl),
        "tpot_ms": percentiles(r.tpot_ms for r in ok),
        "e2e_ms": percentiles(r.e2e_ms for r in ok),
        "queue_ms": percentiles(r.queue_ms for r in measured),
        "input_tokens": in_tok,
        "output_tokens": out_tok,
        "output_tokens_source": dict(sorted(Counter(r.output_tokens_source or "none" for r in ok).items())),
        "input_tokens_source": dict(sorted(Counter(r.input_tokens_source or "none" for r in ok).items())),
        "wall_s": wall_s,
        "requests_per_s": per_s(len(ok)),
        "output_tokens_per_s": per_s(out_tok),
        "total_tokens_per_s": per_s(out_tok + in_tok),
        "request_output_tokens_per_s": percentiles(r.output_tokens_per_s for r in ok),
        "slo": slo.to_dict(),
        "goodput_requests": good,
        "goodput_rps": per_s(good),
        "goodput_fraction": good / n if n else None,
    }
    server_ttft = [r.server_ttft_ms for r in ok if r.server_ttft_ms is not None]
    if server_ttft:
        summary["server"] = {
            "ttft_ms": percentiles(server_ttft),
            "output_tokens_per_s": percentiles(r.server_output_tokens_per_s for r in ok),
            "load_ms": percentiles(r.server_load_ms for r in ok),
        }
    return summary


def cold_start_summary(r: RequestResult | None) -> dict[str, Any] | None:
    """The cold-start request on its own (not part of any percentile)."""
    if r is None:
        return None
    return {
        "ok": r.ok,
        "error_reason": r.error_reason,
        "ttft_ms": r.ttft_ms,
        "e2e_ms": r.e2e_ms,
        "output_tokens": r.output_tokens,
        "server_load_ms": r.server_load_ms,
        "server_ttft_ms": r.server_ttft_ms,
    }
