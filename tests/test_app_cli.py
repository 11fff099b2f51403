"""``workbench app``: argument handling and the Voila command line (no server started here)."""
from __future__ import annotations

import socket
from workbench.cli.app import JUPYTER_DATA, TEMPLATE, app_names, voila_argv
from workbench.widgets.app_index import APPS_DIR


def test_unknown_app_is_one_line_exit_2_listing_valid_names(run_cli):
    r = run_cli("app", "no_such_app", "--no-browser")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown app 'no_such_app'" in lines[0]
    for name in app_names():
        assert name in lines[0]
    assert "index" not in app_names() and "token_counter" in app_names()


def test_bad_port_is_a_usage_error(run_cli):
    r = run_cli("app", "--port", "99999")
    assert r.returncode == 2 and "port must be 1-65535" in r.stderr


def test_busy_port_is_reported_before_starting_voila(run_cli):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("app", "token_counter", "--port", str(port), "--no-browser")
    assert r.returncode == 2 and f"port {port} on 127.0.0.1 is already in use" in r.stderr


def test_voila_is_local_tokenless_and_uses_the_offline_template():
    argv = voila_argv(APPS_DIR, APPS_DIR, 8866, open_browser=False)
    assert "--Voila.ip=127.0.0.1" in argv and "--Voila.token=" in argv
    assert "--Voila.open_browser=False" in argv and "--Voila.port=8866" in argv
    assert f"--VoilaConfiguration.template={TEMPLATE}" in argv
    assert "--VoilaConfiguration.show_tracebacks=False" in argv


def test_offline_template_has_no_cdn_and_a_same_origin_csp():
    folder = JUPYTER_DATA / "voila" / "templates" / TEMPLATE
    for name in ("index.html.j2", "page.html", "csp.macro.html.j2"):
        text = (folder / name).read_text()
        assert "cdn." not in text and "https://" not in text and "http://" not in text
    for name in ("index.html.j2", "page.html"):
        assert "csp_meta()" in (folder / name).read_text()
    assert "default-src 'self'" in (folder / "csp.macro.html.j2").read_text()
    assert (folder / "conf.json").is_file()


def test_help_lists_the_subcommand(run_cli):
    r = run_cli("app", "--help")
    assert r.returncode == 0 and "--no-browser" in r.stdout and "127.0.0.1" in r.stdout


def test_allow_host_and_key_env_are_validated(run_cli):
    r = run_cli("app", "--allow-host", "http://evil/", "--no-browser")
    assert r.returncode == 2 and "not a host name" in r.stderr
    r = run_cli("app", "--key-env", "DB PASSWORD", "--no-browser")
    assert r.returncode == 2 and "not an environment variable name" in r.stderr
    r = run_cli("app", "--help")
    assert "--allow-host" in r.stdout and "--key-env" in r.stdout and "OPENAI_API_KEY=api.openai.com" in r.stdout


def test_abandoned_kernels_are_culled_within_two_minutes():
    from workbench.cli.app import CULL_IDLE_S, CULL_INTERVAL_S

    argv = voila_argv(APPS_DIR, APPS_DIR, 8866, open_browser=False)
    assert f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_S}" in argv
    assert f"--MappingKernelManager.cull_interval={CULL_INTERVAL_S}" in argv
    assert "--MappingKernelManager.cull_connected=False" in argv  # an open page's kernel stays
    assert CULL_IDLE_S + CULL_INTERVAL_S <= 90  # reclaimed within two minutes, with margin


def test_every_app_has_a_preheated_kernel_and_the_cull_time_is_an_option(run_cli):
    from workbench.cli.app import FILL_DELAY_S, POOL_SIZE

    argv = voila_argv(APPS_DIR, APPS_DIR, 8866, open_browser=False)
    assert "--VoilaConfiguration.preheat_kernel=True" in argv
    assert f"--VoilaConfiguration.default_pool_size={POOL_SIZE}" in argv and POOL_SIZE >= 1
    assert f"--VoilaKernelManager.fill_delay={FILL_DELAY_S}" in argv
    short = voila_argv(APPS_DIR, APPS_DIR, 8866, open_browser=False, cull_idle_s=4)
    assert "--MappingKernelManager.cull_idle_timeout=4" in short
    assert "--MappingKernelManager.cull_interval=1" in short  # checked often enough to matter
    r = run_cli("app", "--cull-idle", "0", "--no-browser")
    assert r.returncode == 2 and "at least 1 second" in r.stderr
    r = run_cli("app", "--pool-size", "-1", "--no-browser")
    assert r.returncode == 2 and "must be 0-8" in r.stderr
    r = run_cli("app", "--help")
    assert "--cull-idle" in r.stdout and "--pool-size" in r.stdout
    cold = voila_argv(APPS_DIR, APPS_DIR, 8866, open_browser=False, pool_size=0)
    assert "--VoilaConfiguration.preheat_kernel=False" in cold  # --pool-size 0: no kernel kept
