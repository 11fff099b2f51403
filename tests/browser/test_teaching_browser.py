"""The teaching notebook as a learner reads it in Voila (issue 13 item 10): dollar amounts stay
dollar amounts (no "$ … $" pair typeset as mathematics), and each exercise's answer stays folded
until the learner opens it."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from voila_harness import NetworkRecorder, VoilaServer, running, wait_rendered

NOTEBOOK = "notebooks/teaching/estimates.ipynb"


@pytest.fixture(scope="module")
def teaching_server():
    yield from running(VoilaServer(NOTEBOOK), timeout=120)


@pytest.mark.browser
def test_teaching_notebook_reads_well_and_keeps_answers_folded(teaching_server, browser_context, screenshot):
    from workbench.core.exercises import EXERCISES

    page = browser_context.new_page()
    net = NetworkRecorder(page)
    page.goto(teaching_server.app_url("estimates"), wait_until="domcontentloaded")
    wait_rendered(page, "details.wb-answer", 120_000)
    answers = page.locator("details.wb-answer")
    expect(answers).to_have_count(len(EXERCISES))
    page.wait_for_timeout(1_000)  # a math typesetter, if any, runs after the cells are shown
    screenshot(page, "teaching-voila")

    # no "$" pair became mathematics: no typeset nodes, and the amounts read as written
    typeset = page.locator("mjx-container, .MathJax, .MathJax_Display, .katex, math")
    expect(typeset).to_have_count(0)
    text = page.locator("body").inner_text()
    for amount in ("roughly $18/day",                          # a Markdown cell
                   "$0.02275/request and $13,650/month",       # a worked example's output
                   "GPT-4o $/month"):                          # a results table's row, still a table
        assert amount in text, amount
    assert "\\$" not in text and not re.search(r"\d\$\d", text)
    expect(page.locator("table td").filter(has_text="GPT-4o $/month ('≈ $13,680')")).to_have_count(1)

    # answers folded: the figure is hidden until the learner opens the check, the code never shown
    assert all(not d for d in answers.evaluate_all("els => els.map(e => e.open)"))
    first = answers.first
    expect(first.locator("p")).to_be_hidden()
    assert "answer = " not in text and "request_cost(mini" not in text  # the solutions' code is not shown
    first.locator("summary").click()
    expect(first.locator("p")).to_be_visible()
    expect(first.locator("p")).to_contain_text("is right")
    net.assert_offline()
