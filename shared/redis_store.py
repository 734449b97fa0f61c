"""The record store over redis-py, for the callback service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from shared.config import Config
from shared.resp import RedisAddress
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


def connect(config: Config) -> redis.Redis:
    """A redis-py client from the configuration (no connection is made yet).

    With Sentinel, the client asks the sentinels for the master and asks again after
    a connection error, so requests after a failover reach the new master."""
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
    if not rc.sentinels:
        return redis.Redis.from_url(rc.url, **options)
    address = RedisAddress(rc.url)
    sentinel_password = rc.sentinel_password.reveal() if rc.sentinel_password else None
    sentinel = Sentinel([(h, int(p)) for h, _, p in (s.rpartition(":") for s in rc.sentinels)],
                        sentinel_kwargs={"password": sentinel_password,
                                         "socket_timeout": timeout},
                        socket_timeout=timeout)
    client: redis.Redis = sentinel.master_for(rc.sentinel_master, db=address.db,
                                              ssl=address.tls, **options)
    return client


class RedisStore:
    def __init__(self, client: redis.Redis, wait_replicas: int = 0,
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
            self._replicated()
        return created

    def _replicated(self) -> None:
        """Wait (bounded) until replicas have the last write, if configured."""
        if self._wait[0]:
            try:
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
            self._replicated()
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
