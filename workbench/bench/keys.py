"""Which API key the apps may send, and to which host.

A page of the local-vs-hosted app is driven by whoever can open it, so it must not be able to turn
the server into a courier for its secrets. The rules, enforced by :func:`key_options` before any
backend is built:

* Only the environment variables allowed when the server started may be sent as a key:
  ``workbench app --key-env NAME[=HOST]`` (default ``OPENAI_API_KEY=api.openai.com`` and
  ``OLLAMA_API_KEY=ollama.com``). ``workbench app`` passes the list to its kernels in
  ``WORKBENCH_APP_KEYS``; naming any other variable in the page is refused.
* Such a key goes only to the host it was configured for. Any other host - a local server included -
  gets it only after the page's explicit confirmation for that very host; a changed URL needs a new one.
* A key typed into the page is sent to the URL in the page (it is the user's own; never stored).
* An allowed variable that is unset sends nothing, so local servers without keys need no confirmation.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

#: Allowed key variables -> the host each is for, when ``workbench app`` is given no ``--key-env``.
DEFAULT_KEY_HOSTS: dict[str, str | None] = {"OPENAI_API_KEY": "api.openai.com", "OLLAMA_API_KEY": "ollama.com"}
#: Set by ``workbench app`` for its kernels: ``NAME=host,NAME2`` (a name without host: every use confirmed).
KEYS_ENV = "WORKBENCH_APP_KEYS"
#: The variable each backend reads when the page names none.
BACKEND_DEFAULT_ENV = {"openai": "OPENAI_API_KEY", "ollama": "OLLAMA_API_KEY"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class KeyRefused(ValueError):
    """The page asked to send a key it may not send (or not there without confirmation)."""


def parse_key_spec(text: str) -> tuple[str, str | None]:
    """``"NAME"`` or ``"NAME=host[:port]"`` -> ``(NAME, host or None)``."""
    name, _, host = text.strip().partition("=")
    if not _NAME.match(name):
        raise ValueError(f"not an environment variable name: {name!r}")
    host = host.strip().lower().rstrip("/")
    if host and not re.fullmatch(r"[a-z0-9.\-\[\]:]+", host):
        raise ValueError(f"not a host name: {host!r}")
    return name, host or None


def encode_key_hosts(keys: Mapping[str, str | None]) -> str:
    return ",".join(f"{k}={v}" if v else k for k, v in keys.items())


def allowed_key_hosts(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The key variables this process may send, from ``WORKBENCH_APP_KEYS`` (else the defaults)."""
    environ = os.environ if environ is None else environ
    text = environ.get(KEYS_ENV)
    if text is None:
        return dict(DEFAULT_KEY_HOSTS)
    return dict(parse_key_spec(part) for part in text.split(",") if part.strip())


def url_host(url: str) -> str:
    """``host`` or ``host:port`` of a URL, lower case (no user info)."""
    try:
        parts = urlsplit(url.strip())
        name, port = (parts.hostname or ""), parts.port
    except ValueError:
        return ""
    if ":" in name:
        name = f"[{name}]"
    return f"{name}:{port}" if port else name


def _split(host: str) -> tuple[str, str]:
    """``"a.b:8080"`` -> ``("a.b", "8080")``; ``"[::1]:80"`` -> ``("[::1]", "80")``; no port -> ``""``."""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and not name.endswith(":"):
        return name, port
    return host, ""


def _matches(configured: str | None, host: str) -> bool:
    """A configured host without a port matches that name on any port."""
    if not configured or not host:
        return False
    c_name, c_port = _split(configured)
    h_name, h_port = _split(host)
    return c_name == h_name and (not c_port or c_port == h_port)


def key_options(backend: str, base_url: str, key_env: str = "", *, typed_key: str = "",
                confirmed_host: str = "", allowed: Mapping[str, str | None] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Backend options (``api_key_env`` / ``api_key``) for a request the page asks for.

    Raises :class:`KeyRefused` when the variable is not allowed, or when its key would go to a host
    other than the configured one without ``confirmed_host`` naming that host.
    """
    environ = os.environ if environ is None else environ
    allowed = allowed_key_hosts(environ) if allowed is None else allowed
    host = url_host(base_url)
    if typed_key:
        return {"api_key_env": None, "api_key": typed_key}
    name = key_env.strip()
    if name and name not in allowed:
        names = ", ".join(allowed) or "(none)"
        raise KeyRefused(f"the API key variable {name[:60]!r} may not be used here (allowed: {names}; "
                         f"start `workbench app --key-env NAME=HOST` to allow another), or type the key")
    name = name or BACKEND_DEFAULT_ENV.get(backend, "")
    if name not in allowed or not environ.get(name):
        return {"api_key_env": None}  # nothing to send
    configured = allowed[name]
    if _matches(configured, host) or (confirmed_host and confirmed_host == host):
        return {"api_key_env": name}
    raise KeyRefused(f"{name} is configured for {configured or 'no host'}, not {host or base_url!r}: "
                     f"tick 'send the key to {host}' to send it there")
