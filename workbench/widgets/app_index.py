"""The apps' index page: one card per Voila app in ``notebooks/apps``, with a one-line description.

An app is any ``notebooks/apps/*.ipynb`` other than ``index.ipynb``. Its title and description
come from the notebook's metadata::

    "metadata": {"workbench": {"title": "Token counter", "description": "...", "order": 10}}

falling back to the first markdown cell's heading and first paragraph, then to the file name.
:func:`discover_apps` uses only the standard library, so the CLI can list apps without widgets.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

#: The folder Voila serves.
APPS_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "apps"
INDEX = "index"


@dataclass(frozen=True)
class AppInfo:
    name: str  # file stem, as given to `workbench app NAME`
    title: str
    description: str
    path: Path
    order: int = 1000

    @property
    def filename(self) -> str:
        return self.path.name


def _markdown_intro(nb: dict) -> tuple[str, str]:
    """(first heading, first paragraph) of the notebook's first markdown cell, plain text."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        lines = ("".join(src) if isinstance(src, list) else src).strip().splitlines()
        heading = next((ln.lstrip("#").strip() for ln in lines if ln.startswith("#")), "")
        para: list[str] = []
        for ln in lines:
            if ln.startswith("#") or not ln.strip():
                if para:
                    break
                continue
            para.append(ln.strip())
        text = re.sub(r"[*_`]+", "", " ".join(para))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [label](url) -> label
        if len(text) > 240:
            text = text[:240].rsplit(" ", 1)[0] + "…"
        return heading, text
    return "", ""


def _read(path: Path) -> AppInfo:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        nb = {}
    meta = (nb.get("metadata") or {}).get("workbench") or {}
    heading, intro = _markdown_intro(nb)
    title = meta.get("title") or heading or path.stem.replace("_", " ").capitalize()
    description = meta.get("description") or intro
    return AppInfo(path.stem, title, description, path, int(meta.get("order", 1000)))


def discover_apps(apps_dir: Path | str | None = None) -> list[AppInfo]:
    """The apps in ``apps_dir`` (default ``notebooks/apps``), in their declared order."""
    folder = Path(apps_dir) if apps_dir is not None else APPS_DIR
    apps = [_read(p) for p in folder.glob("*.ipynb") if p.stem != INDEX]
    return sorted(apps, key=lambda a: (a.order, a.title.lower()))


def app_index_html(apps: list[AppInfo]) -> str:
    from workbench.widgets import _html

    if not apps:
        cards = "<div class='wb-empty'>No apps found in notebooks/apps.</div>"
    else:
        cards = "".join(
            f"<div class='wb-card' data-testid='app-{escape(a.name)}'>"
            f"<a href='{escape(a.filename, quote=True)}'>{escape(a.title)}</a>"
            f"<p>{escape(a.description)}</p></div>"
            for a in apps
        )
    return _html.STYLE + _html.header(
        "LLM cost workbench",
        "Interactive apps over the reviewed price sheets and the bundled sample data. "
        "Everything runs locally; nothing is sent anywhere.",
    ) + cards + (
        "<p class='wb-sub'>Each app takes its settings from the URL, so a link shares a scenario. "
        "Serve one app alone with <code>workbench app NAME</code>; "
        "<a href='../tree'>all notebooks</a>.</p>"
    )


def make_app_index(apps_dir: Path | str | None = None):
    """The index page widget: a card with a link and a description for each app."""
    import ipywidgets as w

    view = w.HTML(app_index_html(discover_apps(apps_dir)),
                  layout=w.Layout(max_width="900px", padding="0 16px 24px 16px"))
    view.add_class("wb-app")
    view.add_class("wb-index")
    return view
