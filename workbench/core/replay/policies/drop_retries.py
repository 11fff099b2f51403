"""``drop_retries``: the retries that validation failures caused are not made.

A retry (``attempt ≥ min_attempt``) is a *validation* retry when the previous attempt of the same
logical request came back with a status in ``after`` (default ``ok``: the model answered, the
application rejected the answer and asked again). Attempts are linked by the ``link`` key of the
``tags`` JSON (default ``logical_id``); the previous attempt is the previous row with that key in
processing order. Retries after errors, timeouts or rate limits are kept: they were needed. With
``after: all`` every retry row is removed without linking (for logs that only retry on validation).
"""
from __future__ import annotations

import re

import narwhals.stable.v2 as nw

from workbench.core.replay.params import Param, PolicyError
from workbench.core.replay.pricing import FATE, REMOVED
from workbench.core.replay.policies._common import FEATURES_ALL, code_where, needs_feature
from workbench.core.replay.registry import Policy, Reason, register_policy


def _key(value, at):
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise PolicyError(f"{at} must be a plain JSON key (letters, digits, _), got {value!r}")
    return value


@register_policy
class DropRetries(Policy):
    name = "drop_retries"
    summary = ("remove validation retries: a retry whose previous attempt was answered (status ok) "
               "is not made; retries after errors are kept")
    params = (
        Param("min_attempt", "int", "attempt number from which a row is a retry", default=2,
              minimum=2, maximum=100),
        Param("after", "strings_or_all", "statuses of the previous attempt that make a retry a validation "
              "retry (or all: every retry row, no linking)", default=("ok",)),
        Param("link", "custom", "key of the tags JSON that links the attempts of one logical request",
              default="logical_id", parse=_key, label="str"),
        FEATURES_ALL,
    )

    @property
    def linked(self) -> bool:
        return self.p["after"] is not None

    def requires(self) -> set[str]:
        return {"attempt"} | needs_feature(self.p["features"])

    def reads(self) -> set[str]:
        return {"tags", "status"} if self.linked else set()

    def derive(self, ctx):
        """Link attempts once: 1 = the previous attempt's status is in ``after``, 2 = no previous
        attempt found, 0 = otherwise (decided against the logged statuses, in (ts, id) order)."""
        if not self.linked:
            return ctx.frame
        link, prev = ctx.private("link"), ctx.private("prev")
        frame = ctx.json_field(ctx.frame, "tags", self.p["link"], link)
        frame = ctx.window(frame, {prev: nw.col("status").shift(1).over(link, order_by=ctx.order_by)},
                           [link, "status"])
        found = ~nw.col(link).is_null() & ~nw.col(prev).is_null()
        valid = found & nw.col(prev).is_in(list(self.p["after"])).fill_null(False)
        return frame.with_columns(**{ctx.private("linked"): nw.when(valid).then(nw.lit(1, nw.Int8))
                                     .when(~found).then(nw.lit(2, nw.Int8)).otherwise(nw.lit(0, nw.Int8))}
                                  ).drop(link, prev)

    def reasons(self):
        if not self.linked:
            return (Reason(f"retry removed (attempt ≥ {self.p['min_attempt']})", kind="removed"),)
        return (Reason(f"validation retry removed (previous attempt {'/'.join(self.p['after'])})", kind="removed"),
                Reason(f"retry kept: previous attempt not found by tags.{self.p['link']}", changes=False))

    def apply(self, ctx):
        retry = (ctx.called & ctx.isin("feature", self.p["features"])
                 & (nw.col("attempt") >= self.p["min_attempt"]).fill_null(False))
        if not self.linked:
            return ctx.frame.with_columns(**{
                FATE: nw.when(retry).then(nw.lit(REMOVED, nw.Int8)).otherwise(nw.col(FATE)),
                ctx.act: code_where(retry),
            })
        linked = nw.col(ctx.private("linked"))
        hit = retry & (linked == 1)
        return ctx.frame.with_columns(**{
            FATE: nw.when(hit).then(nw.lit(REMOVED, nw.Int8)).otherwise(nw.col(FATE)),
            ctx.act: nw.when(hit).then(nw.lit(1, nw.Int8)).when(retry & (linked == 2)).then(nw.lit(2, nw.Int8))
            .otherwise(nw.lit(0, nw.Int8)),
        }).drop(ctx.private("linked"))
