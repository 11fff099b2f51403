"""What an app kernel pays before its first render (issue 13: first render <= 5 s)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_charts_does_not_compile_the_iri_grammar_and_the_checker_still_works():
    """jsonschema, imported by Altair, imports ``rfc3987_syntax``, which compiles a Lark grammar
    (about 2 s of every kernel here); the widgets defer it to the first IRI check."""
    code = (
        "import sys, workbench.widgets.charts, jsonschema\n"
        "assert 'altair' in sys.modules and 'lark' not in sys.modules, 'grammar compiled at import'\n"
        "fc = jsonschema.FormatChecker()\n"
        "assert fc.conforms('https://example.com/ä', 'iri') and not fc.conforms('not an iri ::', 'iri')\n"
        "assert 'lark' in sys.modules\n"
        "import rfc3987_syntax\n"
        "assert rfc3987_syntax.is_valid_syntax('iri', 'https://example.com/')\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_charts_under_workbench_app_import_the_bundle_once_per_page():
    """Under ``workbench app`` (which sets the variable and serves the bundle) a chart widget
    carries a two-line loader instead of its own 0.9 MB copy of Vega; elsewhere, the bundle."""
    code = (
        "import os, sys\n"
        "from workbench.widgets.charts import offline_chart, empty_chart\n"
        "from workbench.widgets.chart_bundle import BUNDLE_NAME\n"
        "c = offline_chart(empty_chart())\n"
        "print(len(c._esm), 'import(new URL(\"/x/jupyterchart-offline-' in c._esm, "
        "bool(BUNDLE_NAME.search(c._esm)))\n")
    runs = []
    for env in ({}, {"WORKBENCH_CHART_BUNDLE_URL": "/x/"}):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", **env,
                                  **({"HOME": str(Path.home())})})
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(out.stdout.split())
    (inline, inline_loader, _), (small, loader, named) = runs
    assert int(inline) > 100_000 and inline_loader == "False"
    assert int(small) < 300 and loader == "True" and named == "True"


def test_outside_a_kernel_the_deferred_replay_runs_at_once_even_with_an_event_loop_running():
    """Playwright's sync API (the browser tests' session driver) leaves an asyncio loop visible as
    running; without a kernel nothing would ever run a callback put on it, so the spend explorer
    opened with no replay when the browser tests ran first in the suite."""
    from playwright.sync_api import sync_playwright

    from workbench.widgets._state import after_this_cell
    from workbench.widgets.spend_explorer import make_spend_explorer

    import asyncio
    try:  # the browser tests' session driver, when they ran first, already keeps such a loop
        asyncio.get_running_loop()
        driver = None
    except RuntimeError:
        driver = sync_playwright().start()
    asyncio.get_running_loop()  # the condition under test: a loop is visible as running, no kernel
    try:
        ran: list[int] = []
        after_this_cell(lambda: ran.append(1))
        assert ran == [1]
        app = make_spend_explorer(query="")
        assert app.state.replay["savings_usd"] > 0
    finally:
        if driver is not None:
            driver.stop()
