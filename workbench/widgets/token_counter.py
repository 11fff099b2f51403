"""Token counter app: how many tokens a text (or a chat) is, per tokenizer family, and what it costs.

``TokenCounterState`` holds the input (text or chat messages), the chosen models and the sort
order; its observers call :mod:`workbench.core` and set the result traits (``families``,
``rows``, ``characters``). Any exception becomes a one-line message in ``errors`` (keyed by the
field it belongs to) and the last good result stays. :func:`make_token_counter` builds the view;
the view only displays the state and forwards control changes to it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import threading
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qs

import ipywidgets as w
from traitlets import Bool, Dict, Enum, Instance, Int, List, Unicode, observe, validate

from workbench.widgets.address import follow
from workbench.widgets._state import FieldErrors, after_this_cell, guarded as _guarded, one_line as _one_line
from workbench.core.cost import request_cost
from workbench.core.prices import PriceBook, PriceError, UnknownModelError
from workbench.core.tokens import TOKENIZERS, count_messages, count_tokens
from workbench.widgets import _html
from workbench.widgets.debounce import Debouncer

ROLES = ("system", "user", "assistant")

#: Tokenizer family -> what it counts for.
FAMILY_LABELS: Mapping[str, str] = {
    "o200k_base": "OpenAI o200k_base (GPT-4o, GPT-4.1, GPT-5, o-series)",
    "cl100k_base": "OpenAI cl100k_base (GPT-4, GPT-3.5 Turbo)",
    "estimate:anthropic": "Anthropic (Claude)",
    "estimate:anthropic-4.7": "Anthropic (Claude Opus 4.7+, Claude 5)",
    "estimate:google": "Google (Gemini)",
    "estimate:mistral": "Mistral",
    "estimate:generic": "Other and open models",
}

#: Sort keys of the cost table -> column title.
SORT_KEYS: Mapping[str, str] = {
    "model": "Model",
    "tokens": "Tokens",
    "input_usd": "Cost as input",
    "output_usd": "Cost as output",
    "context": "Context used",
}

#: Models shown when none are chosen, where the price sheets have them.
DEFAULT_MODELS = (
    "gpt-4o-mini", "gpt-4o", "gpt-5", "claude-haiku-4-5", "claude-sonnet-4-6",
    "gemini-2.5-flash", "gemini-2.5-pro", "mistral-small-latest", "mistral-large-latest",
    "llama-3.1-70b-instruct",
)

MAX_UPLOAD_BYTES = 5_000_000
DEFAULT_MESSAGES = ({"role": "system", "content": ""}, {"role": "user", "content": ""})






class TokenCounterState(FieldErrors):
    """Inputs, choices and results of the token counter. No widgets in here."""

    mode = Enum(("text", "chat"), default_value="text", help="count a plain text or chat messages")
    text = Unicode("", help="the text counted in text mode")
    messages = List(Dict(), help="chat messages [{'role', 'content'}] counted in chat mode")
    models = List(Unicode(), help="canonical ids of the models in the cost table")
    sort_by = Enum(tuple(SORT_KEYS), default_value="input_usd")
    descending = Bool(False)
    day = Instance(dt.date, help="prices in force on this day")

    # results (read them, don't set them)
    characters = Int(0)
    families = List(Dict(), help="one entry per tokenizer family: tokens, method, note")
    rows = List(Dict(), help="one entry per chosen model, in display order")
    errors = Dict(help="field ('input', 'upload', 'models', 'query') -> one-line message")
    prices_problem = Unicode("", help="why the price sheets could not be loaded, if they could not")

    def __init__(self, prices: PriceBook, **kwargs: Any):
        self.prices = prices
        self._ready = False
        self._opened_on = dt.date.today()
        kwargs.setdefault("day", self._opened_on)
        kwargs.setdefault("messages", [dict(m) for m in DEFAULT_MESSAGES])
        super().__init__(**kwargs)
        self._ready = True
        self.recompute()

    # -- inputs ------------------------------------------------------------------------------
    @validate("models")
    def _resolve_models(self, proposal):
        """Aliases become canonical ids; unknown names are dropped with an inline message."""
        ids: list[str] = []
        unknown: list[str] = []
        for name in proposal["value"]:
            try:
                mid = self.prices.resolve(name)
            except UnknownModelError as e:
                unknown.append(str(e))
                continue
            if mid not in ids:
                ids.append(mid)
        self.set_error("models", "; ".join(m for m in (self.prices_problem, *unknown) if m))
        return ids

    def set_models(self, names: Sequence[str] | str) -> None:
        """Choose the models of the cost table; accepts ids, aliases or one comma-separated string."""
        if isinstance(names, str):
            names = [n for n in (p.strip() for p in names.split(",")) if n]
        self.models = list(names)

    def add_message(self, role: str = "user", content: str = "") -> None:
        self.messages = [*self.messages, {"role": role, "content": content}]

    def remove_message(self, index: int) -> None:
        self.messages = [m for i, m in enumerate(self.messages) if i != index]

    def edit_message(self, index: int, **fields: str) -> None:
        self.messages = [
            {**m, **fields} if i == index else m for i, m in enumerate(self.messages)
        ]

    @_guarded("upload")
    def load_file(self, name: str, content: bytes) -> None:
        """Put an uploaded file in the input: a JSON list of chat messages, else UTF-8 text."""
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValueError(
                f"{name}: {len(content):,} bytes is more than the {MAX_UPLOAD_BYTES:,}-byte limit; "
                "nothing changed"
            )
        try:
            text = bytes(content).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{name} is not UTF-8 text (byte 0x{content[e.start]:02x} at offset {e.start}); "
                "upload a text file. Nothing changed."
            ) from None
        if "\x00" in text:
            raise ValueError(f"{name} looks binary (contains NUL bytes); upload a text file. Nothing changed.")
        messages = _as_messages(text)
        with self.hold_trait_notifications():
            if messages is not None:
                self.messages, self.mode = messages, "chat"
            else:
                self.text, self.mode = text, "text"

    # -- results -----------------------------------------------------------------------------
    @observe("mode", "text", "messages", "models", "day")
    def _inputs_changed(self, change) -> None:
        if self._ready:
            self.recompute()

    @observe("sort_by", "descending")
    def _sort_changed(self, change) -> None:
        self.rows = self.sorted_rows(self.rows)

    @_guarded("input")
    def recompute(self) -> None:
        counts = {t: self._count(t) for t in TOKENIZERS}
        if self.mode == "chat":
            characters = sum(len(str(m.get("content", ""))) for m in self.messages)
        else:
            characters = len(self.text)
        families = [
            {"tokenizer": t, "label": FAMILY_LABELS.get(t, t), "tokens": c.tokens,
             "method": c.method, "note": c.note}
            for t, c in counts.items()
        ]
        rows = [self._row(mid, counts) for mid in self.models]
        with self.hold_trait_notifications():
            self.characters = characters
            self.families = families
            self.rows = self.sorted_rows(rows)

    def _count(self, tokenizer: str):
        if self.mode == "chat":
            return count_messages(self.messages, tokenizer=tokenizer)
        return count_tokens(self.text, tokenizer=tokenizer)

    def _row(self, model_id: str, counts: Mapping[str, Any]) -> dict:
        info = self.prices.model(model_id)
        tc = counts[info.tokenizer]
        row: dict[str, Any] = {
            "model": info.id, "label": info.label, "vendor": info.vendor,
            "tokenizer": info.tokenizer, "tokens": tc.tokens, "method": tc.method, "note": tc.note,
            "context_window": info.context_window,
            "context": tc.tokens / info.context_window if info.context_window else None,
            "input_usd": None, "output_usd": None, "input_rate": None, "output_rate": None,
            "source": "", "effective": "", "price_error": "",
        }
        try:
            rec = self.prices.price_on(model_id, self.day)
        except PriceError as e:
            row["price_error"] = _one_line(e)
            return row
        row.update(
            input_usd=request_cost(rec, tc.tokens, 0).total_usd,
            output_usd=request_cost(rec, 0, tc.tokens).total_usd,
            input_rate=rec.rate("input", tc.tokens), output_rate=rec.output,
            source=rec.source, effective=rec.effective.isoformat(),
        )
        return row

    def sorted_rows(self, rows: Sequence[dict]) -> list[dict]:
        """``rows`` in the chosen order; rows without a value for the key go last."""
        key = self.sort_by
        if key == "model":
            def value(r):
                return r["label"].lower()
        else:
            def value(r):
                return r[key]
        present = [r for r in rows if value(r) is not None]
        missing = [r for r in rows if value(r) is None]
        return sorted(present, key=value, reverse=self.descending) + missing

    # -- URL query ---------------------------------------------------------------------------
    def query(self) -> str:
        """The URL query that reproduces this view (a text over MAX_URL_TEXT characters is left out)."""
        from urllib.parse import urlencode

        q: dict[str, str] = {}
        if self.models:
            q["models"] = ",".join(self.models)
        if self.mode == "chat":
            q["mode"] = "chat"
            if self.messages != [dict(m) for m in DEFAULT_MESSAGES]:
                text = json.dumps(self.messages, separators=(",", ":"))
                if len(text) <= MAX_URL_TEXT:
                    q["messages"] = text
        elif self.text and len(self.text) <= MAX_URL_TEXT:
            q["text"] = self.text
        if self.sort_by != "input_usd":
            q["sort"] = self.sort_by
        if self.descending:
            q["desc"] = "1"
        if self.day and self.day != self._opened_on:
            q["day"] = self.day.isoformat()
        return urlencode(q)

    @_guarded("query")
    def apply_query(self, query: str) -> None:
        """Apply ``?models=a,b&text=...&mode=chat&messages=[...]&sort=tokens&desc=1&day=YYYY-MM-DD``."""
        params = {k: v[-1] for k, v in parse_qs(query or "", keep_blank_values=True).items()}
        unknown = sorted(set(params) - QUERY_KEYS)
        problems = [f"ignored unknown parameter(s) {', '.join(unknown)}; "
                    f"valid: {', '.join(sorted(QUERY_KEYS))}"] if unknown else []
        with self.hold_trait_notifications():
            if "models" in params:
                self.set_models(params["models"])
            if "text" in params:
                self.text = params["text"]
            if "messages" in params:
                messages = _as_messages(params["messages"])
                if messages is None:
                    problems.append("messages must be a JSON list of {role, content} objects")
                else:
                    self.messages = messages
            for key, trait, parse in (("mode", "mode", str), ("sort", "sort_by", str),
                                      ("desc", "descending", _truthy), ("day", "day", _date)):
                if key in params:
                    try:
                        setattr(self, trait, parse(params[key]))
                    except Exception as e:
                        problems.append(f"{key}={params[key]!r}: {_one_line(e)}")
            if "messages" in params and "mode" not in params and messages is not None:
                self.mode = "chat"
        if problems:
            raise ValueError("; ".join(problems))


QUERY_KEYS = {"models", "text", "messages", "mode", "sort", "desc", "day"}
#: Texts longer than this stay out of the shared URL (the link says so by leaving ``text`` out).
MAX_URL_TEXT = 2000



def _truthy(text: str) -> bool:
    return text.strip().lower() not in ("", "0", "false", "no", "off")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date YYYY-MM-DD") from None


def _as_messages(text: str) -> list[dict] | None:
    """Chat messages if ``text`` is JSON of ``[{role, content}, ...]`` (or ``{"messages": [...]}``)."""
    if not text.lstrip().startswith(("[", "{")):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = data.get("messages")
    if (isinstance(data, list) and data
            and all(isinstance(m, dict) and "role" in m and "content" in m for m in data)):
        return [dict(m) for m in data]
    return None


def default_models(prices: PriceBook, day: dt.date | None = None, limit: int = 10) -> list[str]:
    """The preferred models the sheets price today, else the first priced model of each vendor."""
    day = day or dt.date.today()

    def priced(mid: str) -> bool:
        try:
            prices.price_on(mid, day)
            return True
        except PriceError:
            return False

    chosen = [prices.resolve(m) for m in DEFAULT_MODELS if m in prices and priced(m)]
    if len(chosen) < 3:
        for vendor in prices.vendors():
            for info in prices.models(vendor):
                if info.status == "active" and priced(info.id) and info.id not in chosen:
                    chosen.append(info.id)
                    break
        for info in prices.models():
            if len(chosen) >= limit:
                break
            if info.status == "active" and priced(info.id) and info.id not in chosen:
                chosen.append(info.id)
    return list(dict.fromkeys(chosen))[:limit]


# =============================================================================================
# View
# =============================================================================================

class TokenCounter(w.VBox):
    """The token counter's view: controls that forward to ``state`` and HTML that shows it."""

    def __init__(self, state: TokenCounterState, *, debounce_ms: float = 250):
        self.state = state
        self._pushing = False
        self._push_text = Debouncer(self._text_to_state, debounce_ms)
        self._push_rows: list[Debouncer] = []
        self._debounce_ms = debounce_ms

        self.header = w.HTML(_html.STYLE + _html.header(
            "Token counter",
            "Paste text or chat messages, or upload a file. Counts are exact for OpenAI "
            "tokenizers (tiktoken) and labelled estimates for other vendors."))
        self.query_error = w.HTML()
        self.mode_toggle = w.ToggleButtons(
            options=[("Text", "text"), ("Chat messages", "chat")], value=state.mode,
            style={"button_width": "130px"})
        self.mode_toggle.add_class("wb-mode")
        self.upload = w.FileUpload(accept=".txt,.md,.json,.jsonl,.csv,.py,.yaml,.yml,.html,.xml,text/*",
                                   multiple=False, description="Upload file", icon="upload",
                                   tooltip="a text file, or a JSON list of chat messages")
        self.upload.add_class("wb-upload")
        self.text_area = w.Textarea(value=state.text, placeholder="Paste or type text here…",
                                    continuous_update=True,
                                    layout=w.Layout(width="100%", height="170px"))
        self.text_area.add_class("wb-text")
        self.messages_box = w.VBox()
        self.messages_box.add_class("wb-messages")
        self.add_button = w.Button(description="Add message", icon="plus",
                                   layout=w.Layout(width="150px"))
        self.add_button.add_class("wb-add-message")
        self.chat_panel = w.VBox([self.messages_box, self.add_button])
        self.input_error = w.HTML()
        self.input_error.add_class("wb-input-error")
        self.stats = w.HTML()
        self.stats.add_class("wb-stats")
        self.families_html = w.HTML()
        self.families_html.add_class("wb-families")
        self.model_picker = w.TagsInput(
            value=list(state.models), allowed_tags=[m.id for m in state.prices.models()],
            allow_duplicates=False, placeholder="add a model…", layout=w.Layout(width="100%"))
        self.model_picker.add_class("wb-models")
        self.models_error = w.HTML()
        self.models_error.add_class("wb-models-error")
        self.sort_by = w.ToggleButtons(options=[(v, k) for k, v in SORT_KEYS.items()],
                                       value=state.sort_by, style={"button_width": "118px"})
        self.sort_by.add_class("wb-sort")
        self.descending = w.ToggleButton(value=state.descending, description="Descending",
                                         icon="sort-amount-desc", layout=w.Layout(width="130px"))
        self.descending.add_class("wb-desc")
        self.table_html = w.HTML()
        self.table_html.add_class("wb-cost-table")
        self.footer = w.HTML()

        self.input_panel = w.VBox()
        # the address bar follows the settings (text typed is debounced by the view already)
        self.address_bar = follow(state, ["models", "mode", "text", "messages", "sort_by", "descending", "day"],
                                  state.query)
        super().__init__([
            self.header, self.query_error, self.address_bar,
            w.HBox([self.mode_toggle, self.upload], layout=w.Layout(
                justify_content="space-between", align_items="center", width="100%")),
            self.input_panel, self.input_error, self.stats,
            w.HTML(_html.section("Tokens per model family")), self.families_html,
            w.HTML(_html.section("Cost by model")),
            w.HBox([w.HTML("<span class='wb-label'>Models</span>"), self.model_picker],
                   layout=w.Layout(align_items="center")),
            self.models_error,
            w.HBox([w.HTML("<span class='wb-label'>Sort by</span>"), self.sort_by, self.descending],
                   layout=w.Layout(align_items="center", flex_flow="row wrap")),
            self.table_html, self.footer,
        ], layout=w.Layout(max_width="1100px", padding="0 16px 24px 16px"))
        self.add_class("wb-app")
        self.add_class("wb-token-counter")

        # controls -> state
        self.text_area.observe(lambda c: self._push_text(c["new"]), "value")
        self.mode_toggle.observe(lambda c: setattr(state, "mode", c["new"]), "value")
        self.sort_by.observe(lambda c: setattr(state, "sort_by", c["new"]), "value")
        self.descending.observe(lambda c: setattr(state, "descending", c["new"]), "value")
        self.model_picker.observe(lambda c: self._guard(state.set_models, c["new"]), "value")
        self.upload.observe(self._uploaded, "value")
        self.add_button.on_click(lambda _: self._structural(
            state.add_message, "user" if self._last_role() != "user" else "assistant"))
        # state -> view
        state.observe(self._show_input, ["mode", "messages", "text"])
        state.observe(self._show_results, ["families", "rows", "characters", "sort_by", "descending"])
        state.observe(self._show_errors, "errors")
        state.observe(self._show_models, "models")
        self._show_input()
        self._show_results()
        self._show_errors()

    # -- controls -> state -------------------------------------------------------------------
    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:  # never a traceback in the app
            self.state.set_error("input", _one_line(e))

    def _text_to_state(self, value: str) -> None:
        self._pushing = True
        try:
            self._guard(setattr, self.state, "text", value)
        finally:
            self._pushing = False

    def _uploaded(self, change) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0]
        self.state.load_file(f["name"], bytes(f["content"]))
        self.upload.value = ()  # allow uploading the same file again

    def _last_role(self) -> str:
        return self.state.messages[-1].get("role", "") if self.state.messages else ""

    def _message_row(self, i: int, msg: Mapping[str, Any]) -> w.HBox:
        role = msg.get("role", "user")
        role_dd = w.Dropdown(options=list(dict.fromkeys([*ROLES, role])), value=role,
                             layout=w.Layout(width="120px"))
        role_dd.add_class("wb-role")
        content = w.Textarea(value=str(msg.get("content", "")), continuous_update=True,
                             placeholder=f"{role} message…", layout=w.Layout(flex="1", height="70px"))
        content.add_class("wb-message")
        remove = w.Button(icon="times", tooltip="remove this message",
                          layout=w.Layout(width="36px"))
        remove.add_class("wb-remove-message")
        push = Debouncer(lambda v, i=i: self._edit_message(i, content=v), self._debounce_ms)
        self._push_rows.append(push)
        content.observe(lambda c: push(c["new"]), "value")
        role_dd.observe(lambda c, i=i: self._edit_message(i, role=c["new"]), "value")
        remove.on_click(lambda _, i=i: self._structural(self.state.remove_message, i))
        return w.HBox([role_dd, content, remove], layout=w.Layout(width="100%", align_items="flex-start"))

    def _structural(self, fn, *args) -> None:
        """Add or remove a message, after applying edits still waiting in the debouncers."""
        for push in self._push_rows:
            push.flush()
        self._guard(fn, *args)

    def _edit_message(self, i: int, **fields: str) -> None:
        self._pushing = True
        try:
            self._guard(lambda: self.state.edit_message(i, **fields))
        finally:
            self._pushing = False

    # -- state -> view -----------------------------------------------------------------------
    def _show_input(self, change=None) -> None:
        s = self.state
        self.mode_toggle.value = s.mode
        if s.mode == "text":
            self.input_panel.children = (self.text_area,)
            if not self._pushing and self.text_area.value != s.text:
                self._push_text.cancel()  # replaced from elsewhere (upload, link): drop stale typing
                self.text_area.value = s.text
        else:
            self.input_panel.children = (self.chat_panel,)
            if not self._pushing and (change is None or change["name"] != "text"):
                for push in self._push_rows:
                    push.cancel()
                self._push_rows = []
                self.messages_box.children = [self._message_row(i, m)
                                              for i, m in enumerate(s.messages)]

    def _show_results(self, change=None) -> None:
        s = self.state
        with self.hold_sync():
            self.sort_by.value = s.sort_by
            self.descending.value = s.descending
            n_msgs = f" · {len(s.messages)} messages" if s.mode == "chat" else ""
            self.stats.value = _html.stats(s.characters, n_msgs)
            self.families_html.value = _html.families_table(s.families)
            self.table_html.value = _html.cost_table(s.rows, s.sort_by, s.descending, SORT_KEYS)
            self.footer.value = _html.footer(s.rows, s.day) + f"<p class='wb-sub' data-testid='prices-as-of'>Prices as of {s.prices.reviewed_as_of() or 'an unrecorded review'} (sheets last reviewed).</p>"

    def _show_models(self, change=None) -> None:
        allowed = set(self.model_picker.allowed_tags)
        value = [m for m in self.state.models if m in allowed]
        if list(self.model_picker.value) != value:
            self.model_picker.value = value

    def _show_errors(self, change=None) -> None:
        e = self.state.errors
        self.query_error.value = _html.error(e.get("query", ""), "query")
        self.input_error.value = _html.error(
            "  ".join(m for m in (e.get("input", ""), e.get("upload", "")) if m), "input")
        self.models_error.value = _html.error(e.get("models", ""), "models")


def make_token_counter(
    prices: PriceBook | None = None,
    *,
    models: Sequence[str] | str | None = None,
    text: str = "",
    mode: str = "text",
    query: str | None = None,
    debounce_ms: float = 250,
    day: dt.date | None = None,
) -> TokenCounter:
    """The token counter app. ``query`` defaults to Voila's ``QUERY_STRING`` (a shared link)."""
    problem = ""
    if prices is None:
        from workbench.io.pricesheets import load_prices

        try:
            prices = load_prices()
        except (PriceError, OSError) as e:  # the counts still work; the cost table explains
            prices, problem = PriceBook.from_models([]), f"could not load the price sheets: {_one_line(e)}"
    state = TokenCounterState(prices, text=text, mode=mode, day=day or dt.date.today(),
                              prices_problem=problem)
    state.set_models(models if models is not None else default_models(prices, state.day))
    state.apply_query(os.environ.get("QUERY_STRING", "") if query is None else query)
    view = TokenCounter(state, debounce_ms=debounce_ms)
    # an empty box needs no vocabulary: load them (~2 s) in the background once the page is shown
    after_this_cell(lambda: threading.Thread(target=_load_vocabularies, name="wb-vocabularies", daemon=True).start())
    return view


def _load_vocabularies() -> None:
    from workbench.core.tokens import ESTIMATORS, EXACT_ENCODINGS, get_encoding

    for name in [*EXACT_ENCODINGS, *(e.base_encoding for e in ESTIMATORS.values() if e.base_encoding)]:
        try:
            get_encoding(name)
        except Exception:  # the count that needs it reports the problem
            pass
