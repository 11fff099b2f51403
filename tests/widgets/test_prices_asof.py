"""Every app says which price snapshot its figures used (issue 8): the sheets' review date and the records
in force over the priced days. Kernel-side: the text the browser shows, from the widgets' values."""
from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd

from tests.conftest import SHARED_DATA
from workbench.widgets.prices_asof import prices_as_of_frame_html, prices_as_of_text

REVIEWED = "Prices as of 2025-01-15 (oldest price-sheet review)"   # tests/fixtures/prices/frozen.yaml


def _html(widget) -> str:
    out = []

    def walk(w):
        v = getattr(w, "value", None)
        if isinstance(v, str):
            out.append(v)
        for c in getattr(w, "children", ()):
            walk(c)
    walk(widget)
    return "\n".join(out)


def test_the_line_names_review_date_and_records_in_force(frozen_book):
    assert prices_as_of_text(frozen_book) == REVIEWED + "."
    # gpt-4o changed price on 2024-10-02: a span across it used both records; the alias resolves
    text = prices_as_of_text(frozen_book, ["gpt-4o-2024-08-06", "gpt-4o-mini"], "2024-09-01", "2024-10-31")
    assert text == (REVIEWED + "; records in force from 2024-09-01 to 2024-10-31: gpt-4o from 2024-05-13, "
                    "2024-10-02; gpt-4o-mini from 2024-07-18.")
    assert prices_as_of_text(frozen_book, ["gpt-4o"], dt.date(2025, 1, 1)).endswith(
        "records in force on 2025-01-01: gpt-4o from 2024-10-02.")
    log = pd.DataFrame({"model": ["gpt-4o"], "ts": [pd.Timestamp("2024-09-30T23:30:00-02:00")]})  # UTC: Oct 1
    assert "on 2024-10-01: gpt-4o from 2024-05-13." in prices_as_of_frame_html(frozen_book, log)


def test_cost_preview_shows_it(frozen_book):
    from workbench.widgets.cost_preview import make_cost_preview
    app = make_cost_preview(book=frozen_book, query="models=gpt-4o", base_url="http://127.0.0.1:8866/app.ipynb",
                            today=dt.date(2025, 1, 1), address_bar=False)
    assert "data-testid='prices-as-of'" in app.prices.value
    assert "records in force on 2025-01-01: gpt-4o from 2024-10-02." in app.prices.value


def test_spend_explorer_shows_it(frozen_book):
    from tests.widgets.test_spend_explorer import tiny_log
    from workbench.widgets.spend_explorer import make_spend_explorer
    app = make_spend_explorer(log=tiny_log(), prices=frozen_book)
    assert (REVIEWED + "; records in force from 2025-03-01 to 2025-03-09: gpt-4o from 2024-10-02; "
            "gpt-4o-mini from 2024-07-18.") in app.source.value


def test_cache_replay_shows_it(frozen_book):
    from workbench.widgets.cache_replay import make_cache_replay
    n = 20
    log = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "ts": pd.Timestamp("2025-03-01T00:00:00Z")
        + pd.to_timedelta(np.arange(n) * 60, unit="s"), "tenant": "a", "feature": "chat", "model": "gpt-4o",
        "prompt": ["same question"] * n, "input_tokens": 500, "output_tokens": 100, "status": "ok",
        "tags": [json.dumps({})] * n})
    app = make_cache_replay(log, frozen_book, query="ttl=600")
    assert "records in force on 2025-03-01: gpt-4o from 2024-10-02." in app.head.value


def test_cascade_shows_it(monkeypatch, shared_data):
    monkeypatch.setenv("WORKBENCH_DATA_MIRROR", str(SHARED_DATA))
    from workbench.widgets.cascade import make_cascade_simulator
    app = make_cascade_simulator(query="dataset=routellm-gsm8k&signal=rules", day="2025-01-01", bootstrap=20)
    assert "data-testid='prices-as-of'" in app.notes.value and "Prices as of " in app.notes.value
    # the real sheets price both tiers: Mixtral's dated record and gpt-4-1106-preview (an alias)
    assert re.search(r"records in force on 2025-01-01: open-mixtral-8x7b from \d{4}-\d\d-\d\d; "
                     r"gpt-4[\w.-]* from \d{4}-\d\d-\d\d\.</p>$", app.notes.value)


def test_local_vs_hosted_shows_it():
    from workbench.widgets.local_vs_hosted import make_local_vs_hosted_app
    app = make_local_vs_hosted_app()
    html = _html(app)
    assert "data-testid='prices-as-of'" in html and "records in force on " in html  # the hosted models' records
