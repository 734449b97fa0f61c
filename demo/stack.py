"""A complete local deployment on loopback: Redis, the IdP, the callback service
and OpenVPN servers wired with the project's own server.conf lines.

Used by the demo (``python -m demo``) and the end-to-end tests.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from demo.openvpn_parts import OpenVPNClient, OpenVPNServer, Pki, free_udp_port, make_pki
from demo.parts import (
    BIN,
    CallbackService,
    Idp,
    LoadBalancer,
    RedisServer,
    User,
    free_tcp_port,
    secret_file,
    write_config,
)
from shared.serverconf import server_conf_lines

CLIENT_ID = "openvpn-sso"
# The IdP listens on 127.0.0.1 and the service on 127.0.0.2: browsers ignore ports
# for cookies, so two services on one host name would share (and clobber) cookies.
SERVICE_HOST = "127.0.0.2"
DEFAULT_USERS = [
    User("alice", "alice-password", ["vpn-users", "staff", "eng"]),
    User("bob", "bob-password", ["contractors"]),
    User("carol", "carol-password", ["/vpn-users", "/ops"]),  # Keycloak-style group paths
]
# What the demo and the tests push: engineers and operations reach different
# networks, everyone gets the internal DNS, carol has a fixed address on vpn1.
DEFAULT_CLIENT_CONFIG: list[dict[str, object]] = [
    {"dns": ["10.77.0.1"], "domains": ["corp.example"]},
    {"match": {"groups": ["eng"]}, "routes": ["10.10.0.0/16"]},
    {"match": {"groups": ["ops"]}, "routes": ["10.20.0.0/24", "10.21.0.0/24"]},
]


VPN1_SETTINGS: dict[str, object] = {"tunnel_network": "10.77.0.0/24",
                                    "static_addresses": {"carol": "10.77.0.50"}}


@dataclass
class ServerSpec:
    server_id: str
    subnet: str
    pending_timeout: int | None = None
    tcp_management: bool = False  # TCP with a password instead of a unix socket
    settings: dict[str, object] = field(default_factory=dict)  # more [servers.<id>] keys


@dataclass
class Stack:
    workdir: Path
    servers: list[ServerSpec] = field(default_factory=lambda: [
        ServerSpec("vpn1", "10.77.0.0 255.255.255.0", settings=VPN1_SETTINGS)])
    users: list[User] = field(default_factory=lambda: list(DEFAULT_USERS))
    allowed_groups: list[str] = field(default_factory=lambda: ["vpn-users"])
    progress: Callable[[str], None] = lambda msg: None
    redis_url: str | None = None
    # extra config sections, e.g. {"limits": {...}} (tests raise the rate limit: all
    # their browsers share one address)
    sections: dict[str, dict[str, object]] = field(default_factory=dict)
    client_config: list[dict[str, object]] = field(
        default_factory=lambda: list(DEFAULT_CLIENT_CONFIG))
    # >1: that many service processes behind an nginx load balancer
    replicas: int = 1
    redis_settings: dict[str, object] = field(default_factory=dict)  # more [redis] keys

    def __post_init__(self) -> None:
        self._exit = contextlib.ExitStack()
        self.openvpn: dict[str, OpenVPNServer] = {}
        self.pki: Pki | None = None
        self.redis: RedisServer | None = None
        self.idp: Idp | None = None
        self.service: CallbackService | LoadBalancer | None = None
        self.replicas_running: list[CallbackService] = []
        self.config_path = self.workdir / "config.toml"
        self._clients = 0

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def _start(self) -> None:
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        self.progress("generating a throwaway PKI (openssl)")
        self.pki = make_pki(w / "pki")
        if self.redis_url is None:
            self.progress("starting redis-server")
            self.redis = self._exit.enter_context(RedisServer(w / "redis"))
            self.redis_url = self.redis.url
        port = free_tcp_port(SERVICE_HOST)
        base_url = f"http://{SERVICE_HOST}:{port}"
        client_secret = secret_file(w / "client-secret")
        self.progress("starting the OpenID provider (node-oidc-provider)")
        self.idp = self._exit.enter_context(Idp(
            w / "idp", client_id=CLIENT_ID, client_secret=client_secret.read_text().strip(),
            redirect_uris=[base_url + "/callback"], users=self.users,
            backchannel_logout_uri=base_url + "/backchannel-logout"))
        ports = {s.server_id: free_udp_port() for s in self.servers}
        sockets = {s.server_id: w / f"{s.server_id}.mgmt.sock" for s in self.servers}
        servers: dict[str, dict[str, object]] = {}
        mgmt: dict[str, tuple[str, Path | None]] = {}
        for s in self.servers:
            if s.tcp_management:
                pw = secret_file(w / f"{s.server_id}.mgmt-password")
                mgmt[s.server_id] = (f"tcp:127.0.0.1:{free_tcp_port()}", pw)
            else:
                mgmt[s.server_id] = (f"unix:{sockets[s.server_id]}", None)
            body: dict[str, object] = {"management": mgmt[s.server_id][0]}
            if mgmt[s.server_id][1] is not None:
                body["management_password"] = f"file:{mgmt[s.server_id][1]}"
            if s.pending_timeout is not None:
                body["pending_timeout"] = s.pending_timeout
            body.update(s.settings)
            servers[s.server_id] = body
        sections = dict(self.sections)
        sections.setdefault("sessions", {"encryption_key": "file:" + str(
            secret_file(w / "session-key", os.urandom(32).hex()))})
        write_config(self.config_path, base_url=base_url, redis_url=self.redis_url,
                     issuer=self.idp.issuer, client_id=CLIENT_ID, client_secret_file=client_secret,
                     cookie_secret_file=secret_file(w / "cookie-secret"), servers=servers,
                     allowed_groups=self.allowed_groups, sections=sections,
                     client_config=self.client_config, redis_settings=self.redis_settings)
        if self.replicas == 1:
            self.progress(f"starting the callback service on {base_url} (gunicorn, 2 workers)")
            self.service = self._exit.enter_context(
                CallbackService(w / "service", self.config_path, SERVICE_HOST, port))
        else:
            for i in range(self.replicas):
                self.progress(f"starting callback service replica {i + 1}")
                self.replicas_running.append(self._exit.enter_context(CallbackService(
                    w / f"service-{i + 1}", self.config_path, "127.0.0.1", free_tcp_port())))
            self.progress(f"starting nginx on {base_url} in front of {self.replicas} replicas")
            self.service = self._exit.enter_context(LoadBalancer(
                w / "nginx", SERVICE_HOST, port, [r.listen for r in self.replicas_running]))
        for s in self.servers:
            sw = w / s.server_id
            sso = server_conf_lines(server_id=s.server_id, hook=str(BIN / "openvpn-sso-hook"),
                                    config_path=str(self.config_path),
                                    management=mgmt[s.server_id][0],
                                    management_password_file=str(mgmt[s.server_id][1] or "")
                                    or None, tmp_dir=str(sw / "tmp"))
            self.progress(f"starting OpenVPN server {s.server_id} on udp 127.0.0.1:"
                          f"{ports[s.server_id]}")
            self.openvpn[s.server_id] = self._exit.enter_context(OpenVPNServer(
                sw, self.pki, ports[s.server_id], management_socket=sockets[s.server_id],
                sso_lines=sso, server_subnet=s.subnet))

    def logs(self) -> dict[str, str]:
        """Every log this deployment wrote (service, OpenVPN servers with the hook's
        stderr, Redis), for checks that no secret leaks into them."""
        return {str(p.relative_to(self.workdir)): p.read_text(errors="replace")
                for p in sorted(self.workdir.rglob("*.log"))}

    def client(self, name: str, server_id: str = "vpn1", **kwargs: object) -> OpenVPNClient:
        """A new OpenVPN client (a context manager: the caller enters and stops it)."""
        assert self.pki is not None
        self._clients += 1
        return OpenVPNClient(self.workdir / "clients" / f"{self._clients}-{name}", self.pki,
                             name, self.openvpn[server_id].port, **kwargs)  # type: ignore[arg-type]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._exit.close()
