"""Traffic logs in the formats people have, read into the one canonical request schema.

>>> from workbench.io.traffic import load_log
>>> result = load_log("requests.jsonl")          # format detected from the content
>>> result.summary()
'read 1,000 rows from requests.jsonl (format openai-jsonl): 998 kept, 2 rejected'
>>> result.report_frame()                        # file, line, field, reason per rejected row

Formats (:data:`FORMATS`): ``openai-jsonl``, ``openai-batch``, ``litellm``, ``langfuse``,
``helicone``, ``csv``, ``azure-2023``, ``mooncake``, ``burstgpt``. Large files stream in chunks
(:func:`iter_log`). Bad rows are never dropped silently: each is reported with its line, field and
reason, and ``strict=True`` raises :class:`StrictError` at the first one.
"""
from __future__ import annotations

# Registration order is the order of FORMATS (and of --help): keep it.
from workbench.io.traffic import openai as _openai  # noqa: F401  # isort: skip
from workbench.io.traffic import proxies as _proxies  # noqa: F401  # isort: skip
from workbench.io.traffic import csvmap as _csvmap  # noqa: F401  # isort: skip
from workbench.io.traffic import traces as _traces  # noqa: F401  # isort: skip
from workbench.io.traffic.formats import FORMATS, Format, UnknownFormatError
from workbench.io.traffic.loader import detect_format, iter_log, load_log
from workbench.io.traffic.result import Chunk, LoadError, LoadResult, Rejection, StrictError

__all__ = [
    "FORMATS", "Format", "UnknownFormatError", "detect_format", "iter_log", "load_log",
    "Chunk", "LoadError", "LoadResult", "Rejection", "StrictError",
]
