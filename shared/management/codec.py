"""OpenVPN management protocol: parse replies, format commands (pure, no sockets).

Every string that reaches the management socket is produced here, and every
untrusted part of it goes through ``shared.escape.mgmt_param`` or is checked to
be a plain token. The protocol is line based: a newline ends a command, so one
smuggled newline would let the rest run as a new command.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from shared.escape import client_reason, mgmt_param, one_line

# Key id of the pending key in a client instance that has never been authenticated.
# Each key state takes the next id of a per-instance counter (ssl.c key_state_init):
# the TM_ACTIVE session's key gets 0 (unused until the first auth finishes) and the
# TM_INITIAL session's key, where a new client authenticates, gets 1. If OpenVPN ever
# reset that session, the pending key has another id, KID 1 no longer exists and
# client-auth answers ERROR: the sender then denies, it never guesses on.
# Never send KID 0: unused key slots carry id 0 and client-auth "succeeds" on them.
INITIAL_KID = 1


class ProtocolError(Exception):
    """The management interface answered something unexpected."""


@dataclass(frozen=True)
class ClientRow:
    """One ``CLIENT_LIST`` row of ``status 3``."""

    common_name: str
    real_address: str
    virtual_address: str
    username: str
    cid: int

    @property
    def authenticated(self) -> bool:
        """A client gets its virtual address only once its first auth succeeded."""
        return bool(self.virtual_address)


def parse_status3(text: str) -> list[ClientRow]:
    """Parse ``status 3`` output; column positions come from its HEADER line."""
    columns: list[str] | None = None
    rows: list[ClientRow] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[:2] == ["HEADER", "CLIENT_LIST"]:
            columns = parts[2:]
        elif parts[0] == "CLIENT_LIST":
            if columns is None:
                raise ProtocolError("status 3: CLIENT_LIST before its HEADER")
            values = dict(zip(columns, parts[1:], strict=False))
            try:
                cid = int(values["Client ID"])
                rows.append(ClientRow(
                    common_name=values.get("Common Name", ""),
                    real_address=values.get("Real Address", ""),
                    virtual_address=values.get("Virtual Address", ""),
                    username=values.get("Username", ""),
                    cid=cid,
                ))
            except (KeyError, ValueError) as err:
                raise ProtocolError(f"status 3: malformed CLIENT_LIST row ({err})") from err
    if columns is None:
        raise ProtocolError("status 3: no CLIENT_LIST header")
    return rows


def normalize_address(address: str) -> tuple[str, int] | None:
    """``ip:port`` as OpenVPN prints it (IPv4, ``[v6]:port``, ``[AF_INET6]v6:port``,
    IPv4-mapped IPv6) to a comparable (ip, port), or None if it is not one."""
    text = address.strip()
    if text.startswith("[AF_INET6]"):
        text = text[len("[AF_INET6]"):]
    elif text.startswith("[AF_INET]"):
        text = text[len("[AF_INET]"):]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip), int(port)


def address_key(ip: str, port: str) -> tuple[str, int] | None:
    """A recorded ``ip`` (v4 or v6) and ``port`` in the form normalize_address gives."""
    return normalize_address(f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")


def find_client(rows: list[ClientRow], ip: str, port: str) -> ClientRow | None:
    """The one row whose Real Address is ``ip:port``; None if absent.

    Raises ProtocolError if several match: then nothing can be sent safely.
    """
    wanted = address_key(ip, port)
    if wanted is None:
        return None
    matches = [r for r in rows if normalize_address(r.real_address) == wanted]
    if len(matches) > 1:
        raise ProtocolError(f"{len(matches)} clients share the address {ip}:{port}")
    return matches[0] if matches else None


def _check_config_line(line: str) -> str:
    if not line or line != one_line(line, 1000) or line.strip().upper() == "END":
        raise ValueError(f"unsafe client config line: {line!r}")
    return line


def client_auth(cid: int, kid: int, config_lines: list[str] | tuple[str, ...] = ()) -> str:
    """``client-auth`` with its config block and ``END`` (lines checked, not trusted)."""
    body = "".join(_check_config_line(line) + "\n" for line in config_lines)
    return f"client-auth {int(cid)} {int(kid)}\n{body}END\n"


def client_deny(cid: int, kid: int, reason: str, to_client: str) -> str:
    """``client-deny``: ``reason`` goes to the server log, ``to_client`` to the client."""
    return (f"client-deny {int(cid)} {int(kid)} {mgmt_param(reason)} "
            f"{mgmt_param(client_reason(to_client))}\n")


def client_kill(cid: int, to_client: str) -> str:
    """``client-kill`` that ends the client with ``AUTH_FAILED,<reason>`` at once."""
    return f"client-kill {int(cid)} {mgmt_param('AUTH_FAILED,' + client_reason(to_client))}\n"


# The wake-up after an approval: OpenVPN 2.6 re-examines a client after
# `client-auth` only when the client next sends something (its PUSH_REQUEST cycle,
# up to 5 s); `client-pending-auth` reschedules it at once (multi.c
# management_client_pending_auth). Every major client ignores an INFO_PRE text
# without a known prefix (WEB_AUTH:, OPEN_URL:, CR_TEXT: and ACC: would act), and
# a long timeout is clamped to the client's remaining window, so it never shortens
# it (checked in the OpenVPN GUI, Tunnelblick, openvpn3 and ics-openvpn sources).
# Limit: within about a second of the hook, the server may still hold our own
# control file's "1" in its auth-status cache (ssl_verify.c, cache_intervals: it
# is re-read only in a later wall-clock second), so an approval that early waits
# for that re-read (up to ~1.3 s measured, bench/approval.py --wait 0.5). Nothing
# on the management interface forces it; a second wake-up could reach a client
# that has just connected, whose state would then flip back to AUTH_PENDING.
WAKE_TEXT = "SSO_APPROVED"
WAKE_TIMEOUT = 3600


def client_pending_auth(cid: int, kid: int, extra: str = WAKE_TEXT,
                        timeout: int = WAKE_TIMEOUT) -> str:
    if not extra or not all(c.isascii() and (c.isalnum() or c == "_") for c in extra):
        raise ValueError("the wake-up text must be one plain word")
    return f"client-pending-auth {int(cid)} {int(kid)} {extra} {int(timeout)}\n"


def status3() -> str:
    return "status 3\n"


def check_reply(line: str, command: str) -> None:
    """Raise ProtocolError unless ``line`` is a SUCCESS reply."""
    if line.startswith("SUCCESS:"):
        return
    if line.startswith("ERROR:"):
        raise ProtocolError(f"{command}: {one_line(line)}")
    raise ProtocolError(f"{command}: unexpected reply {one_line(line)!r}")
