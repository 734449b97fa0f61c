"""Session records and the admin commands, with real clients."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from demo.parts import BIN, login_in_browser
from demo.stack import Stack

CONNECT_TIMEOUT = 30


def cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "openvpn-sso"), *args, "--config", str(stack.config_path)],
                          capture_output=True, text=True, timeout=60)


def connect(stack: Stack, chromium: Any, client: Any) -> str:
    page = login_in_browser(chromium, client.wait_web_auth_url(), "alice", "alice-password")
    assert page.title == "You are connected"
    client.wait_state("CONNECTED", CONNECT_TIMEOUT)
    return str(client.real_address())


def listed(stack: Stack, address: str) -> bool:
    return address in cli(stack, "sessions", "list", "--user", "alice").stdout


def test_session_is_listed_and_removed_by_the_disconnect_hook(stack: Stack,
                                                              chromium: Any) -> None:
    with stack.client("alice", extra_lines=["explicit-exit-notify 1"]) as client:
        address = connect(stack, chromium, client)
        out = cli(stack, "sessions", "list", "--server", "vpn1").stdout
        row = next(line for line in out.splitlines() if address in line)
        assert " alice " in f" {row} " and "vpn1" in row and " 10.77.0." in row
    deadline = time.monotonic() + 30  # the server notices the exit, runs client-disconnect
    while listed(stack, address):
        assert time.monotonic() < deadline, "session still listed after the client left"
        time.sleep(0.5)


def test_sessions_kill_ends_a_real_clients_tunnel(stack: Stack, chromium: Any) -> None:
    with stack.client("alice") as client:
        address = connect(stack, chromium, client)
        session_ids = [line.split()[0] for line in
                       cli(stack, "sessions", "list", "--user", "alice").stdout.splitlines()
                       if address in line]
        assert len(session_ids) == 1
        proc = cli(stack, "sessions", "kill", "--session", session_ids[0], "--reason",
                   "Maintenance window: reconnect after 18:00")
        assert proc.returncode == 0 and "killed" in proc.stdout, proc.stdout + proc.stderr
        assert client.wait_auth_failed(10) == "Maintenance window: reconnect after 18:00"
        assert not listed(stack, address)
    nothing = cli(stack, "sessions", "kill", "--user", "nobody-at-all")
    assert nothing.returncode == 1 and "no matching session" in nothing.stdout


def test_logout_at_the_idp_disconnects_the_vpn_session(stack: Stack, chromium: Any) -> None:
    """OIDC Back-Channel Logout: the IdP ends alice's sessions and tells the service,
    which ends her VPN session."""
    assert stack.idp is not None
    with stack.client("alice") as client:
        address = connect(stack, chromium, client)
        report = stack.idp.admin("POST", "/__admin/logout/alice")
        assert any(b["ok"] for b in report["backchannel"]), report
        assert client.wait_auth_failed(15) == "Signed out at the identity provider"
        assert not listed(stack, address)


def test_verifier_disconnects_a_user_disabled_at_the_idp(stack: Stack, chromium: Any) -> None:
    assert stack.idp is not None
    with stack.client("carol") as carol, stack.client("alice") as alice:
        for client, user in ((carol, "carol"), (alice, "alice")):
            page = login_in_browser(chromium, client.wait_web_auth_url(), user,
                                    f"{user}-password")
            assert page.title == "You are connected"
            client.wait_state("CONNECTED", CONNECT_TIMEOUT)
        stack.idp.admin("POST", "/__admin/users/carol/disable")
        try:
            proc = cli(stack, "sessions", "verify")
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "refused: 1" in proc.stdout and "allowed:" in proc.stdout, proc.stdout
            assert carol.wait_auth_failed(15) == (
                "Your account is no longer allowed at the identity provider")
            assert not alice.exited()  # still allowed, still connected
        finally:
            stack.idp.admin("POST", "/__admin/users/carol/enable")


def test_verifier_disconnects_a_user_removed_from_the_allowed_groups(stack: Stack,
                                                                     chromium: Any) -> None:
    """Group membership is managed at the IdP: after carol leaves vpn-users, the next
    verification ends her session with the policy's reason."""
    assert stack.idp is not None
    carol = next(u for u in stack.users if u.username == "carol")
    with stack.client("carol") as client:
        connect_as(stack, chromium, client, "carol")
        stack.idp.admin("POST", "/__admin/users", carol.as_json() | {"groups": ["/ops"]})
        try:
            proc = cli(stack, "sessions", "verify")
            assert "policy: 1" in proc.stdout, proc.stdout + proc.stderr
            assert client.wait_auth_failed(15) == (
                "Access denied: carol is not in any of the groups allowed on VPN server vpn1 "
                "(vpn-users)")
        finally:
            stack.idp.admin("POST", "/__admin/users", carol.as_json())


def connect_as(stack: Stack, chromium: Any, client: Any, user: str) -> None:
    page = login_in_browser(chromium, client.wait_web_auth_url(), user, f"{user}-password")
    assert page.title == "You are connected"
    client.wait_state("CONNECTED", CONNECT_TIMEOUT)
