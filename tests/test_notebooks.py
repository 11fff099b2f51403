"""Every notebook under notebooks/ executes without error; the teaching exercises check out."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
NOTEBOOKS = [p for p in NOTEBOOKS if ".ipynb_checkpoints" not in p.parts]


@functools.cache
def execute(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` run top to bottom in a fresh kernel, once per test session: the
    teaching notebook's tests all read the same run (they only read it; nothing writes to it)."""
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("QUERY_STRING")
    os.environ.pop("QUERY_STRING", None)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_before is not None:
            os.environ["QUERY_STRING"] = env_before
    return nb


def test_there_are_notebooks():
    names = {p.relative_to(ROOT / "notebooks").as_posix() for p in NOTEBOOKS}
    assert "teaching/estimates.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_notebook_executes(path):
    nb = execute(path)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""


def test_app_notebooks_are_thin():
    for path in (ROOT / "notebooks" / "apps").glob("*.ipynb"):
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        src = "\n".join(c.source for c in code)
        assert len(code) <= 3, path.name
        assert "def " not in src and "global " not in src, path.name


def test_teaching_exercises_all_check_out():
    from workbench.core.exercises import EXERCISES

    nb = execute(ROOT / "notebooks" / "teaching" / "estimates.ipynb")
    checks = [c for c in nb.cells if c.cell_type == "code" and "check_answer(" in c.source]
    assert {c.source.split("check_answer('")[1].split("'")[0] for c in checks} == set(EXERCISES)
    for cell in checks:
        text = "".join(o.get("data", {}).get("text/markdown", "") for o in cell.outputs)
        assert text.startswith("✔"), (cell.source, text)


def test_teaching_worked_examples_show_the_wrong_claims():
    nb = execute(ROOT / "notebooks" / "teaching" / "estimates.ipynb")
    shown = "".join(o.get("data", {}).get("text/markdown", "")
                    for c in nb.cells if c.cell_type == "code" and c.source.startswith("example('support_bot')")
                    for o in c.outputs)
    assert "✘ wrong" in shown and "27" in shown


def test_teaching_notebook_reads_well_in_jupyterlab_and_voila():
    """Issue 13 item 10: no "$" pair typeset as mathematics (cells and outputs), no raw datetime
    reprs, and every solution folded behind a "your turn" prompt."""
    import re

    nb = execute(ROOT / "notebooks" / "teaching" / "estimates.ipynb")
    bare = re.compile(r"(?<!\\)\$")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert not bare.search(cell.source), cell.source[:120]
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            assert not bare.search(data.get("text/markdown", "")), data.get("text/markdown", "")[:160]
            assert "datetime.date(" not in data.get("text/plain", ""), cell.source
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "check_answer(" in cell.source:
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, cell.source
            assert nb.cells[i - 1].cell_type == "markdown" and "Your turn" in nb.cells[i - 1].source
            html = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
            assert html.startswith("<details") and "click to see the figure" in html
