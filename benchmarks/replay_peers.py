"""The plain alternatives a user would write for the benchmark stack (route → batch → output cap →
tenant quota with downgrade → org daily budget), for ``bench_replay.py`` to run beside the engine:

* ``pandas_loop`` — one ``itertuples`` pass in (ts, request_id) order with dict lookups of the
  rates, float dollars: the straightforward loop.
* ``duckdb_sql`` — hand-written DuckDB SQL: CASE for the routes, a join on a flat rate table,
  window sums for the quota and the budget.

Both read the same price records as the engine (``rates_for``: tiers, batch discount, cache rules)
and must land on the engine's replayed dollars (checked by the benchmark to 1e-9 relative).
"""
from __future__ import annotations

import datetime as dt

from workbench.core.cost import rates_for

SEED_HEAVY = ("explain why", "compare", "design", "analyze", "implement")


def _rate_dict(book, models, day):
    """(model, batch, tier) → (input, cached, write, output, tier threshold) USD per token."""
    out = {}
    for m in models:
        rec = book.model(m).price_on(day)
        tiers = sorted(t.above_input_tokens for t in rec.tiers)
        for batch in (False, True):
            for level, shape in enumerate([0] + [t + 1 for t in tiers]):
                try:
                    r = rates_for(rec, shape, batch=batch)
                except Exception:  # no batch price
                    continue
                out[m, batch, level] = tuple(None if r[k] is None else r[k] / 1e6
                                             for k in ("input", "cached_input", "cache_write", "output"))
        out[m, "tiers"] = tiers
        out[m, "cache"] = rec.cached_input is not None
        out[m, "write"] = rec.cache_write_5m is not None
        out[m, "batch"] = rec.batch_input is not None and rec.batch_output is not None
    return out


def _cost(rates, m, batch, inp, cached, write, out):
    level = sum(1 for t in rates[m, "tiers"] if inp > t)
    ri, rc, rw, ro = rates[m, batch, level]
    return (inp - cached - write) * ri + cached * (rc or 0) + write * (rw or 0) + out * ro


def pandas_loop(df, stack: dict, book) -> float:
    """Replayed USD of the benchmark stack, one itertuples pass."""
    route, batch_p, cap_p, quota_p, budget_p = stack["policies"]
    models = ["gpt-4o", "gpt-4o-mini", "claude-3-haiku", "tiered-sonnet"]
    rates = _rate_dict(book, models, dt.date(2025, 3, 15))  # one price record per model all March
    plans = route["plans"]
    batch_features = set(batch_p["features"])
    cap_out = cap_p["max_output_tokens"]
    q_plans, q_limits = quota_p["plans"], quota_p["plan_limits"]
    q_default, mini = quota_p["limit"], quota_p["downgrade_to"]
    day_cap = budget_p["usd"]
    quota, daily = {}, {}
    total = 0.0
    df = df.sort_values(["ts", "request_id"])
    for r in df.itertuples(index=False):
        m, inp, cached, write, out = r.model, r.input_tokens, r.cached_input_tokens, r.cache_write_tokens, r.output_tokens
        plan = plans.get(r.tenant, route["default_plan"])
        text = r.prompt.strip(" ")
        words = 0 if not text else text.count(" ") + 1
        light = words < 20 and inp < 500
        target = None
        for rule in route["rules"]:
            if "plan" in rule and plan != rule["plan"]:
                continue
            if "feature" in rule and r.feature not in rule["feature"]:
                continue
            if "max_input_tokens" in rule and inp > rule["max_input_tokens"]:
                continue
            if "from_model" in rule and m not in rule["from_model"]:
                continue
            if rule.get("tier") == "light" and not light:
                continue
            target = rule["model"]
            break
        batch = False

        def move(to):
            nonlocal m, cached, write, batch
            if to != m:
                m = to
                cached = cached if rates[m, "cache"] else 0
                write = write if rates[m, "write"] else 0
                batch = batch and rates[m, "batch"]
        if target:
            move(target)
        if r.feature in batch_features and rates[m, "batch"]:
            batch = True
        out = min(out, cap_out)
        c = _cost(rates, m, batch, inp, cached, write, out)
        key = (r.tenant, r.ts.date())
        limit = q_limits.get(q_plans.get(r.tenant, ""), q_default)
        quota[key] = quota.get(key, 0.0) + c
        if quota[key] > limit:
            move(mini)
            c = _cost(rates, m, batch, inp, cached, write, out)
        d = r.ts.date()
        daily[d] = daily.get(d, 0.0) + c
        if daily[d] > day_cap:
            c = 0.0
        total += c
    return total


def duckdb_sql(path_or_frame, stack: dict, book, memory_limit: str | None = None) -> float:
    """Replayed USD of the benchmark stack in hand-written DuckDB SQL."""
    import duckdb
    import pyarrow as pa
    route, batch_p, cap_p, quota_p, budget_p = stack["policies"]
    models = ["gpt-4o", "gpt-4o-mini", "claude-3-haiku", "tiered-sonnet"]
    rates = _rate_dict(book, models, dt.date(2025, 3, 15))
    rows = []
    for m in models:
        tiers = rates[m, "tiers"]
        for batch in (False, True):
            if (m, batch, 0) not in rates:
                continue
            lv = [rates[m, batch, i] for i in range(len(tiers) + 1)]
            t1 = tiers[0] if tiers else 2**62
            hi = lv[-1]
            rows.append((m, batch, t1, *[v or 0.0 for v in lv[0]], *[v or 0.0 for v in hi]))
    rate_table = pa.table(list(zip(*rows)), names=["model", "batch", "t1", "i0", "c0", "w0", "o0", "i1", "c1", "w1", "o1"])
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit='{memory_limit}'")
    con.register("rates", rate_table)
    if isinstance(path_or_frame, str):
        con.execute(f"CREATE VIEW log AS SELECT * FROM read_parquet('{path_or_frame}')")
    else:
        con.register("log", path_or_frame)
    enterprise = ", ".join(f"'{t}'" for t, p in route["plans"].items() if p == "enterprise")
    free_not = ", ".join(f"'{t}'" for t, p in route["plans"].items() if p != "free")
    q_ent = ", ".join(f"'{t}'" for t, p in quota_p["plans"].items() if p in quota_p["plan_limits"])
    q_ent_limit = quota_p["plan_limits"]["enterprise"]
    price = lambda m, b: f"""(SELECT CASE WHEN x.in_t > r.t1 THEN (x.in_t - x.cached - x.write) * r.i1 + x.cached * r.c1 + x.write * r.w1 + x.out_t * r.o1
             ELSE (x.in_t - x.cached - x.write) * r.i0 + x.cached * r.c0 + x.write * r.w0 + x.out_t * r.o0 END
             FROM rates r WHERE r.model = {m} AND r.batch = {b})"""  # noqa: E731
    sql = f"""
    WITH routed AS (
      SELECT request_id, ts, tenant, CAST(ts AS DATE) AS day, input_tokens AS in_t, output_tokens AS out0,
             cached_input_tokens AS cached0, cache_write_tokens AS write0, model AS logged, feature,
             CASE WHEN tenant IN ({enterprise}) AND input_tokens <= 50000 THEN 'gpt-4o'
                  WHEN feature = 'autocomplete' THEN 'claude-3-haiku'
                  WHEN (CASE WHEN trim(prompt, ' ') = '' THEN 0 ELSE length(trim(prompt, ' '))
                        - length(replace(trim(prompt, ' '), ' ', '')) + 1 END) < 20
                       AND input_tokens < 500 THEN 'gpt-4o-mini'
                  WHEN tenant NOT IN ({free_not}) AND model IN ('gpt-4o', 'tiered-sonnet') THEN 'gpt-4o-mini'
                  ELSE model END AS m
      FROM log),
    shaped AS (
      SELECT *, CASE WHEN m = logged OR m IN ('gpt-4o', 'gpt-4o-mini', 'tiered-sonnet') THEN cached0 ELSE 0 END AS cached,
             CASE WHEN m = logged OR m = 'tiered-sonnet' THEN write0 ELSE 0 END AS write,
             feature IN ('reports', 'nightly-eval') AND m <> 'claude-3-haiku' AS b,
             LEAST(out0, {cap_p['max_output_tokens']}) AS out_t
      FROM routed),
    priced AS (SELECT x.*, {price('x.m', 'x.b')} AS c1 FROM shaped x),
    quota AS (
      SELECT *, SUM(c1) OVER (PARTITION BY tenant, day ORDER BY ts, request_id ROWS UNBOUNDED PRECEDING)
                > CASE WHEN tenant IN ({q_ent}) THEN {q_ent_limit} ELSE {quota_p['limit']} END AS over_q
      FROM priced),
    moved AS (
      SELECT x.*, CASE WHEN NOT over_q OR m = 'gpt-4o-mini' THEN c1 ELSE {price("'gpt-4o-mini'", 'x.b')} END AS c2
      FROM (SELECT * REPLACE (CASE WHEN over_q AND m = 'tiered-sonnet' THEN 0 ELSE write END AS write) FROM quota) x),
    budget AS (
      SELECT c2, SUM(c2) OVER (PARTITION BY day ORDER BY ts, request_id ROWS UNBOUNDED PRECEDING) > {budget_p['usd']} AS over_d
      FROM moved)
    SELECT SUM(CASE WHEN over_d THEN 0 ELSE c2 END) FROM budget"""
    return float(con.execute(sql).fetchone()[0])
