"""Configuration shared by the hook and the callback service.

One TOML file, then environment overrides named ``OPENVPN_SSO_<SECTION>__<KEY>``
(``OPENVPN_SSO_PENDING_TIMEOUT``, ``OPENVPN_SSO_OIDC__CLIENT_SECRET``). Unknown keys
are errors, and :func:`parse` reports every problem at once.

The hook imports this module on every VPN connect, so it stays import-light on
purpose: no ``dataclasses``/``typing``/``re``/``urllib`` at run time (each costs
milliseconds of interpreter start-up; see ``bench/hook.py``). ``tomllib`` is
loaded only when a file is actually read.
"""

from __future__ import annotations

import os

from shared.privatefile import read_private, write_private
from shared.resp import RedisAddress, RedisError, split_hostport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

ENV_PREFIX = "OPENVPN_SSO_"
DEFAULT_PATH = "/etc/openvpn-sso/config.toml"
# OpenVPN's client keeps 256 bytes for an INFO message: longer WEB_AUTH URLs are dropped.
MAX_WEB_AUTH_LEN = 245
STATE_CHARS = 32  # base64url of 24 random bytes, see shared.records.new_state


class ConfigError(Exception):
    """The configuration is invalid; ``problems`` lists every issue found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


class Secret:
    """A secret given inline or as ``file:/path``; read lazily, never printed.

    Lazy on purpose: the hook runs as OpenVPN's unprivileged user and must not
    fail on a client-secret file it never needs.
    """

    __slots__ = ("_source",)

    def __init__(self, source: str) -> None:
        self._source = source

    @property
    def is_file(self) -> bool:
        return self._source.startswith("file:")

    @property
    def path(self) -> str | None:
        return self._source[5:] if self.is_file else None

    def reveal(self) -> str:
        if self.path is None:
            return self._source
        try:
            with open(self.path, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as err:
            raise ConfigError([f"cannot read secret file {self.path}: {err.strerror}"]) from err

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


# ---------------------------------------------------------------- schema
# A field is (kind, default); kind is "str", "int", "bool", "list", "secret".
# REQUIRED marks fields without a default.
REQUIRED = object()

_SCHEMA: dict[str, dict[str, tuple[str, object]]] = {
    "": {
        "public_base_url": ("str", REQUIRED),
        "pending_timeout": ("int", 300),
        "key_prefix": ("str", "ovpnsso"),
        # [[client_config]] entries: what to push to whom (callback_service/clientconfig.py)
        "client_config": ("entries", []),
    },
    "redis": {
        "url": ("str", "redis://127.0.0.1:6379/0"),
        "username": ("str", ""),
        "password": ("secret", None),
        "connect_timeout": ("int", 2),
        # Redis Sentinel: the master's address comes from these (host:port) instead
        # of the URL's host and port; the URL still gives the database and TLS.
        "sentinels": ("list", []),
        "sentinel_master": ("str", "mymaster"),
        "sentinel_password": ("secret", None),
        # Redis Cluster: seed nodes (host:port); the URL still gives TLS and the
        # credentials (the database must be 0, the only one a cluster has).
        "cluster_nodes": ("list", []),
        # After each write, wait until this many replicas have it (Redis WAIT), so
        # a failover right after it loses no login. 0: do not wait.
        "wait_replicas": ("int", 0),
        "wait_timeout_ms": ("int", 100),
    },
    "oidc": {
        "issuer": ("str", REQUIRED),
        "client_id": ("str", REQUIRED),
        "client_secret": ("secret", REQUIRED),
        "scopes": ("list", ["openid", "profile", "email"]),
        "username_claim": ("str", "preferred_username"),
        "groups_claim": ("str", "groups"),
        "leeway": ("int", 60),
        "http_timeout": ("int", 10),
    },
    "service": {
        "cookie_secret": ("secret", REQUIRED),
        "listen": ("str", "127.0.0.1:8080"),
        # Reverse proxies whose X-Forwarded-For is believed (addresses or networks).
        "trusted_proxies": ("list", []),
    },
    # How the IdP identity must match the VPN connection (phishing by forwarding).
    "binding": {
        "match": ("str", "common_name"),  # common_name, username, both, none
        "claim": ("str", ""),  # default: oidc.username_claim
        "normalize": ("str", "casefold"),  # casefold or exact
        "strip_domain": ("bool", False),  # compare alice@example.com as alice
        "confirm": ("bool", True),  # confirmation page before approval
        "browser_ip": ("str", "off"),  # off or match
    },
    # How the login pages look: a name, an https (or same-site) logo, an accent colour.
    "branding": {
        "name": ("str", "VPN login"),
        "logo_url": ("str", ""),
        "color": ("str", "#1a7f37"),
        "support": ("str", ""),  # e.g. "IT helpdesk: +1 555 0100", shown on every page
    },
    # Connected sessions (shared/sessions.py) and their continuous verification.
    "sessions": {
        "ttl": ("int", 86400),  # a record lives this long unless the verifier renews it
        "encryption_key": ("secret", None),  # seals refresh tokens; none: no verification
        "verify_interval": ("int", 300),  # seconds between checks of every session
        "on_idp_error": ("str", "keep"),  # keep or disconnect while the IdP is unreachable
        "single_per_user": ("bool", False),  # a new session ends the user's older ones
    },
    "limits": {
        "pending_per_ip": ("int", 10),
        "pending_per_server": ("int", 5000),
        "requests_per_minute": ("int", 60),  # per browser address, shared by replicas
    },
    # Who may connect (callback_service/policy.py): no deny rule may match, and one
    # allow rule must (if there are any). allowed_groups is a shorthand allow rule.
    "policy": {
        "allowed_groups": ("list", []),
        "allow": ("rules", []),
        "deny": ("rules", []),
    },
}
_SERVER_SCHEMA: dict[str, tuple[str, object]] = {
    "management": ("str", REQUIRED),
    "management_password": ("secret", None),
    "pending_timeout": ("int", None),
    "display_name": ("str", ""),
    # Any of these three replaces the global [policy] for this server.
    "allowed_groups": ("list", None),
    "allow": ("rules", None),
    "deny": ("rules", None),
    # The server's tunnel network ("10.8.0.0/24"), for static addresses.
    "tunnel_network": ("str", ""),
    "static_addresses": ("strmap", {}),  # IdP username -> address in tunnel_network
    # OpenVPN >= 2.7: make the IdP username the session's username (status, logs,
    # client-config-dir) with `override-username` in the client-auth block.
    "override_username": ("bool", False),
    # Wake the client right after approving it (see shared/management/codec.py).
    "wake": ("bool", True),
    # How long a login lasts for renegotiations and reconnects (auth-gen-token).
    "token_lifetime": ("int", 28800),
}
# A rule matches when every condition it has matches; each condition is any-of.
RULE_KEYS = {"groups": "list", "realm_roles": "list", "client_roles": "list", "client": "str",
             "email_domains": "list", "claims": "claims", "reason": "str"}
RULE_CONDITIONS = ("groups", "realm_roles", "client_roles", "email_domains", "claims")
ENTRY_KEYS = {"match": "rule", "servers": "list", "routes": "list", "dns": "list",
              "domains": "list", "redirect_gateway": "bool", "block_outside_dns": "bool"}


class Section:
    """Attribute access over a validated section (plain class: see module doc)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only reached for unknown names
        raise AttributeError(name)


class ServerConfig(Section):
    """One OpenVPN server: where its management interface is, per-server policy."""

    id: str
    management: str
    management_password: Secret | None
    pending_timeout: int | None
    allowed_groups: list[str] | None
    allow: list[dict[str, Any]] | None
    deny: list[dict[str, Any]] | None
    display_name: str
    tunnel_network: str
    static_addresses: dict[str, str]
    override_username: bool
    wake: bool
    token_lifetime: int


class Config:
    """The whole validated configuration."""

    def __init__(self, top: Section, sections: dict[str, Section],
                 servers: dict[str, ServerConfig]) -> None:
        self.public_base_url: str = top.public_base_url.rstrip("/")
        self.pending_timeout: int = top.pending_timeout
        self.key_prefix: str = top.key_prefix
        self.client_config: list[dict[str, Any]] = top.client_config
        self.redis = sections["redis"]
        self.oidc = sections["oidc"]
        self.service = sections["service"]
        self.policy = sections["policy"]
        self.binding = sections["binding"]
        self.limits = sections["limits"]
        self.branding = sections["branding"]
        self.sessions = sections["sessions"]
        self.servers = servers

    def server(self, server_id: str) -> ServerConfig:
        try:
            return self.servers[server_id]
        except KeyError:
            raise ConfigError([f"unknown server id {server_id!r}"]) from None

    def pending_timeout_for(self, server_id: str) -> int:
        own = self.server(server_id).pending_timeout
        return own if own is not None else self.pending_timeout

    def rules_for(self, server_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(allow rules, deny rules) in force on a server."""
        server = self.server(server_id)
        source: Any = server
        if server.allowed_groups is None and server.allow is None and server.deny is None:
            source = self.policy
        allow = list(source.allow or [])
        if source.allowed_groups:
            allow.append({"groups": list(source.allowed_groups)})
        return allow, list(source.deny or [])


# ---------------------------------------------------------------- parsing

def _coerce(kind: str, value: object, where: str, problems: list[str]) -> object:
    if kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "int":
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            return value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif kind == "list":
        if isinstance(value, str):  # from the environment: comma-separated
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif kind == "secret" and isinstance(value, str) and value:
        return Secret(value)
    elif kind == "strmap":
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return dict(value)
    elif kind == "claims":
        if isinstance(value, dict) and all(
                isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
                for v in value.values()):
            return {k: [v] if isinstance(v, str) else list(v) for k, v in value.items()}
    elif kind == "rule" and isinstance(value, dict):
        return _rule(value, where, problems)
    elif kind in ("rules", "entries") and isinstance(value, list) and all(
            isinstance(v, dict) for v in value):
        parse_one = _rule if kind == "rules" else _entry
        return [parse_one(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    problems.append(f"{where}: expected {kind}, got {type(value).__name__}")
    return None


def _rule(raw: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    rule = _section(raw, {k: (kind, None) for k, kind in RULE_KEYS.items()}, where + ".",
                    problems)
    if not any(rule.get(c) for c in RULE_CONDITIONS):
        problems.append(f"{where}: a rule needs at least one of {', '.join(RULE_CONDITIONS)}")
    return {k: v for k, v in rule.items() if v is not None}


def _entry(raw: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    entry = _section(raw, {k: (kind, None) for k, kind in ENTRY_KEYS.items()}, where + ".",
                     problems)
    return {k: v for k, v in entry.items() if v is not None}


def _section(raw: Mapping[str, Any], schema: Mapping[str, tuple[str, object]],
             where: str, problems: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in raw:
        if key not in schema:
            problems.append(f"{where}{key}: unknown setting")
    for key, (kind, default) in schema.items():
        if key in raw:
            out[key] = _coerce(kind, raw[key], where + key, problems)
        elif default is REQUIRED:
            problems.append(f"{where}{key}: required")
            out[key] = None
        else:
            out[key] = (list(default) if isinstance(default, list)
                        else dict(default) if isinstance(default, dict) else default)
    return out


def _env_overrides(env: Mapping[str, str], problems: list[str]) -> dict[str, dict[str, str]]:
    """Map OPENVPN_SSO_* variables onto {section: {key: raw string}}."""
    out: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.rpartition("__")
        if section not in _SCHEMA or key not in _SCHEMA[section]:
            if name != ENV_PREFIX + "CONFIG":
                problems.append(f"environment {name}: unknown setting")
            continue
        out.setdefault(section, {})[key] = value
    return out


def _is_token(text: str) -> bool:
    return bool(text) and text.isascii() and text.replace("-", "").replace("_", "").isalnum()


def _check(cfg: dict[str, dict[str, Any]], servers: dict[str, dict[str, Any]],
           problems: list[str]) -> None:
    """Cross-field checks; pure, only appends to ``problems``."""
    top = cfg[""]
    base = top.get("public_base_url")
    if isinstance(base, str):
        if not base.startswith(("https://", "http://")) or "?" in base or "#" in base:
            problems.append("public_base_url: must be an http(s) URL without query or fragment")
        url_len = len("WEB_AUTH::") + len(base.rstrip("/")) + len("/login?s=") + STATE_CHARS
        if url_len > MAX_WEB_AUTH_LEN:
            problems.append(f"public_base_url: too long, the login URL would be {url_len} "
                            f"characters and OpenVPN clients drop more than {MAX_WEB_AUTH_LEN}")
    timeouts = [("pending_timeout", top.get("pending_timeout"))]
    timeouts += [(f"servers.{sid}.pending_timeout", s.get("pending_timeout"))
                 for sid, s in servers.items()]
    for where, value in timeouts:
        if isinstance(value, int) and not 10 <= value <= 3600:
            problems.append(f"{where}: must be between 10 and 3600 seconds")
    prefix = top.get("key_prefix")
    if isinstance(prefix, str) and not _is_token(prefix):
        problems.append("key_prefix: use letters, digits, '-' or '_'")
    url = cfg["redis"].get("url")
    if isinstance(url, str):
        if not url.startswith(("redis://", "rediss://", "unix://")):
            problems.append("redis.url: must start with redis://, rediss:// or unix://")
        elif "@" in url:
            problems.append("redis.url: put credentials in redis.username/redis.password "
                            "(file:...) so they never show up in logs")
    if isinstance(base, str) and any(c.isspace() or not c.isprintable() for c in base):
        problems.append("public_base_url: must not contain spaces or control characters")
    choices = (("match", ("common_name", "username", "both", "none")),
               ("normalize", ("casefold", "exact")), ("browser_ip", ("off", "match")))
    for key, allowed in choices:
        value = cfg["binding"].get(key)
        if isinstance(value, str) and value not in allowed:
            problems.append(f"binding.{key}: one of {', '.join(allowed)}")
    if cfg["sessions"].get("on_idp_error") not in (None, "keep", "disconnect"):
        problems.append("sessions.on_idp_error: keep or disconnect")
    interval = cfg["sessions"].get("verify_interval")
    if isinstance(interval, int) and interval < 10:
        problems.append("sessions.verify_interval: at least 10 seconds")
    color = cfg["branding"].get("color")
    if isinstance(color, str) and not (len(color) == 7 and color[0] == "#" and all(
            c in "0123456789abcdefABCDEF" for c in color[1:])):
        problems.append("branding.color: use #rrggbb")
    logo = cfg["branding"].get("logo_url")
    if isinstance(logo, str) and logo and (not logo.startswith(("https://", "/"))
                                           or logo.startswith("//") or any(
                                               c.isspace() or c in "\"'<>;" for c in logo)):
        problems.append("branding.logo_url: an https:// URL or a path on this site")
    for key, value in cfg["limits"].items():
        if isinstance(value, int) and value < 1:
            problems.append(f"limits.{key}: must be at least 1")
    for proxy in cfg["service"].get("trusted_proxies") or []:
        if not proxy or any(c not in "0123456789abcdefABCDEF.:/" for c in proxy):
            problems.append(f"service.trusted_proxies: {proxy!r} is not an address or network")
    for name in ("sentinels", "cluster_nodes"):
        for hostport in cfg["redis"].get(name) or []:
            try:
                split_hostport(hostport)
            except RedisError:
                problems.append(f"redis.{name}: {hostport!r} is not host:port")
    if cfg["redis"].get("sentinels") and cfg["redis"].get("cluster_nodes"):
        problems.append("redis: use sentinels or cluster_nodes, not both")
    if cfg["redis"].get("cluster_nodes") and isinstance(url, str) and \
            url.startswith(("redis://", "rediss://", "unix://")):
        try:
            address = RedisAddress(url)
        except RedisError as err:
            problems.append(f"redis.url: {err}")
        else:
            if address.path:
                problems.append("redis.cluster_nodes: needs a redis:// or rediss:// url")
            elif address.db:
                problems.append("redis.cluster_nodes: a Redis Cluster has only database 0")
    issuer = cfg["oidc"].get("issuer")
    if isinstance(issuer, str) and not issuer.startswith(("https://", "http://")):
        problems.append("oidc.issuer: must be an http(s) URL")
    scopes = cfg["oidc"].get("scopes")
    if isinstance(scopes, list) and "openid" not in scopes:
        problems.append("oidc.scopes: must include 'openid'")
    if not servers:
        problems.append("servers: define at least one [servers.<id>] with its management endpoint")
    for i, entry in enumerate(top.get("client_config") or []):
        for sid in entry.get("servers", []):
            if sid not in servers:
                problems.append(f"client_config[{i}].servers: unknown server id {sid!r}")
    for sid, server in servers.items():
        if not _is_token(sid) or len(sid) > 64:
            problems.append(f"servers.{sid}: server ids use letters, digits, '-' or '_'")
        lifetime = server.get("token_lifetime")
        if isinstance(lifetime, int) and lifetime != 0 and lifetime < 300:
            problems.append(f"servers.{sid}.token_lifetime: 0 or at least 300 seconds")
        mgmt = server.get("management")
        if isinstance(mgmt, str):
            if mgmt.startswith("unix:"):
                if not mgmt[5:].startswith("/"):
                    problems.append(f"servers.{sid}.management: unix: needs an absolute path")
            elif mgmt.startswith("tcp:"):
                host, _, port = mgmt[4:].rpartition(":")
                if not host or not port.isdigit() or not 0 < int(port) < 65536:
                    problems.append(f"servers.{sid}.management: expected tcp:HOST:PORT")
                elif server.get("management_password") is None:
                    problems.append(f"servers.{sid}.management_password: required for a TCP "
                                    "management interface")
            else:
                problems.append(f"servers.{sid}.management: expected unix:/path or tcp:HOST:PORT")


def parse(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Validate a parsed TOML document plus environment overrides (pure)."""
    problems: list[str] = []
    overrides = _env_overrides(env or {}, problems)
    merged: dict[str, dict[str, Any]] = {}
    top_raw = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    for name in raw:
        if isinstance(raw[name], dict) and name not in _SCHEMA and name != "servers":
            problems.append(f"[{name}]: unknown section")
    for name, schema in _SCHEMA.items():
        source = dict(top_raw if name == "" else raw.get(name, {}))
        source.update(overrides.get(name, {}))
        merged[name] = _section(source, schema, f"{name}." if name else "", problems)
    servers_raw = raw.get("servers", {})
    servers: dict[str, dict[str, Any]] = {}
    if not isinstance(servers_raw, dict):
        problems.append("servers: expected a table of [servers.<id>] sections")
        servers_raw = {}
    for sid, body in servers_raw.items():
        if not isinstance(body, dict):
            problems.append(f"servers.{sid}: expected a table")
            continue
        servers[sid] = _section(body, _SERVER_SCHEMA, f"servers.{sid}.", problems)
    _check(merged, servers, problems)
    if problems:
        raise ConfigError(problems)
    sections = {name: Section(values) for name, values in merged.items() if name}
    server_objs = {sid: ServerConfig({"id": sid, **body}) for sid, body in servers.items()}
    return Config(Section(merged[""]), sections, server_objs)


def read_toml(path: str) -> dict[str, Any]:
    import tomllib  # deferred: costs more start-up than the rest of the hook together

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as err:
        raise ConfigError([f"cannot read {path}: {err.strerror}"]) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError([f"{path}: {err}"]) from err


def _stamp(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev]


def _cached_toml(path: str, cache_dir: str) -> dict[str, Any]:
    """The parsed TOML document, through a ``marshal`` cache in ``cache_dir``.

    For the hook: parsing TOML (``tomllib`` imports ``re``, ``typing``, ``string``,
    ``datetime``) costs more than everything else it does. The cache holds only the
    parsed document, keyed by the file's stat stamp, so any edit is seen at once;
    validation and environment overrides still run every time. ``cache_dir`` is
    OpenVPN's tmp-dir, which it already trusts with its auth control files; a
    cache not owned by us, writable by others, or a symlink is ignored.
    """
    import marshal  # built in: costs nothing

    abspath = os.path.abspath(path)
    try:
        stamp = _stamp(abspath)
    except OSError as err:
        raise ConfigError([f"cannot read {path}: {err.strerror}"]) from err
    cache = os.path.join(cache_dir, "openvpn-sso-config" + abspath.replace("/", "_") + ".cache")
    data = read_private(cache)
    if data is not None:
        try:
            entry = marshal.loads(data)  # noqa: S302 (our own file, checked by read_private)
        except (EOFError, ValueError, TypeError):
            entry = None
        if isinstance(entry, dict) and entry.get("stamp") == stamp:
            raw = entry.get("raw")
            if isinstance(raw, dict):
                return raw
    raw = read_toml(abspath)
    try:
        data = marshal.dumps({"stamp": stamp, "raw": raw})
    except ValueError:  # an unmarshallable value: no cache, still correct
        return raw
    write_private(cache, data)  # best effort: an unwritable dir only costs the parse
    return raw


def load(path: str | None = None, env: Mapping[str, str] | None = None,
         cache_dir: str | None = None) -> Config:
    """Read and validate the TOML file at ``path`` (default from the environment)."""
    env = os.environ if env is None else env
    path = path or env.get(ENV_PREFIX + "CONFIG") or DEFAULT_PATH
    raw = _cached_toml(path, cache_dir) if cache_dir else read_toml(path)
    return parse(raw, env)
