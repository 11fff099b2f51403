"""Registers the cache policies (exact_cache, normalized_cache, semantic_cache, prefix_cache),
which live in :mod:`workbench.core.cache.policies`."""
from workbench.core.cache import policies as _policies  # noqa: F401  (registration on import)
