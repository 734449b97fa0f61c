"""The core single sign-on flow with every part real."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import redis
import requests

from demo.parts import login_in_browser, open_in_browser
from demo.stack import Stack
from shared.records import login_key, new_state

CONNECT_TIMEOUT = 30


def record_of(stack: Stack, url: str) -> dict[str, str]:
    assert stack.redis_url is not None
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    return r.hgetall(login_key("ovpnsso", url.rsplit("=", 1)[1]))  # type: ignore[return-value]


def test_login_succeeds_and_client_connects(stack: Stack, chromium: Any,
                                            artifacts: Path) -> None:
    with stack.client("alice") as client:
        url = client.wait_web_auth_url()
        assert url.startswith(stack.service.base_url + "/login?s=")  # type: ignore[union-attr]
        assert len("WEB_AUTH::" + url) <= 245
        assert record_of(stack, url)["phase"] == "pending"
        page = login_in_browser(chromium, url, "alice", "alice-password",
                                screenshot=artifacts / "login-success.png")
        assert page.status == 200
        assert page.title == "You are connected"
        assert "Signed in as alice" in page.message
        state_line = client.wait_state("CONNECTED", CONNECT_TIMEOUT)
        assert ",CONNECTED,SUCCESS,10.77.0." in state_line
        rec = record_of(stack, url)
        assert (rec["phase"], rec["outcome"]) == ("done", "approved")
        # the sender ends its management session cleanly (quit, then OpenVPN's EOF):
        # no "TCP send error: Broken pipe" for the >CLIENT:ESTABLISHED that follows
        assert "MANAGEMENT: TCP send error" not in stack.openvpn["vpn1"].log_text()

        # the same login link cannot be used again, in any browser
        again = open_in_browser(chromium, url)
        assert (again.status, again.title) == (409, "Login link already used")


def test_wrong_password_then_right_one(stack: Stack, chromium: Any) -> None:
    with stack.client("alice") as client:
        url = client.wait_web_auth_url()
        page = login_in_browser(chromium, url, "alice", "alice-password",
                                wrong_password_first="not-her-password")
        assert page.title == "You are connected"
        client.wait_state("CONNECTED", CONNECT_TIMEOUT)


def test_user_refused_by_policy_gets_the_reason(stack: Stack, chromium: Any,
                                                artifacts: Path) -> None:
    with stack.client("bob") as client:
        url = client.wait_web_auth_url()
        started = time.monotonic()
        page = login_in_browser(chromium, url, "bob", "bob-password",
                                screenshot=artifacts / "login-denied.png")
        expected = ("Access denied: bob is not in any of the groups allowed on VPN server vpn1 "
                    "(vpn-users)")
        assert (page.status, page.title, page.message) == (403, "Access denied", expected)
        assert client.wait_auth_failed(10) == expected
        # delivered at once (client-kill), not at the client's next poll
        assert time.monotonic() - started < 10
        assert "CONNECTED,SUCCESS" not in "\n".join(client.lines())
        assert record_of(stack, url)["outcome"] == "denied"


def test_client_without_web_auth_is_refused_at_once(stack: Stack) -> None:
    with stack.client("old-client", iv_sso=None) as client:
        reason = client.wait_auth_failed(15)
        assert reason.startswith("This VPN requires web login (single sign-on)")
        assert not any("WEB_AUTH" in line for line in client.lines())


def test_expired_login_shows_a_page_and_the_client_is_refused(stack: Stack,
                                                              chromium: Any) -> None:
    with stack.client("alice", server_id="vpn-short") as client:
        url = client.wait_web_auth_url()
        time.sleep(11)  # vpn-short's pending_timeout is 10 s
        page = open_in_browser(chromium, url)
        assert (page.status, page.title) == (410, "Login link expired")
        assert "Reconnect your VPN client" in page.message
        reason = client.wait_auth_failed(10)
        assert reason == "Login link expired: reconnect to get a new one"


def test_unknown_or_malformed_state_shows_a_clear_page(stack: Stack, chromium: Any) -> None:
    base = stack.service.base_url  # type: ignore[union-attr]
    unknown = open_in_browser(chromium, f"{base}/login?s={new_state()}")
    assert (unknown.status, unknown.title) == (404, "Login link expired")
    assert "unknown or has expired" in unknown.message
    for bad in ("", "?s=x", "?s=" + "A" * 3000, "?s=%ff%fe" * 3, "?s=a&s=b"):
        page = open_in_browser(chromium, f"{base}/login{bad}")
        assert (page.status, page.title) == (400, "Invalid login link")
    # past gunicorn's request-line limit the server itself answers 4xx, never 5xx
    huge = requests.get(f"{base}/login?s=" + "A" * 9000, timeout=10)
    assert 400 <= huge.status_code < 500
    stray = open_in_browser(chromium, f"{base}/callback?state={new_state()}&code=abc")
    assert stray.status == 404


def test_renegotiations_reuse_the_login_without_a_new_web_auth(stack: Stack,
                                                               chromium: Any) -> None:
    """The shipped `auth-gen-token` line: TLS renegotiations (here every 5 s) are
    authenticated by the token, with no hook run and no new browser login."""
    with stack.client("alice", extra_lines=["reneg-sec 5"]) as client:
        page = login_in_browser(chromium, client.wait_web_auth_url(), "alice", "alice-password")
        assert page.title == "You are connected"
        client.wait_state("CONNECTED", CONNECT_TIMEOUT)
        deadline = time.monotonic() + 60
        while sum("Control Channel:" in line for line in client.lines()) < 3:  # 1 + 2 renegs
            assert time.monotonic() < deadline, "no two renegotiations within 60 s"
            assert not client.exited()
            time.sleep(0.5)
        web_auths = [line for line in client.lines() if line.startswith(">INFOMSG:WEB_AUTH")]
        assert len(web_auths) == 1
        assert not any("RECONNECTING" in line for line in client.lines())


def test_a_restarted_client_reconnects_on_its_token_without_a_new_login(
        stack: Stack, chromium: Any) -> None:
    with stack.client("alice") as client:
        page = login_in_browser(chromium, client.wait_web_auth_url(), "alice", "alice-password")
        assert page.title == "You are connected"
        client.wait_state("CONNECTED", CONNECT_TIMEOUT)
        seen = len(client.lines())
        client.restart()
        client.wait_state("RECONNECTING", CONNECT_TIMEOUT, since=seen)
        client.wait_state("CONNECTED", CONNECT_TIMEOUT, since=seen)
        assert sum(line.startswith(">INFOMSG:WEB_AUTH") for line in client.lines()) == 1
