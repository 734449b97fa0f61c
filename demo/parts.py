"""Real parts for the demo and the end-to-end tests: Redis, the test IdP, the
callback service and a headless browser (OpenVPN itself: ``demo.openvpn_parts``).

Every part is a context manager that starts a real process on loopback and stops
it by its pid. A part that cannot start raises with its log: tests never skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
IDP_DIR = REPO / "tests" / "idp"
BIN = Path(sys.executable).parent
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


class PartError(RuntimeError):
    """A real part failed to start or misbehaved."""


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise PartError(f"timed out waiting for {what}\n{tail}")


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM) if _own_group(proc) else proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL) if _own_group(proc) else proc.kill()
            proc.wait(timeout)


def _own_group(proc: subprocess.Popen[Any]) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise PartError(f"{binary} is not installed: run scripts/install-deps.sh")
    return path


# ---------------------------------------------------------------- Redis

def spawn_redis(directory: Path, *args: str) -> subprocess.Popen[bytes]:
    """A redis-server (or sentinel) with its data and log in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [need("redis-server"), *args, "--dir", str(directory),
         "--logfile", str(directory / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)


def redis_cli(port: int, *args: str) -> str:
    """One command through redis-cli (raw reply text; "" if nothing answers)."""
    try:
        out = subprocess.run([need("redis-cli"), "-p", str(port), *args],
                             capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return ""
    return out.stdout if out.returncode == 0 else ""


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_tcp_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RedisServer:
        self.proc = spawn_redis(self.workdir, "--bind", "127.0.0.1", "--port", str(self.port),
                                "--save", "", "--appendonly", "no")
        wait_for(self.ping, 10, "redis-server", self.log)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop_process(self.proc)


class SentinelSet:
    """A Redis master, one replica and three Sentinels on loopback (Redis HA as in
    production), with fast failure detection for tests."""

    def __init__(self, workdir: Path, master_name: str = "mymaster") -> None:
        self.workdir = workdir
        self.name = master_name
        self.master_port, self.replica_port = free_tcp_port(), free_tcp_port()
        self.sentinel_ports = [free_tcp_port() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def sentinels(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.sentinel_ports]

    def _start(self, name: str, args: list[str]) -> None:
        self.procs[name] = spawn_redis(self.workdir / name, *args)

    def __enter__(self) -> SentinelSet:
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                  "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        try:
            self._start("master", ["--port", str(self.master_port), *common])
            self._start("replica", ["--port", str(self.replica_port), *common,
                                    "--replicaof", "127.0.0.1", str(self.master_port)])
            wait_for(lambda: "master_link_status:up" in redis_cli(self.replica_port, "INFO",
                                                                  "replication"),
                     15, "replica in sync", self.workdir / "replica" / "redis.log")
            for i, port in enumerate(self.sentinel_ports):
                conf = self.workdir / f"sentinel-{i}.conf"
                conf.write_text(
                    f"port {port}\nbind 127.0.0.1\n"
                    f"sentinel monitor {self.name} 127.0.0.1 {self.master_port} 2\n"
                    f"sentinel down-after-milliseconds {self.name} 1000\n"
                    f"sentinel failover-timeout {self.name} 5000\n"
                    f"sentinel parallel-syncs {self.name} 1\n")
                self._start(f"sentinel-{i}", [str(conf), "--sentinel"])
            wait_for(lambda: all("num-other-sentinels" in redis_cli(p, "SENTINEL", "master",
                                                                     self.name)
                                 for p in self.sentinel_ports), 15, "sentinels up")
            wait_for(lambda: all(str(self.replica_port) in redis_cli(
                p, "SENTINEL", "replicas", self.name) for p in self.sentinel_ports),
                15, "sentinels know the replica")
        except BaseException:
            self.__exit__()
            raise
        return self

    def master_port_now(self) -> int | None:
        """The master's port as the first answering Sentinel says."""
        for port in self.sentinel_ports:
            reply = redis_cli(port, "SENTINEL", "get-master-addr-by-name", self.name)
            numbers = [x for x in reply.split() if x.isdigit()]
            if numbers:
                return int(numbers[-1])
        return None

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            stop_process(proc)


class RedisClusterSet:
    """A Redis Cluster on loopback: three masters, each with one replica, and fast
    failure detection for tests."""

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.workdir = workdir
        self.ports = [free_tcp_port() for _ in range(masters * 2)]
        self.bus_ports = [free_tcp_port() for _ in self.ports]  # not port+10000: may be > 65535
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._masters = masters

    @property
    def nodes(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def __enter__(self) -> RedisClusterSet:
        try:
            for port, bus in zip(self.ports, self.bus_ports, strict=True):
                d = self.workdir / str(port)
                self.procs[port] = spawn_redis(
                    d, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                    "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-port", str(bus),
                    "--cluster-config-file", str(d / "nodes.conf"), "--cluster-node-timeout",
                    "1000", "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0")
            for port in self.ports:
                wait_for(lambda port=port: "PONG" in redis_cli(port, "PING"), 10,
                         "redis-server (cluster node)", self.workdir / str(port) / "redis.log")
            subprocess.run([need("redis-cli"), "--cluster", "create", *self.nodes,
                            "--cluster-replicas", "1", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            wait_for(self.healthy, 30, "Redis Cluster state ok with all replicas in sync")
        except BaseException:
            self.__exit__()
            raise
        return self

    def masters(self) -> dict[int, list[int]]:
        """Live master port -> the hash slots it serves, as a live node says."""
        for port in self.procs:
            if self.procs[port].poll() is not None:
                continue
            out = redis_cli(port, "CLUSTER", "NODES")
            if not out:
                continue
            found: dict[int, list[int]] = {}
            for line in out.splitlines():
                parts = line.split()
                if len(parts) < 8 or "master" not in parts[2] or "fail" in parts[2]:
                    continue
                slots: list[int] = []
                for r in parts[8:]:
                    if r.startswith("["):
                        continue
                    lo, _, hi = r.partition("-")
                    slots += range(int(lo), int(hi or lo) + 1)
                found[int(parts[1].split("@")[0].rsplit(":", 1)[1])] = slots
            return found
        return {}

    def healthy(self) -> bool:
        live = [p for p in self.procs if self.procs[p].poll() is None]
        return all("cluster_state:ok" in redis_cli(p, "CLUSTER", "INFO") for p in live) and \
            all("master_link_status:up" in redis_cli(p, "INFO", "replication")
                for p in live if "role:slave" in redis_cli(p, "INFO", "replication"))

    def master_for(self, key: str) -> int:
        slot = int(redis_cli(self.ports[0], "CLUSTER", "KEYSLOT", key).strip())
        return next(port for port, slots in self.masters().items() if slot in slots)

    def kill(self, port: int) -> None:
        os.killpg(self.procs[port].pid, signal.SIGKILL)
        self.procs[port].wait(10)

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            stop_process(proc)


# ---------------------------------------------------------------- the IdP

@dataclass
class User:
    username: str
    password: str
    groups: list[str] = field(default_factory=list)
    email: str = ""
    claims: dict[str, Any] = field(default_factory=dict)  # override or add ID token claims

    def as_json(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password, "sub": f"sub-{self.username}",
                "email": self.email or f"{self.username}@example.test",
                "name": self.username.title(), "groups": self.groups, "claims": self.claims}


class Idp:
    """node-oidc-provider (tests/idp/server.mjs) on 127.0.0.1 with the given users."""

    def __init__(self, workdir: Path, *, client_id: str, client_secret: str,
                 redirect_uris: list[str], users: list[User],
                 backchannel_logout_uri: str | None = None) -> None:
        self.workdir = workdir
        self.admin_token = os.urandom(16).hex()
        self.settings = {
            "host": "127.0.0.1", "port": 0, "admin_token": self.admin_token,
            "clients": [{"client_id": client_id, "client_secret": client_secret,
                         "redirect_uris": redirect_uris,
                         **({"backchannel_logout_uri": backchannel_logout_uri}
                            if backchannel_logout_uri else {})}],
            "users": [u.as_json() for u in users],
        }
        self.log = workdir / "idp.log"
        self.issuer = ""
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Idp:
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise PartError("tests/idp/node_modules missing: run `npm ci` in tests/idp")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "idp.json"
        conf.write_text(json.dumps(self.settings))
        conf.chmod(0o600)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([need("node"), str(IDP_DIR / "server.mjs"), str(conf)],
                                         stdout=subprocess.PIPE, stderr=log, text=True,
                                         start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("ISSUER "):
            stop_process(self.proc)
            raise PartError(f"IdP did not start: {line!r}\n{self.log.read_text()[-3000:]}")
        self.issuer = line.split(" ", 1)[1]
        return self

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            self.issuer + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.admin_token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop_process(self.proc)


# ---------------------------------------------------------------- the service

def toml_value(value: Any) -> str:
    """TOML for the plain values our config uses (JSON strings are TOML strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def write_config(path: Path, *, base_url: str, redis_url: str, issuer: str, client_id: str,
                 client_secret_file: Path, cookie_secret_file: Path,
                 servers: dict[str, dict[str, Any]], pending_timeout: int = 300,
                 allowed_groups: list[str] | None = None,
                 sections: dict[str, dict[str, Any]] | None = None,
                 client_config: list[dict[str, Any]] | None = None,
                 redis_settings: dict[str, Any] | None = None) -> Path:
    """The TOML config shared by the hook and the service."""
    lines = [f"public_base_url = {json.dumps(base_url)}",
             f"pending_timeout = {pending_timeout}",
             "", "[redis]", f"url = {json.dumps(redis_url)}",
             *(f"{k} = {toml_value(v)}" for k, v in
               ({"connect_timeout": 2} | (redis_settings or {})).items()),
             "", "[oidc]", f"issuer = {json.dumps(issuer)}", f"client_id = {json.dumps(client_id)}",
             f"client_secret = {json.dumps('file:' + str(client_secret_file))}",
             'scopes = ["openid", "profile", "email", "groups"]',
             "", "[service]", f"cookie_secret = {json.dumps('file:' + str(cookie_secret_file))}",
             "", "[policy]", f"allowed_groups = {json.dumps(allowed_groups or [])}"]
    for name, body in (sections or {}).items():
        lines += ["", f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in body.items()]
    for entry in client_config or []:
        lines += ["", "[[client_config]]"] + [f"{k} = {toml_value(v)}" for k, v in entry.items()]
    for sid, body in servers.items():
        lines += ["", f"[servers.{sid}]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def hook_setup(workdir: Path, redis_url: str, *, base_url: str = "https://vpn-login.example.com",
               sections: dict[str, dict[str, Any]] | None = None,
               pending_timeout: int = 300,
               redis_settings: dict[str, Any] | None = None) -> tuple[list[str], dict[str, str]]:
    """A config and an environment like OpenVPN's for running the hook by hand
    (tests and benchmarks): returns the hook's argv and environment."""
    ovpn_conf = workdir / "server.conf"
    ovpn_conf.write_text("dev tun\nmanagement-client-auth\n")
    cfg = write_config(workdir / "config.toml", base_url=base_url, redis_url=redis_url,
                       issuer="https://idp.example.com", client_id="openvpn",
                       client_secret_file=secret_file(workdir / "cs"),
                       cookie_secret_file=secret_file(workdir / "ck"),
                       servers={"vpn1": {"management": f"unix:{workdir}/m.sock"}},
                       pending_timeout=pending_timeout, sections=sections,
                       redis_settings=redis_settings)
    for name in ("pending", "control", "reason"):
        (workdir / name).write_text("")
    via = workdir / "via"
    via.write_text("alice\nignored-password\n")
    env = {"IV_SSO": "openurl,webauth,crtext", "IV_PLAT": "linux", "IV_VER": "2.6.14",
           "common_name": "alice", "untrusted_ip": "192.0.2.7", "untrusted_port": "51234",
           "auth_pending_file": str(workdir / "pending"),
           "auth_control_file": str(workdir / "control"),
           "auth_failed_reason_file": str(workdir / "reason"), "config": str(ovpn_conf),
           "script_type": "user-pass-verify"}
    argv = [str(BIN / "openvpn-sso-hook"), "--config", str(cfg), "--server", "vpn1", str(via)]
    return argv, env


def secret_file(path: Path, value: str | None = None) -> Path:
    path.write_text((value or os.urandom(24).hex()) + "\n")
    path.chmod(0o600)
    return path


class CallbackService:
    """``openvpn-sso serve`` (gunicorn) on ``host``:free port."""

    def __init__(self, workdir: Path, config_path: Path, host: str, port: int,
                 workers: int = 2) -> None:
        self.workdir = workdir
        self.config_path = config_path
        self.listen = f"{host}:{port}"
        self.base_url = f"http://{self.listen}"
        self.workers = workers
        self.log = workdir / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CallbackService:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "openvpn-sso"), "serve", "--config", str(self.config_path),
                 "--listen", self.listen, "--workers", str(self.workers)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.healthy, 20, "callback service /healthz", self.log)
        return self

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise PartError(f"callback service exited\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop_process(self.proc)


class LoadBalancer:
    """nginx (Debian's) round-robin in front of service replicas, as in production.

    Its access log records path and upstream only: query strings carry states and
    authorization codes."""

    def __init__(self, workdir: Path, host: str, port: int, upstreams: list[str]) -> None:
        self.workdir = workdir
        self.listen = f"{host}:{port}"
        self.base_url = f"http://{self.listen}"
        self.upstreams = upstreams
        self.log = workdir / "nginx-access.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def config_text(self) -> str:
        servers = "".join(f"    server {u} max_fails=1 fail_timeout=30s;\n"
                          for u in self.upstreams)
        w = self.workdir
        return f"""# test-only: runs as root so its temp paths in the test's private dir work
user root;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
  client_body_temp_path {w}/tmp-body; proxy_temp_path {w}/tmp-proxy;
  fastcgi_temp_path {w}/tmp-fcgi; uwsgi_temp_path {w}/tmp-uwsgi; scgi_temp_path {w}/tmp-scgi;
  log_format upstream '$uri $status $upstream_addr';
  access_log {self.log} upstream;
  upstream replicas {{
{servers}  }}
  server {{
    listen {self.listen};
    location / {{
      proxy_pass http://replicas;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_next_upstream error timeout http_502 http_503;
      proxy_connect_timeout 2s;
    }}
  }}
}}
"""

    def __enter__(self) -> LoadBalancer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "nginx.conf"
        conf.write_text(self.config_text())
        with open(self.workdir / "nginx-stderr.log", "ab") as log:
            self.proc = subprocess.Popen(
                [need("nginx"), "-c", str(conf), "-p", str(self.workdir), "-g", "daemon off;"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self.healthy, 20, "nginx", self.workdir / "nginx-error.log")
        return self

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise PartError("nginx exited\n" + (self.workdir / "nginx-stderr.log").read_text())
        try:
            with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def served(self) -> list[tuple[str, str, str]]:
        """(path, status, upstream) for every request so far."""
        if not self.log.exists():
            return []
        return [tuple(line.split(" ", 2)) for line in  # type: ignore[misc]
                self.log.read_text().splitlines() if line.count(" ") >= 2]

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            stop_process(self.proc)


# ---------------------------------------------------------------- the browser

def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    raise PartError("chromium is not installed: run scripts/install-deps.sh")


@dataclass(frozen=True)
class PageResult:
    title: str
    message: str
    url: str
    status: int
    callback_url: str = ""  # where the IdP sent the browser back (holds the code)


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """A headless Chromium (Debian's) driven by Playwright; always closed."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


def sign_in(page: Any, username: str, password: str) -> None:
    """Fill and send the IdP's login form on ``page``, then wait for our
    confirmation page."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#approve")


def login_across(b: Any, url: str, username: str, password: str,
                 fault: Callable[[], None]) -> None:
    """A login with ``fault`` injected after ``/login`` (the IdP's form is shown)
    and before ``/callback``; waits for the success page."""
    context = b.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("input[name=username]")
        fault()
        sign_in(page, username, password)
        page.click("#approve")
        page.wait_for_selector("text=You are connected")
    finally:
        context.close()


def login_in_browser(b: Any, url: str, username: str, password: str,
                     wrong_password_first: str | None = None, decision: str = "approve",
                     screenshot: Path | None = None, context: Any = None) -> PageResult:
    """Open the login URL, sign in at the IdP's form, answer the confirmation page
    with ``decision`` (approve/deny) if it is shown, and return the result page."""
    own_context = context is None
    context = context or b.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        if wrong_password_first is not None:
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", wrong_password_first)
            page.click("button[type=submit]")
            page.wait_for_selector("text=Invalid username or password")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation(url=lambda u: "/callback" in u) as nav:
            page.click("button[type=submit]")
        response = nav.value
        callback_url = response.url if response else ""
        page.wait_for_selector("#title")
        if page.locator(f"#{decision}").count():
            if screenshot is not None:
                page.screenshot(path=str(screenshot.with_name("confirm-" + screenshot.name)))
            with page.expect_navigation() as nav:
                page.click(f"#{decision}")
            response = nav.value
            page.wait_for_selector("#title")
        if screenshot is not None:
            page.screenshot(path=str(screenshot))
        return PageResult(page.inner_text("#title"), page.inner_text("#message"), page.url,
                          response.status if response else 0, callback_url)
    finally:
        if own_context:
            context.close()


def open_in_browser(b: Any, url: str, context: Any = None) -> PageResult:
    """Visit a URL (no login) and return the result page shown."""
    own_context = context is None
    context = context or b.new_context()
    try:
        page = context.new_page()
        response = page.goto(url)
        page.wait_for_selector("#title")
        return PageResult(page.inner_text("#title"), page.inner_text("#message"), page.url,
                          response.status if response else 0)
    finally:
        if own_context:
            context.close()
