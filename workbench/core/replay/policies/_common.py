"""Declarations and expressions shared by several policies."""
from __future__ import annotations

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param

FEATURES_ALL = Param("features", "strings_or_all", "features it applies to (a list, or all)", default=None,
                     example=["reports"], values_from="feature")


def code_where(mask: nw.Expr, code: int = 1) -> nw.Expr:
    """Int8 action code: ``code`` where ``mask``, else 0."""
    return nw.when(mask).then(nw.lit(code, nw.Int8)).otherwise(nw.lit(0, nw.Int8))


def needs_feature(features) -> set[str]:
    return {"feature"} if features is not None else set()
