"""Issue 9.1: the local-vs-hosted page cannot make the server send a secret anywhere.

Against the real fault server on loopback (it records every request's headers), driven through the
app's state exactly as the page's controls drive it.
"""
from __future__ import annotations

import secrets

import pytest

from workbench.bench.keys import (DEFAULT_KEY_HOSTS, KEYS_ENV, KeyRefused, allowed_key_hosts, encode_key_hosts,
                                  key_options, parse_key_spec, url_host)
from workbench.widgets.local_vs_hosted import LocalVsHostedState


@pytest.fixture
def secret() -> str:
    return "s3cr3t-" + secrets.token_hex(12)


def _auth_sent(server, before: int) -> list[str]:
    return [h.get("Authorization") or h.get("authorization") or "" for h in server.seen_headers[before:]]


def test_a_page_cannot_name_an_arbitrary_server_variable(fault_server, monkeypatch, secret):
    monkeypatch.setenv("DB_PASSWORD", secret)
    monkeypatch.delenv(KEYS_ENV, raising=False)
    before = len(fault_server.seen_headers)
    st = LocalVsHostedState(load_sample=False, base_url=fault_server.url, model="ok", api_key_env="DB_PASSWORD")
    assert st.fetch_models() == []
    assert "'DB_PASSWORD' may not be used here" in st.error and secret not in st.error
    st.start_run(blocking=True)
    assert "may not be used here" in st.error and st.run is None
    assert not any(secret in a for a in _auth_sent(fault_server, before))
    assert len(fault_server.seen_headers) == before  # refused before any request left


def test_the_default_key_goes_to_another_host_only_after_confirmation(fault_server, monkeypatch, secret):
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.delenv(KEYS_ENV, raising=False)
    before = len(fault_server.seen_headers)
    st = LocalVsHostedState(load_sample=False, base_url=fault_server.url, model="ok")
    assert st.fetch_models() == []
    assert "OPENAI_API_KEY is configured for api.openai.com" in st.error
    assert len(fault_server.seen_headers) == before
    st.confirm_key = True
    assert st.fetch_models() and st.error == ""
    assert f"Bearer {secret}" in _auth_sent(fault_server, before)
    # The confirmation was for that host: another URL needs a new one.
    st.base_url = fault_server.url.replace("127.0.0.1", "localhost")
    assert st.confirm_key is False
    n = len(fault_server.seen_headers)
    assert st.fetch_models() == [] and "tick 'send the key to localhost:" in st.error
    assert len(fault_server.seen_headers) == n


def test_a_typed_key_is_sent_to_the_page_url_and_an_unset_variable_sends_nothing(fault_server, monkeypatch, secret):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv(KEYS_ENV, raising=False)
    before = len(fault_server.seen_headers)
    st = LocalVsHostedState(load_sample=False, base_url=fault_server.url, model="ok")
    assert st.fetch_models() and st.error == ""  # no key set: a local server needs no confirmation
    assert _auth_sent(fault_server, before) == ["Bearer no-key"]
    st.api_key = secret
    assert st.fetch_models()
    assert _auth_sent(fault_server, before)[-1] == f"Bearer {secret}"


def test_start_up_configuration_decides_the_allowed_variables(monkeypatch, secret):
    env = {KEYS_ENV: encode_key_hosts({"MY_TOKEN": "127.0.0.1:9999"}), "MY_TOKEN": secret,
           "OPENAI_API_KEY": secret}
    assert allowed_key_hosts(env) == {"MY_TOKEN": "127.0.0.1:9999"}
    assert key_options("openai", "http://127.0.0.1:9999/v1", "MY_TOKEN", environ=env) == {"api_key_env": "MY_TOKEN"}
    with pytest.raises(KeyRefused):
        key_options("openai", "http://127.0.0.1:9998/v1", "MY_TOKEN", environ=env)
    with pytest.raises(KeyRefused, match="may not be used"):
        key_options("openai", "http://127.0.0.1:9999/v1", "OPENAI_API_KEY", environ=env)
    # The backend's default variable, not allowed here: nothing is sent (not refused).
    assert key_options("openai", "https://api.openai.com/v1", "", environ=env) == {"api_key_env": None}
    assert allowed_key_hosts({}) == DEFAULT_KEY_HOSTS
    assert key_options("openai", "https://API.openai.com/v1", "", environ={"OPENAI_API_KEY": "x"}) == \
        {"api_key_env": "OPENAI_API_KEY"}
    # A look-alike host is another host.
    with pytest.raises(KeyRefused):
        key_options("openai", "https://api.openai.com.evil.test/v1", "", environ={"OPENAI_API_KEY": "x"})
    with pytest.raises(KeyRefused):
        key_options("openai", "https://api.openai.com@evil.test/v1", "", environ={"OPENAI_API_KEY": "x"})


def test_key_specs_and_hosts_parse_strictly():
    assert parse_key_spec("OPENAI_API_KEY=API.openai.com") == ("OPENAI_API_KEY", "api.openai.com")
    assert parse_key_spec("X") == ("X", None)
    for bad in ("", "1X", "A B", "X=http://a/b", "X=a b"):
        with pytest.raises(ValueError):
            parse_key_spec(bad)
    assert url_host("http://u:p@Example.org:81/v1") == "example.org:81"
    assert url_host("http://[::1]:8080/") == "[::1]:8080"


def test_backends_refuse_schemes_other_than_http():
    from workbench.bench import create_backend

    for url in ("ftp://127.0.0.1:21/v1", "file:///etc/passwd", "gopher://x"):
        with pytest.raises(ValueError, match="http:// or https://"):
            create_backend("openai", url, "m")
