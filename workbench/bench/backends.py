"""Backends: one class per wire protocol, found by name in a registry.

* ``openai`` — the official ``openai`` client against any OpenAI-compatible base URL (llama.cpp server,
  vLLM, LM Studio, hosted OpenAI, ...). Streams ``/v1/chat/completions`` and asks for ``usage`` in the
  last chunk (``stream_options.include_usage``).
* ``ollama`` — the official ``ollama`` client on Ollama's native API (``/api/chat`` or ``/api/generate``,
  streaming NDJSON) and reads the server's own timing fields from the final message
  (``load_duration``, ``prompt_eval_duration``, ``eval_duration``, ``eval_count``, ...).

A backend only turns a :class:`BenchRequest` into :class:`StreamEvent` objects; all timing is done by the
harness, identically for every backend. API keys are read from the environment (the *name* of the
variable is configurable) and are handed straight to the client: no backend keeps, returns or logs them.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Iterator
from urllib.parse import urlsplit, urlunsplit

from .faults import StreamCut, classify
from .records import BenchRequest, StreamEvent

__all__ = [
    "Backend",
    "OllamaBackend",
    "OpenAIBackend",
    "backend_names",
    "create_backend",
    "register_backend",
    "public_url",
]

_REGISTRY: dict[str, type["Backend"]] = {}

_TEXT = StreamEvent.TEXT
_DONE = StreamEvent.DONE


def register_backend(cls: type["Backend"]) -> type["Backend"]:
    """Class decorator: make a backend available under ``cls.name``."""
    if not getattr(cls, "name", None):
        raise ValueError("a backend class needs a non-empty `name`")
    _REGISTRY[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def create_backend(name: str, base_url: str, model: str, **options: Any) -> "Backend":
    """Instantiate the backend registered as ``name``. Unknown name → ``ValueError``."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(backend_names())}") from None
    return cls(base_url, model, **options)


def public_url(url: str) -> str:
    """The URL without user:password or query string (which may carry credentials)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _key_from_env(api_key_env: str | None) -> str | None:
    if not api_key_env:
        return None
    value = os.environ.get(api_key_env)
    return value or None


class Backend(ABC):
    """One server protocol. Subclasses implement :meth:`stream` and :meth:`describe`."""

    name: ClassVar[str] = ""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if not base_url or "://" not in base_url:
            raise ValueError(f"base URL must look like http://host:port, got {base_url!r}")
        scheme = base_url.split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"base URL must be http:// or https://, got {scheme}:// in {public_url(base_url)!r}")
        if not model:
            raise ValueError("model must not be empty")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self._typed_key = api_key or None  # a key typed into the app (never saved or described)
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)

    def _key(self) -> str | None:
        return self._typed_key or _key_from_env(self.api_key_env)

    @abstractmethod
    def stream(self, request: BenchRequest) -> Iterator[StreamEvent]:
        """Send one streaming request; yield TEXT events then exactly one DONE event.

        Must raise (any exception; :func:`faults.classify` names it) if the server errs or the stream
        ends without its final message. Closing the generator early must close the connection.
        """

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the server says about itself and the model (no secrets), for the run's environment."""

    def info(self) -> dict[str, Any]:
        """The backend's own settings, safe to store (never the key itself)."""
        return {
            "backend": self.name,
            "base_url": public_url(self.base_url),
            "model": self.model,
            "api_key_env": self.api_key_env,
            "api_key_set": self._key() is not None,
            "timeout_s": self.timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
        }

    def close(self) -> None:  # pragma: no cover - trivial
        pass

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@register_backend
class OpenAIBackend(Backend):
    """OpenAI-compatible ``/v1/chat/completions`` through the official ``openai`` client."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        include_usage: bool = True,
        extra_body: dict[str, Any] | None = None,
        max_tokens_param: str = "max_tokens",
    ) -> None:
        super().__init__(base_url, model, api_key_env=api_key_env, api_key=api_key, timeout_s=timeout_s,
                         connect_timeout_s=connect_timeout_s)
        import openai

        parts = urlsplit(self.base_url)
        if parts.path in ("", "/"):
            self.base_url = self.base_url + "/v1"  # a bare server address: the API lives under /v1
        if max_tokens_param not in ("max_tokens", "max_completion_tokens"):
            raise ValueError("max_tokens_param must be 'max_tokens' or 'max_completion_tokens'")
        self.include_usage = include_usage
        self.extra_body = dict(extra_body or {})
        self.max_tokens_param = max_tokens_param  # newer hosted OpenAI models want max_completion_tokens
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=self.base_url,
            # Local servers accept anything; the client insists on a non-empty key.
            api_key=self._key() or "no-key",
            timeout=openai.Timeout(self.timeout_s, connect=self.connect_timeout_s),
            max_retries=0,
        )

    def stream(self, request: BenchRequest) -> Iterator[StreamEvent]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            self.max_tokens_param: request.max_output_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if self.include_usage:
            kwargs["stream_options"] = {"include_usage": True}
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body
        stream = self._client.chat.completions.create(**kwargs)
        finish_reason = None
        usage = None
        try:
            nxt = stream.__next__  # not `for chunk in stream`: that adds a wrapper generator
            while True:
                try:
                    chunk = nxt()
                except StopIteration:
                    break
                if chunk.usage is not None:
                    usage = chunk.usage
                choices = chunk.choices
                if choices:
                    choice = choices[0]
                    delta = choice.delta
                    if delta is not None:
                        text = delta.content
                        if text:
                            yield StreamEvent(_TEXT, text)
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
        finally:
            # Close the client's own generators too, so nothing lingers until garbage collection.
            inner = getattr(stream, "_iterator", None)
            if inner is not None and hasattr(inner, "close"):
                inner.close()
            stream.close()
        if finish_reason is None:
            raise StreamCut("stream closed before any finish_reason")
        yield StreamEvent(
            _DONE,
            finish_reason=finish_reason,
            input_tokens=getattr(usage, "prompt_tokens", None),
            output_tokens=getattr(usage, "completion_tokens", None),
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"api": "openai-compatible", "endpoint": "/chat/completions"}
        try:
            page = self._client.with_options(timeout=min(5.0, self.timeout_s)).models.list()
            models = []
            for m in page.data:
                d = m.model_dump()
                models.append({k: d[k] for k in ("id", "object", "owned_by", "created") if d.get(k) is not None})
            out["models"] = models
        except Exception as exc:  # noqa: BLE001 - describing is best effort
            out["models_error"] = classify(exc).reason
        return out

    def close(self) -> None:
        self._client.close()


def _ns_to_ms(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) / 1e6


@register_backend
class OllamaBackend(Backend):
    """Ollama's native API through the official ``ollama`` client."""

    name = "ollama"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OLLAMA_API_KEY",
        api_key: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        endpoint: str = "chat",
        keep_alive: str | float | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(base_url, model, api_key_env=api_key_env, api_key=api_key, timeout_s=timeout_s,
                         connect_timeout_s=connect_timeout_s)
        if endpoint not in ("chat", "generate"):
            raise ValueError(f"ollama endpoint must be 'chat' or 'generate', got {endpoint!r}")
        import httpx
        import ollama

        self.endpoint = endpoint
        self.keep_alive = keep_alive
        self.options = dict(options or {})
        key = self._key()
        headers = {"Authorization": f"Bearer {key}"} if key else None
        self._client = ollama.Client(
            host=self.base_url, timeout=httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s),
            headers=headers,
        )
        self._meta_client = None  # created on first describe(): a short timeout for metadata calls

    def stream(self, request: BenchRequest) -> Iterator[StreamEvent]:
        options: dict[str, Any] = {"num_predict": request.max_output_tokens, "temperature": request.temperature}
        if request.seed is not None:
            options["seed"] = request.seed
        options.update(self.options)
        chat = self.endpoint == "chat"
        if chat:
            parts = self._client.chat(self.model, messages=list(request.messages), stream=True,
                                      options=options, keep_alive=self.keep_alive)
        else:
            parts = self._client.generate(self.model, prompt=request.prompt_text, stream=True,
                                          options=options, keep_alive=self.keep_alive)
        final = None
        try:
            for part in parts:
                text = (part.message.content if part.message is not None else None) if chat else part.response
                if text:
                    yield StreamEvent(_TEXT, text)
                if part.done:
                    final = part
                    break
        finally:
            parts.close()
        if final is None:
            raise StreamCut("stream closed before the final message (done=true)")
        load_ms = _ns_to_ms(final.load_duration)
        prompt_ms = _ns_to_ms(final.prompt_eval_duration)
        eval_ms = _ns_to_ms(final.eval_duration)
        server: dict[str, float] = {}
        if load_ms is not None:
            server["load_ms"] = load_ms
        if prompt_ms is not None:
            server["prompt_eval_ms"] = prompt_ms
        if eval_ms is not None:
            server["eval_ms"] = eval_ms
        if final.total_duration is not None:
            server["total_ms"] = _ns_to_ms(final.total_duration)
        if prompt_ms is not None:
            server["ttft_ms"] = (load_ms or 0.0) + prompt_ms
        if eval_ms and final.eval_count:
            server["output_tokens_per_s"] = final.eval_count / (eval_ms / 1000.0)
        yield StreamEvent(
            _DONE,
            finish_reason=final.done_reason or "stop",
            input_tokens=final.prompt_eval_count,
            output_tokens=final.eval_count,
            server=server,
        )

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"api": "ollama", "endpoint": f"/api/{self.endpoint}"}
        try:
            if self._meta_client is None:
                import httpx
                import ollama

                key = self._key()  # re-read: the backend never keeps an environment key
                self._meta_client = ollama.Client(
                    host=self.base_url, headers={"Authorization": f"Bearer {key}"} if key else None,
                    timeout=httpx.Timeout(min(5.0, self.timeout_s), connect=self.connect_timeout_s))
            listing = self._meta_client.list()
            models = []
            for m in listing.models:
                entry: dict[str, Any] = {"model": m.model, "digest": m.digest, "size": m.size}
                if m.details is not None:
                    entry["details"] = {k: v for k, v in m.details.model_dump().items() if v not in (None, "", [])}
                models.append(entry)
            out["models"] = models
        except Exception as exc:  # noqa: BLE001 - best effort
            out["models_error"] = classify(exc).reason
        return out

    def close(self) -> None:
        self._client.close()
        if self._meta_client is not None:
            self._meta_client.close()


BackendFactory = Callable[..., Backend]
