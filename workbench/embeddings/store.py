"""On-disk embedding cache: one SQLite file per vector space, keyed by a content hash.

The key is SHA-256 of (model id, text), so the same prompt embedded by another model never
collides, and a text is stored once however many requests carry it. SQLite (standard library)
gives atomic writes and safe concurrent readers; vectors are stored as raw float32 bytes.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Sequence

import numpy as np

#: Environment variable that moves the cache (``""`` keeps nothing on disk: an in-memory store).
ENV_DIR = "WORKBENCH_EMBEDDINGS_CACHE"
_CHUNK = 900  # bound parameters per query (SQLite's default limit is 999 on old builds)


def default_store_dir() -> Path:
    """``$WORKBENCH_EMBEDDINGS_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, ``/llm-cost-workbench/embeddings``."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "llm-cost-workbench" / "embeddings"


def text_key(model_id: str, text: str) -> bytes:
    return hashlib.sha256(model_id.encode() + b"\0" + text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingStore:
    """Vectors of one model by content hash. ``get_many`` returns ``None`` for a text not stored."""

    def __init__(self, model_id: str, dim: int, directory: str | Path | None = None):
        self.model_id, self.dim = model_id, dim
        if directory is None and os.environ.get(ENV_DIR) == "":
            path = ":memory:"
        else:
            d = Path(directory) if directory is not None else default_store_dir()
            d.mkdir(parents=True, exist_ok=True)
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)
            path = str(d / f"{safe}.sqlite")
        self.path = path
        self._db = sqlite3.connect(path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL") if path != ":memory:" else None
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID")

    def get_many(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        keys = [text_key(self.model_id, t) for t in texts]
        found: dict[bytes, bytes] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            q = f"SELECT key, v FROM vec WHERE key IN ({','.join('?' * len(chunk))})"
            found.update(self._db.execute(q, chunk).fetchall())
        out: list[np.ndarray | None] = []
        for k in keys:
            raw = found.get(k)
            vec = np.frombuffer(raw, dtype=np.float32) if raw is not None else None
            out.append(vec if vec is not None and vec.shape == (self.dim,) else None)
        return out

    def put_many(self, texts: Sequence[str], vecs: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        rows = [(text_key(self.model_id, t), vecs[i].tobytes()) for i, t in enumerate(texts)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vec (key, v) VALUES (?, ?)", rows)

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM vec").fetchone()[0]

    def close(self) -> None:
        self._db.close()
