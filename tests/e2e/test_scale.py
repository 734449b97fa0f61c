"""Several OpenVPN servers on one deployment, and service replicas behind a real
load balancer (nginx) where one replica dies in the middle of a login."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from demo.parts import LoadBalancer, RedisServer, login_across, login_in_browser
from demo.stack import VPN1_SETTINGS, ServerSpec, Stack

CONNECT_TIMEOUT = 30


def test_two_openvpn_servers_share_one_redis_and_one_service(stack: Stack,
                                                             chromium: Any) -> None:
    """vpn1 (unix management socket) and vpn-short (TCP with a password): two logins
    at once, each verdict reaches the right server."""
    with stack.client("alice") as one, stack.client("alice", server_id="vpn-short") as two:
        url_one, url_two = one.wait_web_auth_url(), two.wait_web_auth_url()
        assert url_one != url_two
        r = redis.Redis.from_url(stack.redis_url or "", decode_responses=True)
        servers = {r.hget(f"ovpnsso:login:{u.rsplit('=', 1)[1]}", "server")
                   for u in (url_one, url_two)}
        assert servers == {"vpn1", "vpn-short"}
        for url in (url_two, url_one):
            assert login_in_browser(chromium, url, "alice", "alice-password").title == \
                "You are connected"
        assert ",CONNECTED,SUCCESS,10.77.0." in one.wait_state("CONNECTED", CONNECT_TIMEOUT)
        assert ",CONNECTED,SUCCESS,10.78.0." in two.wait_state("CONNECTED", CONNECT_TIMEOUT)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory,
               redis_server: RedisServer) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("replicas"), redis_url=redis_server.url, replicas=2,
               servers=[ServerSpec("vpn1", "10.79.0.0 255.255.255.0",
                                   settings=VPN1_SETTINGS | {"tunnel_network": "10.79.0.0/24",
                                                             "static_addresses": {}})],
               sections={"limits": {"requests_per_minute": 10000}}) as s:
        yield s


def test_a_replica_dies_mid_login_and_the_login_completes(replicated: Stack,
                                                          chromium: Any) -> None:
    lb = replicated.service
    assert isinstance(lb, LoadBalancer)
    login_upstream = ""

    def kill_the_login_replica() -> None:
        nonlocal login_upstream
        (login_upstream,) = [up for path, status, up in lb.served() if path == "/login"]
        victim = next(r for r in replicated.replicas_running if r.listen == login_upstream)
        assert victim.proc is not None
        os.killpg(victim.proc.pid, signal.SIGKILL)  # the replica that started the login
        victim.proc.wait(10)

    with replicated.client("alice") as client:
        login_across(chromium, client.wait_web_auth_url(), "alice", "alice-password",
                     kill_the_login_replica)
        client.wait_state("CONNECTED", CONNECT_TIMEOUT)
    served = {path: up for path, status, up in lb.served() if status in ("200", "302")}
    # the state, the browser binding and the confirmation lived in Redis, not in A
    assert served["/callback"] != login_upstream and served["/confirm"] != login_upstream
