"""The local-vs-hosted app's link: only what differs from this installation's defaults; old links still open."""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from workbench.widgets import local_vs_hosted as lvh


@pytest.fixture
def with_bitext(monkeypatch):
    """An installation with the Bitext prompts: they are the default prompt set."""
    monkeypatch.setattr(lvh, "available_datasets", lambda: ["synthetic", "bitext"])


def settings(s) -> dict:
    return {k: getattr(s, k) for k in ("dataset", "concurrency", "requests", "max_output_tokens", "hardware",
                                       "usd_per_hour", "utilisation", "level", "hosted_models")}


def test_the_defaults_make_a_bare_link(with_bitext):
    s = lvh.make_local_vs_hosted_app(query="").state
    assert s.dataset == "bitext" and s.query() == ""


def test_a_link_writes_only_what_differs_and_reopens_it(with_bitext):
    s = lvh.make_local_vs_hosted_app(query="").state
    s.dataset, s.requests = "synthetic", 8
    s.hosted_models = s.available_hosted[:2]
    q = parse_qs(s.query(), keep_blank_values=True)
    assert q == {"dataset": ["synthetic"], "requests": ["8"], "hosted": [",".join(s.available_hosted[:2])]}
    assert settings(lvh.make_local_vs_hosted_app(query=s.query()).state) == settings(s)
    s.hosted_models = []                                   # none is a setting too
    assert parse_qs(s.query(), keep_blank_values=True)["hosted"] == [""]
    assert lvh.make_local_vs_hosted_app(query=s.query()).state.hosted_models == []
    s.hardware, s.usd_per_hour = "custom", 2.75
    again = lvh.make_local_vs_hosted_app(query=s.query()).state
    assert settings(again) == settings(s) and "usd_per_hour=2.75" in s.query()


def test_an_old_link_with_every_setting_still_opens(with_bitext):
    fresh = lvh.make_local_vs_hosted_app(query="").state
    old = (f"dataset=bitext&hardware={fresh.hardware}&hosted={','.join(fresh.hosted_models)}")   # as links were written
    s = lvh.make_local_vs_hosted_app(query=old).state
    assert s.error == "" and settings(s) == settings(fresh) and s.query() == ""
    older = lvh.make_local_vs_hosted_app(query="dataset=synthetic&hardware=custom&usd_per_hour=1.5&hosted=").state
    assert (older.dataset, older.hardware, older.usd_per_hour, older.hosted_models) == ("synthetic", "custom", 1.5, [])
