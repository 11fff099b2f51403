"""Issue 9.1: the app server's Host/Origin rule (DNS rebinding); the browser test drives it for real."""
from __future__ import annotations

import pytest

from workbench.cli.host_guard import normalise_host, refusal


@pytest.mark.parametrize("host", ["127.0.0.1:8866", "localhost:8866", "[::1]:8866", "127.0.0.2", "LOCALHOST:1"])
def test_loopback_hosts_pass(host):
    assert refusal(host, None) is None
    assert refusal(host, f"http://{host}") is None


@pytest.mark.parametrize("host", ["evil.test:8866", "127.0.0.1.evil.test:8866", "192.168.1.5:8866", "", None,
                                  "0.0.0.0:8866", "localhost.evil.test"])
def test_foreign_hosts_are_refused(host):
    assert refusal(host, None) is not None


@pytest.mark.parametrize("origin", ["http://evil.test:8866", "http://127.0.0.1:8867", "null", "file://",
                                    "https://localhost:8866.evil.test"])
def test_foreign_origins_are_refused(origin):
    assert refusal("localhost:8866", origin) is not None


def test_allowed_names_are_configurable():
    allowed = frozenset({normalise_host("Tunnel.Example.org.")})
    assert refusal("tunnel.example.org:443", "https://tunnel.example.org:443", allowed) is None
    assert refusal("evil.test", None, allowed) is not None
    with pytest.raises(ValueError):
        normalise_host("http://x/")
