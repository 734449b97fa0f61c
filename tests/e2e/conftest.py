"""The real stack for end-to-end tests: OpenVPN 2.6 server and clients, Redis,
node-oidc-provider, the callback service under gunicorn, headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from demo.parts import RedisServer, User, browser
from demo.stack import DEFAULT_USERS, VPN1_SETTINGS, ServerSpec, Stack

# Hostile IdP accounts: their username claim tries management-protocol injection
# and script injection into pages. Neither is in an allowed group.
INJECTION_NAME = 'eve" TEMP\nclient-auth 0 1\nEND\nclient-auth 1 1\nEND\nclient-auth 2 1'
HTML_NAME = "<img src=x onerror=alert(1)><script>alert(2)</script>"
ATTACK_USERS = [
    User("eve", "eve-password", ["contractors"], claims={"preferred_username": INJECTION_NAME}),
    User("mallet", "mallet-password", [], claims={"preferred_username": HTML_NAME}),
]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    servers = [ServerSpec("vpn1", "10.77.0.0 255.255.255.0", settings=VPN1_SETTINGS),
               # a short pending timeout, to see an expired login end cleanly; and its
               # management interface on TCP with a password
               ServerSpec("vpn-short", "10.78.0.0 255.255.255.0", pending_timeout=10,
                          tcp_management=True)]
    with Stack(tmp_path_factory.mktemp("stack"), servers=servers,
               users=DEFAULT_USERS + ATTACK_USERS, redis_url=redis_server.url,
               sections={"limits": {"requests_per_minute": 10000},
                         "branding": {"name": "Example Corp VPN",
                                      "support": "IT helpdesk: extension 4242"}}) as s:
        yield s


@pytest.fixture(scope="session", autouse=True)
def _installed(installed_copy_is_current: None) -> None:
    """The hook and the service under test run from the installed package."""


@pytest.fixture(scope="session")
def seen_codes() -> list[str]:
    """Authorization codes seen in browsers, for the no-secrets-in-logs check."""
    return []


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b
