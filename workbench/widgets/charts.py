"""Altair charts that render offline in Jupyter and Voila.

Altair's default renderer loads vega from a CDN (fails offline) and its mimetype bundle is
rejected by Voila 0.5.13, so every chart in the workbench is an ``alt.JupyterChart`` widget in
offline mode: the vega bundle travels inline with the widget's JavaScript (anywidget). Update a
chart by assigning ``widget.chart = new_chart``; the view re-renders without a page reload.

``JupyterChart.enable_offline()`` builds that bundle with vl-convert on every kernel start
(about 1–3 s on 2 cores). The bundle depends only on the altair and vl-convert versions, so it is
built once and kept in the user cache (``$XDG_CACHE_HOME/llm-cost-workbench/altair``).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import altair as alt


def _cache_file() -> Path:
    import vl_convert

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-cost-workbench" / "altair"
    key = hashlib.sha1(f"{alt.__version__}|{vl_convert.__version__}".encode()).hexdigest()[:16]
    return base / f"jupyterchart-offline-{key}.js"


@lru_cache(maxsize=1)
def _enable_offline() -> None:
    cls = alt.JupyterChart
    if getattr(cls, "_is_offline", False):
        return
    path = _cache_file()
    try:
        cls._esm = path.read_text(encoding="utf-8")
        cls._is_offline = True
        return
    except OSError:
        pass
    cls.enable_offline()
    try:  # best effort: a read-only home only costs the rebuild next time
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False) as f:
            f.write(cls._esm)
        os.replace(f.name, path)
    except OSError:
        pass


def offline_chart(chart: alt.TopLevelMixin, **kwargs) -> alt.JupyterChart:
    """A widget showing ``chart`` with no network access; ``kwargs`` go to ``JupyterChart``."""
    _enable_offline()
    return alt.JupyterChart(chart, **kwargs)
