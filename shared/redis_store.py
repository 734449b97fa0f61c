"""The record store over redis-py, for the callback service."""

from __future__ import annotations

from collections.abc import Mapping

import redis

from shared.config import Config
from shared.store import CREATE, TRANSITION, StoreUnavailable, decode_transition, flatten, pairs


def connect(config: Config) -> redis.Redis:
    """A redis-py client from the configuration (no connection is made yet)."""
    rc = config.redis
    password = rc.password.reveal() if rc.password is not None else None
    timeout = float(rc.connect_timeout)
    return redis.Redis.from_url(
        rc.url, username=rc.username or None, password=password,
        socket_connect_timeout=timeout, socket_timeout=timeout + 3,
        health_check_interval=30, retry_on_timeout=True,
    )


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._create = client.register_script(CREATE)
        self._transition = client.register_script(TRANSITION)

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def create(self, key: str, fields: Mapping[str, str], ttl: int) -> bool:
        try:
            return bool(self._create(keys=[key], args=[ttl, *flatten(fields)]))
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err

    def get(self, key: str) -> dict[str, str] | None:
        try:
            raw = self._r.hgetall(key)
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
        return pairs([x for kv in raw.items() for x in kv]) or None

    def transition(self, key: str, expect_phase: str, expect_binding: str | None,
                   updates: Mapping[str, str]) -> tuple[str, dict[str, str] | None]:
        try:
            reply = self._transition(keys=[key],
                                     args=[expect_phase, expect_binding or "", *flatten(updates)])
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
        return decode_transition(reply)

    def delete(self, key: str) -> None:
        try:
            self._r.delete(key)
        except redis.RedisError as err:
            raise StoreUnavailable(str(err)) from err
