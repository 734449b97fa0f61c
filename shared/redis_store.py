"""The record store over redis-py, for the callback service."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from shared import sessions
from shared.config import Config
from shared.resp import RedisAddress, split_hostport
from shared.store import (
    CREATE,
    HIT,
    LIMIT_PENDING,
    TRANSITION,
    StoreUnavailable,
    decode_transition,
    flatten,
    pairs,
    transition_args,
)

Client = redis.Redis | RedisCluster


def connect(config: Config) -> Client:
    """A redis-py client from the configuration (no connection is made yet).

    With Sentinel, the client asks the sentinels for the master and asks again after
    a connection error, so requests after a failover reach the new master. With a
    Cluster, redis-py keeps the slot map and follows redirects and failovers."""
    rc = config.redis
    password = rc.password.reveal() if rc.password is not None else None
    timeout = float(rc.connect_timeout)
    options: dict[str, Any] = {
        "username": rc.username or None, "password": password,
        "socket_connect_timeout": timeout, "socket_timeout": timeout + 3,
        "health_check_interval": 30,
        # a failover takes seconds: retry a few times rather than fail the request
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 8),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError],
    }
    address = RedisAddress(rc.url)
    if rc.cluster_nodes:
        del options["retry_on_error"]  # the cluster client retries on its own errors
        nodes = [ClusterNode(*split_hostport(n))  # type: ignore[no-untyped-call]
                 for n in rc.cluster_nodes]
        return RedisCluster(startup_nodes=nodes, ssl=address.tls, **options)
    if not rc.sentinels:
        return redis.Redis.from_url(rc.url, **options)
    sentinel_password = rc.sentinel_password.reveal() if rc.sentinel_password else None
    sentinel = Sentinel([split_hostport(s) for s in rc.sentinels],
                        sentinel_kwargs={"password": sentinel_password,
                                         "socket_timeout": timeout},
                        socket_timeout=timeout)
    client: redis.Redis = sentinel.master_for(rc.sentinel_master, db=address.db,
                                              ssl=address.tls, **options)
    return client


class SessionStore:
    """Session records (shared/sessions.py) over redis-py."""

    def __init__(self, client: Client, prefix: str) -> None:
        self._r = client
        self._prefix = prefix
        self._drop = client.register_script(sessions.DROP)

    def create(self, fields: Mapping[str, str], ttl: int) -> str:
        session_id = secrets.token_hex(16)
        conn = sessions.connection_key(self._prefix, fields["server"], fields["ip"],
                                       fields["port"])
        try:
            pipe = self._r.pipeline(transaction=True)
            record: dict[Any, Any] = {**fields, "id": session_id}
            pipe.hset(sessions.session_key(self._prefix, session_id), mapping=record)
            pipe.expire(sessions.session_key(self._prefix, session_id), ttl)
            pipe.set(conn, session_id, ex=ttl)
            pipe.zadd(sessions.index_key(self._prefix), {session_id: time.time()})
            pipe.execute()
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
        return session_id

    def all(self) -> list[sessions.Session]:
        """Every live session; ids whose record expired are dropped from the index."""
        index = sessions.index_key(self._prefix)
        try:
            ids = [i.decode() for i in self._r.zrange(index, 0, -1)]  # type: ignore[union-attr]
            pipe = self._r.pipeline(transaction=False)
            for session_id in ids:
                pipe.hgetall(sessions.session_key(self._prefix, session_id))
            found = pipe.execute()
            gone = [i for i, raw in zip(ids, found, strict=True) if not raw]
            if gone:
                self._r.zrem(index, *gone)
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
        return [sessions.Session(i, pairs([x for kv in raw.items() for x in kv]))
                for i, raw in zip(ids, found, strict=True) if raw]

    def drop(self, session: sessions.Session) -> None:
        try:
            self._drop(keys=[sessions.session_key(self._prefix, session.id),
                             sessions.connection_key(self._prefix, session.get("server"),
                                                     session.get("ip"), session.get("port")),
                             sessions.index_key(self._prefix)], args=[session.id])
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def touch(self, session: sessions.Session, ttl: int, **fields: Any) -> None:
        key = sessions.session_key(self._prefix, session.id)
        try:
            pipe = self._r.pipeline(transaction=True)
            if fields:
                update: dict[Any, Any] = dict(fields)
                pipe.hset(key, mapping=update)
            pipe.expire(key, ttl)
            pipe.expire(sessions.connection_key(self._prefix, session.get("server"),
                                                session.get("ip"), session.get("port")), ttl)
            pipe.execute()
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def remember_once(self, key: str, ttl: int) -> bool:
        """True the first time ``key`` is seen within ``ttl`` (replay protection)."""
        try:
            return bool(self._r.set(f"{self._prefix}:seen:{key}", "1", nx=True, ex=ttl))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def lock(self, name: str, ttl: int) -> bool:
        """A lock only one replica holds at a time (expires on its own)."""
        try:
            return bool(self._r.set(f"{self._prefix}:lock:{name}", "1", nx=True, ex=ttl))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err


class RedisStore:
    def __init__(self, client: Client, wait_replicas: int = 0,
                 wait_timeout_ms: int = 100) -> None:
        self._r = client
        self._wait = (wait_replicas, wait_timeout_ms)
        self._create = client.register_script(CREATE)
        self._transition = client.register_script(TRANSITION)
        self._limit = client.register_script(LIMIT_PENDING)
        self._hit = client.register_script(HIT)

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def create(self, key: str, fields: Mapping[str, str], ttl: int) -> bool:
        try:
            created = bool(self._create(keys=[key], args=[ttl, *flatten(fields)]))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
        if created:
            self._replicated(key)
        return created

    def _replicated(self, key: str) -> None:
        """Wait (bounded) until replicas have the last write to ``key``, if configured."""
        if self._wait[0]:
            try:
                if isinstance(self._r, RedisCluster):  # ask the node that took the write
                    node = self._r.get_node_from_key(key)  # type: ignore[no-untyped-call]
                    self._r.execute_command(  # type: ignore[no-untyped-call]
                        "WAIT", *self._wait, target_nodes=node)
                else:
                    self._r.wait(*self._wait)
            except redis.RedisError as err:
                raise StoreUnavailable(str(err)) from err

    def get(self, key: str) -> dict[str, str] | None:
        try:
            raw = self._r.hgetall(key)
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
        return pairs([x for kv in raw.items() for x in kv]) or None

    def transition(self, key: str, expect: Mapping[str, str],
                   updates: Mapping[str, str]) -> tuple[str, dict[str, str] | None]:
        try:
            reply = self._transition(keys=[key], args=transition_args(expect, updates))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
        status, fields = decode_transition(reply)
        if status == "ok":
            self._replicated(key)
        return status, fields

    def limit_pending(self, keys: tuple[str, str], member: str, now: float, deadline: float,
                      caps: tuple[int, int], ttl: int) -> int:
        try:
            return int(self._limit(keys=list(keys), args=[f"{now:.3f}", f"{deadline:.3f}",
                                                          member, caps[0], caps[1], ttl]))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def release_pending(self, keys: tuple[str, str], member: str) -> None:
        try:
            pipe = self._r.pipeline(transaction=False)
            for k in keys:
                pipe.zrem(k, member)
            pipe.execute()
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def count_pending(self, key: str, now: float) -> int:
        """Pending logins in a per-server set whose deadline has not passed."""
        try:
            return int(self._r.zcount(key, f"({now:.3f}", "+inf"))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def hit(self, key: str, window: int) -> int:
        try:
            return int(self._hit(keys=[key], args=[window]))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def delete(self, key: str) -> None:
        try:
            self._r.delete(key)
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
