"""Registers the ``cascade`` policy (an operating point of the cascade simulator replayed over a
traffic log), which lives in :mod:`workbench.core.cascade.policy`, so policy files can name it."""
from workbench.core.cascade import policy as _policy  # noqa: F401  (registration on import)
