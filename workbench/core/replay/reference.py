"""A plain-Python reference replay: one loop over the requests per policy, written for clarity.

It is the oracle of the conformance test (every engine's totals must equal it exactly, in integer
pUSD) and the row-loop baseline of the benchmark. It implements the built-in policies
independently of the vectorised code; a new policy can register its own reference loop with
:func:`register_reference`.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any, Callable

from workbench.core.cost import rates_for
from workbench.core.prices import NoPriceError, PriceBook
from workbench.core.replay.pricing import (
    BLOCKED, CACHE_HIT, CALLED, REMOVED, to_units, usd_to_units,
)
from workbench.core.replay.stack import PolicyStack, as_stack

_REFERENCE: dict[str, Callable] = {}


def register_reference(name: str):
    def deco(fn):
        _REFERENCE[name] = fn
        return fn
    return deco


class _Ref:
    """State shared by the reference loops."""

    def __init__(self, rows: list[dict], book: PriceBook, cache_ttl: str, outcomes: dict | None = None):
        self.rows, self.book, self.cache_ttl = rows, book, cache_ttl
        self.outcomes = outcomes or {}  # (request_id, model) -> (output_tokens or None, quality or None)
        self._records: dict = {}
        self._rates: dict = {}
        days = sorted({r["day"] for r in rows})
        models = {r["model"] for r in rows}
        self.days = days
        self.batchable: dict[str, bool] = {}
        self.cacheable: dict[str, bool] = {}
        self.writable: dict[str, bool] = {}
        for m in models:
            self.facts(m)

    def record(self, model: str, day: dt.date):
        key = (model, day)
        if key not in self._records:
            try:
                self._records[key] = self.book.model(model).price_on(day)
            except NoPriceError:
                self._records[key] = None
        return self._records[key]

    def facts(self, model: str) -> None:
        """A model is batchable / cacheable if it has that price on every day of the log."""
        if model in self.batchable:
            return
        recs = [self.record(model, d) for d in self.days]
        self.batchable[model] = all(r is not None and r.batch_input is not None and r.batch_output is not None
                                    for r in recs)
        self.cacheable[model] = all(r is not None and r.cached_input is not None for r in recs)
        self.writable[model] = all(r is not None and getattr(r, f"cache_write_{self.cache_ttl}") is not None
                                   for r in recs)

    def cost(self, row: dict) -> int:
        if row["fate"] in (BLOCKED, REMOVED):
            return 0
        if row["fate"] == CACHE_HIT:
            return row["extra"]
        rec = self.record(row["model"], row["day"])
        if rec is None:
            raise NoPriceError(f"{row['model']} has no price on {row['day']}")
        level = sum(1 for t in rec.tiers if row["in"] > t.above_input_tokens)
        key = (row["model"], row["day"], row["batch"], level)
        rates = self._rates.get(key)
        if rates is None:  # memoised per (model, day, batch, tier): rates_for's rules, as in the sheets
            r = rates_for(rec, row["in"], batch=row["batch"], cache_ttl=self.cache_ttl)
            rates = self._rates[key] = (to_units(r["input"]), to_units(r["cached_input"]),
                                        to_units(r["cache_write"]), to_units(r["output"]))
        ri, rc, rw, ro = rates
        if (row["cached"] and rc < 0) or (row["write"] and rw < 0):
            raise NoPriceError(f"{row['model']} has no cached-input or cache-write price")
        return ((row["in"] - row["cached"] - row["write"]) * ri + row["cached"] * max(rc, 0)
                + row["write"] * max(rw, 0) + row["out"] * ro + row["extra"])

    def move_to(self, row: dict, model: str) -> bool:
        model = self.book.resolve(model)
        if row["model"] == model:
            return False
        self.facts(model)
        row["model"] = model
        found = self.outcomes.get((row["request_id"], model))
        if found is not None:  # that model's outcome for this prompt
            if found[0] is not None:
                row["out"] = found[0]
            row["q"], row["src"] = found[1], 1
        else:  # fallback: logged output tokens kept, quality unknown
            row["q"], row["src"] = None, 2
        if not self.cacheable[model]:
            row["cached"] = 0
        if not self.writable[model]:
            row["write"] = 0
        if not self.batchable[model]:
            row["batch"] = False
        return True


def _rows(log: Any, book: PriceBook, outcomes: dict | None = None) -> list[dict]:
    import pandas as pd
    if not isinstance(log, pd.DataFrame):
        import narwhals.stable.v2 as nw
        log = nw.from_native(log)
        log = (log.collect() if hasattr(log, "collect") else log).to_pandas()
    ts = pd.to_datetime(log["ts"], utc=True)
    get = lambda c, default=None: log[c].tolist() if c in log else [default] * len(log)  # noqa: E731
    rows = []
    for i, (rid, t, tenant, feature, prompt, attempt, status, tags, model, inp, cached, write, out, q) in enumerate(zip(
            log["request_id"].astype(str).tolist(), ts.tolist(), get("tenant"), get("feature"), get("prompt"),
            get("attempt", 1), get("status"), get("tags"), log["model"].tolist(), log["input_tokens"].tolist(),
            get("cached_input_tokens", 0), get("cache_write_tokens", 0), log["output_tokens"].tolist(),
            get("quality"))):
        rows.append({"request_id": rid, "ts": t, "day": t.date(), "tenant": _none(tenant),
                     "feature": _none(feature), "prompt": _none(prompt), "attempt": attempt,
                     "status": _none(status), "tags": _none(tags),
                     "model": book.resolve(model), "in": int(inp), "cached": int(cached), "write": int(write),
                     "out": int(out), "batch": False, "fate": CALLED, "extra": 0, "acts": [],
                     "q": _none(q), "src": 0})
    rows.sort(key=lambda r: (r["ts"], r["request_id"]))
    if outcomes and "quality" not in log:  # no labels in the log: the logged model's outcome
        for r in rows:
            found = outcomes.get((r["request_id"], r["model"]))
            r["q"] = found[1] if found is not None else None
    return rows


def _none(v):
    """None for None, NaN, pandas NA / NaT."""
    if v is None or (isinstance(v, float) and v != v) or type(v).__name__ in ("NAType", "NaTType"):
        return None
    return v


def reference_replay(log: Any, policies: Any, prices: PriceBook, cache_ttl: str = "5m", outcomes: Any = None) -> dict:
    """Replay with plain Python loops. Returns ``{"totals": [pUSD per step], "quality": [mean per
    step], "rows": {id: state}}``.

    ``totals[0]`` is the baseline, ``totals[k]`` the total after step ``k``; each row's state has
    ``model``, ``in``, ``cached``, ``write``, ``out``, ``batch``, ``fate``, ``cost`` (pUSD), ``acts``,
    ``q`` (quality, None = unknown) and ``src`` (0 logged, 1 outcome, 2 fallback).
    """
    stack: PolicyStack = as_stack(policies)
    table = _outcome_map(outcomes, prices) if outcomes is not None else None
    ref = _Ref(_rows(log, prices, table), prices, cache_ttl, table)
    for r in ref.rows:
        r["cost"] = ref.cost(r)
    totals, quality = [sum(r["cost"] for r in ref.rows)], [_mean_quality(ref.rows)]
    for step, policy in enumerate(stack, 1):
        fn = _REFERENCE.get(policy.name)
        if fn is None:
            raise NotImplementedError(f"no reference replay for policy {policy.name!r}")
        for r in ref.rows:
            r["acts"].append(0)
        fn(policy, ref)
        for r in ref.rows:
            r["cost"] = ref.cost(r)
            quality_rule(r)
        totals.append(sum(r["cost"] for r in ref.rows))
        quality.append(_mean_quality(ref.rows))
    return {"totals": totals, "quality": quality, "rows": {r["request_id"]: r for r in ref.rows}}


def quality_rule(r: dict) -> None:
    """Blocked: 0 when the quality was known; removed: unknown (docs/replay-semantics.md § 10)."""
    if r["fate"] == BLOCKED and r["q"] is not None:
        r["q"] = 0.0
    elif r["fate"] == REMOVED:
        r["q"] = None


def _mean_quality(rows: list[dict]):
    known = [r["q"] for r in rows if r["q"] is not None]
    return sum(known) / len(known) if known else None


def _outcome_map(outcomes: Any, book: PriceBook) -> dict:
    import pandas as pd
    if not isinstance(outcomes, pd.DataFrame):
        outcomes = pd.DataFrame(outcomes)
    tok = outcomes["output_tokens"].tolist() if "output_tokens" in outcomes else [None] * len(outcomes)
    q = outcomes["quality"].tolist() if "quality" in outcomes else [None] * len(outcomes)
    return {(str(rid), book.resolve(m)): (None if _none(t) is None else int(t), _none(v))
            for rid, m, t, v in zip(outcomes["request_id"], outcomes["model"], tok, q)}


def _feature_ok(policy, row) -> bool:
    f = policy.p.get("features")
    return f is None or row["feature"] in f


@register_reference("output_cap")
def _output_cap(policy, ref: _Ref) -> None:
    cap = policy.p["max_output_tokens"]
    for r in ref.rows:
        if r["fate"] == CALLED and _feature_ok(policy, r) and r["out"] > cap:
            r["out"] = cap
            r["acts"][-1] = 1


@register_reference("batch")
def _batch(policy, ref: _Ref) -> None:
    for r in ref.rows:
        if r["fate"] == CALLED and _feature_ok(policy, r) and not r["batch"]:
            if ref.batchable[r["model"]]:
                r["batch"] = True
                r["acts"][-1] = 1
            else:
                r["acts"][-1] = 2


def _json_key(text, key):
    try:
        v = json.loads(text).get(key) if isinstance(text, str) else None
    except (ValueError, AttributeError):
        return None
    return None if v is None else v if isinstance(v, str) else json.dumps(v)


@register_reference("drop_retries")
def _drop_retries(policy, ref: _Ref) -> None:
    after, last_status = policy.p["after"], {}
    for r in ref.rows:
        prev = found = None
        if after is not None:
            lid = _json_key(r["tags"], policy.p["link"])
            prev = last_status.get(lid) if lid is not None else None
            found = lid is not None and prev is not None
            if lid is not None:
                last_status[lid] = r["status"]
        retry = r["fate"] == CALLED and _feature_ok(policy, r) and r["attempt"] is not None \
            and r["attempt"] >= policy.p["min_attempt"]
        if not retry:
            continue
        if after is None or (found and prev in after):
            r["fate"] = REMOVED
            r["acts"][-1] = 1
        elif not found:
            r["acts"][-1] = 2


@register_reference("compress")
def _compress(policy, ref: _Ref) -> None:
    ppm, parts = policy.ppm, policy.p["parts"]
    for r in ref.rows:
        if r["fate"] != CALLED or not _feature_ok(policy, r) or r["in"] < policy.p["min_input_tokens"]:
            continue
        cut_u = (r["in"] - r["cached"] - r["write"]) * ppm // 1_000_000 if "uncached" in parts else 0
        cut_c = r["cached"] * ppm // 1_000_000 if "cached" in parts else 0
        cut_w = r["write"] * ppm // 1_000_000 if "cache_write" in parts else 0
        if cut_u + cut_c + cut_w > 0:
            r["in"] -= cut_u + cut_c + cut_w
            r["cached"] -= cut_c
            r["write"] -= cut_w
            r["acts"][-1] = 1


def classify(policy, prompt: str | None, input_tokens: int) -> str:
    """The seed's classify_query with the policy's parameters (words = single spaces + 1)."""
    p = policy.p
    if prompt is not None:
        text = prompt.strip(" ")
        words = 0 if text == "" else text.count(" ") + 1
        if words < p["light_max_words"] and input_tokens < p["light_max_input_tokens"]:
            return "light"
    low = prompt.lower() if prompt is not None else None
    if (low is not None and any(k.lower() in low for k in p["heavy_keywords"])) \
            or input_tokens > p["heavy_min_input_tokens"]:
        return "heavy"
    return "standard"


@register_reference("route")
def _route(policy, ref: _Ref) -> None:
    p = policy.p
    resolve = ref.book.resolve
    for r in ref.rows:
        if r["fate"] != CALLED:
            continue
        plan = p["plans"].get(r["tenant"], p["default_plan"]) if r["tenant"] is not None else p["default_plan"]
        for i, rule in enumerate(p["rules"], 1):
            if "feature" in rule and r["feature"] not in rule["feature"]:
                continue
            if "tenant" in rule and r["tenant"] not in rule["tenant"]:
                continue
            if "plan" in rule and plan not in rule["plan"]:
                continue
            if "from_model" in rule and r["model"] not in {resolve(m) for m in rule["from_model"]}:
                continue
            if "keywords" in rule and (r["prompt"] is None
                                       or not any(k.lower() in r["prompt"].lower() for k in rule["keywords"])):
                continue
            if "min_input_tokens" in rule and r["in"] < rule["min_input_tokens"]:
                continue
            if "max_input_tokens" in rule and r["in"] > rule["max_input_tokens"]:
                continue
            if "tier" in rule and classify(policy, r["prompt"], r["in"]) not in rule["tier"]:
                continue
            if ref.move_to(r, rule["model"]):
                r["acts"][-1] = i
            break


def _budget(policy, ref: _Ref, partition: Callable[[dict], tuple], cap_of: Callable[[dict], int], unit: str) -> None:
    spend: dict = defaultdict(int)
    action = policy.p["action"]
    for r in ref.rows:
        if unit == "tokens":
            x = r["in"] + r["out"] if r["fate"] == CALLED else 0
        else:
            x = r["cost"]
        key = partition(r)
        spend[key] += x
        if spend[key] <= cap_of(r):
            continue
        if action == "downgrade":
            if r["fate"] == CALLED and ref.move_to(r, policy.p["downgrade_to"]):
                r["acts"][-1] = 1
        elif r["fate"] == CALLED or (action == "block" and r["fate"] == CACHE_HIT):
            r["fate"] = BLOCKED
            r["acts"][-1] = 1


@register_reference("daily_budget")
def _daily_budget(policy, ref: _Ref) -> None:
    cap = usd_to_units(policy.p["usd"])
    _budget(policy, ref, lambda r: r["day"], lambda r: cap, "usd")


@register_reference("tenant_quota")
def _tenant_quota(policy, ref: _Ref) -> None:
    table, default = policy.caps()
    month = policy.p["period"] == "month"
    _budget(policy, ref,
            lambda r: (r["tenant"], (r["day"].year, r["day"].month) if month else r["day"]),
            lambda r: table.get(r["tenant"], default) if r["tenant"] is not None else default,
            policy.p["unit"])


@register_reference("budget_fill")
def _budget_fill(policy, ref: _Ref) -> None:
    cap = usd_to_units(policy.p["usd"])
    spend: dict = defaultdict(int)
    for r in ref.rows:
        key = (r["day"],) if policy.p["scope"] == "org" else (r["tenant"], r["day"])
        c = r["cost"]
        if c and spend[key] + c > cap:
            if r["fate"] in (CALLED, CACHE_HIT):
                r["fate"] = BLOCKED
                r["acts"][-1] = 1
        else:
            spend[key] += c
