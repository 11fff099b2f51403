"""Turn whatever a client library raised into a per-request error reason.

Reasons (stable strings, used in result files and aggregates):

``timeout``             no byte within the read timeout, or the connection could not be opened in time
``deadline``            the request ran past its total time budget while tokens were still trickling in
``http_<status>``       the server answered with an HTTP error status (``http_429``, ``http_500``, ...)
``connection_refused``  nothing listens on the port
``connection_error``    any other failure to connect (DNS, reset before any byte, ...)
``stream_cut``          the stream stopped before the server's final message (peer closed mid-way,
                        truncated chunked body, or a clean close without a finish marker)
``server_error``        the server sent an error object inside a 200 stream (Ollama's ``{"error": ...}``)
``protocol_error``      the response could not be parsed
``error``               anything else (the message says what)

Classification walks the exception's ``__cause__``/``__context__`` chain and matches on class names,
so it works for ``httpx``, the ``httpx2`` fork the ``openai`` client uses, ``ollama`` and the stdlib alike.
"""

from __future__ import annotations

import errno
import json
from dataclasses import dataclass

MAX_MESSAGE_CHARS = 300


class StreamCut(Exception):
    """The stream ended without the server's final message."""


class DeadlineExceeded(Exception):
    """The request exceeded its total time budget."""


@dataclass(frozen=True, slots=True)
class Fault:
    reason: str
    message: str
    http_status: int | None = None


def _chain(exc: BaseException):
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status_code",):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and value >= 100:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    if isinstance(value, int) and value >= 100:
        return value
    return None


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    text = " ".join(text.split())
    return text[:MAX_MESSAGE_CHARS]


def classify(exc: BaseException, *, tokens_received: int = 0) -> Fault:
    """Map an exception raised while sending/streaming one request to a :class:`Fault`."""
    chain = list(_chain(exc))
    message = _short(exc)

    for e in chain:
        if isinstance(e, DeadlineExceeded):
            return Fault("deadline", message)
        if isinstance(e, StreamCut):
            return Fault("stream_cut", message)

    # An HTTP status anywhere in the chain wins (openai.APIStatusError, ollama.ResponseError, HTTPStatusError).
    for e in chain:
        status = _status_of(e)
        if status is not None and status >= 400:
            return Fault(f"http_{status}", message, status)

    for e in chain:
        names = _names(e)
        if "ConnectionRefusedError" in names or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return Fault("connection_refused", message)
        if "ConnectError" in names and "refused" in str(e).lower():
            return Fault("connection_refused", message)

    for e in chain:
        names = _names(e)
        if names & {"TimeoutException", "APITimeoutError", "TimeoutError", "ReadTimeout", "ConnectTimeout",
                    "PoolTimeout", "WriteTimeout", "timeout"}:
            return Fault("timeout", message)

    for e in chain:
        names = _names(e)
        if names & {"RemoteProtocolError", "ReadError", "IncompleteRead", "ChunkedEncodingError",
                    "ConnectionResetError", "BrokenPipeError"}:
            # Once the response had started, a dropped connection is a cut stream.
            if tokens_received > 0 or "RemoteProtocolError" in names or "ReadError" in names:
                return Fault("stream_cut", message)
            return Fault("connection_error", message)

    for e in chain:
        names = _names(e)
        if names & {"ConnectError", "APIConnectionError", "ConnectionError", "NetworkError"}:
            if "refused" in str(e).lower():
                return Fault("connection_refused", message)
            return Fault("connection_error", message)

    for e in chain:
        names = _names(e)
        if "ResponseError" in names or "APIError" in names:  # ollama: error object inside the stream (status_code == -1)
            return Fault("server_error", message)
        if isinstance(e, json.JSONDecodeError) or names & {"DecodingError", "ValidationError", "SSEError",
                                                           "APIResponseValidationError"}:
            return Fault("stream_cut" if tokens_received else "protocol_error", message)

    return Fault("error", message)
