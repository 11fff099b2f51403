"""What every app's state object shares: inline, per-field error messages."""
from __future__ import annotations

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
