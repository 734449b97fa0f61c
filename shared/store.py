"""The record store: a tiny interface with atomic operations, over Redis.

Every change of a login record is one Lua script, so it is atomic across all
service replicas (a state is usable once) and touches a single key (works with
Redis Cluster). ``RespStore`` (import-light, for the hook) and
``shared.redis_store.RedisStore`` (redis-py, for the service) implement the same
interface and run the same behaviour suite against a real Redis.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Protocol

    from shared.resp import RespConnection

    class Store(Protocol):
        def create(self, key: str, fields: Mapping[str, str], ttl: int) -> bool: ...
        def get(self, key: str) -> dict[str, str] | None: ...
        def transition(self, key: str, expect_phase: str, expect_binding: str | None,
                       updates: Mapping[str, str]) -> tuple[str, dict[str, str] | None]: ...
        def delete(self, key: str) -> None: ...


class StoreUnavailable(Exception):
    """The store could not be reached or failed; distinct from "record not found"."""


# KEYS[1] record; ARGV[1] ttl seconds; ARGV[2..] field, value, ...
# Returns 1 if created, 0 if the key already existed (never overwrites).
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

# KEYS[1] record; ARGV[1] expected phase; ARGV[2] expected binding ('' = any);
# ARGV[3..] field, value, ... to set. Returns {status, fields}:
# 'ok' (updated), 'missing', 'phase' (another phase: fields as they are), 'binding'.
TRANSITION = """
local phase = redis.call('HGET', KEYS[1], 'phase')
if not phase then return {'missing', {}} end
if phase ~= ARGV[1] then return {'phase', redis.call('HGETALL', KEYS[1])} end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'binding') ~= ARGV[2] then
  return {'binding', {}}
end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return {'ok', redis.call('HGETALL', KEYS[1])}
"""


def flatten(fields: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for key, value in fields.items():
        out += (key, value)
    return out


def pairs(flat: Sequence[bytes | str]) -> dict[str, str]:
    """Turn a flat HGETALL reply into a dict of str."""
    text = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in flat]
    return dict(zip(text[0::2], text[1::2], strict=True))


def decode_transition(reply: list[object]) -> tuple[str, dict[str, str] | None]:
    status = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    fields = reply[1] if len(reply) > 1 else []
    return status, (pairs(fields) if fields else None)  # type: ignore[arg-type]


class RespStore:
    """The store over the hook's minimal RESP connection."""

    def __init__(self, conn: RespConnection) -> None:
        self._conn = conn

    def create(self, key: str, fields: Mapping[str, str], ttl: int) -> bool:
        return bool(self._conn.call("EVAL", CREATE, 1, key, ttl, *flatten(fields)))

    def get(self, key: str) -> dict[str, str] | None:
        return pairs(self._conn.call("HGETALL", key)) or None

    def transition(self, key: str, expect_phase: str, expect_binding: str | None,
                   updates: Mapping[str, str]) -> tuple[str, dict[str, str] | None]:
        reply = self._conn.call("EVAL", TRANSITION, 1, key, expect_phase, expect_binding or "",
                                *flatten(updates))
        return decode_transition(reply)

    def delete(self, key: str) -> None:
        self._conn.call("DEL", key)
