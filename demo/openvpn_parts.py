r"""Launch a real OpenVPN 2.6 server and client on loopback, for tests and the demo.

Stdlib only. Needs root (the server creates a tun device), `openvpn` and `openssl`.
The client never touches host addresses/routes, so both run in one network namespace.

Observed on OpenVPN 2.6.14: `status 3` on the server management socket (\t = TAB; long
lines wrapped here). After TITLE and TIME lines; GLOBAL_STATS lines and END follow.

    HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\tVirtual IPv6 Address\t
        Bytes Received\tBytes Sent\tConnected Since\tConnected Since (time_t)\tUsername\t
        Client ID\tPeer ID\tData Channel Cipher
    pending (hook deferred, WEB_AUTH sent): Virtual Address EMPTY, cipher not yet negotiated
    CLIENT_LIST\talice\t127.0.0.1:34575\t\t\t2479\t2198\t2026-12-04 16:41:40\t1796402500\t
        user\t0\t0\tBF-CBC
    connected (after `client-auth 0 1` + `END`), plus a ROUTING_TABLE row:
    CLIENT_LIST\talice\t127.0.0.1:34575\t10.77.0.2\t\t2565\t2493\t2026-12-04 16:41:40\t
        1796402500\tuser\t0\t0\tAES-256-GCM

`>CLIENT:CONNECT,<cid>,<kid>` gives kid 1 for a client's first key. Beware: a wrong kid
may still answer "SUCCESS: client-auth command succeeded" (kid 0 did) without
authenticating; a nonexistent one (7) gives "ERROR: client-auth command failed".
A client that is SIGTERMed (no explicit-exit-notify) stays in CLIENT_LIST until
ping-restart (60s); with `explicit-exit-notify 1` its stop takes ~1.1s and the
server drops it ~5s later ("Delayed exit in 5 seconds").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = ["OpenVPNClient", "OpenVPNError", "OpenVPNServer", "Pki", "free_udp_port", "make_pki"]

_Matcher = Callable[[str], str | None]  # line -> result, or None to keep waiting
_CN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux
_OPENVPN = shutil.which("openvpn") or "/usr/sbin/openvpn"

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class OpenVPNError(RuntimeError):
    """OpenVPN/openssl failed or did not do what was expected in time."""


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise OpenVPNError(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.strip()}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


def _quote(arg: str) -> str:
    """Quote one parameter for OpenVPN's config parser (parse_line: "..." with \\ escapes)."""
    if "\n" in arg or "\r" in arg or "\0" in arg:
        raise ValueError(f"newline/NUL not representable in an OpenVPN config: {arg!r}")
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def free_udp_port() -> int:
    """A currently free UDP port on 127.0.0.1 (racy by nature, good enough for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    tls_crypt_key: Path

    def client(self, name: str) -> tuple[Path, Path]:
        """Issue (or reuse) a client cert with CN=name (EKU clientAuth); returns (cert, key)."""
        if not _CN_RE.match(name):
            raise ValueError(f"unsupported client name (CN): {name!r}")
        cert, key = self.directory / f"client-{name}.crt", self.directory / f"client-{name}.key"
        if not (cert.exists() and key.exists()):
            _issue(self.directory, name, cert, key, "clientAuth", (self.ca_cert, self.ca_key))
        return cert, key


def _issue(d: Path, cn: str, cert: Path, key: Path, eku: str, ca: tuple[Path, Path] | None) -> None:
    """New EC P-256 key (instant, unlike RSA) + cert; self-signed CA when ca is None."""
    ext = ["-extensions", "ca_ext"]
    if ca is not None:
        ext = ["-extensions", "leaf_ext", "-addext", f"extendedKeyUsage={eku}",
               "-CA", str(ca[0]), "-CAkey", str(ca[1])]  # fmt: skip
    _run(["openssl", "req", "-x509", "-new", "-config", str(d / "openssl.cnf"), *ext,
          "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-noenc",
          "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", f"/CN={cn}"])  # fmt: skip
    key.chmod(0o600)


def make_pki(directory: Path) -> Pki:
    """Throwaway CA, server cert (serverAuth) and tls-crypt key; use `dh none` (ECDHE)."""
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    (d / "openssl.cnf").write_text(_OPENSSL_CNF)  # own config: system openssl.cnf irrelevant
    pki = Pki(d, d / "ca.crt", d / "ca.key", d / "server.crt", d / "server.key", d / "tc.key")
    _issue(d, "openvpn-sso test CA", pki.ca_cert, pki.ca_key, "", None)
    _issue(d, "server", pki.server_cert, pki.server_key, "serverAuth", (pki.ca_cert, pki.ca_key))
    _run([_OPENVPN, "--genkey", "tls-crypt", str(pki.tls_crypt_key)])
    pki.tls_crypt_key.chmod(0o600)
    return pki


class _Daemon:
    """One `openvpn --config <workdir>/<role>.conf` child, output to <workdir>/<role>.log."""

    def __init__(self, workdir: Path, role: str, start_timeout: float) -> None:
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.config_path = workdir / f"{role}.conf"
        self.log_path = workdir / f"{role}.log"
        self._role = role
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def exited(self) -> bool:
        return self.returncode is not None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _error(self, what: str) -> OpenVPNError:
        return OpenVPNError(f"openvpn {self._role}: {what}; rc={self.returncode}\n"
                            f"{_tail(self.log_path)}")  # fmt: skip

    def _spawn(self, config_text: str, sock: Path) -> subprocess.Popen[bytes]:
        if len(os.fsencode(sock)) > _SUN_PATH_MAX:
            raise OpenVPNError(f"unix socket path too long (>{_SUN_PATH_MAX} bytes): {sock}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if sock.is_socket():
            sock.unlink()  # stale management socket from a killed run
        self.config_path.write_text(config_text)
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [_OPENVPN, "--config", str(self.config_path)],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self._proc

    def stop(self) -> None:
        """SIGTERM, wait, SIGKILL fallback; only ever our own child, by pid."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self._proc is not None
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self._error(f"still running after {timeout}s") from None

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class OpenVPNServer(_Daemon):
    """A real `openvpn` server on 127.0.0.1:<port>/udp; a context manager."""

    def __init__(
        self, workdir: Path, pki: Pki, port: int, *, management_socket: Path,
        sso_lines: list[str], server_subnet: str = "10.77.0.0 255.255.255.0",
        extra_lines: list[str] | None = None, status_file: Path | None = None,
        start_timeout: float = 20.0,
    ) -> None:  # fmt: skip
        """``sso_lines``: the project's own directives (shared.serverconf), so the tests
        run exactly what admins are told to put in server.conf. Its tmp-dir must be
        ``workdir/tmp`` and its management socket ``management_socket``."""
        super().__init__(workdir, "server", start_timeout)
        self.pki, self.port, self.management_socket = pki, port, management_socket
        self.sso_lines = list(sso_lines)
        self.server_subnet = server_subnet
        self.extra_lines = list(extra_lines or [])
        self.status_file = status_file
        self.dev = f"tun-s{port}"  # named device: several servers coexist (IFNAMSIZ 15)

    @property
    def config_text(self) -> str:
        q, pki = _quote, self.pki
        lines = [
            "mode server", "tls-server", "proto udp4", "local 127.0.0.1", f"port {self.port}",
            f"dev {self.dev}", "dev-type tun",
            "disable-dco",  # plain tun on every host; no ovpn-dco kernel module state
            "topology subnet", f"server {self.server_subnet}",
            f"ca {q(str(pki.ca_cert))}", f"cert {q(str(pki.server_cert))}",
            f"key {q(str(pki.server_key))}", "dh none", f"tls-crypt {q(str(pki.tls_crypt_key))}",
            "verify-client-cert require", "keepalive 10 60",
            *self.sso_lines,
            "verb 3",
        ]  # fmt: skip
        if self.status_file is not None:
            lines += [f"status {q(str(self.status_file))} 1", "status-version 3"]
        return "\n".join(lines + self.extra_lines) + "\n"

    def __enter__(self) -> OpenVPNServer:
        (self.workdir / "tmp").mkdir(parents=True, exist_ok=True)
        proc = self._spawn(self.config_text, self.management_socket)
        try:
            deadline = time.monotonic() + self.start_timeout
            while "Initialization Sequence Completed" not in self.log_text():
                if proc.poll() is not None:
                    raise self._error("exited during startup")
                if time.monotonic() > deadline:
                    raise self._error(f"not up in {self.start_timeout}s")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        return self


_AUTH_FAILED_RE = re.compile(r"^>PASSWORD:Verification Failed: '[^']*'(?: \['(.*)'\])?$")


class OpenVPNClient(_Daemon):
    """A real `openvpn` client that touches no host addresses/routes; a context manager.

    Events come from the client's own management socket, kept open for its lifetime.
    """

    def __init__(
        self, workdir: Path, pki: Pki, name: str, server_port: int, *,
        iv_sso: str | None = "webauth", username: str = "user",
        password: str = "password",  # noqa: S107 - throwaway test credential
        extra_lines: list[str] | None = None, start_timeout: float = 20.0,
    ) -> None:  # fmt: skip
        super().__init__(workdir, "client", start_timeout)
        self.pki, self.name, self.server_port, self.iv_sso = pki, name, server_port, iv_sso
        self.username, self.password = username, password
        self.extra_lines = list(extra_lines or [])
        self.auth_file = workdir / "client-auth.txt"
        self.management_socket = workdir / "client-mgmt.sock"
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._lines: list[str] = []
        self._eof = False
        self._cond = threading.Condition()

    @property
    def config_text(self) -> str:
        q, pki = _quote, self.pki
        cert, key = pki.client(self.name)
        lines = [
            "client", "nobind", f"remote 127.0.0.1 {self.server_port} udp",
            "dev tun", "dev-type tun", "disable-dco",  # kernel picks a free tunN
            f"ca {q(str(pki.ca_cert))}", f"cert {q(str(cert))}", f"key {q(str(key))}",
            f"tls-crypt {q(str(pki.tls_crypt_key))}", "remote-cert-tls server",
            f"auth-user-pass {q(str(self.auth_file))}",  # needed even with SSO
            "auth-retry none",  # AUTH_FAILED ends the process instead of retrying
            "connect-retry-max 1",  # with `hold off` (below): any restart ends the process
            "server-poll-timeout 10",  # no server: give up in 10s, not hand-window's 60s
            "ifconfig-noexec", "route-noexec",  # leave the host's addresses/routes alone
            # ...but bring the tun link up (without IPv6): a DOWN tun never becomes
            # writable, and a packet for it (the server tun's IPv6 router solicitation,
            # broadcast to all clients) would stop the client reading its socket until
            # ping-restart -- renegotiations then stall (found by a reneg-sec 10 test)
            "script-security 2", f"up {q(str(self.up_script))}",
            "push-peer-info",
            f"management {q(str(self.management_socket))} unix",
            "management-hold",  # nothing happens before our reader is attached
            "verb 3",
        ]  # fmt: skip
        if self.iv_sso is not None:
            lines.append(f"setenv IV_SSO {q(self.iv_sso)}")  # pushed as peer info IV_SSO
        return "\n".join(lines + self.extra_lines) + "\n"

    @property
    def up_script(self) -> Path:
        return self.workdir / "tun-up.sh"

    def __enter__(self) -> OpenVPNClient:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.up_script.write_text("#!/bin/sh\n"
                                  'echo 1 > "/proc/sys/net/ipv6/conf/$1/disable_ipv6"\n'
                                  'exec ip link set dev "$1" up\n')
        self.up_script.chmod(0o700)
        self.auth_file.write_text(f"{self.username}\n{self.password}\n")
        self.auth_file.chmod(0o600)
        self._spawn(self.config_text, self.management_socket)
        try:
            self._attach()
            self._wait(lambda s: s if s.startswith(">HOLD:") else None, self.start_timeout, "HOLD")
            # `hold off`: no second hold on restart, so connect-retry-max can end the process.
            for cmd in ("log on", "state on", "hold off", "hold release"):
                self._command(cmd)
        except BaseException:
            self.stop()
            raise
        return self

    def _attach(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.exited():
                raise self._error("exited during startup")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.management_socket))
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise self._error("management socket never came up") from None
                time.sleep(0.05)
        self._sock = sock
        self._reader = threading.Thread(target=self._read_loop, name="ovpn-mgmt", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        assert self._sock is not None
        buf = b""
        try:
            while chunk := self._sock.recv(65536):
                *done, buf = (buf + chunk).split(b"\n")
                with self._cond:
                    self._lines += [d.decode(errors="replace").rstrip("\r") for d in done]
                    self._cond.notify_all()
        except OSError:
            pass
        finally:
            with self._cond:
                self._eof = True
                self._cond.notify_all()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)
                self._sock.close()
            if self._reader is not None:
                self._reader.join(timeout=5)

    def lines(self) -> list[str]:
        """Every management line received so far (notifications start with '>')."""
        with self._cond:
            return list(self._lines)

    def real_address(self) -> str:
        """This client as the server's `status 3` 'Real Address' shows it: '127.0.0.1:PORT'.

        `nobind`: the port is ephemeral and never logged, so read it from /proc. The socket
        is bound to 0.0.0.0, but packets to 127.0.0.1 leave from 127.0.0.1.
        """
        if self._proc is None:
            raise OpenVPNError("client not started")
        inodes = set()
        for fd in Path(f"/proc/{self._proc.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        for row in Path("/proc/net/udp").read_text().splitlines()[1:]:
            cols = row.split()  # sl local_address(hex ip:port) ... inode(col 9)
            if cols[9] in inodes:
                return f"127.0.0.1:{int(cols[1].split(':')[1], 16)}"
        raise OpenVPNError("client has no UDP socket (yet)")

    def _wait(self, match: _Matcher, timeout: float, what: str, since: int = 0) -> str:
        """First non-None match(line) over lines[since:], waiting for more as they arrive."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[since:]:
                    if (found := match(line)) is not None:
                        return found
                since = len(self._lines)
                left = deadline - time.monotonic()
                if self._eof:  # process gone: everything it said has been read
                    raise self._error(f"management closed while waiting for {what}")
                if left <= 0:
                    raise self._error(f"no {what} within {timeout}s")
                self._cond.wait(min(left, 0.2))

    def restart(self) -> None:
        """A soft restart (SIGUSR1 via the client's management), like a laptop waking
        up on another network: the client reconnects, keeping its auth-token."""
        self._command("signal SIGUSR1")

    def _command(self, cmd: str, timeout: float = 10.0) -> str:
        assert self._sock is not None
        with self._cond:
            since = len(self._lines)
        self._sock.sendall(cmd.encode() + b"\n")
        ok = ("SUCCESS:", "ERROR:")
        reply = self._wait(lambda s: s if s.startswith(ok) else None, timeout, cmd, since)
        if reply.startswith("ERROR:"):
            raise self._error(f"management {cmd!r}: {reply}")
        return reply

    def wait_web_auth_url(self, timeout: float = 20.0, since: int = 0) -> str:
        """URL of '>INFOMSG:WEB_AUTH:<flags>:<url>' (flags: comma-separated words, no ':')."""
        pre = ">INFOMSG:WEB_AUTH:"
        return self._wait(
            lambda s: s[len(pre) :].partition(":")[2] if s.startswith(pre) else None,
            timeout, "WEB_AUTH", since,
        )  # fmt: skip

    def wait_state(self, name: str, timeout: float = 20.0, since: int = 0) -> str:
        """The first '>STATE:<time>,<name>,...' line, e.g. name='CONNECTED'."""
        return self._wait(
            lambda s: s if s.startswith(">STATE:") and s.split(",")[1:2] == [name] else None,
            timeout, f"state {name}", since,
        )  # fmt: skip

    def wait_auth_failed(self, timeout: float = 20.0, since: int = 0) -> str:
        """Reason text of the AUTH_FAILED the client got ('' if the server sent none).

        Source: ">PASSWORD:Verification Failed: 'Auth' ['<reason>']", which the client
        emits on its management socket for "AUTH_FAILED,<reason>" from the server.
        """

        def match(line: str) -> str | None:
            m = _AUTH_FAILED_RE.match(line)
            return (m.group(1) or "") if m else None

        return self._wait(match, timeout, "AUTH_FAILED", since)
