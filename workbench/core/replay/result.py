"""The replay result: totals vs baseline, the savings waterfall, budget timeline, intervals, and the
per-request frame. ``to_dict``/``from_dict`` round-trip exactly (money also kept in integer pUSD)."""
from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from workbench.core.replay.pricing import PUSD_PER_USD

_SUMMARY_KEYS = ("requests", "rejected_rows", "baseline_pusd", "replayed_pusd", "baseline_quality",
                 "replayed_quality", "quality", "waterfall", "steps", "fates", "blocked_requests",
                 "downgraded_requests", "outcomes", "budget", "limits", "by_tenant", "by_feature", "ci95",
                 "engine", "stack", "models", "attached")


def _usd(pusd: int) -> float:
    return pusd / PUSD_PER_USD


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def waterfall(totals: list[int], steps: list[dict], quality: list | None = None,
              quality_sums: list | None = None) -> list[dict]:
    """Savings of each step in stack order: the cost before it minus the cost after it, and the
    quality it loses: mean quality before − after (``quality_lost``) and the summed quality
    (``quality_lost_total``, in answers' worth); ``None`` when the log carries no quality.

    ``totals[0]`` is the baseline, ``totals[k]`` the total after step ``k`` (integer pUSD). The bars
    add up to baseline − replayed exactly; a step that costs more shows a negative saving.
    """
    quality = quality or [None] * len(totals)
    quality_sums = quality_sums or [None] * len(totals)
    rows = []
    for i, step in enumerate(steps):
        before, after = totals[i], totals[i + 1]
        qb, qa = quality[i], quality[i + 1]
        sb, sa = quality_sums[i], quality_sums[i + 1]
        rows.append({"step": i + 1, "policy": step["policy"], "label": step["label"],
                     "before_usd": _usd(before), "after_usd": _usd(after),
                     "savings_usd": _usd(before - after), "savings_pct": _pct(before - after, totals[0]),
                     "savings_pusd": before - after, "requests_touched": step["requests_touched"],
                     "quality_before": qb, "quality_after": qa,
                     "quality_lost": qb - qa if qb is not None and qa is not None else None,
                     "quality_lost_total": sb - sa if sb is not None and sa is not None else None})
    return rows


class ReplayResult:
    """What the replay found. ``frame`` is the per-request table in the caller's frame kind."""

    def __init__(self, summary: dict, frame: Any = None, backend: Any = None):
        self.summary = {k: summary.get(k) for k in _SUMMARY_KEYS}
        self.summary["rejected_rows"] = int(summary.get("rejected_rows") or 0)
        self.frame = frame
        self._backend = backend  # keeps a DuckDB result's connection alive

    # -- headline numbers -----------------------------------------------------------------------
    @property
    def requests(self) -> int:
        return self.summary["requests"]

    @property
    def baseline_usd(self) -> float:
        return _usd(self.summary["baseline_pusd"])

    @property
    def replayed_usd(self) -> float:
        return _usd(self.summary["replayed_pusd"])

    @property
    def savings_usd(self) -> float:
        return _usd(self.summary["baseline_pusd"] - self.summary["replayed_pusd"])

    @property
    def savings_pct(self) -> float:
        return _pct(self.summary["baseline_pusd"] - self.summary["replayed_pusd"], self.summary["baseline_pusd"])

    @property
    def waterfall(self) -> list[dict]:
        return self.summary["waterfall"]

    @property
    def ci95(self) -> dict | None:
        return self.summary["ci95"]

    @property
    def baseline_quality(self) -> float | None:
        """Mean quality of the logged answers over the labelled requests (None without labels)."""
        return self.summary["baseline_quality"]

    @property
    def replayed_quality(self) -> float | None:
        """Mean quality after the policies over the requests with a known quality (None: none)."""
        return self.summary["replayed_quality"]

    @property
    def quality(self) -> dict:
        return self.summary["quality"]

    @property
    def events(self) -> list[dict]:
        """Every step's timeline events, in time order (typed: ``kind``, ``action``, ``text``)."""
        return (self.summary["budget"] or {}).get("events") or []

    @property
    def limits(self) -> list[dict]:
        """The caps the steps enforce (scope, period, unit, value, action)."""
        return self.summary["limits"] or []

    @property
    def blocked_requests(self) -> int:
        return self.summary["blocked_requests"]

    @property
    def budget(self) -> dict:
        return self.summary["budget"]

    @property
    def steps(self) -> list[dict]:
        return self.summary["steps"]

    @property
    def rejected_rows(self) -> int:
        return self.summary["rejected_rows"]

    @rejected_rows.setter
    def rejected_rows(self, n: int) -> None:
        self.summary["rejected_rows"] = int(n)

    # -- per request ----------------------------------------------------------------------------
    def decisions(self) -> Any:
        """Long table of what each policy did to each request it touched, and why.

        Columns: ``request_id``, ``step``, ``policy``, ``label``, ``code``, ``reason``, ``changes``.
        Same frame kind as :attr:`frame`.
        """
        if self.frame is None:
            raise ValueError("this result carries no per-request frame")
        frame = nw.from_native(self.frame)
        lazy = frame.lazy() if isinstance(frame, nw.DataFrame) else frame
        parts = []
        for s in self.steps:
            col = f"act{s['step']}_{s['policy']}"
            texts = {d["code"]: d["reason"] for d in s["decisions"]}
            if not texts:
                continue
            changes = {d["code"]: d["changes"] for d in s["decisions"]}
            parts.append(lazy.filter(nw.col(col) != 0).select(
                nw.col("request_id"), nw.lit(s["step"], nw.Int64).alias("step"),
                nw.lit(s["policy"], nw.String).alias("policy"), nw.lit(s["label"], nw.String).alias("label"),
                nw.col(col).cast(nw.Int64).alias("code"),
                nw.col(col).cast(nw.Int64).replace_strict(texts, default="", return_dtype=nw.String).alias("reason"),
                nw.col(col).cast(nw.Int64).replace_strict(changes, default=True, return_dtype=nw.Boolean)
                .alias("changes")))
        if not parts:
            out = lazy.head(0).select(nw.col("request_id"), nw.lit(0, nw.Int64).alias("step"),
                                      nw.lit("", nw.String).alias("policy"), nw.lit("", nw.String).alias("label"),
                                      nw.lit(0, nw.Int64).alias("code"), nw.lit("", nw.String).alias("reason"),
                                      nw.lit(True).alias("changes"))
        else:
            out = nw.concat(parts)
        if isinstance(frame, nw.DataFrame):
            return out.collect(backend=nw.get_native_namespace(frame).__name__.split(".")[0]).to_native()
        return out.to_native()

    # -- serialisation --------------------------------------------------------------------------
    def to_dict(self, include_requests: bool = False) -> dict:
        s = self.summary
        d = {"requests": s["requests"], "rejected_rows": s["rejected_rows"],
             "baseline_usd": self.baseline_usd, "replayed_usd": self.replayed_usd,
             "savings_usd": self.savings_usd, "savings_pct": self.savings_pct,
             "baseline_pusd": s["baseline_pusd"], "replayed_pusd": s["replayed_pusd"],
             "baseline_quality": s["baseline_quality"], "replayed_quality": s["replayed_quality"]}
        d.update({k: s[k] for k in _SUMMARY_KEYS if k not in d})
        if include_requests and self.frame is not None:
            native = nw.from_native(self.frame)
            if isinstance(native, nw.LazyFrame):
                native = native.collect()
            d["per_request"] = {k: [v if not hasattr(v, "isoformat") else v.isoformat() for v in vals]
                                for k, vals in native.to_dict(as_series=False).items()}
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "ReplayResult":
        missing = [k for k in ("requests", "baseline_pusd", "replayed_pusd", "waterfall") if k not in data]
        if missing:
            raise ValueError(f"not a replay result: missing {', '.join(missing)}")
        frame = None
        if "per_request" in data:
            import pandas as pd
            frame = pd.DataFrame(data["per_request"])
            if "ts" in frame:
                frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        return cls({k: data.get(k) for k in _SUMMARY_KEYS}, frame=frame)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReplayResult) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        return (f"ReplayResult(requests={self.requests}, baseline_usd={self.baseline_usd:.4f}, "
                f"replayed_usd={self.replayed_usd:.4f}, savings_pct={self.savings_pct:.1f})")

    def close(self) -> None:
        """Release a DuckDB result's temporary database (the frame is unusable afterwards)."""
        if self._backend is not None:
            self._backend.close()
