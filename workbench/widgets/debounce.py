"""Rate-limit a widget callback: react at once, then at most once per interval while input keeps coming.

A keystroke after a quiet period is applied immediately (leading edge), so a single edit or a
paste feels instant; while typing continues, calls are coalesced and the latest value is applied
at the end of each interval (trailing edge), so the last keystroke is never lost. With
``wait_ms=0``, or outside a running asyncio loop (plain Python, tests), every call is applied
synchronously.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable


class Debouncer:
    """Wrap ``fn(value)``; call the wrapper as often as you like."""

    def __init__(self, fn: Callable[[Any], None], wait_ms: float = 250):
        self.fn = fn
        self.wait = max(0.0, float(wait_ms)) / 1000.0
        self._handle: asyncio.TimerHandle | None = None
        self._last = float("-inf")
        self._pending: tuple[Any] | None = None

    def __call__(self, value: Any) -> None:
        loop = _running_loop() if self.wait > 0 else None
        if loop is None:
            self.fn(value)
            return
        now = loop.time()
        if self._handle is None and now - self._last >= self.wait:
            self._last = now
            self.fn(value)
            return
        self._pending = (value,)
        if self._handle is None:
            self._handle = loop.call_later(max(0.0, self._last + self.wait - now), self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = None
        if self._pending is not None:
            (value,), self._pending = self._pending, None
            self._last = loop.time()
            self.fn(value)

    def cancel(self) -> None:
        """Drop a pending value (the input it came from was replaced)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pending = None

    def flush(self) -> None:
        """Apply a pending value now (e.g. before reading the state)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._pending is not None:
            (value,), self._pending = self._pending, None
            self.fn(value)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:  # ipykernel dispatches comm messages from its loop's callbacks
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None
    return loop if loop.is_running() else None
