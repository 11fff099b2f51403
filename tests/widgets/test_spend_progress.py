"""The explorer's progress bar: a quick replay sends the page no progress messages; a long one shows
its progress once it has run ``PROGRESS_AFTER_S``, and the bar goes when it ends."""
from __future__ import annotations

from workbench.widgets.spend_explorer import make_spend_explorer


def _watch(view) -> list:
    """Every change of the progress row's widgets (each one a message to the page)."""
    seen: list = []
    row = view.progress_row
    for widget, name in ((row.bar, "value"), (row.label, "value"), (row.layout, "display")):
        widget.observe(lambda c, name=name: seen.append((name, c["new"])), name)
    return seen


def test_a_quick_replay_sends_no_progress():
    view = make_spend_explorer(query="policies=[]")
    view.PROGRESS_AFTER_S = 60.0  # no replay of the sample week takes a minute
    seen = _watch(view)
    reports: list = []
    view.state.observe(lambda c: reports.append(c["new"]), "progress")
    view.state.add_policy("output_cap")
    assert [r for r in reports if r], "the state reports progress (the view decides what to show)"
    assert seen == [] and view.progress_row.layout.display == "none"


def test_a_long_replay_shows_its_progress_then_hides_it():
    view = make_spend_explorer(query="policies=[]")
    view.PROGRESS_AFTER_S = 0.0  # every replay counts as long
    seen = _watch(view)
    view.state.add_policy("output_cap")
    assert ("display", "flex") in seen and any(n == "value" and isinstance(v, float) and v > 0 for n, v in seen)
    assert seen[-1] == ("display", "none")
    assert view.progress_row.layout.display == "none" and view.state.progress == {}
