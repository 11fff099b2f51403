"""Plain data records shared by the benchmark harness, the backends and the result files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Phases of a request within a run.
COLD = "cold"  # the very first request of a run, reported on its own
WARMUP = "warmup"  # excluded from the aggregates
MEASURED = "measured"

# Where a token count came from.
SOURCE_USAGE = "usage"  # reported by the server (OpenAI `usage`, Ollama `prompt_eval_count`/`eval_count`)
SOURCE_COUNTED = "counted"  # counted client-side with workbench.core.tokens (method appended after ':')


@dataclass(frozen=True, slots=True)
class BenchRequest:
    """One request to send: chat messages plus the output budget."""

    messages: tuple[dict[str, str], ...]
    max_output_tokens: int = 64
    prompt_id: str = ""
    dataset: str = ""
    temperature: float = 0.0
    seed: int | None = 0

    @property
    def prompt_text(self) -> str:
        return "\n".join(m.get("content", "") for m in self.messages)


class StreamEvent:
    """One event of a streamed response, produced by a backend.

    ``kind`` is ``TEXT`` (a piece of generated text, normally one token) or ``DONE`` (the server's final
    message: finish reason, usage and any timing fields the server reports). Kept minimal (``__slots__``)
    because one is created per streamed token.
    """

    TEXT = 1
    DONE = 2
    __slots__ = ("kind", "text", "finish_reason", "input_tokens", "output_tokens", "server")

    def __init__(
        self,
        kind: int,
        text: str = "",
        *,
        finish_reason: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        server: dict[str, float] | None = None,
    ) -> None:
        self.kind = kind
        self.text = text
        self.finish_reason = finish_reason
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.server = server

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        if self.kind == StreamEvent.TEXT:
            return f"StreamEvent(TEXT, {self.text!r})"
        return (
            f"StreamEvent(DONE, finish_reason={self.finish_reason!r}, input_tokens={self.input_tokens}, "
            f"output_tokens={self.output_tokens}, server={self.server})"
        )


@dataclass(slots=True)
class RequestResult:
    """Everything measured for one request. Times in milliseconds, offsets in seconds from the level start."""

    index: int
    phase: str = MEASURED
    level: str = ""
    concurrency: int = 1
    prompt_id: str = ""
    dataset: str = ""
    scheduled_s: float = 0.0
    start_s: float = 0.0
    queue_ms: float = 0.0
    ok: bool = False
    error_reason: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    finish_reason: str | None = None
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    tpot_ms: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    chunks: int = 0
    input_tokens: int | None = None
    input_tokens_source: str | None = None
    output_tokens: int | None = None
    output_tokens_source: str | None = None
    output_tokens_per_s: float | None = None
    server_load_ms: float | None = None
    server_prompt_eval_ms: float | None = None
    server_eval_ms: float | None = None
    server_total_ms: float | None = None
    server_ttft_ms: float | None = None
    server_output_tokens_per_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RequestResult":
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if isinstance(kwargs.get("itl_ms"), str):  # CSV stores the list as space-separated numbers
            kwargs["itl_ms"] = [float(x) for x in kwargs["itl_ms"].split()] if kwargs["itl_ms"] else []
        return cls(**kwargs)
