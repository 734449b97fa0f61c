"""Who gets what: routes, DNS and static addresses chosen by IdP groups, checked on
the real client (its received PUSH_REPLY and the address it was given)."""

from __future__ import annotations

from typing import Any

from demo.parts import login_in_browser
from demo.stack import Stack

CONNECT_TIMEOUT = 30


def connect(stack: Stack, chromium: Any, user: str) -> tuple[str, str]:
    """Log ``user`` in with a client of their own; return (PUSH_REPLY, CONNECTED line)."""
    with stack.client(user) as client:
        page = login_in_browser(chromium, client.wait_web_auth_url(), user, f"{user}-password")
        assert page.title == "You are connected", page.message
        state = client.wait_state("CONNECTED", CONNECT_TIMEOUT)
        reply = next(line for line in client.lines() if "PUSH_REPLY" in line)
    return reply, state


def test_users_in_different_groups_get_different_routes(stack: Stack, chromium: Any) -> None:
    alice_reply, _ = connect(stack, chromium, "alice")  # group eng
    carol_reply, _ = connect(stack, chromium, "carol")  # group /ops
    assert "route 10.10.0.0 255.255.0.0" in alice_reply
    assert "route 10.20.0.0" not in alice_reply
    assert "route 10.20.0.0 255.255.255.0" in carol_reply
    assert "route 10.21.0.0 255.255.255.0" in carol_reply
    assert "route 10.10.0.0" not in carol_reply
    for reply in (alice_reply, carol_reply):  # the default entry reaches everyone
        assert "dhcp-option DNS 10.77.0.1" in reply
        assert "dhcp-option DOMAIN corp.example" in reply


def test_static_address_is_the_one_the_client_gets(stack: Stack, chromium: Any) -> None:
    reply, state = connect(stack, chromium, "carol")
    assert "ifconfig 10.77.0.50 255.255.255.0" in reply
    assert ",CONNECTED,SUCCESS,10.77.0.50," in state
    _, other = connect(stack, chromium, "alice")
    assert ",CONNECTED,SUCCESS,10.77.0.50," not in other


def test_user_outside_the_allowed_groups_is_denied_with_the_reason(stack: Stack,
                                                                    chromium: Any) -> None:
    with stack.client("bob") as client:
        page = login_in_browser(chromium, client.wait_web_auth_url(), "bob", "bob-password")
        assert page.title == "Access denied"
        reason = client.wait_auth_failed(10)
        assert reason == ("Access denied: bob is not in any of the groups allowed on VPN server "
                          "vpn1 (vpn-users)")
        assert not any("PUSH_REPLY" in line for line in client.lines())
