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

    from shared.resp import ClusterConnection, RespConnection

    class Store(Protocol):
        def create(self, key: str, fields: Mapping[str, str], ttl: int) -> bool: ...
        def get(self, key: str) -> dict[str, str] | None: ...
        def transition(self, key: str, expect: Mapping[str, str],
                       updates: Mapping[str, str]) -> tuple[str, dict[str, str] | None]: ...
        def limit_pending(self, keys: tuple[str, str], member: str, now: float,
                          deadline: float, caps: tuple[int, int], ttl: int) -> int: ...
        def release_pending(self, keys: tuple[str, str], member: str) -> None: ...
        def hit(self, key: str, window: int) -> int: ...
        def count_pending(self, key: str, now: float) -> int: ...
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

# Compare-and-set. KEYS[1] record; ARGV[1] n; ARGV[2..2n+1] expected field, value
# pairs (the phase first); then field, value, ... to set. Returns {status, fields}:
# 'ok' (updated), 'missing', 'phase' (another phase: fields as they are), or
# 'mismatch:<field>' (another expected field differs: nothing is shown).
TRANSITION = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', {}} end
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local field = ARGV[2 + 2 * i]
  if redis.call('HGET', KEYS[1], field) ~= ARGV[3 + 2 * i] then
    if field == 'phase' then return {'phase', redis.call('HGETALL', KEYS[1])} end
    return {'mismatch:' .. field, {}}
  end
end
if #ARGV > 1 + 2 * n then redis.call('HSET', KEYS[1], unpack(ARGV, 2 + 2 * n)) end
return {'ok', redis.call('HGETALL', KEYS[1])}
"""

# Caps on pending logins. KEYS[1] this client IP's set, KEYS[2] this server's set
# (sorted by deadline; both carry the server's hash tag, so one Cluster slot);
# ARGV: now, deadline, member, cap per IP, cap per server, ttl.
# Returns 0 (added), 1 (IP over its cap), 2 (server over its cap).
LIMIT_PENDING = """
for i = 1, 2 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1]) end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[i], ARGV[6])
end
return 0
"""

# Fixed-window counter: KEYS[1] counter; ARGV[1] window seconds. Returns the count.
HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
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


def transition_args(expect: Mapping[str, str], updates: Mapping[str, str]) -> list[str]:
    return [str(len(expect)), *flatten(expect), *flatten(updates)]


def decode_transition(reply: list[object]) -> tuple[str, dict[str, str] | None]:
    status = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    fields = reply[1] if len(reply) > 1 else []
    return status, (pairs(fields) if fields else None)  # type: ignore[arg-type]


class RespStore:
    """The store over the hook's minimal RESP connection."""

    def __init__(self, conn: RespConnection | ClusterConnection, wait_replicas: int = 0,
                 wait_timeout_ms: int = 100) -> None:
        self._conn = conn
        self._wait = (wait_replicas, wait_timeout_ms)

    def create(self, key: str, fields: Mapping[str, str], ttl: int) -> bool:
        created = bool(self._conn.call("EVAL", CREATE, 1, key, ttl, *flatten(fields)))
        if created and self._wait[0]:
            # the record must survive a failover that happens right after the hook
            self._conn.call("WAIT", self._wait[0], self._wait[1])
        return created

    def get(self, key: str) -> dict[str, str] | None:
        return pairs(self._conn.call("HGETALL", key)) or None

    def transition(self, key: str, expect: Mapping[str, str],
                   updates: Mapping[str, str]) -> tuple[str, dict[str, str] | None]:
        reply = self._conn.call("EVAL", TRANSITION, 1, key, *transition_args(expect, updates))
        return decode_transition(reply)

    def limit_pending(self, keys: tuple[str, str], member: str, now: float, deadline: float,
                      caps: tuple[int, int], ttl: int) -> int:
        return int(self._conn.call("EVAL", LIMIT_PENDING, 2, *keys, f"{now:.3f}",
                                   f"{deadline:.3f}", member, caps[0], caps[1], ttl))

    def release_pending(self, keys: tuple[str, str], member: str) -> None:
        for k in keys:
            self._conn.call("ZREM", k, member)

    def hit(self, key: str, window: int) -> int:
        return int(self._conn.call("EVAL", HIT, 1, key, window))

    def count_pending(self, key: str, now: float) -> int:
        return int(self._conn.call("ZCOUNT", key, f"({now:.3f}", "+inf"))

    def delete(self, key: str) -> None:
        self._conn.call("DEL", key)
