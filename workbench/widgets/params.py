"""Controls built from a component's declared parameters, and an editable stack of components.

Nothing here knows a policy's name or a parameter's name: a parameter is the JSON-able schema
the core declares (``{"name", "kind", "description", "required", "default", "minimum",
"maximum", "choices", ...}``, see :func:`workbench.core.replay.policy_schema`). Bounds become a
control's range, the description its tooltip, ``choices`` a dropdown. Where a parameter takes
values from the data (feature names, models), the app passes ``options_for(param) -> list | None``.

:class:`StackEditor` shows a list of ``{"kind_key": name, **params}`` configs as cards (add, move,
remove, edit). Every card is rebuilt from the model's list whenever it (or the options) change, and
every edit names its card by a stable key, not by position, so a late (debounced) edit of a card
that was moved or removed never lands on another card: the cards and the result always describe
the same stack.
"""
from __future__ import annotations

import itertools
import json
from html import escape
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as w

from workbench.widgets._state import one_line
from workbench.widgets.debounce import Debouncer

Push = Callable[[Any], None]
_keys = itertools.count(1)


def param_control(p: Mapping[str, Any], value: Any, options: Sequence[str] | None, push: Push,
                  debounce_ms: float = 300) -> w.Widget:
    """A labelled widget for one declared parameter; ``push(value)`` gets each change (None = unset)."""
    kind, name = p["kind"], p["name"]
    label = p.get("title") or name.replace("_", " ")
    tip = p.get("description", "")
    required = bool(p.get("required"))

    if kind in ("int", "float"):
        lo, hi = p.get("minimum"), p.get("maximum")
        cls = w.BoundedIntText if kind == "int" else w.BoundedFloatText
        if kind == "float" and lo is not None and hi is not None and hi - lo <= 1:
            ctrl = w.FloatSlider(value=value if value is not None else lo, min=lo, max=hi, step=0.05,
                                 continuous_update=False)
        else:
            start = value if value is not None else (lo if lo is not None else 0)
            ctrl = cls(value=start, min=lo if lo is not None else -1e12, max=hi if hi is not None else 1e12)
        ctrl.observe(lambda c: push(c["new"]), "value")
    elif kind == "bool":
        ctrl = w.Checkbox(value=bool(value), indent=False)
        ctrl.observe(lambda c: push(c["new"]), "value")
    elif kind == "choice":
        choices = list(p.get("choices") or [])
        ctrl = w.Dropdown(options=choices, value=value if value in choices else (choices[0] if choices else None))
        ctrl.observe(lambda c: push(c["new"]), "value")
    elif kind in ("strings", "strings_or_all") and options is not None:
        ctrl = _tags_control(kind, value, options, push, required)
    elif kind == "model" and options is not None:
        ctrl = w.Combobox(value=value or "", options=list(options), ensure_option=False, placeholder="model id")
        ctrl.observe(lambda c: push(c["new"] or None), "value")
    elif kind == "str":
        ctrl = w.Text(value=value or "", placeholder="default")
        deb = Debouncer(lambda v: push(v or None), debounce_ms)
        ctrl.observe(lambda c: deb(c["new"]), "value")
    else:  # lists, mappings, fractions, custom: JSON text
        ctrl = w.Textarea(value="" if value is None else json.dumps(value), placeholder="JSON",
                          layout=w.Layout(width="340px", height="56px"))

        def parse(text: str) -> None:
            text = text.strip()
            if not text:
                push(None)
                return
            try:
                push(json.loads(text))
            except ValueError as e:
                raise ValueError(f"{name}: not valid JSON ({e.args[0].split(':')[0]})") from None

        deb = Debouncer(parse, debounce_ms)
        ctrl.observe(lambda c: deb(c["new"]), "value")
    ctrl.tooltip = tip
    if kind != "bool" and not isinstance(ctrl, w.Box):
        ctrl.layout = w.Layout(width="340px")
    ctrl.add_class(f"wb-param-{name}")
    req = " <span class='wb-sub'>(required)</span>" if required else ""
    return w.HBox([w.HTML(f"<span class='wb-param-label'>{escape(label)}</span>{req}",
                          layout=w.Layout(width="190px", flex="0 0 auto")),
                   ctrl, w.HTML(f"<span class='wb-sub' title='{escape(tip, quote=True)}'>{escape(tip[:90])}</span>",
                                layout=w.Layout(flex="1 1 0", min_width="0"))],
                  layout=w.Layout(align_items="center", width="100%", flex_flow="row wrap"))


def _tags_control(kind: str, value: Any, options: Sequence[str], push: Push, required: bool) -> w.Widget:
    """A tag list of the data's values; for ``strings_or_all`` an explicit "all" box beside it.

    Values already in the config but not in ``options`` stay visible (so a stack from a link or an
    earlier log is shown as it is, and the state can say what is wrong with it). Clearing the
    list never silently means "all": an empty required list is pushed as ``[]`` and the core's
    validation says so."""
    is_all = value == "all" or (kind == "strings_or_all" and value is None and not required)
    chosen = [] if value in (None, "all") else list(value if isinstance(value, (list, tuple)) else [value])
    allowed = list(dict.fromkeys([*options, *chosen]))
    tags = w.TagsInput(value=chosen, allowed_tags=allowed, allow_duplicates=False,
                       placeholder="choose…", layout=w.Layout(width="250px"))
    if kind != "strings_or_all":
        tags.observe(lambda c: push(list(c["new"])), "value")
        return tags
    every = w.Checkbox(value=is_all, description="all", indent=False, layout=w.Layout(width="60px"))
    every.add_class("wb-param-all")
    tags.layout.display = "none" if is_all else ""

    def changed(_=None) -> None:
        tags.layout.display = "none" if every.value else ""
        push("all" if every.value else list(tags.value))

    every.observe(changed, "value")
    tags.observe(changed, "value")
    box = w.HBox([every, tags], layout=w.Layout(width="340px", align_items="center"))
    box.tags, box.all = tags, every
    return box


class StackEditor(w.VBox):
    """Cards for an ordered list of configs, each built from its component's declared parameters.

    ``model`` is a HasTraits with a list trait ``items_trait`` of config dicts (``key`` names the
    component) and ``set_error(field, message)``; ``schemas`` maps a component name to its schema;
    ``options_for(param)`` gives the data's values for a parameter (or None); ``new_config(name)``
    makes the config of a newly added card. Options change? call :meth:`refresh`.
    """

    def __init__(self, model, schemas: Mapping[str, Mapping[str, Any]], *, items_trait: str = "policies",
                 key: str = "policy", options_for: Callable[[Mapping[str, Any]], Sequence[str] | None] | None = None,
                 new_config: Callable[[str], dict] | None = None, error_field: str = "policy",
                 debounce_ms: float = 300, add_label: str = "Add policy"):
        self.model, self.schemas, self.items_trait, self.key = model, dict(schemas), items_trait, key
        self.options_for = options_for or (lambda p: None)
        self.new_config = new_config or (lambda name: {key: name})
        self.error_field, self.debounce_ms = error_field, debounce_ms
        self._ids: list[int] = [next(_keys) for _ in self._items()]
        self.add_dd = w.Dropdown(options=list(self.schemas), layout=w.Layout(width="200px"))
        self.add_dd.add_class("wb-add-policy-name")
        self.add_help = w.HTML(layout=w.Layout(flex="1 1 0", min_width="0"))
        self.add_dd.observe(lambda c: self._show_add_help(), "value")
        self.add_button = w.Button(description=add_label, icon="plus", layout=w.Layout(width="130px"))
        self.add_button.add_class("wb-add-policy")
        self.add_button.on_click(lambda _: self._guard(self.add, self.add_dd.value))
        self.cards = w.VBox()
        self.cards.add_class("wb-policy-cards")
        super().__init__([w.HBox([self.add_dd, self.add_button, self.add_help],
                                 layout=w.Layout(align_items="center", flex_flow="row wrap")), self.cards])
        model.observe(self._items_changed, items_trait)
        self._show_add_help()
        self.refresh()

    # -- the list ---------------------------------------------------------------------------
    def _items(self) -> list[dict]:
        return list(getattr(self.model, self.items_trait))

    def _set_items(self, items: list[dict], ids: list[int]) -> None:
        self._ids = ids
        setattr(self.model, self.items_trait, items)
        self._ids = ids  # the observer may have run with the old list's length
        self.refresh()

    def _items_changed(self, change) -> None:
        if len(self._ids) != len(change["new"]):  # replaced from outside (a link, a new log)
            self._ids = [next(_keys) for _ in change["new"]]
        self.refresh()

    def add(self, name: str) -> None:
        if name not in self.schemas:
            raise ValueError(f"unknown component {name!r}; valid: {', '.join(self.schemas)}")
        self._set_items([*self._items(), self.new_config(name)], [*self._ids, next(_keys)])

    def remove(self, uid: int) -> None:
        keep = [(c, i) for c, i in zip(self._items(), self._ids) if i != uid]
        self._set_items([c for c, _ in keep], [i for _, i in keep])

    def move(self, uid: int, offset: int) -> None:
        items, ids = self._items(), list(self._ids)
        if uid not in ids:
            return
        a = ids.index(uid)
        b = a + offset
        if 0 <= b < len(items):
            items[a], items[b] = items[b], items[a]
            ids[a], ids[b] = ids[b], ids[a]
            self._set_items(items, ids)

    def set_param(self, uid: int, name: str, value: Any) -> None:
        """Set a parameter of the card ``uid`` (None: unset, its default applies); a card that is
        gone (removed while an edit was pending) is left alone."""
        if uid not in self._ids:
            return
        items = [dict(c) for c in self._items()]
        at = self._ids.index(uid)
        if value is None:
            items[at].pop(name, None)
        else:
            items[at][name] = value
        self._set_items(items, list(self._ids))

    # -- view -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild every card from the model's list and the current options."""
        items = self._items()
        if len(self._ids) != len(items):
            self._ids = [next(_keys) for _ in items]
        self.cards.children = [self._card(n, uid, cfg) for n, (uid, cfg) in enumerate(zip(self._ids, items))]

    def titles(self) -> list[str]:
        """The component name of each card, top to bottom (what the page shows)."""
        return [c._wb_name for c in self.cards.children]

    def _show_add_help(self) -> None:
        summary = self.schemas.get(self.add_dd.value, {}).get("summary", "")
        self.add_help.value = f"<span class='wb-sub'>{escape(summary)}</span>"

    def _guard(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as e:  # shown beside the stack, never a traceback
            self.model.set_error(self.error_field, one_line(e))

    def _card(self, n: int, uid: int, cfg: Mapping[str, Any]) -> w.Widget:
        name = str(cfg.get(self.key, "?"))
        schema = self.schemas.get(name, {"summary": "unknown component", "params": []})
        controls = [param_control(p, cfg.get(p["name"], p.get("default")), self.options_for(p),
                                  lambda v, pn=p["name"]: self._guard(self.set_param, uid, pn, v), self.debounce_ms)
                    for p in schema["params"]]
        buttons = []
        for icon, tip, cls, fn in (("arrow-up", "move up", "wb-move-up", lambda _: self._guard(self.move, uid, -1)),
                                   ("arrow-down", "move down", "wb-move-down",
                                    lambda _: self._guard(self.move, uid, +1)),
                                   ("times", "remove", "wb-remove-policy", lambda _: self._guard(self.remove, uid))):
            b = w.Button(icon=icon, tooltip=tip, layout=w.Layout(width="36px"))
            b.add_class(cls)
            b.on_click(fn)
            buttons.append(b)
        label = cfg.get("label")
        title = f"{n + 1}. {escape(name)}" + (f" <span class='wb-sub'>“{escape(str(label))}”</span>" if label else "")
        head = w.HBox([w.HTML(f"<b data-testid='card-title'>{title}</b> <span class='wb-sub'>"
                              f"{escape(schema.get('summary', ''))}</span>", layout=w.Layout(flex="1 1 0")),
                       *buttons], layout=w.Layout(width="100%"))
        card = w.VBox([head, *controls])
        card.add_class("wb-policy-card")
        card.add_class(f"wb-policy-{name}")
        card._wb_name = name
        card._wb_uid = uid
        return card


__all__ = ["param_control", "StackEditor"]
