"""LLM cost workbench: prices, tokens and the arithmetic of LLM spend, with Voila apps on top.

The public API is flat: notebooks import only from ``workbench``. Names are loaded lazily, so
``import workbench`` stays light and never pulls in widget or network libraries by itself.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # prices
    "PriceBook": "workbench.core.prices",
    "PriceRecord": "workbench.core.prices",
    "ModelInfo": "workbench.core.prices",
    "PriceError": "workbench.core.prices",
    "UnknownModelError": "workbench.core.prices",
    "NoPriceError": "workbench.core.prices",
    "load_prices": "workbench.io.pricesheets",
    # tokens
    "TokenCount": "workbench.core.tokens",
    "count_tokens": "workbench.core.tokens",
    "count_messages": "workbench.core.tokens",
    "count_batch": "workbench.core.tokens",
    # cost
    "CostBreakdown": "workbench.core.cost",
    "Estimate": "workbench.core.cost",
    "EffectiveCost": "workbench.core.cost",
    "request_cost": "workbench.core.cost",
    "estimate": "workbench.core.cost",
    "effective_cost": "workbench.core.cost",
    "price_frame": "workbench.core.frame_cost",
    "all_examples": "workbench.core.worked_examples",
    "example": "workbench.core.worked_examples",
    "stated_price": "workbench.core.worked_examples",
    "exercise": "workbench.core.exercises",
    "check_answer": "workbench.core.exercises",
    # traffic logs
    "load_log": "workbench.io.traffic",
    "dataset_path": "workbench.io.datasets",
    # replay
    "replay": "workbench.core.replay",
    "ReplayResult": "workbench.core.replay",
    "PolicyStack": "workbench.core.replay",
    "PolicyError": "workbench.core.replay",
    "load_stack": "workbench.core.replay",
    "list_policies": "workbench.core.replay",
    "policy_schema": "workbench.core.replay",
    "make_policy": "workbench.core.replay",
    # embeddings (offline MiniLM by default; cached on disk)
    "embed_texts": "workbench.embeddings",
    "get_embedder": "workbench.embeddings",
    "prepare_sweep": "workbench.core.replay",
    "AttachedArray": "workbench.core.replay",
    # attribution
    "spend_by": "workbench.core.attribution",
    "anomalies": "workbench.core.attribution",
    "top_spenders": "workbench.core.attribution",
    "day_summary": "workbench.core.attribution",
    # cost preview
    "Scenario": "workbench.core.preview",
    "PARAMS": "workbench.core.preview",
    "price_scenario": "workbench.core.preview",
    # apps (widgets; imported only when asked for)
    "make_cost_preview": "workbench.widgets.cost_preview",
    "CostPreviewState": "workbench.widgets.cost_preview",
    "make_token_counter": "workbench.widgets.token_counter",
    "TokenCounterState": "workbench.widgets.token_counter",
    "make_spend_explorer": "workbench.widgets.spend_explorer",
    # caching
    "make_cache_replay": "workbench.widgets.cache_replay",
    "CacheConfig": "workbench.core.cache",
    "replay_cache": "workbench.core.cache",
    "prefix_replay": "workbench.core.cache",
    "make_local_vs_hosted_app": "workbench.widgets.local_vs_hosted",
    "make_app_index": "workbench.widgets.app_index",
    "discover_apps": "workbench.widgets.app_index",
    # Voila's pre-heated kernels: build before the page asks, then read its URL query
    "serve_app": "workbench.widgets.preheat",
    "app_query": "workbench.widgets.preheat",
    # cascade simulator
    "simulate_cascade": "workbench.core.cascade",
    "load_eval": "workbench.io.evaldata",
    "make_cascade_simulator": "workbench.widgets.cascade",
    "CascadeSimulatorState": "workbench.widgets.cascade_state",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
