"""Altair charts that render offline in Jupyter and Voila.

Altair's default renderer loads vega from a CDN (fails offline) and its mimetype bundle is
rejected by Voila 0.5.13, so every chart in the workbench is an ``alt.JupyterChart`` widget in
offline mode: the vega bundle travels inline with the widget's JavaScript (anywidget). Update a
chart by assigning ``widget.chart = new_chart``; the view re-renders without a page reload.
"""
from __future__ import annotations

from functools import lru_cache

import altair as alt


@lru_cache(maxsize=1)
def _enable_offline() -> None:
    alt.JupyterChart.enable_offline()


def offline_chart(chart: alt.TopLevelMixin, **kwargs) -> alt.JupyterChart:
    """A widget showing ``chart`` with no network access; ``kwargs`` go to ``JupyterChart``."""
    _enable_offline()
    return alt.JupyterChart(chart, **kwargs)
