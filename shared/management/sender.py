"""Short-lived management command sender: connect, send, check the reply, close.

No process keeps the management socket open: OpenVPN serves one management
client at a time, so holding it would block every other sender (other replicas,
other tools). While another client holds it, we wait briefly and retry.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field

from shared.config import Secret, ServerConfig
from shared.escape import log_text
from shared.management import codec
from shared.management.codec import ClientRow, ProtocolError

log = logging.getLogger(__name__)


class ManagementUnavailable(Exception):
    """The management interface could not be reached in time."""


class ManagementConnection:
    """One management session. Every read is bounded; ``>`` notifications are skipped."""

    def __init__(self, endpoint: str, password: Secret | None = None, *,
                 timeout: float = 5.0, busy_wait: float = 10.0) -> None:
        self.endpoint = endpoint
        self._password = password
        self._timeout = timeout
        self._busy_wait = busy_wait
        self._sock: socket.socket | None = None
        self._in_session = False  # past the banner: OpenVPN is reading our commands
        self._buf = b""

    # -- connection ---------------------------------------------------------
    def _open(self) -> socket.socket:
        if self.endpoint.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout)
            try:
                sock.connect(self.endpoint[5:])
            except OSError:
                sock.close()
                raise
            return sock
        host, _, port = self.endpoint[4:].rpartition(":")
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def __enter__(self) -> ManagementConnection:
        deadline = time.monotonic() + self._busy_wait
        delay = 0.005
        while True:
            try:
                self._sock = self._open()
                # OpenVPN accepts the next client only when the current one leaves;
                # until then our connect sits in the backlog and no banner comes.
                remaining = max(0.05, deadline - time.monotonic())
                self._sock.settimeout(min(self._timeout, remaining) if remaining else 0.05)
                self._handshake()
                self._in_session = True
                self._sock.settimeout(self._timeout)
                return self
            except (OSError, ProtocolError) as err:
                self.close()
                if time.monotonic() + delay > deadline:
                    raise ManagementUnavailable(
                        f"management interface {self.endpoint} not available: {err}") from err
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                if self._in_session:  # not while still queued behind another client
                    self._quit()
                self._sock.close()
            finally:
                self._sock = None
                self._buf = b""
                self._in_session = False

    def _quit(self) -> None:
        """End the session from OpenVPN's side (``quit``, then its EOF), so a
        notification it emits just after our commands (>CLIENT:ESTABLISHED after
        an approval) never meets a closed socket: OpenVPN logs that as "MANAGEMENT:
        TCP send error: Broken pipe" at the default verbosity."""
        assert self._sock is not None
        try:
            self._sock.settimeout(0.5)
            self._sock.sendall(b"quit\n")
            while self._sock.recv(65536):
                pass
        except OSError:
            pass  # best effort: the commands' outcome is already known

    def _handshake(self) -> None:
        if self._password is not None:
            self._read_until(b"ENTER PASSWORD:")
            self._send(self._password.reveal() + "\n")
            line = self._read_line()
            while line.startswith(">") or not line:
                line = self._read_line()
            if not line.startswith("SUCCESS:"):
                raise ManagementUnavailable(f"management password rejected by {self.endpoint}")
        while True:
            line = self._read_line()
            if line.startswith(">INFO:OpenVPN Management Interface"):
                return

    # -- I/O ------------------------------------------------------------------
    def _send(self, text: str) -> None:
        assert self._sock is not None
        self._sock.sendall(text.encode("utf-8"))

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ProtocolError("management interface closed the connection")
        self._buf += chunk

    def _read_until(self, marker: bytes) -> None:
        while marker not in self._buf:
            self._fill()
        self._buf = self._buf.split(marker, 1)[1]

    def _read_line(self) -> str:
        while b"\n" not in self._buf:
            self._fill()
        line, _, self._buf = self._buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def _reply(self) -> str:
        """The next SUCCESS:/ERROR: line, skipping real-time notifications."""
        while True:
            line = self._read_line()
            if line.startswith(("SUCCESS:", "ERROR:")):
                return line
            if line and not line.startswith(">"):
                raise ProtocolError(f"unexpected line {log_text(line)!r}")

    # -- commands -------------------------------------------------------------
    def command(self, text: str) -> str:
        """Send one command (already formatted by ``codec``) and check SUCCESS."""
        name = text.split(" ", 1)[0].strip()
        self._send(text)
        line = self._reply()
        codec.check_reply(line, name)
        return line

    def approve(self, cid: int, config_lines: tuple[str, ...], wake: bool) -> bool:
        """``client-auth`` (checked), then the wake-up in the same write, so the
        client moves on at once. Returns whether the wake-up was accepted."""
        text = codec.client_auth(cid, codec.INITIAL_KID, config_lines)
        if wake:
            text += codec.client_pending_auth(cid, codec.INITIAL_KID)
        self._send(text)
        auth_reply = self._reply()
        wake_reply = self._reply() if wake else ""  # read both: the socket stays in step
        codec.check_reply(auth_reply, "client-auth")
        if wake and not wake_reply.startswith("SUCCESS:"):
            # a failed wake-up only costs latency
            log.warning("wake-up after client-auth refused: %s", log_text(wake_reply))
        return wake_reply.startswith("SUCCESS:")

    def clients(self) -> list[ClientRow]:
        self._send(codec.status3())
        lines: list[str] = []
        while True:
            line = self._read_line()
            if line == "END":
                break
            if line.startswith("ERROR:"):
                raise ProtocolError(f"status 3: {line}")
            if not line.startswith(">"):
                lines.append(line)
        return codec.parse_status3("\n".join(lines))


# ---------------------------------------------------------------- verdicts

@dataclass(frozen=True)
class Verdict:
    approve: bool
    reason: str = ""  # shown to the user (client and page) when denied
    config_lines: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Delivery:
    """What happened to a verdict: ``outcome`` is approved, denied, gone or failed."""

    outcome: str
    detail: str = ""
    cid: int | None = None


def connection_for(server: ServerConfig, **kwargs: float) -> ManagementConnection:
    return ManagementConnection(server.management, server.management_password, **kwargs)


def deliver(server: ServerConfig, ip: str, port: str, common_name: str, verdict: Verdict,
            wake: bool = True, **kwargs: float) -> Delivery:
    """Find the waiting client by its real address and admit or refuse it.

    Fails closed: if the approval cannot be confirmed, the client is refused with
    a reason it can show, so it never waits for a timeout.
    """
    with connection_for(server, **kwargs) as mc:
        row = codec.find_client(mc.clients(), ip, port)
        if row is None:
            return Delivery("gone", "the VPN client is no longer connected")
        if common_name and row.common_name != common_name:
            mc.command(codec.client_kill(row.cid, "Login failed: connection mismatch"))
            return Delivery("failed", "common name of the waiting client changed", row.cid)
        if not verdict.approve:
            mc.command(codec.client_kill(row.cid, verdict.reason))
            return Delivery("denied", verdict.reason, row.cid)
        if row.authenticated:
            # A re-authentication: its key id cannot be known without listening to
            # notifications, and a wrong one could pre-approve another key. Make the
            # client reconnect instead (auth-gen-token avoids this path).
            reason = "Session must be re-established: reconnect to log in again"
            mc.command(codec.client_kill(row.cid, reason))
            return Delivery("failed", "re-authentication of a connected client", row.cid)
        try:
            mc.approve(row.cid, verdict.config_lines, wake)
        except ProtocolError as err:
            reason = "Login could not be completed on the VPN server: please reconnect"
            mc.command(codec.client_kill(row.cid, reason))
            return Delivery("failed", str(err), row.cid)
        return Delivery("approved", "", row.cid)
