"""Response-cache and prompt-cache replay (exact, normalised, semantic; provider prefix caching)
and the hit quality of semantic caches on labelled pairs. Pure: numpy/pandas, no widgets."""
from workbench.core.cache.keys import DEFAULT_PATTERNS, NAMESPACE_COLUMNS, cache_text, normalize
from workbench.core.cache.prefix import PrefixReplay, mooncake_block_replay, prefix_replay
from workbench.core.cache.quality import (
    bitext_pairs, choose_threshold, confusion, guard_effects, pr_curve, read_pairs, similarities,
    threshold_table, wilson,
)
from workbench.core.cache.replay import CacheConfig, CacheReplay, CacheReplayer, replay_cache
from workbench.core.cache.rules import load_rules, provider_rule
from workbench.core.cache.scan import exact_scan, semantic_scan
from workbench.core.cache.embed import attach_embeddings

__all__ = ["CacheConfig", "CacheReplay", "CacheReplayer", "attach_embeddings", "DEFAULT_PATTERNS", "NAMESPACE_COLUMNS", "PrefixReplay",
           "bitext_pairs", "cache_text", "choose_threshold", "confusion", "exact_scan", "guard_effects",
           "load_rules", "mooncake_block_replay", "normalize", "pr_curve", "prefix_replay",
           "provider_rule", "read_pairs", "replay_cache", "semantic_scan", "similarities",
           "threshold_table", "wilson"]
