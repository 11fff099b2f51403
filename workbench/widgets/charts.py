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

    from workbench.widgets.chart_bundle import cache_dir

    key = hashlib.sha1(f"{alt.__version__}|{vl_convert.__version__}".encode()).hexdigest()[:16]
    return cache_dir() / f"jupyterchart-offline-{key}.js"


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


@lru_cache(maxsize=1)
def _chart_class() -> type:
    """``JupyterChart`` that validates a widget's first spec against the Vega-Lite schema and
    skips the (jsonschema) validation on later updates of a chart without parameters: an app's
    chart keeps its structure and only its data changes, and validation was about half of the
    time a filter change spent on charts."""
    import traitlets
    from altair.jupyter.jupyter_chart import collect_transform_params

    class Chart(alt.JupyterChart):
        _validated = False

        @traitlets.observe("chart")
        def _on_change_chart(self, change):
            new = change.new
            params = getattr(new, "params", alt.Undefined) if new is not None else alt.Undefined
            if (not self._validated or new is None or (params is not alt.Undefined and params)
                    or collect_transform_params(new) or self._params or self._selection_types):
                super()._on_change_chart(change)
                self._validated = new is not None
                return
            self.spec = new.to_dict(validate=False)

        def show(self, spec: dict) -> None:
            """Show a Vega-Lite ``spec`` built without Altair's object model (one a test proves
            equal to an Altair chart's ``to_dict()``); ``chart`` keeps the first chart."""
            self.spec = spec

    from workbench.widgets.chart_bundle import BUNDLE_ENV, loader_esm

    prefix, bundle = os.environ.get(BUNDLE_ENV), _cache_file()
    if prefix and bundle.is_file():  # served once by `workbench app`: each chart carries a loader
        Chart._esm = loader_esm(prefix, bundle.name)
    return Chart


def offline_chart(chart: alt.TopLevelMixin, **kwargs) -> alt.JupyterChart:
    """A widget showing ``chart`` with no network access; ``kwargs`` go to ``JupyterChart``."""
    _enable_offline()
    return _chart_class()(chart, **kwargs)


#: The apps' categorical colours (GitHub Primer), in order of use.
PALETTE = ["#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e", "#57606a", "#0a3069"]
#: Grey for "logged"/"before", blue for "with the change"; green saving, red extra cost.
BEFORE, AFTER, SAVING, EXTRA, NEUTRAL = "#8c959f", "#0969da", "#1a7f37", "#cf222e", "#57606a"
#: JupyterChart embed options: no action menu; SVG so text is crisp and readable by tests.
EMBED = {"actions": False, "renderer": "svg"}


def chart_widget(chart: alt.TopLevelMixin, css_class: str | None = None) -> alt.JupyterChart:
    """An offline chart widget with the apps' embed options and an optional CSS class."""
    widget = offline_chart(chart, embed_options=EMBED)
    if css_class:
        widget.add_class(css_class)
    return widget


def empty_chart(width: int = 980, height: int = 240) -> alt.TopLevelMixin:
    """A blank chart of the given size (keeps the layout while there is nothing to draw)."""
    import pandas as pd

    return alt.Chart(pd.DataFrame({"x": []})).mark_text().properties(width=width, height=height)


def usd_axis(top: float) -> str:
    """A d3 format for dollar axes that keeps ticks distinct for small amounts."""
    top = abs(float(top or 0))
    return "$,.0f" if top >= 20 else "$,.2f" if top >= 0.2 else "$,.4f" if top >= 0.002 else "$,.2e"


def day_label(day):
    """Days (a Series of dates/timestamps) as 'Mon 03 Nov' labels."""
    import pandas as pd

    return pd.to_datetime(day).dt.strftime("%a %d %b")
