"""Which ``Host`` and ``Origin`` values the app server answers to (DNS-rebinding defence).

Voila serves the apps without a token on 127.0.0.1. A web page on a foreign origin can still reach
such a server through DNS rebinding: its name (``evil.test``) first resolves to the attacker, then to
127.0.0.1, and the browser sends the page's requests - the kernel websocket included - with
``Host: evil.test:8866`` and ``Origin: http://evil.test:8866``. Voila accepts any ``Host``
(``allow_remote_access=True``) and checks ``Origin`` only against ``Host``, so both pass.

:func:`refusal` is the check the server runs before routing every request:

* the ``Host`` header's name must be a loopback name (``127.0.0.1``, ``localhost``, ``::1``, any
  127.x address) or one the user allowed (``workbench app --allow-host NAME``);
* a request that carries ``Origin`` (websockets, scripts' fetches, form posts) must come from the
  same origin it is addressed to: scheme-less ``host:port`` of ``Origin`` equal to ``Host``.
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def host_name(netloc: str) -> str:
    """``"Example.org:8866"`` -> ``"example.org"``; ``"[::1]:8866"`` -> ``"::1"``."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:netloc.find("]")] if "]" in netloc else ""
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalise_host(name: str) -> str:
    """A user's ``--allow-host`` value as compared with ``Host`` (lower case, no port, no dot at the end)."""
    name = name.strip().lower().rstrip(".")
    if not name or any(c in name for c in "/ @?#"):
        raise ValueError(f"not a host name: {name!r}")
    return host_name(name) if name.count(":") == 1 or name.startswith("[") else name


def refusal(host: str | None, origin: str | None, allowed: frozenset[str] = frozenset()) -> str | None:
    """Why a request with these headers is refused, or None when it may proceed."""
    if not host:
        return "request without a Host header"
    name = host_name(host).rstrip(".")
    if not (is_loopback(name) or name in allowed):
        return (f"Host {host!r} is not this server's (loopback only; "
                "start `workbench app --allow-host NAME` to allow another name)")
    if origin is not None:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.strip().lower():
            return f"Origin {origin[:200]!r} is not this server's own page"
    return None
