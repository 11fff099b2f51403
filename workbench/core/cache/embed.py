"""The embedding function the semantic cache uses by default: ``workbench.embeddings.embed_texts``
(offline all-MiniLM-L6-v2, int8 ONNX, L2-normalised, cached on disk). Any ``texts -> (n, d)``
function with L2-normalised rows can be passed instead."""
from __future__ import annotations

from typing import Callable

import numpy as np


def default_embed() -> Callable[[list[str]], np.ndarray]:
    try:
        from workbench.embeddings import embed_texts
    except ImportError:  # until the shared embeddings module lands on this branch
        from workbench.core.cache._minilm import embed_texts
    return embed_texts
