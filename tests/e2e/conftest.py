"""The real stack for end-to-end tests: OpenVPN 2.6 server and clients, Redis,
node-oidc-provider, the callback service under gunicorn, headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from demo.parts import RedisServer, browser
from demo.stack import ServerSpec, Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    servers = [ServerSpec("vpn1", "10.77.0.0 255.255.255.0"),
               # a short pending timeout, to see an expired login end cleanly
               ServerSpec("vpn-short", "10.78.0.0 255.255.255.0", pending_timeout=10)]
    with Stack(tmp_path_factory.mktemp("stack"), servers=servers,
               redis_url=redis_server.url) as s:
        yield s


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b
