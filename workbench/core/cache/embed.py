"""The embedding function the semantic cache uses when none is given:
``workbench.embeddings.embed_texts`` (offline all-MiniLM-L6-v2, int8 ONNX, unit rows, cached on disk
by content hash). Imported only when called, so ``workbench.core`` stays free of it; any
``texts -> (n, d)`` function with L2-normalised rows can be passed instead."""
from __future__ import annotations

from typing import Callable

import numpy as np


def default_embed() -> Callable[[list[str]], np.ndarray]:
    from workbench.embeddings import embed_texts
    return embed_texts
