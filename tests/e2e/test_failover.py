"""Redis high availability: the master dies in the middle of a login; Sentinel (or
Redis Cluster) promotes its replica; the login completes and new logins work.
While no master is reachable, the hook refuses at once with a reason."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.parts import RedisClusterSet, SentinelSet, hook_setup, login_across
from demo.stack import VPN1_SETTINGS, ServerSpec, Stack
from shared.records import login_key

CONNECT_TIMEOUT = 30


@contextlib.contextmanager
def ha_stack(work: Path, settings: dict[str, Any], subnet: str) -> Iterator[Stack]:
    """One OpenVPN server, the service, and Redis as ``settings`` says (HA)."""
    with Stack(work / "stack", redis_url="redis://127.0.0.1:1/0",
               redis_settings=settings | {"wait_replicas": 1, "wait_timeout_ms": 200,
                                          "connect_timeout": 1},
               servers=[ServerSpec("vpn1", f"{subnet} 255.255.255.0", settings=VPN1_SETTINGS | {
                   "tunnel_network": f"{subnet}/24", "static_addresses": {}})],
               sections={"limits": {"requests_per_minute": 10000}}) as stack:
        yield stack


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, SentinelSet]]:
    work = tmp_path_factory.mktemp("ha")
    with SentinelSet(work / "redis") as redis_set, ha_stack(work, {
            "sentinels": redis_set.sentinels, "sentinel_master": redis_set.name},
            "10.80.0.0") as stack:
        yield stack, redis_set


def test_master_dies_mid_login_and_logins_go_on(ha: tuple[Stack, SentinelSet],
                                                chromium: Any) -> None:
    stack, redis_set = ha
    def fail_over() -> None:
        redis_set.kill("master")
        deadline = time.monotonic() + 30
        while redis_set.master_port_now() != redis_set.replica_port:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.2)

    with stack.client("alice") as client:
        # the record is written (and replicated) before the URL reaches the client
        login_across(chromium, client.wait_web_auth_url(), "alice", "alice-password", fail_over)
        client.wait_state("CONNECTED", CONNECT_TIMEOUT)
    # a new connection after the failover: the hook finds the new master itself
    with stack.client("alice") as again:
        assert again.wait_web_auth_url().startswith(stack.service.base_url)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def cluster_ha(tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Stack, RedisClusterSet]]:
    work = tmp_path_factory.mktemp("cluster-ha")
    with RedisClusterSet(work / "redis") as cluster, ha_stack(
            work, {"cluster_nodes": cluster.nodes}, "10.81.0.0") as stack:
        yield stack, cluster


def test_cluster_master_of_the_login_dies_mid_login(cluster_ha: tuple[Stack, RedisClusterSet],
                                                    chromium: Any) -> None:
    """The login's record lives on one master of a Redis Cluster; that master is
    killed between /login and /callback; its replica takes over the slot and the
    login completes. Later logins work with a node of the seed list dead."""
    stack, cluster = cluster_ha
    with stack.client("alice") as client:
        url = client.wait_web_auth_url()
        master = cluster.master_for(login_key("ovpnsso", url.rsplit("=", 1)[1]))

        def fail_over() -> None:
            cluster.kill(master)
            deadline = time.monotonic() + 30
            while master in cluster.masters() or not cluster.healthy():
                assert time.monotonic() < deadline, "no cluster failover"
                time.sleep(0.2)

        login_across(chromium, url, "alice", "alice-password", fail_over)
        client.wait_state("CONNECTED", CONNECT_TIMEOUT)
    for _ in range(3):  # logins land on every master's slots; the dead seed is skipped
        with stack.client("alice") as again:
            assert again.wait_web_auth_url().startswith(stack.service.base_url)  # type: ignore[union-attr]


def test_hook_refuses_when_redis_never_answers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A Redis that accepts no connection (a dead host, a partition): the hook gives
    up after its connect timeout and refuses with a reason; it never hangs."""
    import socket

    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue: further connects then hang
            try:
                fillers.append(socket.create_connection(stuck.getsockname(), timeout=0.3))
            except TimeoutError:
                break
        port = stuck.getsockname()[1]
        argv, env = hook_setup(tmp_path, f"redis://127.0.0.1:{port}/0",
                               sections={"limits": {"pending_per_ip": 100}})
        config = tmp_path / "config.toml"
        config.write_text(config.read_text().replace("connect_timeout = 2",
                                                     "connect_timeout = 1"))
        # (how long it takes is measured in bench/, not asserted here; the timeout
        # only turns a hang into a failure)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    finally:
        for f in fillers:
            f.close()
        stuck.close()
    assert proc.returncode == 1
    assert "temporarily unavailable" in (tmp_path / "reason").read_text()
    assert (tmp_path / "control").read_text() == ""
    assert "timed out" in proc.stderr
