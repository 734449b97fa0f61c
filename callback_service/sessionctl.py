"""Ending sessions: the one place that disconnects a connected client (admin
command, back-channel logout, verifier, one-session-per-user)."""

from __future__ import annotations

import logging

from shared.config import Config
from shared.escape import log_text
from shared.management import codec
from shared.management.codec import ProtocolError
from shared.management.sender import ManagementUnavailable, connection_for
from shared.redis_store import SessionStore
from shared.sessions import Session

log = logging.getLogger("openvpn_sso.sessions")


def listed_clients(config: Config) -> dict[str, dict[tuple[str, int], codec.ClientRow] | None]:
    """Per server, the clients OpenVPN lists now by real address (None: unreachable)."""
    out: dict[str, dict[tuple[str, int], codec.ClientRow] | None] = {}
    for server in config.servers.values():
        try:
            with connection_for(server, busy_wait=5.0) as mc:
                rows = mc.clients()
        except (ManagementUnavailable, ProtocolError, OSError) as err:
            log.warning("cannot list clients of %s: %s", server.id, log_text(str(err)))
            out[server.id] = None
            continue
        out[server.id] = {a: r for r in rows
                          if (a := codec.normalize_address(r.real_address)) is not None}
    return out


def address_of(session: Session) -> tuple[str, int] | None:
    return codec.address_key(session.get("ip"), session.get("port"))


def terminate(config: Config, store: SessionStore, session: Session, reason: str) -> str:
    """``client-kill`` the session's client (found by its real address) with
    ``AUTH_FAILED,<reason>``, then forget the session. Returns what happened:
    ``killed``, ``gone`` (not connected any more) or ``unreachable``."""
    server = config.servers.get(session.get("server"))
    outcome = "gone"
    if server is not None:
        try:
            with connection_for(server, busy_wait=5.0) as mc:
                row = codec.find_client(mc.clients(), session.get("ip"), session.get("port"))
                if row is not None and row.common_name == session.get("cn"):
                    mc.command(codec.client_kill(row.cid, reason))
                    outcome = "killed"
        except (ManagementUnavailable, ProtocolError, OSError) as err:
            log.warning("could not end session on %s: %s", log_text(session.get("server")),
                        log_text(str(err)))
            return "unreachable"  # keep the record: the next attempt may succeed
    store.drop(session)
    log.info("session %s of %s on %s ended (%s): %s", session.id[:8],
             log_text(session.get("user")), log_text(session.get("server")), outcome,
             log_text(reason))
    return outcome
