"""What every app's state object shares: inline, per-field error messages."""
from __future__ import annotations

import functools

from traitlets import Dict, HasTraits


class FieldErrors(HasTraits):
    """``errors`` maps a field to its one-line message; views show it next to that field."""

    errors = Dict(help="field -> one-line message shown next to that field")

    def set_error(self, field: str, message: str) -> None:
        """Set (or, with an empty message, clear) the field's message; no change, no event."""
        if self.errors.get(field, "") != message:
            errors = {k: v for k, v in self.errors.items() if k != field}
            if message:
                errors[field] = message
            self.errors = errors


def one_line(exc: BaseException) -> str:
    """An exception as one line of text for an inline message (never a traceback)."""
    msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    return " ".join(str(msg).split()) or type(exc).__name__


def guarded(field: str):
    """Decorate a :class:`FieldErrors` method: an exception becomes ``errors[field]`` (one line)
    and the method returns None; success clears that field's message."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self: FieldErrors, *args, **kwargs):
            try:
                result = fn(self, *args, **kwargs)
            except Exception as e:  # shown next to the control, never a traceback
                self.set_error(field, one_line(e))
                return None
            self.set_error(field, "")
            return result

        return wrapper

    return deco


def after_this_cell(fn) -> None:
    """Run ``fn`` once the kernel has sent the running cell's output (a callback on ipykernel's
    event loop, so Voila shows the app first), or at once outside a kernel."""
    import asyncio

    try:
        from IPython import get_ipython
        in_kernel = getattr(get_ipython(), "kernel", None) is not None
        loop = asyncio.get_running_loop()
    except (ImportError, RuntimeError):
        in_kernel = False
    if not in_kernel:  # a loop can run without a kernel (Playwright's sync API keeps one): run now
        fn()
        return
    loop.call_soon(fn)
