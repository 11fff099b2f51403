"""Evaluation data: what each model produced for each prompt, as aligned numpy arrays.

An :class:`EvalSet` holds ``n`` prompts × ``m`` models: quality (correct = 1, wrong = 0, or a
score in [0, 1]), input and output tokens, and optional per-model signals (``logprob``,
``confidence``, ``valid``, ``self_check``). A missing outcome is ``NaN`` (quality, signals) or
``-1`` (tokens) — never guessed. :meth:`EvalSet.for_tiers` keeps the prompts that have every
chosen model and *reports* the others. How the tokens were obtained is stated per model in
``token_notes`` (from the data, counted exactly, estimated, or an assumption).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

#: Signals an evaluation row may carry beside quality, per model. Higher means "keep this answer".
SIGNAL_COLUMNS = ("logprob", "confidence", "valid", "self_check")


class EvalDataError(ValueError):
    """Evaluation data that cannot be used (no rows, unknown tier, a tier without data)."""


@dataclass(frozen=True)
class BadRow:
    """One rejected input row: file, 1-based line (record number for CSV), field and reason."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class LoadReport:
    """What a loader read, kept and rejected. ``missing`` counts prompts without an outcome for
    each model (reported, never filled in)."""

    source: str
    rows_read: int = 0
    rejected: list[BadRow] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    def to_dict(self, limit: int = 20) -> dict:
        return {"source": self.source, "rows_read": self.rows_read, "rejected_rows": self.rejected_count,
                "rejected": [r.to_dict() for r in self.rejected[:limit]], "missing": dict(self.missing),
                "notes": list(self.notes)}


@dataclass
class EvalSet:
    name: str
    ids: np.ndarray                       # (n,) str
    prompts: list[str]                    # (n,)
    models: tuple[str, ...]               # (m,)
    quality: np.ndarray                   # (n, m) float64, NaN = missing
    input_tokens: np.ndarray              # (n, m) int64, -1 = missing
    output_tokens: np.ndarray             # (n, m) int64, -1 = missing
    signals: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (n, m) float64
    groups: dict[str, np.ndarray] = field(default_factory=dict)    # name -> (n,) str (subject, category)
    token_notes: dict[str, str] = field(default_factory=dict)      # model -> how tokens were obtained
    report: LoadReport | None = None

    def __post_init__(self) -> None:
        n, m = len(self.ids), len(self.models)
        for name in ("quality", "input_tokens", "output_tokens"):
            if getattr(self, name).shape != (n, m):
                raise EvalDataError(f"{name} has shape {getattr(self, name).shape}, expected {(n, m)}")
        if len(self.prompts) != n:
            raise EvalDataError(f"{len(self.prompts)} prompts for {n} ids")

    @property
    def n(self) -> int:
        return len(self.ids)

    def model_index(self, name: str) -> int:
        """Index of a model by exact name, case-insensitive name, or a unique substring."""
        low = [m.lower() for m in self.models]
        key = str(name).strip().lower()
        if key in low:
            return low.index(key)
        hits = [i for i, m in enumerate(low) if key and key in m]
        if len(hits) == 1:
            return hits[0]
        why = "matches several" if hits else "is not"
        raise EvalDataError(f"model {name!r} {why} in the data; models: {', '.join(self.models)}")

    def accuracy(self, model: str) -> float:
        j = self.model_index(model)
        return float(np.nanmean(self.quality[:, j]))

    def for_tiers(self, tiers: list[str] | tuple[str, ...]) -> "TierData":
        """The prompts that have every tier's outcome, cheapest tier first as given."""
        if len(tiers) < 2:
            raise EvalDataError(f"a cascade needs at least 2 tiers, got {list(tiers)}")
        idx = [self.model_index(t) for t in tiers]
        if len(set(idx)) != len(idx):
            raise EvalDataError(f"tiers name the same model twice: {list(tiers)}")
        have = ~np.isnan(self.quality[:, idx]) & (self.input_tokens[:, idx] >= 0) & (self.output_tokens[:, idx] >= 0)
        complete = have.all(axis=1)
        dropped = {self.models[j]: int((~have[:, k]).sum()) for k, j in enumerate(idx) if (~have[:, k]).any()}
        if not complete.any():
            raise EvalDataError(f"no prompt has an outcome for every tier {list(tiers)}")
        keep = np.flatnonzero(complete)
        return TierData(
            models=tuple(self.models[j] for j in idx),
            ids=self.ids[keep], prompts=[self.prompts[i] for i in keep],
            quality=self.quality[np.ix_(keep, idx)], input_tokens=self.input_tokens[np.ix_(keep, idx)],
            output_tokens=self.output_tokens[np.ix_(keep, idx)],
            signals={k: v[np.ix_(keep, idx)] for k, v in self.signals.items()},
            groups={k: v[keep] for k, v in self.groups.items()},
            token_notes={self.models[j]: self.token_notes.get(self.models[j], "") for j in idx},
            dropped=dropped, dropped_prompts=int((~complete).sum()), source=self.name)

    def subset(self, rows: np.ndarray) -> "EvalSet":
        rows = np.asarray(rows)
        return EvalSet(self.name, self.ids[rows], [self.prompts[i] for i in np.arange(self.n)[rows]], self.models,
                       self.quality[rows], self.input_tokens[rows], self.output_tokens[rows],
                       {k: v[rows] for k, v in self.signals.items()}, {k: v[rows] for k, v in self.groups.items()},
                       dict(self.token_notes), self.report)


@dataclass
class TierData:
    """Aligned outcomes of the chosen tiers (column k = tier k), every prompt complete."""

    models: tuple[str, ...]
    ids: np.ndarray
    prompts: list[str]
    quality: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    signals: dict[str, np.ndarray]
    groups: dict[str, np.ndarray]
    token_notes: dict[str, str]
    dropped: dict[str, int]
    dropped_prompts: int
    source: str = ""

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def k(self) -> int:
        return len(self.models)


def split_mask(ids: np.ndarray, fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """Calibration split: True for ids whose salted SHA-1 falls below ``fraction`` (stable across
    runs, machines and row order; the rest is the test split)."""
    if not 0 < fraction < 1:
        raise EvalDataError(f"calibration fraction must be in (0, 1), got {fraction}")
    salt = f"{seed}:".encode()
    h = np.fromiter((int.from_bytes(hashlib.sha1(salt + str(i).encode()).digest()[:8], "big") for i in ids),
                    dtype=np.uint64, count=len(ids))
    return (h / np.float64(2 ** 64)) < fraction


def fold_ids(ids: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Fold number (0..folds-1) of each id, by salted SHA-1 (for cross-fitted router scores)."""
    salt = f"fold{seed}:".encode()
    return np.fromiter((int.from_bytes(hashlib.sha1(salt + str(i).encode()).digest()[:8], "big") % folds
                        for i in ids), dtype=np.int64, count=len(ids))
