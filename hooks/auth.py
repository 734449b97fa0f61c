"""``auth-user-pass-verify`` hook: start a web login and return at once.

OpenVPN runs this for every connecting client and freezes its whole server
until it exits, so it does as little as possible: check the client can do web
login, store a pending record in Redis, hand the client its ``WEB_AUTH::`` URL
through the pending file, exit 2 (deferred). The callback service delivers the
verdict later through the management interface.

Imports are kept to the standard library's cheapest modules; ``bench/hook.py``
measures the cost against a bare interpreter start.

Usage (server.conf, OpenVPN appends the via-file path)::

    auth-user-pass-verify "/path/openvpn-sso-hook --config /etc/openvpn-sso/config.toml \
        --server vpn1" via-file    (one line)

Exit codes (OpenVPN's): 1 = refused (reason in ``auth_failed_reason_file``),
2 = deferred (pending file written).
"""

from __future__ import annotations

import os
import sys
import time

from shared import config as configmod
from shared import escape, records, sessions
from shared.resp import ClusterConnection, RespConnection, open_master
from shared.store import RespStore, StoreUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

EXIT_REFUSED = 1
EXIT_DEFERRED = 2

MSG_NO_WEBAUTH = ("This VPN requires web login (single sign-on), which this client does not "
                  "support or has not enabled: update your OpenVPN client")
MSG_CONFIG = "VPN login is unavailable: server configuration error, contact your administrator"
MSG_STORE = "VPN login is temporarily unavailable (login service unreachable): try again soon"
MSG_BAD_INPUT = "VPN login refused: invalid connection details ({})"
MSG_TOO_MANY_IP = ("Too many VPN logins are waiting from your address: finish them or try "
                   "again in a few minutes")
MSG_TOO_MANY_SERVER = "Too many VPN logins are waiting on this server: try again in a few minutes"


class Refusal(Exception):
    """Refuse this client with ``user_reason``; ``detail`` is for the server log."""

    def __init__(self, user_reason: str, detail: str = "") -> None:
        super().__init__(detail or user_reason)
        self.user_reason = user_reason
        self.detail = detail


class Args:
    """--config PATH, --server ID, --cache-dir DIR (where the parsed config is
    cached; by default OpenVPN's tmp-dir, which only the connect hook is told),
    then the via-file path OpenVPN appends (--disconnect is handled by main)."""

    __slots__ = ("cache_dir", "config", "server", "via_file")

    def __init__(self, argv: Sequence[str]) -> None:
        self.config: str | None = None
        self.server: str | None = None
        self.cache_dir: str | None = None
        self.via_file: str | None = None
        args = [a for a in argv[1:] if a != "--disconnect"]
        while args:
            arg = args.pop(0)
            if arg in ("--config", "--server", "--cache-dir") and args:
                setattr(self, arg[2:].replace("-", "_"), args.pop(0))
            elif not arg.startswith("--"):
                self.via_file = arg
            else:
                raise Refusal(MSG_CONFIG, f"unknown hook argument {arg!r}")


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _log(message: str) -> None:
    # stderr ends up in OpenVPN's log; the text may hold client-controlled parts.
    sys.stderr.write("openvpn-sso-hook: " + escape.log_text(message) + "\n")


def _client_fields(environ: Mapping[str, str], via_file: str | None) -> dict[str, str]:
    username = environ.get("username", "")
    if not username and via_file:
        with open(via_file, encoding="utf-8", errors="replace") as fh:
            username = fh.readline().rstrip("\r\n")
    return {
        "cn": environ.get("common_name", ""),
        "username": username,
        "ip": environ.get("untrusted_ip") or environ.get("untrusted_ip6", ""),
        "port": environ.get("untrusted_port", ""),
        "plat": environ.get("IV_PLAT", ""),
        "ver": environ.get("IV_VER", ""),
        "session_id": environ.get("session_id", ""),
    }


def management_client_auth_enabled(environ: Mapping[str, str]) -> bool:
    """Whether this OpenVPN runs with ``management-client-auth``.

    Without it OpenVPN would admit the client as soon as this hook writes ``1``
    to the control file, with no login at all; so we look (cheaply: one or two
    small reads) at OpenVPN's command line and its config file, and refuse the
    client if neither has it.
    """
    pid = environ.get("daemon_pid", "")
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"--management-client-auth" in fh.read().split(b"\0"):
                    return True
        except OSError:
            pass
    path = environ.get("config")
    if path:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.split(None, 1)[:1] == ["management-client-auth"]:
                        return True
        except OSError:
            pass
    return False


def _redis(cfg: configmod.Config, cache_dir: str | None) -> RespConnection | ClusterConnection:
    """The Redis master (directly, through Sentinel or a Cluster) as the config says;
    which Sentinel or seed node answered is remembered in ``cache_dir``."""
    rc = cfg.redis
    # only ever a reordering of the configured nodes (shared.resp.order_nodes)
    hint = os.path.join(cache_dir, "openvpn-sso-redis-node") if cache_dir else None
    return open_master(rc.url, timeout=float(rc.connect_timeout), username=rc.username,
                       password=rc.password.reveal() if rc.password is not None else None,
                       sentinels=rc.sentinels, master=rc.sentinel_master,
                       sentinel_password=rc.sentinel_password.reveal()
                       if rc.sentinel_password is not None else None,
                       cluster_nodes=rc.cluster_nodes, hint_file=hint)


def start_login(environ: Mapping[str, str], argv: Sequence[str], now: float) -> str:
    """Store the pending record and return the pending-file text; or raise Refusal."""
    if "webauth" not in environ.get("IV_SSO", "").split(","):
        raise Refusal(MSG_NO_WEBAUTH, "client without IV_SSO webauth")
    args = Args(argv)
    if not management_client_auth_enabled(environ):
        raise Refusal(MSG_CONFIG, "OpenVPN runs without management-client-auth: refusing, "
                      "since clients would be admitted without a login")
    try:
        pending_file = environ.get("auth_pending_file", "")
        cache_dir = args.cache_dir or os.path.dirname(pending_file) or None
        cfg = configmod.load(args.config, environ, cache_dir=cache_dir)
        server_id = args.server or ""
        timeout = cfg.pending_timeout_for(server_id)
    except configmod.ConfigError as err:
        raise Refusal(MSG_CONFIG, str(err)) from err
    try:
        fields = records.pending_fields(server=server_id,
                                        client=_client_fields(environ, args.via_file),
                                        now=now, timeout=timeout)
    except (records.RecordError, OSError) as err:
        raise Refusal(MSG_BAD_INPUT.format(escape.one_line(str(err), 80)), str(err)) from err
    state = records.new_state()
    rc = cfg.redis
    try:
        with _redis(cfg, cache_dir) as conn:
            store = RespStore(conn, rc.wait_replicas, rc.wait_timeout_ms)
            over = store.limit_pending(
                records.pending_set_keys(cfg.key_prefix, server_id, fields["ip"]), state, now,
                now + timeout, (cfg.limits.pending_per_ip, cfg.limits.pending_per_server),
                records.record_ttl(timeout))
            if over:
                raise Refusal(MSG_TOO_MANY_IP if over == 1 else MSG_TOO_MANY_SERVER,
                              "pending-login cap reached")
            created = store.create(records.login_key(cfg.key_prefix, state), fields,
                                   records.record_ttl(timeout))
    except configmod.ConfigError as err:
        raise Refusal(MSG_CONFIG, str(err)) from err
    except StoreUnavailable as err:
        raise Refusal(MSG_STORE, str(err)) from err
    if not created:  # 192 random bits never collide; if they do, something is wrong
        raise Refusal(MSG_STORE, "state collision")
    url = f"{cfg.public_base_url}/login?s={state}"
    # OpenVPN's own timer is a backstop just after our deadline.
    return f"{timeout + records.OPENVPN_EXTRA_SECONDS}\nwebauth\nWEB_AUTH::{url}\n"


def end_session(environ: Mapping[str, str], argv: Sequence[str]) -> int:
    """``client-disconnect``: forget the session of the client that left.

    Looked up by the client's real address (unique on a server at any time);
    never fails the disconnect: errors are only logged."""
    try:
        args = Args(argv)
        server_id = args.server
        # A disconnect freezes OpenVPN like a connect does (and delays any client
        # that replaces this one), so it uses the same parsed-config cache.
        cfg = configmod.load(args.config, environ, cache_dir=args.cache_dir)
        ip = environ.get("trusted_ip") or environ.get("trusted_ip6", "")
        port = environ.get("trusted_port", "")
        with _redis(cfg, args.cache_dir) as conn:
            conn.call("EVAL", sessions.DROP_BY_CONNECTION, 1,
                      sessions.connection_key(cfg.key_prefix, server_id or "", ip, port),
                      sessions.session_key(cfg.key_prefix, ""), sessions.index_key(cfg.key_prefix))
    except (configmod.ConfigError, StoreUnavailable, Refusal) as err:
        _log(f"client-disconnect: could not remove the session: {err}")
    return 0


def main(environ: Mapping[str, str], argv: Sequence[str]) -> int:
    if "--disconnect" in argv:
        return end_session(environ, argv)
    reason_file = environ.get("auth_failed_reason_file")
    try:
        pending = start_login(environ, argv, time.time())
        pending_file = environ.get("auth_pending_file")
        control_file = environ.get("auth_control_file")
        if not pending_file or not control_file:
            raise Refusal(MSG_CONFIG, "OpenVPN gave no auth_pending_file/auth_control_file: "
                          "is this run as auth-user-pass-verify with script-security 2?")
        try:
            _write(pending_file, pending)
            # Our part of the auth is done; the management part (client-auth from
            # the service) still gates the connection.
            _write(control_file, "1")
        except OSError as err:
            raise Refusal(MSG_CONFIG, f"cannot write OpenVPN's auth files: {err}") from err
        return EXIT_DEFERRED
    except Refusal as refusal:
        _log(f"refused {environ.get('common_name', '?')} "
             f"{environ.get('untrusted_ip', '?')}:{environ.get('untrusted_port', '?')}: "
             f"{refusal.detail or refusal.user_reason}")
        if reason_file:
            try:
                _write(reason_file, escape.client_reason(refusal.user_reason))
            except OSError as err:
                _log(f"cannot write auth_failed_reason_file: {err}")
        return EXIT_REFUSED
    except Exception as err:  # fail closed with a reason, never a traceback-only exit
        _log(f"internal error: {type(err).__name__}: {err}")
        if reason_file:
            try:
                _write(reason_file, escape.client_reason(MSG_CONFIG))
            except OSError as werr:
                _log(f"cannot write auth_failed_reason_file: {werr}")
        return EXIT_REFUSED


def entry() -> None:
    sys.exit(main(os.environ, sys.argv))


if __name__ == "__main__":
    entry()
