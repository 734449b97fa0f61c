"""A minimal Redis (RESP2) client for the hook.

Why not redis-py here: ``import redis`` alone costs many times a bare interpreter
start (``bench/hook.py`` prints the figure), and OpenVPN's whole server is frozen
while the hook runs. The hook needs one command on one connection, so it speaks
RESP directly. The callback service uses redis-py; both run the same behaviour
suite (``tests/integration/test_store.py``) against a real Redis.

It uses the C module ``_socket`` rather than ``socket``: the latter pulls in
``enum`` and ``selectors`` and costs several milliseconds per connect.
"""

from __future__ import annotations

import _socket

from shared.privatefile import read_private, write_private
from shared.store import StoreUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class RedisError(StoreUnavailable):
    """Redis unreachable, timed out or answered with an error."""


class Redirect(RedisError):
    """A Redis Cluster node answered MOVED or ASK: the key's slot is elsewhere."""

    def __init__(self, text: str) -> None:
        super().__init__("Redis error: " + text)
        kind, _, rest = text.partition(" ")
        where = rest.partition(" ")[2]
        host, _, port = where.rpartition(":")
        if not port.isdigit():
            raise RedisError(f"Redis error: malformed redirect {text[:80]!r}")
        self.ask = kind == "ASK"
        self.host = host  # "" means: the host we asked (cluster-preferred-endpoint unknown)
        self.port = int(port)


class RedisAddress:
    """Where Redis is: parsed from ``redis://host:port/db``, ``rediss://…`` or
    ``unix:///path?db=N`` (pure)."""

    __slots__ = ("db", "host", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        self.tls = url.startswith("rediss://")
        self.db = 0
        self.path = ""
        self.host = ""
        self.port = 6379
        if url.startswith("unix://"):
            path, _, query = url[7:].partition("?")
            self.path = path
            for part in query.split("&"):
                key, _, value = part.partition("=")
                if key == "db" and value.isdigit():
                    self.db = int(value)
            return
        if not url.startswith(("redis://", "rediss://")):
            raise RedisError("redis URL must start with redis://, rediss:// or unix://")
        rest = url.split("://", 1)[1]
        hostport, _, db = rest.partition("/")
        db = db.partition("?")[0]
        if db:
            if not db.isdigit():
                raise RedisError("redis URL: the database must be a number")
            self.db = int(db)
        if hostport.startswith("["):  # [IPv6]:port
            host, _, after = hostport[1:].partition("]")
            port = after[1:] if after.startswith(":") else ""
        else:
            host, _, port = hostport.partition(":")
        self.host = host or "127.0.0.1"
        if port:
            if not port.isdigit():
                raise RedisError("redis URL: the port must be a number")
            self.port = int(port)


def _connect(sock: Any, target: object) -> None:
    try:
        sock.connect(target)
    except BaseException:
        sock.close()
        raise


def _tcp_connect(host: str, port: int, timeout: float) -> Any:
    """Like socket.create_connection: try each address until one connects."""
    last: OSError | None = None
    # A str host makes getaddrinfo load the idna codec (and with it `re`): ~7 ms.
    name = host.encode() if host.isascii() else host.encode("idna")
    for family, kind, proto, _, addr in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            _connect(sock, addr)
        except OSError as err:
            last = err
            continue
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError(f"no address for {host}")


def encode_command(*args: str | bytes | int) -> bytes:
    """RESP array of bulk strings (pure)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespConnection:
    """One blocking connection; every operation is bounded by ``timeout`` seconds."""

    def __init__(self, address: RedisAddress, *, timeout: float, username: str = "",
                 password: str | None = None) -> None:
        try:
            if address.path:
                sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                sock.settimeout(timeout)
                _connect(sock, address.path)
            elif address.tls:
                import socket  # only for rediss://; ssl needs socket.socket objects
                import ssl

                ctx = ssl.create_default_context()
                sock = ctx.wrap_socket(
                    socket.create_connection((address.host, address.port), timeout=timeout),
                    server_hostname=address.host)
            else:
                sock = _tcp_connect(address.host, address.port, timeout)
        except OSError as err:
            where = address.path or f"{address.host}:{address.port}"
            raise RedisError(f"cannot connect to Redis at {where}: {err}") from err
        self._sock = sock
        self._buf = b""
        try:
            if password is not None:
                args = ("AUTH", username, password) if username else ("AUTH", password)
                self.call(*args)
            if address.db:
                self.call("SELECT", address.db)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RespConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, *args: str | bytes | int) -> Any:
        try:
            self._sock.sendall(encode_command(*args))
            return self._read_reply()
        except OSError as err:  # includes timeouts
            raise RedisError(f"Redis did not answer: {err}") from err

    def _read_line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise RedisError("Redis closed the connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def _read_exact(self, size: int) -> bytes:
        while len(self._buf) < size + 2:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise RedisError("Redis closed the connection")
            self._buf += chunk
        data, self._buf = self._buf[:size], self._buf[size + 2:]
        return data

    def _read_reply(self) -> Any:
        line = self._read_line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            # Redis error text never holds our arguments, so it is safe to show.
            text = rest.decode("utf-8", "replace")
            if text.startswith(("MOVED ", "ASK ")):
                raise Redirect(text)
            raise RedisError("Redis error: " + text)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._read_exact(size)
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._read_reply() for _ in range(count)]
        raise RedisError(f"unexpected reply from Redis: {line[:40]!r}")


def split_hostport(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` (pure); RedisError if it is neither."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise RedisError(f"{text!r} is not host:port")
    return host.strip("[]"), int(port)


def order_nodes(nodes: list[str] | tuple[str, ...], hint: str | None) -> list[str]:
    """``nodes`` with ``hint`` first if it is one of them (pure). A hint can only
    reorder the configured nodes, never add one."""
    ordered = list(nodes)
    if hint in ordered:
        ordered.remove(hint)
        ordered.insert(0, hint)
    return ordered


def read_hint(path: str | None) -> str | None:
    """The node that answered last time (shared.privatefile: trusted only if ours);
    None if absent or not trusted."""
    data = read_private(path) if path else None
    if not data:
        return None
    return data[:300].decode("ascii", "replace").strip() or None


def write_hint(path: str | None, node: str) -> None:
    """Remember the node that answered (best effort, atomic)."""
    if path:
        write_private(path, node.encode("ascii", "replace"))


class ClusterConnection:
    """Redis Cluster for the hook: the same ``call`` as a RespConnection, sent to
    one node and following MOVED/ASK redirects (opening a connection per node it is
    sent to). No slot map: a hook run sends two or three commands, so learning the
    map would cost more than the odd redirect it saves."""

    MAX_REDIRECTS = 5

    def __init__(self, template: RedisAddress, seeds: list[str] | tuple[str, ...], *,
                 timeout: float, username: str = "", password: str | None = None,
                 hint_file: str | None = None) -> None:
        self._template = template
        self._options: dict[str, Any] = {"timeout": timeout, "username": username,
                                         "password": password}
        self._conns: dict[tuple[str, int], RespConnection] = {}
        errors = []
        hint = read_hint(hint_file)
        # The first seed that answers; the one that did last time goes first, so a
        # dead host costs its connect timeout once, not on every hook run.
        for hostport in order_nodes(seeds, hint):
            try:
                self._current = split_hostport(hostport)
                self._node(self._current)
            except RedisError as err:
                errors.append(f"{hostport}: {err}")
                continue
            if hostport != hint:
                write_hint(hint_file, hostport)
            break
        else:
            raise RedisError("no Redis Cluster node answered: " + "; ".join(errors))
        self._last = self._current

    def _node(self, where: tuple[str, int]) -> RespConnection:
        conn = self._conns.get(where)
        if conn is None:
            address = RedisAddress("rediss://x" if self._template.tls else "redis://x")
            address.host, address.port = where
            conn = self._conns[where] = RespConnection(address, **self._options)
        return conn

    def call(self, *args: str | bytes | int) -> Any:
        if args[0] == "WAIT":  # counts the replicas that have *this connection's* writes
            return self._node(self._last).call(*args)
        where, asking = self._current, False
        for _ in range(self.MAX_REDIRECTS):
            conn = self._node(where)
            try:
                if asking:
                    conn.call("ASKING")
                reply = conn.call(*args)
            except Redirect as redirect:
                where = (redirect.host or where[0], redirect.port)
                asking = redirect.ask
                if not redirect.ask:  # MOVED: the slot lives there now
                    self._current = where
                continue
            self._last = where
            return reply
        raise RedisError(f"Redis Cluster: more than {self.MAX_REDIRECTS} redirects")

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()

    def __enter__(self) -> ClusterConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_master(url: str, *, timeout: float, username: str = "", password: str | None = None,
                sentinels: list[str] | tuple[str, ...] = (), master: str = "",
                sentinel_password: str | None = None,
                cluster_nodes: list[str] | tuple[str, ...] = (),
                hint_file: str | None = None) -> RespConnection | ClusterConnection:
    """A connection to the Redis master: the URL's server, the one the first
    answering Sentinel names (then checked with ROLE, as Sentinel clients must), or
    a Redis Cluster reached through its seed nodes. ``hint_file`` remembers which
    Sentinel or seed answered, to ask it first next time."""
    address = RedisAddress(url)
    if cluster_nodes:
        return ClusterConnection(address, cluster_nodes, timeout=timeout, username=username,
                                 password=password, hint_file=hint_file)
    if not sentinels:
        return RespConnection(address, timeout=timeout, username=username, password=password)
    errors = []
    hint = read_hint(hint_file)
    for hostport in order_nodes(sentinels, hint):
        try:
            with RespConnection(RedisAddress(f"redis://{hostport}"), timeout=timeout,
                                password=sentinel_password) as sentinel:
                found = sentinel.call("SENTINEL", "get-master-addr-by-name", master)
        except RedisError as err:
            errors.append(f"{hostport}: {err}")
            continue
        if not found:
            errors.append(f"{hostport}: does not know master {master!r}")
            continue
        if hostport != hint:
            write_hint(hint_file, hostport)
        address.host, address.port = found[0].decode(), int(found[1])
        conn = RespConnection(address, timeout=timeout, username=username, password=password)
        try:
            role = conn.call("ROLE")
            if role[0] != b"master":
                raise RedisError(f"{address.host}:{address.port} is not the master (yet)")
        except BaseException:
            conn.close()
            raise
        return conn
    raise RedisError("no Sentinel answered: " + "; ".join(errors))
