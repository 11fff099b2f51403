"""Registers the ``cascade`` policy (an operating point of the cascade simulator replayed over a
traffic log), which lives in :mod:`workbench.core.cascade.traffic`, so policy files can name it."""
from workbench.core.cascade import traffic as _traffic  # noqa: F401  (registration on import)
