"""Fixtures of the replay tests: the frozen price sheet and a small synthetic log generator."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.core.replay import replay as _replay

PROMPTS = ("hi", "where is my order", "please compare these two designs and explain why one is better",
           "Summarize the attached quarterly report for the board in a short paragraph with the key numbers",
           "Implement a parser for this log format", "", None, "  reset  my password  ")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-3-haiku", "tiered-sonnet", "gpt-4o-2024-08-06", "sonnet-test")


def make_log(n: int = 300, seed: int = 0, days: int = 3, start: str = "2025-03-01",
             tenants=("acme", "beta", "gamma", "delta"), features=("chat", "search", "reports", "extract"),
             long_context: bool = True) -> pd.DataFrame:
    """A canonical request log exercising every policy: aliases, prompt caching, tiers, retries
    linked by ``tags.logical_id``, missing tenants and prompts, equal timestamps."""
    rng = np.random.default_rng(seed)
    ts = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(rng.integers(0, days * 86_400, n) // 60 * 60, unit="s")
    model = np.array(MODELS)[rng.integers(0, len(MODELS), n)]
    canonical = np.where(model == "gpt-4o-2024-08-06", "gpt-4o", np.where(model == "sonnet-test", "tiered-sonnet", model))
    inp = rng.integers(1, 6_000, n)
    if long_context:
        inp = np.where((canonical == "tiered-sonnet") & (rng.random(n) < 0.2), rng.integers(190_000, 260_000, n), inp)
    cached = np.where((canonical != "claude-3-haiku") & (rng.random(n) < 0.4), inp // 3, 0)
    write = np.where((canonical == "tiered-sonnet") & (cached == 0) & (rng.random(n) < 0.5), inp // 4, 0)
    tenant = np.array(tenants, dtype=object)[rng.integers(0, len(tenants), n)]
    tenant[rng.random(n) < 0.05] = None
    prompt = np.array(PROMPTS, dtype=object)[rng.integers(0, len(PROMPTS), n)]
    # logical requests: some rows retry the previous row of the same logical id
    logical, attempt, status = [], [], []
    open_ids: list[tuple[str, int]] = []
    for i in range(n):
        if open_ids and rng.random() < 0.25:
            lid, a = open_ids.pop(int(rng.integers(0, len(open_ids))))
            a += 1
        else:
            lid, a = f"L{i}", 1
        st = str(rng.choice(["ok", "ok", "ok", "error", "timeout"]))
        logical.append(lid)
        attempt.append(a)
        status.append(st)
        open_ids.append((lid, a))
    tags = [json.dumps({"logical_id": lid}) if rng.random() > 0.05 else "not json" for lid in logical]
    frame = pd.DataFrame({
        "request_id": [f"q{i:05d}" for i in range(n)],
        "ts": ts, "tenant": pd.array(tenant, dtype="string"),
        "feature": pd.array(np.array(features)[rng.integers(0, len(features), n)], dtype="string"),
        "model": pd.array(model, dtype="string"), "prompt": pd.array(prompt, dtype="string"),
        "input_tokens": inp.astype("int64"), "cached_input_tokens": cached.astype("int64"),
        "cache_write_tokens": write.astype("int64"),
        "output_tokens": rng.integers(0, 3_000, n).astype("int64"),
        "status": pd.array(status, dtype="string"), "attempt": np.array(attempt, dtype="int64"),
        "tags": pd.array(tags, dtype="string"),
    })
    # the ids of retries are assigned in time order so that an attempt follows its predecessor
    frame = frame.sort_values(["ts", "request_id"]).reset_index(drop=True)
    order = frame.groupby("tags", dropna=False, sort=False).cumcount() + 1
    frame["attempt"] = np.where(frame["tags"] == "not json", frame["attempt"], order).astype("int64")
    return frame


@pytest.fixture(scope="session")
def book(frozen_book):
    return frozen_book


@pytest.fixture
def run(book):
    """replay(log, stack) on the frozen sheet, without the bootstrap unless asked."""
    def go(log, stack=(), **kw):
        kw.setdefault("bootstrap", 0)
        return _replay(log, stack, book, **kw)
    return go


def one_row(**cols) -> pd.DataFrame:
    """A one-request log (2025-03-01 12:00 UTC, gpt-4o) with ``cols`` overriding."""
    base = {"request_id": "r1", "ts": pd.Timestamp("2025-03-01T12:00:00Z"), "tenant": "acme",
            "feature": "chat", "model": "gpt-4o", "prompt": "hello", "input_tokens": 2000,
            "cached_input_tokens": 1000, "cache_write_tokens": 0, "output_tokens": 400,
            "status": "ok", "attempt": 1, "tags": '{"logical_id": "L1"}'}
    base.update(cols)
    return pd.DataFrame({k: [v] for k, v in base.items()})


def rows(*specs: dict, day: str = "2025-03-01") -> pd.DataFrame:
    """Several requests, one minute apart from ``day`` 00:00 UTC, each spec overriding one_row."""
    frames = []
    for i, spec in enumerate(specs):
        spec = {"request_id": f"r{i + 1:02d}", "ts": pd.Timestamp(f"{day}T00:00:00Z") + pd.Timedelta(minutes=i),
                "tags": json.dumps({"logical_id": f"L{i + 1}"}), **spec}
        frames.append(one_row(**spec))
    return pd.concat(frames, ignore_index=True)
