"""The layering rule: workbench.core never imports widget, notebook or network libraries."""
from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ["ipywidgets", "IPython", "voila", "traitlets", "altair", "openai", "ollama", "httpx",
             "requests", "urllib3", "anywidget"]


def test_core_imports_no_widget_or_network_library():
    code = (
        "import sys, pkgutil, importlib, workbench.core as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('workbench.core.' + m.name)\n"
        "import workbench.io.pricesheets\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"core pulled in: {out}"


def test_import_workbench_is_light_and_exports_resolve():
    code = (
        "import sys, workbench\n"
        "assert 'ipywidgets' not in sys.modules and 'pandas' not in sys.modules\n"
        "missing = [n for n in workbench.__all__ if getattr(workbench, n, None) is None]\n"
        "print(','.join(missing))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
