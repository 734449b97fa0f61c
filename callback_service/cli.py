"""``openvpn-sso``: commands for people (the hook has its own light entry point)."""

from __future__ import annotations

import sys
from typing import Any

import click

from shared import config as configmod
from shared.serverconf import server_conf_lines

config_option = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), default=None,
    envvar="OPENVPN_SSO_CONFIG", show_envvar=True,
    help=f"TOML configuration file [default: {configmod.DEFAULT_PATH}]")


def _load(path: str | None) -> configmod.Config:
    try:
        return configmod.load(path)
    except configmod.ConfigError as err:
        click.echo(f"configuration invalid ({len(err.problems)} problem(s)):", err=True)
        for problem in err.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)


def _metrics_dir() -> None:
    """Workers share metrics through PROMETHEUS_MULTIPROC_DIR: use the given one
    (emptied, as prometheus-client requires between runs) or a fresh private one."""
    import glob
    import os
    import tempfile

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, mode=0o700, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.unlink(stale)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="openvpn-sso-metrics-")


@click.group()
def main() -> None:
    """OpenVPN single sign-on through OpenID Connect."""


@main.command("check-config")
@config_option
def check_config(config_path: str | None) -> None:
    """Validate the configuration and report every problem at once."""
    cfg = _load(config_path)
    from callback_service import clientconfig

    problems = clientconfig.validate(cfg)
    for name, secret in (("oidc.client_secret", cfg.oidc.client_secret),
                         ("service.cookie_secret", cfg.service.cookie_secret),
                         ("redis.password", cfg.redis.password),
                         *((f"servers.{s.id}.management_password", s.management_password)
                           for s in cfg.servers.values())):
        if secret is not None:
            try:
                if not secret.reveal():
                    problems.append(f"{name}: empty")
            except configmod.ConfigError as err:
                problems.extend(f"{name}: {p}" for p in err.problems)
    if problems:
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(2)
    click.echo(f"ok: {len(cfg.servers)} server(s): {', '.join(sorted(cfg.servers))}; "
               f"issuer {cfg.oidc.issuer}; login URLs under {cfg.public_base_url}")


@main.command()
@config_option
def doctor(config_path: str | None) -> None:
    """Check Redis, the IdP (discovery, keys, clock), every management interface and
    the public URL; exit 1 if anything fails."""
    from callback_service import doctor as checks

    cfg = _load(config_path)
    results = checks.run(cfg)
    for check in results:
        click.echo(check.line())
    failed = [c for c in results if not c.ok]
    click.echo(f"\n{len(results) - len(failed)} ok, {len(failed)} failed")
    sys.exit(1 if failed else 0)


@main.group()
def sessions() -> None:
    """Connected VPN sessions on every server of this deployment."""


def _session_store(cfg: configmod.Config) -> Any:
    from shared.redis_store import SessionStore, connect

    return SessionStore(connect(cfg), cfg.key_prefix)


def _matching(cfg: configmod.Config, server: str | None, user: str | None,
              session_id: str | None) -> list[Any]:
    from shared.store import StoreUnavailable

    try:
        found = _session_store(cfg).all()
    except StoreUnavailable as err:
        click.echo(f"Redis unavailable: {err}", err=True)
        sys.exit(2)
    return [s for s in found
            if (not server or s.get("server") == server)
            and (not user or user.casefold() in (s.get("user").casefold(),
                                                 s.get("sub").casefold()))
            and (not session_id or s.id.startswith(session_id))]


@sessions.command("list")
@config_option
@click.option("--server", help="Only this server id.")
@click.option("--user", help="Only this IdP username or subject.")
def sessions_list(config_path: str | None, server: str | None, user: str | None) -> None:
    """List sessions (exit 1 if there are none)."""
    import time

    from callback_service.sessionctl import address_of, listed_clients
    from shared.escape import log_text

    cfg = _load(config_path)
    found = _matching(cfg, server, user, None)
    if not found:
        click.echo("no sessions")
        sys.exit(1)
    live = listed_clients(cfg)  # VPN addresses, straight from each server
    click.echo(f"{'SESSION':<10} {'SERVER':<12} {'USER':<20} {'COMMON NAME':<20} "
               f"{'CLIENT':<22} {'VPN ADDRESS':<16} SINCE")
    for s in sorted(found, key=lambda s: (s.get("server"), s.get("user"))):
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(s.get("since") or 0)))
        client = f"{s.get('ip')}:{s.get('port')}"
        rows = live.get(s.get("server"))
        address = address_of(s)
        row = rows.get(address) if rows is not None and address is not None else None
        vpn = (row.virtual_address or "-") if row else ("?" if rows is None else "gone")
        click.echo(f"{s.id[:8]:<10} {log_text(s.get('server')):<12} "
                   f"{log_text(s.get('user')):<20} {log_text(s.get('cn')):<20} "
                   f"{log_text(client):<22} {log_text(vpn):<16} {since}")


@sessions.command("verify")
@config_option
def sessions_verify(config_path: str | None) -> None:
    """Check every session at the IdP now (the service does this every
    sessions.verify_interval); users the IdP refuses are disconnected."""
    from callback_service.service import provider_for
    from callback_service.verifier import run_once

    cfg = _load(config_path)
    counts = run_once(cfg, _session_store(cfg), provider_for(cfg))
    click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no sessions")


@sessions.command("kill")
@config_option
@click.option("--user", help="Every session of this IdP username or subject.")
@click.option("--session", "session_id", help="One session (its id or id prefix).")
@click.option("--server", help="Only on this server id.")
@click.option("--reason", default="Your VPN session was ended by an administrator",
              show_default=True, help="Shown by the client (AUTH_FAILED).")
def sessions_kill(config_path: str | None, user: str | None, session_id: str | None,
                  server: str | None, reason: str) -> None:
    """Disconnect sessions; exit 1 if none matched, 2 if one could not be ended."""
    from callback_service.sessionctl import terminate
    from shared.escape import log_text

    if not user and not session_id:
        raise click.UsageError("give --user or --session")
    cfg = _load(config_path)
    found = _matching(cfg, server, user, session_id)
    if not found:
        click.echo("no matching session")
        sys.exit(1)
    store = _session_store(cfg)
    failed = 0
    for s in found:
        outcome = terminate(cfg, store, s, reason)
        failed += outcome == "unreachable"
        click.echo(f"{s.id[:8]} {log_text(s.get('user'))} on {log_text(s.get('server'))}: "
                   f"{outcome}")
    sys.exit(2 if failed else 0)


@main.command("server-conf")
@config_option
@click.option("--server", "server_id", required=True, help="Server id from the config.")
@click.option("--hook", default=None, help="Path of openvpn-sso-hook [default: beside this].")
@click.option("--tmp-dir", default=None,
              help="OpenVPN's tmp-dir for this server [default: /run/openvpn-sso/<id>]")
def server_conf(config_path: str | None, server_id: str, hook: str | None,
                tmp_dir: str | None) -> None:
    """Print the server.conf lines for one OpenVPN server."""
    cfg = _load(config_path)
    server = cfg.servers.get(server_id)
    if server is None:
        raise click.BadParameter(f"unknown server id; known: {', '.join(sorted(cfg.servers))}",
                                 param_hint="--server")
    import os.path

    hook = hook or os.path.join(os.path.dirname(sys.argv[0]) or ".", "openvpn-sso-hook")
    path = os.path.abspath(config_path or configmod.DEFAULT_PATH)
    pw = server.management_password
    lines = server_conf_lines(server_id=server_id, hook=os.path.abspath(hook), config_path=path,
                              management=server.management,
                              tmp_dir=tmp_dir or f"/run/openvpn-sso/{server_id}",
                              management_password_file=pw.path if pw else None,
                              token_lifetime=server.token_lifetime)
    click.echo("\n".join(lines))


@main.command()
@config_option
@click.option("--listen", default=None, help="HOST:PORT [default: service.listen]")
@click.option("--workers", default=2, show_default=True)
def serve(config_path: str | None, listen: str | None, workers: int) -> None:
    """Run the callback service under gunicorn."""
    cfg = _load(config_path)
    _metrics_dir()  # before prometheus_client is imported: it reads the variable then
    from gunicorn.app.base import BaseApplication

    from callback_service.service import build_app, setup_logging

    setup_logging()

    def child_exit(server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", listen or cfg.service.listen)
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", None)  # query strings carry codes and states
            self.cfg.set("child_exit", child_exit)

        def load(self) -> Any:
            return build_app(cfg)

    Server().run()


if __name__ == "__main__":
    main()
