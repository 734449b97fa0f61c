"""One behaviour suite for both store implementations, against a real Redis and a
real Redis Cluster."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from demo.parts import RedisClusterSet, RedisServer
from shared.records import new_state
from shared.redis_store import RedisStore
from shared.resp import ClusterConnection, RedisAddress, RedisError, RespConnection
from shared.store import RespStore, StoreUnavailable


@pytest.fixture(params=["resp", "redis-py", "resp-cluster", "redis-py-cluster"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[object, object]]:
    """(store, a plain redis-py client of the same Redis for checks)."""
    if request.param.endswith("cluster"):
        cluster: RedisClusterSet = request.getfixturevalue("redis_cluster")
        raw: object = redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        if request.param == "resp-cluster":
            with ClusterConnection(RedisAddress("redis://x"), cluster.nodes, timeout=2) as conn:
                yield RespStore(conn), raw
        else:
            yield RedisStore(raw), raw  # type: ignore[arg-type]
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    raw = redis.Redis.from_url(server.url)
    if request.param == "resp":
        with RespConnection(RedisAddress(server.url), timeout=2) as conn:
            yield RespStore(conn), raw
    else:
        yield RedisStore(raw), raw  # type: ignore[arg-type]


@pytest.fixture
def store(backend: tuple[object, object]) -> object:
    return backend[0]


def key() -> str:
    return f"test:login:{new_state()}"


def test_create_is_create_if_absent_with_ttl(backend) -> None:  # type: ignore[no-untyped-def]
    store, raw = backend
    k = key()
    assert store.create(k, {"phase": "pending", "cn": "älice \"x\"\n"}, 30) is True
    assert store.create(k, {"phase": "other"}, 30) is False
    assert store.get(k) == {"phase": "pending", "cn": "älice \"x\"\n"}
    ttl = raw.ttl(k)
    assert 0 < ttl <= 30


def test_get_missing_is_none(store) -> None:  # type: ignore[no-untyped-def]
    assert store.get(key()) is None


def test_transition_compare_and_set(store) -> None:  # type: ignore[no-untyped-def]
    k = key()
    store.create(k, {"phase": "pending"}, 30)
    status, fields = store.transition(k, {"phase": "pending"},
                                      {"phase": "redirected", "binding": "b1"})
    assert status == "ok" and fields == {"phase": "redirected", "binding": "b1"}
    assert store.transition(k, {"phase": "pending"}, {"phase": "x"})[0] == "phase"
    assert store.transition(k, {"phase": "redirected", "binding": "wrong"},
                            {"phase": "taken"}) == ("mismatch:binding", None)
    assert store.transition(k, {"phase": "redirected", "absent": "x"},
                            {"phase": "taken"}) == ("mismatch:absent", None)
    status, fields = store.transition(k, {"phase": "redirected", "binding": "b1"},
                                      {"phase": "taken"})
    assert status == "ok" and fields is not None and fields["phase"] == "taken"
    status, fields = store.transition(k, {"phase": "redirected", "binding": "b1"},
                                      {"phase": "taken"})
    assert status == "phase" and fields is not None and fields["phase"] == "taken"
    assert store.transition(key(), {"phase": "pending"}, {}) == ("missing", None)


def test_pending_caps_per_ip_and_server(store) -> None:  # type: ignore[no-untyped-def]
    keys = (f"test:{{s}}:ip:{new_state()}", f"test:{{s}}:srv:{new_state()}")
    other_ip = (f"test:{{s}}:ip:{new_state()}", keys[1])
    assert [store.limit_pending(keys, f"m{i}", 100.0, 200.0, (2, 3), 60) for i in range(3)] == \
        [0, 0, 1]
    assert store.limit_pending(other_ip, "m9", 100.0, 200.0, (2, 3), 60) == 0
    assert store.limit_pending(other_ip, "m10", 100.0, 200.0, (2, 3), 60) == 2
    store.release_pending(keys, "m0")
    assert store.limit_pending(keys, "m11", 100.0, 200.0, (2, 3), 60) == 0
    # entries past their deadline no longer count
    assert store.limit_pending(keys, "m12", 250.0, 300.0, (2, 3), 60) == 0


def test_hit_counts_in_a_window(store) -> None:  # type: ignore[no-untyped-def]
    k = key()
    assert [store.hit(k, 60) for _ in range(3)] == [1, 2, 3]


def test_transition_is_usable_once_under_concurrency(redis_server: RedisServer) -> None:
    k = key()
    RedisStore(redis.Redis.from_url(redis_server.url)).create(k, {"phase": "redirected"}, 30)
    results: list[str] = []
    barrier = threading.Barrier(16)

    def take() -> None:
        s = RedisStore(redis.Redis.from_url(redis_server.url))
        barrier.wait()
        results.append(s.transition(k, {"phase": "redirected"}, {"phase": "taken"})[0])

    threads = [threading.Thread(target=take) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["phase"] * 15


def test_delete(store) -> None:  # type: ignore[no-untyped-def]
    k = key()
    store.create(k, {"phase": "pending"}, 30)
    store.delete(k)
    assert store.get(k) is None


def test_unreachable_redis_is_store_unavailable() -> None:
    with pytest.raises(RedisError) as info:
        RespConnection(RedisAddress("redis://127.0.0.1:1/0"), timeout=0.5)
    assert isinstance(info.value, StoreUnavailable)
    with pytest.raises(StoreUnavailable):
        RedisStore(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5,
                                        retry_on_timeout=False)).get(key())


def test_resp_auth_and_select(tmp_path, redis_server: RedisServer) -> None:  # type: ignore[no-untyped-def]
    with RedisServer(tmp_path) as protected:
        redis.Redis.from_url(protected.url).config_set("requirepass", "pw with spaces")
        addr = RedisAddress(protected.url.replace("/0", "/3"))
        with RespConnection(addr, timeout=2, password="pw with spaces") as conn:
            RespStore(conn).create("k", {"phase": "p"}, 10)
        r = redis.Redis.from_url(protected.url.replace("/0", "/3"), password="pw with spaces")
        assert r.hgetall("k") == {b"phase": b"p"}
        with pytest.raises(RedisError):
            RespConnection(addr, timeout=2, password="wrong")
