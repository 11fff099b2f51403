"""Where the offline chart bundle is kept, and how ``workbench app`` shares it with its pages.

Every chart widget (Altair's ``JupyterChart``, offline) carries the Vega bundle as its module
source: about 0.9 MB sent through the kernel and evaluated again for each chart of a page (five
in the spend explorer). ``workbench app`` serves the cached bundle at one URL and tells its
kernels where (:data:`BUNDLE_ENV`); their charts then carry a two-line module importing it, and
the browser fetches and evaluates it once per page. Elsewhere (JupyterLab) charts carry the bundle.
No Altair import here: the server uses this module too.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

#: Set by ``workbench app`` for its kernels: the URL path under which its server serves bundles.
BUNDLE_ENV = "WORKBENCH_CHART_BUNDLE_URL"
#: A bundle's file name (its key is a hash of the altair and vl-convert versions).
BUNDLE_NAME = re.compile(r"jupyterchart-offline-[0-9a-f]{16}\.js")


def cache_dir() -> Path:
    """The user cache folder holding built bundles."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llm-cost-workbench" / "altair"


def loader_esm(prefix: str, name: str) -> str:
    """Module source that re-exports the bundle served at ``prefix + name`` (resolved against the
    page, so a server under a path prefix works)."""
    import json

    return (f"const m = await import(new URL({json.dumps(prefix + name)}, location.href).href);\n"
            "export default m.default;\n")
