"""The management sender against a small fake of OpenVPN's management interface
(one client at a time, banner, optional password, notifications interleaved).
The real interface is exercised by the end-to-end tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.config import Secret, ServerConfig
from shared.management import sender

HEADER = ("HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 "
          "Address\tBytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\t"
          "Username\tClient ID\tPeer ID\tData Channel Cipher")


def row(cn: str, addr: str, vaddr: str, cid: int) -> str:
    return f"CLIENT_LIST\t{cn}\t{addr}\t{vaddr}\t\t1\t1\tx\t0\t{cn}\t{cid}\t0\tAES-256-GCM"


class Writer:
    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def write(self, text: str) -> None:
        self.conn.sendall(text.encode())

    def flush(self) -> None:
        pass


class FakeOpenVPN:
    """Serves connections one at a time, like OpenVPN (listen backlog 1)."""

    def __init__(self, path: Path, rows: list[str], password: str | None = None,
                 auth_ok_kids: tuple[int, ...] = (1,)) -> None:
        self.path, self.rows, self.password = str(path), rows, password
        self.auth_ok_kids = auth_ok_kids
        self.refuse_wake = False
        self.commands: list[str] = []
        self.quits = 0  # sessions ended by the sender's `quit` (OpenVPN then closes)
        self.hold: threading.Event | None = None
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                # separate reader and writer: a text "rw" file drops read-ahead on write
                self.session(conn.makefile("r", newline=""), Writer(conn))

    def session(self, r, f) -> None:  # type: ignore[no-untyped-def]
        if self.hold is not None:
            self.hold.wait(5)
        if self.password is not None:
            f.write("ENTER PASSWORD:")
            f.flush()
            if r.readline().rstrip("\n") != self.password:
                f.write("ERROR: bad password\r\n")
                f.flush()
                return
            f.write("SUCCESS: password is correct\r\n")
        f.write(">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n")
        f.flush()
        lines = iter(r.readline, "")
        for line in lines:
            line = line.rstrip("\n")
            if line == "quit":
                self.quits += 1
                return
            self.commands.append(line)
            f.write(">CLIENT:CONNECT,9,1\r\n>CLIENT:ENV,password=secret\r\n>CLIENT:ENV,END\r\n")
            if line == "status 3":
                f.write("TITLE\tOpenVPN 2.6.14\r\nTIME\tx\t0\r\n" + HEADER + "\r\n")
                f.write("".join(r + "\r\n" for r in self.rows) + "END\r\n")
            elif line.startswith("client-auth "):
                body = []
                for extra in lines:
                    body.append(extra.rstrip("\n"))
                    if extra.rstrip("\n") == "END":
                        break
                self.commands += body
                kid = int(line.split()[2])
                ok = kid in self.auth_ok_kids
                f.write("SUCCESS: client-auth command succeeded\r\n" if ok
                        else "ERROR: client-auth command failed\r\n")
            elif line.startswith("client-pending-auth "):
                ok = int(line.split()[2]) in self.auth_ok_kids and not self.refuse_wake
                f.write("SUCCESS: client-pending-auth command succeeded\r\n" if ok
                        else "ERROR: client-pending-auth command failed\r\n")
            elif line.startswith("client-kill "):
                f.write("SUCCESS: client-kill command succeeded\r\n")
            else:
                f.write("ERROR: unknown command\r\n")
            f.flush()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Callable[..., FakeOpenVPN]]:
    made: list[FakeOpenVPN] = []

    def make(rows: list[str], **kw: object) -> FakeOpenVPN:
        f = FakeOpenVPN(tmp_path / f"m{len(made)}.sock", rows, **kw)  # type: ignore[arg-type]
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def server(f: FakeOpenVPN, password: str | None = None) -> ServerConfig:
    return ServerConfig({"id": "vpn1", "management": f"unix:{f.path}",
                         "management_password": Secret(password) if password else None,
                         "pending_timeout": None, "allowed_groups": None, "display_name": ""})


def test_approves_pending_client_with_kid_1(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("alice", "127.0.0.1:5000", "", 3), row("bob", "127.0.0.1:5001", "", 4)])
    d = sender.deliver(server(f), "127.0.0.1", "5000", "alice", sender.Verdict(True))
    assert (d.outcome, d.cid) == ("approved", 3)
    assert f.commands == ["status 3", "client-auth 3 1", "END",
                          "client-pending-auth 3 1 SSO_APPROVED 3600"]
    assert f.quits == 1  # the session ends from OpenVPN's side, after every reply


def test_a_refused_wake_up_does_not_undo_the_approval(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("alice", "127.0.0.1:5000", "", 3)])
    f.refuse_wake = True
    d = sender.deliver(server(f), "127.0.0.1", "5000", "alice", sender.Verdict(True))
    assert d.outcome == "approved"
    f2 = fake([row("alice", "127.0.0.1:5000", "", 3)])
    sender.deliver(server(f2), "127.0.0.1", "5000", "alice", sender.Verdict(True), wake=False)
    assert f2.commands == ["status 3", "client-auth 3 1", "END"]


def test_denial_is_a_client_kill_with_an_escaped_reason(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("alice", "127.0.0.1:5000", "", 3)])
    d = sender.deliver(server(f), "127.0.0.1", "5000", "alice",
                       sender.Verdict(False, 'no "way"\nclient-auth 3 1'))
    assert d.outcome == "denied"
    assert f.commands[-1] == 'client-kill 3 "AUTH_FAILED,no \\"way\\" client-auth 3 1"'


def test_kid_error_fails_closed_with_a_kill(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("alice", "127.0.0.1:5000", "", 3)], auth_ok_kids=())
    d = sender.deliver(server(f), "127.0.0.1", "5000", "alice", sender.Verdict(True))
    assert d.outcome == "failed"
    assert f.commands[-1].startswith('client-kill 3 "AUTH_FAILED,Login could not be completed')


def test_reauth_of_connected_client_is_never_guessed(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("alice", "127.0.0.1:5000", "10.8.0.2", 3)])
    d = sender.deliver(server(f), "127.0.0.1", "5000", "alice", sender.Verdict(True))
    assert d.outcome == "failed"
    assert not any(c.startswith("client-auth") for c in f.commands)


def test_gone_client_and_changed_common_name(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("mallory", "127.0.0.1:5000", "", 3)])
    assert sender.deliver(server(f), "127.0.0.1", "5999", "alice",
                          sender.Verdict(True)).outcome == "gone"
    d = sender.deliver(server(f), "127.0.0.1", "5000", "alice", sender.Verdict(True))
    assert d.outcome == "failed"
    assert not any(c.startswith("client-auth") for c in f.commands)


def test_password_handshake(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("alice", "127.0.0.1:5000", "", 3)], password="pw")
    assert sender.deliver(server(f, "pw"), "127.0.0.1", "5000", "alice",
                          sender.Verdict(True)).outcome == "approved"
    with pytest.raises(sender.ManagementUnavailable):
        sender.deliver(server(f, "wrong"), "127.0.0.1", "5000", "alice", sender.Verdict(True),
                       busy_wait=0.3)


def test_waits_while_another_client_holds_the_socket(fake) -> None:  # type: ignore[no-untyped-def]
    f = fake([row("alice", "127.0.0.1:5000", "", 3)])
    f.hold = threading.Event()
    threading.Timer(0.3, f.hold.set).start()
    started = time.monotonic()
    d = sender.deliver(server(f), "127.0.0.1", "5000", "alice", sender.Verdict(True))
    assert d.outcome == "approved" and time.monotonic() - started >= 0.25


def test_unreachable_management_is_reported(tmp_path: Path) -> None:
    cfg = ServerConfig({"id": "v", "management": f"unix:{tmp_path}/none.sock",
                        "management_password": None})
    with pytest.raises(sender.ManagementUnavailable):
        sender.deliver(cfg, "127.0.0.1", "1", "", sender.Verdict(True), busy_wait=0.2)
