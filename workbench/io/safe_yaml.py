"""Bounded, safe YAML: a 1 KB file never costs gigabytes.

``yaml.safe_load`` runs no code, but it happily loads a "billion laughs" document: nine anchors,
each a list of ten aliases of the previous one, is a few hundred bytes and expands to 10^9 nodes the
moment anything walks it (an error message that formats it, a summary, ``json.dumps``). This loader
composes the node graph first - aliases there are shared references, so composing is cheap - and
measures what the document would expand to *before* any Python object is built:

* ``max_bytes``   the text itself (default 16 MB);
* ``max_nodes``   nodes after alias expansion (default 1,000,000);
* ``max_aliases`` alias uses (default 10,000);
* ``max_chars``   scalar characters after alias expansion (default 64 MiB);
* ``max_depth``   nesting (default 200; deeper is refused instead of a RecursionError);
* an alias inside the node it refers to (a recursive document) is refused.

A document over a limit raises :class:`YAMLBombError` (a ``yaml.YAMLError``, so callers' existing
``except yaml.YAMLError`` report it with their file name). :func:`brief` is the bounded ``repr`` for
putting a parsed value into a message.
"""
from __future__ import annotations

import reprlib
from typing import Any

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_BYTES = 16 * 1024 * 1024
MAX_NODES = 1_000_000
MAX_ALIASES = 10_000
MAX_DEPTH = 200
MAX_CHARS = 64 * 1024 * 1024


class YAMLBombError(yaml.YAMLError):
    """The document would expand beyond a limit (an alias bomb, or simply too large)."""


def _check(root: yaml.Node, max_nodes: int, max_aliases: int, max_depth: int, max_chars: int) -> None:
    """Expanded node and character counts of ``root``, without expanding it (memoised, iterative)."""
    size: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, scalar characters) once expanded
    open_: set[int] = set()
    aliases = 0
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            kids = [size[id(k)] for k in _children(node)]
            nodes = 1 + sum(k[0] for k in kids)
            chars = sum(k[1] for k in kids)
            if nodes > max_nodes:
                raise YAMLBombError(f"document expands to more than {max_nodes:,} nodes "
                                    "(aliases of aliases?); refused before loading")
            if chars > max_chars:
                raise YAMLBombError(f"document expands to more than {max_chars:,} characters; "
                                    "refused before loading")
            size[key] = (nodes, chars)
            continue
        if key in size:
            aliases += 1
            if aliases > max_aliases:
                raise YAMLBombError(f"more than {max_aliases:,} alias uses; refused before loading")
            continue
        if key in open_:
            raise YAMLBombError("an alias refers to a node that contains it (recursive document); refused")
        if depth > max_depth:
            raise YAMLBombError(f"nested deeper than {max_depth} levels; refused before loading")
        if isinstance(node, yaml.ScalarNode):
            size[key] = (1, len(node.value))
            continue
        open_.add(key)
        stack.append((node, depth, True))
        stack.extend((k, depth + 1, False) for k in reversed(_children(node)))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


def load_yaml(text: str | bytes, *, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES,
              max_aliases: int = MAX_ALIASES, max_depth: int = MAX_DEPTH, max_chars: int = MAX_CHARS) -> Any:
    """``yaml.safe_load`` with the limits above checked before construction."""
    if len(text) > max_bytes:
        raise YAMLBombError(f"YAML text is {len(text):,} bytes, over the {max_bytes:,}-byte limit")
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YAMLBombError("nested too deeply; refused before loading") from None
        if node is None:
            return None
        _check(node, max_nodes, max_aliases, max_depth, max_chars)
        return loader.construct_document(node)
    finally:
        loader.dispose()


_brief = reprlib.Repr()
_brief.maxstring, _brief.maxother, _brief.maxlist, _brief.maxdict, _brief.maxlevel = 60, 60, 4, 4, 2


def brief(value: Any, limit: int = 120) -> str:
    """A bounded ``repr`` for error messages: never the whole (possibly huge) parsed document."""
    text = _brief.repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
