"""The admin commands against the real deployment."""

from __future__ import annotations

import subprocess
from pathlib import Path

from demo.parts import BIN
from demo.stack import Stack


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "openvpn-sso"), *args], capture_output=True, text=True,
                          timeout=60)


def test_doctor_checks_every_part(stack: Stack) -> None:
    proc = cli("doctor", "--config", str(stack.config_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for name in ("redis", "idp discovery", "idp jwks", "clock", "management vpn1",
                 "management vpn-short", "public base url", "secret oidc.client_secret",
                 "secret servers.vpn-short.management_password"):
        assert any(line.startswith("ok") and name in line for line in out.splitlines()), name
    assert stack.workdir.joinpath("client-secret").read_text().strip() not in out


def test_doctor_names_what_is_broken(stack: Stack, tmp_path: Path) -> None:
    broken = tmp_path / "config.toml"
    text = stack.config_path.read_text()
    text = text.replace(str(stack.openvpn["vpn1"].management_socket), "/nonexistent/mgmt.sock")
    pw_file = stack.workdir / "vpn-short.mgmt-password"
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    broken.write_text(text.replace(str(pw_file), str(wrong)))
    proc = cli("doctor", "--config", str(broken))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert any(line.startswith("FAIL") and "management vpn1" in line for line in lines)
    assert any(line.startswith("FAIL") and "management vpn-short" in line for line in lines)
    assert any("hint: unix socket" in line for line in lines)
    assert any(line.startswith("ok") and "redis" in line for line in lines)
    assert "not-the-password" not in proc.stdout + proc.stderr


def test_check_config_and_server_conf(stack: Stack) -> None:
    ok = cli("check-config", "--config", str(stack.config_path))
    assert ok.returncode == 0 and ok.stdout.startswith("ok: 2 server(s)")
    conf = cli("server-conf", "--config", str(stack.config_path), "--server", "vpn1",
               "--hook", str(BIN / "openvpn-sso-hook"), "--tmp-dir", "/run/openvpn-sso/vpn1")
    assert conf.returncode == 0
    assert "management-client-auth" in conf.stdout.splitlines()
    assert conf.stdout.splitlines()[3].startswith('auth-user-pass-verify "')


def test_metrics_aggregate_all_gunicorn_workers(stack: Stack) -> None:
    """`serve` runs 2 workers sharing PROMETHEUS_MULTIPROC_DIR: /metrics shows the
    logins of the whole session (earlier tests), whichever worker answers."""
    import requests

    base = stack.service.base_url  # type: ignore[union-attr]
    totals = []
    for _ in range(4):  # several scrapes land on different workers
        text = requests.get(base + "/metrics", timeout=10).text
        approved = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                    if line.startswith("openvpn_sso_logins_finished_total{")
                    and 'outcome="approved"' in line]
        totals.append(sum(approved))
        assert "openvpn_sso_pending_logins{" in text
        assert "openvpn_sso_request_duration_seconds_bucket" in text
    assert min(totals) >= 1 and len(set(totals)) == 1, totals
