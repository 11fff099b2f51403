"""The token counter in headless Chromium, served by `workbench app` (see conftest.py)."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from workbench.core.tokens import count_messages, count_tokens

pytestmark = pytest.mark.browser

APP = ".wb-token-counter"
TEXT = "Hello from the workbench! Tokens aren't words: 'unbelievable', 1234567 and 🙂."
QUERY = urlencode({"models": "gpt-4o,gpt-4o-mini,claude-haiku-4-5"})


def tokens_of(page, row_testid: str):
    return page.locator(f'[data-testid="{row_testid}"] [data-testid="tokens"]')


def test_typing_updates_the_exact_count_and_badges(open_app, screenshot, assert_offline):
    page = open_app("token_counter", query=QUERY, wait_for=APP)
    screenshot(page, "token_counter-empty")
    box = page.locator(".wb-text textarea")
    box.click()
    box.press_sequentially(TEXT, delay=5)  # real keystrokes: exercises the debounce

    expected = count_tokens(TEXT, model="gpt-4o")
    assert expected.method == "exact"
    expect(tokens_of(page, "row-gpt-4o")).to_have_text(f"{expected.tokens:,}")
    expect(tokens_of(page, "family-o200k_base")).to_have_text(f"{expected.tokens:,}")
    expect(page.locator('[data-testid="characters"]')).to_have_text(f"{len(TEXT):,}")
    expect(page.locator('[data-testid="row-gpt-4o"] [data-testid="badge"]')).to_have_text("exact")
    claude = page.locator("tr", has_text="Claude Haiku 4.5")
    expect(claude.locator('[data-testid="badge"]')).to_have_text("estimate")
    anthropic = count_tokens(TEXT, tokenizer="estimate:anthropic").tokens
    expect(claude.locator('[data-testid="tokens"]')).to_have_text(f"{anthropic:,}")
    gemini = count_tokens(TEXT, tokenizer="estimate:google")  # exact: ./run.sh test installs the vocabulary
    assert gemini.method == "exact"
    expect(page.locator('[data-testid="family-estimate:google"] [data-testid="badge"]')).to_have_text("exact")
    expect(tokens_of(page, "family-estimate:google")).to_have_text(f"{gemini.tokens:,}")
    screenshot(page, "token_counter-text")
    assert_offline(page)


def test_sort_buttons_reorder_the_table(open_app, screenshot):
    page = open_app("token_counter", query=QUERY + "&text=" + "word " * 50, wait_for=APP)
    rows = page.locator('[data-testid="cost-table"] tbody tr')
    expect(rows).to_have_count(3)
    first = rows.first.get_attribute("data-testid")
    assert first == "row-gpt-4o-mini"  # cheapest first
    page.locator(".wb-desc").click()
    expect(rows.first).to_have_attribute("data-testid", "row-gpt-4o")
    page.locator(".wb-sort").get_by_role("button", name="Model").click()
    expect(page.locator('[data-testid="cost-table"] th.wb-sorted')).to_contain_text("Model")
    screenshot(page, "token_counter-sorted")


def test_chat_mode_counts_framing(open_app, screenshot, assert_offline):
    page = open_app("token_counter", query=QUERY, wait_for=APP)
    page.locator(".wb-mode").get_by_role("button", name="Chat messages").click()
    boxes = page.locator(".wb-message textarea")
    expect(boxes).to_have_count(2)
    boxes.nth(0).fill("You are a terse assistant.")
    boxes.nth(1).fill("How many tokens is this?")
    messages = [{"role": "system", "content": "You are a terse assistant."},
                {"role": "user", "content": "How many tokens is this?"}]
    expected = count_messages(messages, model="gpt-4o").tokens
    expect(tokens_of(page, "row-gpt-4o")).to_have_text(f"{expected:,}")
    page.locator(".wb-add-message").click()
    expect(boxes).to_have_count(3)
    screenshot(page, "token_counter-chat")
    assert_offline(page)


def test_binary_upload_is_an_inline_message(open_app, upload, screenshot, assert_offline):
    page = open_app("token_counter", query=QUERY + "&text=keep%20me", wait_for=APP)
    before = tokens_of(page, "row-gpt-4o").inner_text()
    upload(page, ".wb-upload",
           [{"name": "logo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n\x00\xff\xd8"}])
    err = page.locator('[data-testid="error-input"]')
    expect(err).to_contain_text("logo.png is not UTF-8 text")
    assert "Traceback" not in page.content()
    assert tokens_of(page, "row-gpt-4o").inner_text() == before
    screenshot(page, "token_counter-bad-upload")
    assert_offline(page)


def test_unknown_model_in_the_link_is_an_inline_message(open_app):
    page = open_app("token_counter", query="models=gpt-4o,gpt-4oo", wait_for=APP)
    expect(page.locator('[data-testid="error-models"]')).to_contain_text("unknown model 'gpt-4oo'")
    expect(page.locator('[data-testid="cost-table"] tbody tr')).to_have_count(1)
