"""What a load returns: the canonical frame, the per-row rejection report, and the errors raised."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import pandas as pd


class LoadError(ValueError):
    """The file cannot be loaded at all (unknown or undetectable format, missing ``--model`` ...)."""


class StrictError(LoadError):
    """Strict mode: the first bad row, with its file, line and field."""

    def __init__(self, file: str, line: int, field: str, reason: str):
        self.file, self.line, self.field, self.reason = file, line, field, reason
        super().__init__(f"{file}:{line}: {field}: {reason}")


@dataclass(frozen=True)
class Rejection:
    """One rejected row: where it is and why. ``line`` is 1-based (for CSV: the record number,
    header = 1, which is the physical line unless a field holds a newline; for a JSON array: the
    element number)."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


REPORT_COLUMNS = ("file", "line", "field", "reason")


class Chunk(NamedTuple):
    """One streamed piece of a log: canonical rows and the rows rejected from the same lines."""

    frame: pd.DataFrame
    rejected: list[Rejection]


@dataclass
class LoadResult:
    """A whole log, loaded: ``frame`` has exactly the canonical columns
    (:data:`workbench.core.schema.COLUMNS`), ``ts`` in UTC, sorted by ``(ts, request_id)``."""

    frame: pd.DataFrame
    rejected: list[Rejection]
    rows_read: int
    format: str
    file: str = ""
    detected: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    @property
    def kept_count(self) -> int:
        return len(self.frame)

    def report_frame(self) -> pd.DataFrame:
        """The rejections as a DataFrame with columns ``file, line, field, reason``."""
        return pd.DataFrame(
            {
                "file": pd.array([r.file for r in self.rejected], dtype="string"),
                "line": pd.array([r.line for r in self.rejected], dtype="int64"),
                "field": pd.array([r.field for r in self.rejected], dtype="string"),
                "reason": pd.array([r.reason for r in self.rejected], dtype="string"),
            },
            columns=list(REPORT_COLUMNS),
        )

    def summary(self) -> str:
        return (
            f"read {self.rows_read:,} rows from {self.file} (format {self.format}): "
            f"{self.kept_count:,} kept, {self.rejected_count:,} rejected"
        )

    def __repr__(self) -> str:
        return f"LoadResult({self.summary()})"
