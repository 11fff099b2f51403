"""Freshness: "prices as of", `prices check` (stale sheets, promotions past their guarantee), and
`prices list --json` carrying each current record's source and effective date. Every day is pinned."""
from __future__ import annotations

import datetime as dt
import json
import os
import textwrap

from workbench.core.prices import freshness_warnings
from workbench.io.pricesheets import load_prices

FROZEN = os.path.join(os.path.dirname(__file__), "fixtures", "prices")

PROMO = """
vendor: acme
reviewed: 2026-11-22
models:
  acme-sol:
    prices:
      - effective: 2026-07-09
        source: https://acme.example/models/sol
        input: "5.00"
        output: "30.00"
      - effective: 2026-08-21
        source: https://acme.example/changelog
        note: reduced "through at least 2026-11-21"
        guaranteed_until: 2026-11-21
        input: "4.00"
        output: "20.00"
"""


def test_reviewed_as_of_is_the_oldest_sheet_review(frozen_book, tmp_path):
    assert frozen_book.reviewed_as_of() == dt.date(2025, 1, 15)
    (tmp_path / "a.yaml").write_text(textwrap.dedent(PROMO))
    (tmp_path / "b.yaml").write_text(textwrap.dedent(PROMO).replace("acme", "beta").replace("2026-11-22", "2026-01-02", 1))
    book = load_prices(tmp_path)
    assert book.reviewed_as_of() == dt.date(2026, 1, 2)
    assert book.sheets_reviewed() == {"a.yaml": dt.date(2026, 11, 22), "b.yaml": dt.date(2026, 1, 2)}
    (tmp_path / "b.yaml").write_text(textwrap.dedent(PROMO).replace("acme", "beta").replace("reviewed: 2026-11-22\n", ""))
    assert load_prices(tmp_path).reviewed_as_of() is None  # a sheet without a review date: not "as of" anything


def test_promotion_past_its_guarantee_and_stale_sheets_warn(tmp_path):
    (tmp_path / "a.yaml").write_text(textwrap.dedent(PROMO))
    book = load_prices(tmp_path)
    assert freshness_warnings(book, "2026-11-21", max_age_days=90) == []
    late = freshness_warnings(book, "2026-11-22", max_age_days=90)
    assert [w["kind"] for w in late] == ["promotion_past_guarantee"]
    assert "acme-sol" in late[0]["message"] and "2026-11-21" in late[0]["message"]
    stale = freshness_warnings(book, "2027-03-01", max_age_days=90)
    assert {w["kind"] for w in stale} == {"stale_sheet", "promotion_past_guarantee"}
    assert freshness_warnings(book, "2026-08-01") == []  # the promotion is not in force yet


def test_prices_check_cli_exit_codes(run_cli):
    ok = run_cli("prices", "check", "--on", "2025-02-01", "--json", env={"WORKBENCH_PRICING_DIR": FROZEN})
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["warnings"] == []
    stale = run_cli("prices", "check", "--on", "2025-06-01", "--max-age-days", "30",
                    env={"WORKBENCH_PRICING_DIR": FROZEN})
    assert stale.returncode == 1 and "frozen.yaml: last reviewed 2025-01-15" in stale.stdout
    assert "prices as of 2025-01-15" in stale.stdout


def test_real_sheets_record_a_review_and_the_sol_promotion(real_book):
    assert all(real_book.sheets_reviewed().values()), real_book.sheets_reviewed()
    kinds = [(w["kind"], w.get("model")) for w in freshness_warnings(real_book, "2026-12-02", max_age_days=3650)]
    assert ("promotion_past_guarantee", "gpt-5.6-sol") in kinds


def test_prices_list_json_carries_source_and_effective(run_cli, real_book):
    r = run_cli("prices", "list", "--on", "2026-11-15", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["model"]: row for row in json.loads(r.stdout)}
    assert len(rows) == len(real_book)
    for model, row in rows.items():
        if row["input"] is None:
            continue
        rec = real_book.price_on(model, "2026-11-15")
        assert row["source"] == rec.source and row["source"].strip(), model
        assert row["effective"] == rec.effective.isoformat(), model
        assert row["reviewed"], model
    text = run_cli("prices", "list", "--on", "2026-11-15", "--vendor", "openai")
    assert "prices as of 2026-11-22" in text.stdout


def test_token_counter_app_shows_prices_as_of(frozen_book):
    import datetime as _dt

    from workbench.widgets.token_counter import make_token_counter

    app = make_token_counter(frozen_book, text="hello world", models=["gpt-4o"], query="",
                             day=_dt.date(2025, 2, 1), debounce_ms=0)
    html = app.footer.value
    assert "Prices as of 2025-01-15" in html, html
