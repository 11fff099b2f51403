"""The token counter without a browser: drive the view's controls, check the state against core."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from html import escape
from pathlib import Path

import nbformat
import pytest

from workbench.core.cost import request_cost
from workbench.core.tokens import ESTIMATORS, TOKENIZERS, count_messages, count_tokens
from workbench.widgets import _html
from workbench.widgets.debounce import Debouncer
from workbench.widgets.token_counter import TokenCounterState, make_token_counter

DAY = dt.date(2025, 1, 1)
TEXT = "The quick brown fox jumps over the lazy dog. Ünïcödé, emoji 🙂 and code: `x = f(1)`."
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-haiku"]
APPS = Path(__file__).resolve().parents[2] / "notebooks" / "apps"


@pytest.fixture
def app(frozen_book):
    return make_token_counter(frozen_book, models=MODELS, query="", debounce_ms=0, day=DAY)


def row_of(state: TokenCounterState, model: str) -> dict:
    return next(r for r in state.rows if r["model"] == model)


def order_in_html(html: str, models) -> list[str]:
    return sorted(models, key=lambda m: html.index(f"data-testid='row-{m}'"))


def test_typing_recomputes_tokens_and_costs_from_core(app, frozen_book):
    app.text_area.value = TEXT
    s = app.state
    assert s.characters == len(TEXT)
    assert [r["model"] for r in s.rows] and {r["model"] for r in s.rows} == set(MODELS)
    for model in MODELS:
        info = frozen_book.model(model)
        expected = count_tokens(TEXT, tokenizer=info.tokenizer)
        price = frozen_book.price_on(model, DAY)
        r = row_of(s, model)
        assert (r["tokens"], r["method"], r["note"]) == (expected.tokens, expected.method, expected.note)
        assert r["input_usd"] == request_cost(price, expected.tokens, 0).total_usd
        assert r["output_usd"] == request_cost(price, 0, expected.tokens).total_usd
        assert r["context"] == expected.tokens / info.context_window
        # and the table shows those numbers
        assert _html.usd(r["input_usd"]) in app.table_html.value
        assert _html.usd(r["output_usd"]) in app.table_html.value
    assert [f["tokenizer"] for f in s.families] == list(TOKENIZERS)
    for f in s.families:
        assert f["tokens"] == count_tokens(TEXT, tokenizer=f["tokenizer"]).tokens
        assert f"data-testid='family-{f['tokenizer']}'" in app.families_html.value
    assert f">{len(TEXT):,}<" in app.stats.value


def test_chat_mode_counts_messages_with_openai_framing(app, frozen_book):
    app.mode_toggle.value = "chat"
    assert app.state.mode == "chat" and app.input_panel.children == (app.chat_panel,)
    rows = app.messages_box.children
    assert [r.children[0].value for r in rows] == ["system", "user"]
    rows[0].children[1].value = "You are terse."
    rows[1].children[1].value = "What is 2 + 2?"
    app.add_button.click()  # third message: an assistant reply
    app.messages_box.children[2].children[1].value = "4"
    msgs = app.state.messages
    assert msgs == [{"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "What is 2 + 2?"},
                    {"role": "assistant", "content": "4"}]
    expected = count_messages(msgs, tokenizer="o200k_base")
    assert row_of(app.state, "gpt-4o")["tokens"] == expected.tokens
    body = sum(count_tokens(t, encoding="o200k_base").tokens
               for m in msgs for t in (m["role"], m["content"]))
    assert expected.tokens == body + 3 * 3 + 3  # 3 per message + 3 reply priming
    haiku = row_of(app.state, "claude-3-haiku")
    assert haiku["tokens"] == count_messages(msgs, tokenizer="estimate:anthropic").tokens
    assert app.state.characters == len("You are terse.") + len("What is 2 + 2?") + 1
    # remove a message from the view
    app.messages_box.children[2].children[2].click()
    assert len(app.state.messages) == 2 and len(app.messages_box.children) == 2


def test_model_without_exact_tokenizer_shows_estimate_badge_and_note(app, gemini_vocab):
    app.text_area.value = TEXT
    haiku, gpt = row_of(app.state, "claude-3-haiku"), row_of(app.state, "gpt-4o")
    assert haiku["method"] == "estimate" and haiku["note"] == ESTIMATORS["estimate:anthropic"].note
    assert gpt["method"] == "exact"
    html = app.table_html.value
    haiku_html = html[html.index("row-claude-3-haiku"):]
    haiku_html = haiku_html[:haiku_html.index("</tr>")]
    assert "wb-badge wb-estimate" in haiku_html and ">estimate</span>" in haiku_html
    gpt_html = html[html.index("row-gpt-4o'"):]
    assert "wb-badge wb-exact" in gpt_html[:gpt_html.index("</tr>")]
    fam = app.families_html.value  # Gemini counts exactly with its installed vocabulary (set-up fetches it)
    from workbench.core.tokens import GEMINI_EXACT_NOTE
    assert escape(_html.short_note(GEMINI_EXACT_NOTE)) in fam


def test_sort_control_changes_the_order(app):
    app.text_area.value = TEXT
    s = app.state
    assert s.sort_by == "input_usd" and not s.descending  # cheapest first by default
    by_input = ["gpt-4o-mini", "claude-3-haiku", "gpt-4o"]  # $0.15, $0.25, $2.50 per 1M
    assert [r["model"] for r in s.rows] == by_input
    assert order_in_html(app.table_html.value, MODELS) == by_input
    app.descending.value = True
    assert [r["model"] for r in s.rows] == by_input[::-1]
    assert order_in_html(app.table_html.value, MODELS) == by_input[::-1]
    app.sort_by.value = "model"
    app.descending.value = False
    assert [r["model"] for r in s.rows] == sorted(MODELS)
    app.sort_by.value = "tokens"
    tokens = [r["tokens"] for r in s.rows]
    assert tokens == sorted(tokens) and s.rows[-1]["model"] == "claude-3-haiku"  # x1.2 estimate
    app.sort_by.value = "context"
    ctx = [r["context"] for r in s.rows]
    assert ctx == sorted(ctx)
    assert "wb-sorted'>Context used ↑" in app.table_html.value


def upload(app, name: str, content: bytes) -> None:
    app.upload.value = ({"name": name, "type": "", "size": len(content),
                         "last_modified": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
                         "content": memoryview(content)},)


def test_bad_upload_shows_inline_message_and_keeps_last_result(app):
    app.text_area.value = TEXT
    before = (app.state.rows, app.state.families, app.state.text)
    upload(app, "photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8")
    err = app.state.errors["upload"]
    assert "photo.png is not UTF-8 text" in err and "Nothing changed" in err
    assert (app.state.rows, app.state.families, app.state.text) == before
    assert "data-testid='error-input'" in app.input_error.value and "photo.png" in app.input_error.value
    assert "Traceback" not in app.input_error.value
    assert app.upload.value == ()  # ready for another try
    # a good file replaces the text and clears the message
    upload(app, "notes.txt", "Bonjour le monde".encode())
    assert app.state.text == "Bonjour le monde" and app.text_area.value == "Bonjour le monde"
    assert "upload" not in app.state.errors and app.input_error.value == ""


def test_uploading_a_json_chat_switches_to_chat_mode(app):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    upload(app, "chat.json", json.dumps({"messages": msgs}).encode())
    assert app.state.mode == "chat" and app.state.messages == msgs
    assert row_of(app.state, "gpt-4o")["tokens"] == count_messages(msgs, model="gpt-4o").tokens
    assert [r.children[1].value for r in app.messages_box.children] == ["Be brief.", "Hi"]


def test_failing_computation_is_an_inline_message_and_keeps_the_result(app):
    app.mode_toggle.value = "chat"
    app.messages_box.children[1].children[1].value = "Hello"
    app.messages_box.children[0].children[2].click()  # remove the system message
    good = app.state.rows
    app.messages_box.children[0].children[2].click()  # and the last one
    assert "messages is empty" in app.state.errors["input"]
    assert app.state.rows == good
    assert "messages is empty" in app.input_error.value
    app.add_button.click()
    assert "input" not in app.state.errors


def test_unknown_model_in_query_is_an_inline_message(frozen_book):
    app = make_token_counter(frozen_book, query="models=gpt-4o,gpt-4oo&text=hello", debounce_ms=0, day=DAY)
    s = app.state
    assert s.models == ["gpt-4o"] and [r["model"] for r in s.rows] == ["gpt-4o"]
    assert "unknown model 'gpt-4oo'" in s.errors["models"] and "gpt-4o" in s.errors["models"]
    assert "gpt-4oo" in app.models_error.value
    assert list(app.model_picker.value) == ["gpt-4o"]
    app.model_picker.value = ["gpt-4o", "gpt-4o-mini"]  # the user fixes the choice
    assert "models" not in s.errors and len(s.rows) == 2


def test_query_preselects_models_text_mode_and_sort(frozen_book):
    msgs = json.dumps([{"role": "user", "content": "hi"}])
    app = make_token_counter(
        frozen_book, debounce_ms=0, day=DAY,
        query=f"models=gpt-4o-2024-08-06,claude-3-haiku&text=Hello%20world&sort=tokens&desc=1&messages={msgs}")
    s = app.state
    assert s.models == ["gpt-4o", "claude-3-haiku"]  # alias resolved
    assert (s.text, s.mode, s.sort_by, s.descending) == ("Hello world", "chat", "tokens", True)
    assert s.messages == [{"role": "user", "content": "hi"}] and not s.errors
    assert app.text_area.value == "Hello world" and app.mode_toggle.value == "chat"


def test_bad_query_values_are_reported_not_raised(frozen_book):
    app = make_token_counter(frozen_book, query="sort=price&mode=poem&colour=red", debounce_ms=0, day=DAY)
    err = app.state.errors["query"]
    assert "sort='price'" in err and "mode='poem'" in err and "colour" in err
    assert app.state.sort_by == "input_usd" and app.state.mode == "text"
    assert "data-testid='error-query'" in app.query_error.value


def test_model_without_a_price_that_day_is_listed_last(frozen_book):
    app = make_token_counter(frozen_book, models=["tiered-sonnet", "gpt-4o"], query="",
                             debounce_ms=0, day=dt.date(2026, 1, 1))
    rows = app.state.rows
    assert [r["model"] for r in rows] == ["gpt-4o", "tiered-sonnet"]
    assert rows[1]["input_usd"] is None and "no price on 2026-01-01" in rows[1]["price_error"]


def test_missing_price_sheets_still_count_tokens(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_PRICING_DIR", str(tmp_path))
    app = make_token_counter(query="text=hello", debounce_ms=0)
    assert "could not load the price sheets" in app.state.errors["models"]
    assert app.state.families[0]["tokens"] == count_tokens("hello").tokens
    assert app.state.rows == []


def test_query_string_is_read_from_voila_environment(frozen_book, monkeypatch):
    monkeypatch.setenv("QUERY_STRING", "models=gpt-4o-mini&text=abc")
    app = make_token_counter(frozen_book, debounce_ms=0, day=DAY)
    assert app.state.models == ["gpt-4o-mini"] and app.state.text == "abc"


def test_debouncer_applies_first_change_at_once_and_the_last_one_later(run_async):
    seen: list[str] = []

    async def scenario():
        d = Debouncer(seen.append, wait_ms=50)
        d("a")              # leading edge: at once
        d("ab")
        d("abc")            # coalesced
        assert seen == ["a"]
        await asyncio.sleep(0.12)
        assert seen == ["a", "abc"]  # trailing edge: the latest value
        d("abcd")           # a change after a quiet period: at once again
        assert seen[-1] == "abcd"
        d("abcde")
        d.cancel()          # the input was replaced elsewhere: the pending value is dropped
        await asyncio.sleep(0.12)
        assert seen[-1] == "abcd"

    run_async(scenario, timeout_s=10)  # its own loop, even beside the browser tests' running one
    direct: list[int] = []
    Debouncer(direct.append, wait_ms=250)(1)  # no running loop: synchronous
    assert direct == [1]


@pytest.mark.parametrize("name", ["token_counter", "index"])
def test_app_notebook_is_thin(name):
    nb = nbformat.read(APPS / f"{name}.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert 1 <= len(code) <= 3
    for src in code:
        assert "def " not in src and "global " not in src and "lambda" not in src
    assert nb.metadata["workbench"]["title"] and nb.metadata["workbench"]["description"]


def test_app_index_lists_the_apps():
    from workbench.widgets.app_index import discover_apps, make_app_index

    apps = {a.name: a for a in discover_apps()}
    assert "token_counter" in apps and "index" not in apps
    assert apps["token_counter"].title == "Token counter"
    html = make_app_index().value
    assert "href='token_counter.ipynb'" in html and escape(apps["token_counter"].description) in html


def test_the_address_bar_follows_every_change():
    """Issue 13 item 11: the token counter writes its settings back into the URL."""
    import datetime as dt

    from workbench.widgets.token_counter import make_token_counter

    app = make_token_counter(models="gpt-4o,gpt-4o-mini", text="Hello", query="", day=dt.date(2025, 6, 1))
    q = app.address_bar.query
    assert "models=gpt-4o%2Cgpt-4o-mini" in q and "text=Hello" in q and "day=2025-06-01" in q
    app.state.sort_by = "output_usd"
    app.state.descending = True
    assert "sort=output_usd" in app.address_bar.query and "desc=1" in app.address_bar.query
    again = make_token_counter(query=app.address_bar.query)
    s, t = app.state, again.state
    assert (t.models, t.text, t.sort_by, t.descending, t.day) == (s.models, s.text, s.sort_by, s.descending, s.day)


def test_an_empty_box_opens_without_loading_a_vocabulary(monkeypatch, real_book):
    """First render (issue 13): the counter opens on an empty box, which has no tokens in any
    vocabulary; the ~2 s of loading them is left to a background thread after the page shows."""
    import workbench.core.tokens as tokens
    from workbench.widgets.token_counter import make_token_counter

    def refuse(name):
        raise AssertionError(f"loaded {name} to count an empty text")

    monkeypatch.setattr(tokens, "get_encoding", refuse)
    monkeypatch.setattr("workbench.widgets.token_counter.threading.Thread",
                        lambda **kw: type("T", (), {"start": lambda self: None})())
    app = make_token_counter(real_book, query="", day=dt.date(2025, 6, 1))
    assert app.state.families and all(f["tokens"] == 0 for f in app.state.families)
    assert not app.state.errors
