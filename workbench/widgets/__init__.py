"""ipywidgets + Altair: state objects (traitlets) and thin views over ``workbench.core``."""
from __future__ import annotations

import importlib.util
import sys
import types


def _defer_iri_grammar() -> None:
    """jsonschema (imported by Altair) imports ``rfc3987_syntax`` for its "iri" format checker, and
    that module compiles a Lark grammar when imported: about 2 s of every app kernel's start on
    this machine, for a checker Altair's validation never calls. Stand in a module whose
    ``is_valid_syntax`` imports the real one on its first call (any other name does too), so the
    checker still works, later."""
    name = "rfc3987_syntax"
    if name in sys.modules or "jsonschema" in sys.modules or importlib.util.find_spec(name) is None:
        return
    stub = types.ModuleType(name, "stand-in: the real module is imported on first use")

    def real():
        if sys.modules.get(name) is stub:
            del sys.modules[name]
        module = importlib.import_module(name)
        stub.__dict__.update({k: v for k, v in module.__dict__.items() if k != "__getattr__"})
        return module

    def is_valid_syntax(term, value):
        return real().is_valid_syntax(term, value)

    def getattr_(attr):
        if attr.startswith("__"):  # the import system probes __path__ & co.: not a reason to load
            raise AttributeError(attr)
        return getattr(real(), attr)

    stub.is_valid_syntax = is_valid_syntax
    stub.__getattr__ = getattr_
    sys.modules[name] = stub


_defer_iri_grammar()
