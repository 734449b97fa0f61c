"""Redis Cluster: the hook's redirect-following connection, the service's
redis-py cluster client, and the session keys (one hash slot), on a real cluster
of three masters with a replica each."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis

from demo.parts import RedisClusterSet, hook_setup, redis_cli
from shared import sessions
from shared.records import login_key, new_state
from shared.redis_store import SessionStore
from shared.resp import ClusterConnection, RedisAddress, RedisError, RespConnection
from shared.store import CREATE, RespStore

PREFIX = "ovpnsso"


def raw(cluster: RedisClusterSet) -> redis.RedisCluster:
    return redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0], decode_responses=True)


def keys_on_every_master(cluster: RedisClusterSet) -> dict[int, str]:
    """A login key served by each master."""
    found: dict[int, str] = {}
    while len(found) < len(cluster.masters()):
        k = login_key(PREFIX, new_state())
        found.setdefault(cluster.master_for(k), k)
    return found


def test_follows_moved_to_every_master(redis_cluster: RedisClusterSet) -> None:
    with ClusterConnection(RedisAddress("redis://x"), redis_cluster.nodes[:1],
                           timeout=2) as conn:
        store = RespStore(conn, wait_replicas=1, wait_timeout_ms=500)
        for k in keys_on_every_master(redis_cluster).values():
            assert store.create(k, {"phase": "pending"}, 30) is True
            assert store.get(k) == {"phase": "pending"}
        assert len(conn._conns) == 3  # one connection per master it was sent to
    r = raw(redis_cluster)
    for k in keys_on_every_master(redis_cluster).values():
        r.delete(k)


def test_wait_goes_to_the_node_that_took_the_write(redis_cluster: RedisClusterSet) -> None:
    """WAIT counts replicas of the connection's own writes: after a redirected
    write it must be asked there, or it would report 0 replicas."""
    seed = next(iter(redis_cluster.masters()))
    k = next(k for port, k in keys_on_every_master(redis_cluster).items() if port != seed)
    with ClusterConnection(RedisAddress("redis://x"), [f"127.0.0.1:{seed}"], timeout=2) as conn:
        conn.call("EVAL", CREATE, 1, k, 30, "phase", "pending")
        assert conn.call("WAIT", 1, 2000) == 1
    raw(redis_cluster).delete(k)


def test_follows_ask_during_a_slot_migration(redis_cluster: RedisClusterSet) -> None:
    r = raw(redis_cluster)
    masters = list(redis_cluster.masters())
    source, target = masters[0], masters[1]
    k = next(k for port, k in keys_on_every_master(redis_cluster).items() if port == source)
    slot = r.keyslot(k)
    ids = {p: redis_cli(p, "CLUSTER", "MYID").strip() for p in (source, target)}
    assert redis_cli(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING",
                              ids[source]).strip() == "OK"
    assert redis_cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING",
                              ids[target]).strip() == "OK"
    try:
        with ClusterConnection(RedisAddress("redis://x"), [f"127.0.0.1:{source}"],
                               timeout=2) as conn:
            # the key is absent on the source, so the source answers ASK
            assert RespStore(conn).create(k, {"phase": "pending"}, 30) is True
        with RespConnection(RedisAddress(f"redis://127.0.0.1:{target}"), timeout=2) as there:
            there.call("ASKING")
            assert there.call("HGET", k, "phase") == b"pending"  # written on the target
    finally:
        with RespConnection(RedisAddress(f"redis://127.0.0.1:{target}"), timeout=2) as there:
            there.call("ASKING")
            there.call("DEL", k)  # before the slot is stable again: it stays the source's
        for port in (source, target):
            redis_cli(port, "CLUSTER", "SETSLOT", str(slot), "STABLE")


def test_seeds_that_do_not_answer_are_skipped(redis_cluster: RedisClusterSet) -> None:
    with ClusterConnection(RedisAddress("redis://x"), ["127.0.0.1:1", *redis_cluster.nodes],
                           timeout=1) as conn:
        assert conn.call("PING") == "PONG"
    with pytest.raises(RedisError, match="no Redis Cluster node answered"):
        ClusterConnection(RedisAddress("redis://x"), ["127.0.0.1:1", "127.0.0.1:2"], timeout=1)


def test_sessions_share_one_slot_and_work_on_the_cluster(redis_cluster: RedisClusterSet,
                                                         tmp_path: Path) -> None:
    r = raw(redis_cluster)
    assert len({r.keyslot(k) for k in (
        sessions.session_key(PREFIX, "a"), sessions.connection_key(PREFIX, "vpn1", "1.2.3.4", "5"),
        sessions.index_key(PREFIX))}) == 1
    store = SessionStore(redis.RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0]),
                         PREFIX)
    fields = {"server": "vpn1", "ip": "192.0.2.7", "port": "51234", "user": "alice"}
    kept = store.create(fields | {"port": "1"}, 60)
    gone = store.create(fields, 60)
    assert {s.id for s in store.all()} >= {kept, gone}
    store.touch(next(s for s in store.all() if s.id == kept), 120, vpn_ip="10.8.0.2")
    assert r.hget(sessions.session_key(PREFIX, kept), "vpn_ip") == "10.8.0.2"

    # the real hook's client-disconnect mode removes the session on the cluster
    argv, env = hook_setup(tmp_path, "redis://127.0.0.1:6379/0",
                           redis_settings={"cluster_nodes": redis_cluster.nodes})
    env |= {"script_type": "client-disconnect", "trusted_ip": "192.0.2.7",
            "trusted_port": "51234"}
    proc = subprocess.run([*argv[:-1], "--disconnect"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    ids = {s.id for s in store.all()}
    assert gone not in ids and kept in ids
    store.drop(next(s for s in store.all() if s.id == kept))
    assert kept not in {s.id for s in store.all()}


def test_hook_stores_the_login_on_the_cluster(redis_cluster: RedisClusterSet,
                                              tmp_path: Path) -> None:
    argv, env = hook_setup(tmp_path, "redis://127.0.0.1:6379/0",
                           redis_settings={"cluster_nodes": ["127.0.0.1:1",
                                                             *redis_cluster.nodes],
                                           "wait_replicas": 1})
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    state = (tmp_path / "pending").read_text().strip().rsplit("s=", 1)[1]
    record = raw(redis_cluster).hgetall(login_key(PREFIX, state))
    assert record["phase"] == "pending" and record["server"] == "vpn1"


def test_doctor_reaches_the_cluster_and_names_it(redis_cluster: RedisClusterSet,
                                                 tmp_path: Path) -> None:
    from callback_service import doctor
    from shared import config as configmod

    hook_setup(tmp_path, "redis://127.0.0.1:6379/0",
               redis_settings={"cluster_nodes": redis_cluster.nodes})
    check = doctor._redis(configmod.load(str(tmp_path / "config.toml"), {}))
    assert check.ok, check
    assert check.detail.startswith("Redis Cluster via " + redis_cluster.nodes[0])


def test_the_seed_that_answered_is_asked_first_next_time(redis_cluster: RedisClusterSet,
                                                         tmp_path: Path) -> None:
    """A dead seed costs its connect timeout once, not on every hook run."""
    hint = tmp_path / "openvpn-sso-redis-node"
    hint.write_text("203.0.113.9:6379")  # not a configured node: only reorders, never adds
    hint.chmod(0o600)
    seeds = ["127.0.0.1:1", *redis_cluster.nodes]
    with ClusterConnection(RedisAddress("redis://x"), seeds, timeout=1,
                           hint_file=str(hint)) as conn:
        assert conn.call("PING") == "PONG"
    assert hint.read_text() == redis_cluster.nodes[0]
    # the real hook keeps it in OpenVPN's tmp-dir (next to the pending file)
    hint.unlink()
    argv, env = hook_setup(tmp_path, "redis://127.0.0.1:6379/0",
                           redis_settings={"cluster_nodes": seeds})
    assert subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode == 2
    assert hint.read_text() == redis_cluster.nodes[0]
