"""Who is connected where: session records in Redis.

A session is written when a login is approved and removed by the
``client-disconnect`` hook, an admin's ``sessions kill``, a back-channel logout or
the verifier. Records also expire on their own (``sessions.ttl``) and the verifier
refreshes the ones whose client OpenVPN still lists, so a dead server's sessions
disappear without anyone cleaning up.

Keys: ``{<prefix>:sessions}:session:<id>`` (hash),
``{<prefix>:sessions}:conn:<server>:<ip>:<port>`` (the client's real address -> id,
for the disconnect hook) and ``{<prefix>:sessions}:index`` (sorted set of ids by
start time, for listing). The shared hash tag puts them in one Redis Cluster slot,
so each change is one atomic script or transaction there too; sessions are few
and small next to the login traffic, which spreads over the cluster.
Import-light: the hook uses it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# KEYS[1] the connection key; ARGV[1] session key prefix, ARGV[2] index key.
# Removes the connection's session everywhere; returns 1 if there was one.
DROP_BY_CONNECTION = """
local id = redis.call('GET', KEYS[1])
if not id then return 0 end
redis.call('DEL', KEYS[1], ARGV[1] .. id)
redis.call('ZREM', ARGV[2], id)
return 1
"""

# KEYS[1] session, KEYS[2] its connection key, KEYS[3] index; ARGV[1] id. Returns 1.
DROP = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


def session_key(prefix: str, session_id: str) -> str:
    return f"{{{prefix}:sessions}}:session:{session_id}"


def connection_key(prefix: str, server: str, ip: str, port: str) -> str:
    return f"{{{prefix}:sessions}}:conn:{server}:{ip}:{port}"


def index_key(prefix: str) -> str:
    return f"{{{prefix}:sessions}}:index"


class Session:
    """A session record as read back (all values are strings)."""

    __slots__ = ("fields", "id")

    def __init__(self, session_id: str, fields: Mapping[str, str]) -> None:
        self.id = session_id
        self.fields = dict(fields)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")
