"""The pending-login record: what the hook stores and the service takes (pure code).

A record is a Redis hash keyed by the login state. Every field that came from the
VPN client (``cn``, ``username``, ``ip``, ``plat``, ``ver``, ``session_id``) is
attacker-controlled: it is length-limited here, stored as-is, and escaped by each
sink (``shared.escape``) when it leaves.

Phases, each change an atomic compare-and-set in the store:
``pending`` (hook wrote it) -> ``redirected`` (``/login`` sent the browser to the
IdP) -> ``taken`` (one ``/callback`` owns it) [-> ``confirm`` (waiting for the
user's click) -> ``taken`` (one ``/confirm`` owns it)] -> ``done`` (verdict
delivered; kept until its TTL so a replay gets a clear page).

Import-light: the hook imports this module.
"""

from __future__ import annotations

import binascii
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

STATE_BYTES = 24  # 192 bits; base64url gives 32 characters
# After the deadline the login is refused; the record lives this much longer so a
# late browser still gets an "expired" page and the waiting client a clear deny.
GRACE_SECONDS = 60
# OpenVPN itself gives up on the client this long after our deadline (backstop).
OPENVPN_EXTRA_SECONDS = 30

PHASE_PENDING = "pending"
PHASE_REDIRECTED = "redirected"
PHASE_TAKEN = "taken"
PHASE_CONFIRM = "confirm"
PHASE_DONE = "done"

# field -> max length in characters for client-controlled values
CLIENT_FIELDS = {
    "cn": 256,
    "username": 256,
    "ip": 64,
    "port": 8,
    "plat": 64,
    "ver": 64,
    "session_id": 128,
}


class RecordError(ValueError):
    """A record or a hook input is malformed."""


def new_state(random: bytes | None = None) -> str:
    """A fresh, unguessable state: base64url of 24 random bytes, no padding."""
    raw = random if random is not None else os.urandom(STATE_BYTES)
    if len(raw) < 16:
        raise RecordError("a state needs at least 128 random bits")
    return binascii.b2a_base64(raw, newline=False).decode().translate(
        {ord("+"): "-", ord("/"): "_", ord("="): None})


def is_state(value: str) -> bool:
    """True if ``value`` has the shape of a state (cheap check before any lookup)."""
    return len(value) == 32 and all(c.isascii() and (c.isalnum() or c in "-_") for c in value)


def login_key(prefix: str, state: str) -> str:
    return f"{prefix}:login:{state}"


def pending_set_keys(prefix: str, server: str, ip: str) -> tuple[str, str]:
    """Sorted sets of pending logins per client IP and per server (caps). The server
    id is a hash tag, so both sit in one Redis Cluster slot for the limit script."""
    return f"{prefix}:{{{server}}}:pending-ip:{ip}", f"{prefix}:{{{server}}}:pending"


def pending_fields(*, server: str, client: Mapping[str, str], now: float,
                   timeout: int) -> dict[str, str]:
    """The hash fields of a new pending record (raises RecordError on bad input)."""
    fields = {"v": "1", "phase": PHASE_PENDING, "server": server,
              "created": f"{now:.3f}", "deadline": f"{now + timeout:.3f}"}
    for name, limit in CLIENT_FIELDS.items():
        value = client.get(name, "")
        if len(value) > limit:
            raise RecordError(f"{name} is longer than {limit} characters")
        fields[name] = value
    if not fields["ip"]:
        raise RecordError("no client address (untrusted_ip) from OpenVPN")
    if not fields["port"].isdigit():
        raise RecordError("no client port (untrusted_port) from OpenVPN")
    return fields


def record_ttl(timeout: int) -> int:
    """Seconds the record lives in the store."""
    return timeout + GRACE_SECONDS


class LoginRecord:
    """A pending login as read back from the store."""

    __slots__ = ("fields", "state")

    def __init__(self, state: str, fields: Mapping[str, str]) -> None:
        for required in ("v", "phase", "server", "ip", "port", "deadline"):
            if required not in fields:
                raise RecordError(f"record without {required!r}")
        self.state = state
        self.fields = dict(fields)

    def __getattr__(self, name: str) -> str:
        try:
            return self.fields[name]
        except KeyError:
            if name in CLIENT_FIELDS or name in ("nonce", "verifier", "binding", "outcome",
                                                 "user", "sub", "confirm", "push", "sid",
                                                 "refresh", "created"):
                return ""
            raise AttributeError(name) from None

    @property
    def real_address(self) -> str:
        """``ip:port`` as OpenVPN's ``status 3`` shows the client's Real Address."""
        return f"{self.fields['ip']}:{self.fields['port']}"

    def expired(self, now: float) -> bool:
        return now > float(self.fields["deadline"])

    @staticmethod
    def decode(state: str, raw: Mapping[bytes, bytes] | Mapping[str, str]) -> LoginRecord:
        """Build from a Redis HGETALL reply (bytes or str)."""
        fields = {(k.decode() if isinstance(k, bytes) else k):
                  (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                  for k, v in raw.items()}
        return LoginRecord(state, fields)
