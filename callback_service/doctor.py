"""``openvpn-sso doctor``: check every dependency of a deployment, one line each.

Each check says ok or FAIL, what it saw, and for a failure a hint at the usual
cause. Nothing here changes any state.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from dataclasses import dataclass

import requests

from callback_service import clientconfig
from callback_service.oidc import IdPError, Provider
from shared.config import Config, ConfigError
from shared.management.codec import ProtocolError
from shared.management.sender import ManagementConnection, ManagementUnavailable
from shared.redis_store import RedisStore, connect
from shared.store import StoreUnavailable


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str = ""

    def line(self) -> str:
        text = f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<24} {self.detail}"
        return text + (f"\n      hint: {self.hint}" if self.hint and not self.ok else "")


def _secrets(config: Config) -> Iterator[Check]:
    problems = clientconfig.validate(config)
    yield Check("config", not problems, "; ".join(problems) or "valid",
                "fix the settings named above")
    named = [("oidc.client_secret", config.oidc.client_secret),
             ("service.cookie_secret", config.service.cookie_secret),
             ("redis.password", config.redis.password),
             *((f"servers.{s.id}.management_password", s.management_password)
               for s in config.servers.values())]
    for name, secret in named:
        if secret is None:
            continue
        try:
            ok = bool(secret.reveal())
            yield Check(f"secret {name}", ok, "readable" if ok else "empty",
                        "put the secret in the file, without quotes")
        except ConfigError as err:
            yield Check(f"secret {name}", False, err.problems[0],
                        "check the path and that this user may read it")


def _redis_target(config: Config) -> str:
    rc = config.redis
    if rc.cluster_nodes:
        return "Redis Cluster via " + ", ".join(rc.cluster_nodes)
    if rc.sentinels:
        return f"Sentinel master {rc.sentinel_master!r} via " + ", ".join(rc.sentinels)
    return str(rc.url)


def _redis(config: Config) -> Check:
    started = time.perf_counter()
    target = _redis_target(config)
    try:
        RedisStore(connect(config)).ping()
    except StoreUnavailable as err:
        return Check("redis", False, f"{target}: {err}",
                     "is Redis running and reachable from here? are redis.username/password "
                     "right?")
    ms = (time.perf_counter() - started) * 1000
    return Check("redis", True, f"{target} answered PING in {ms:.1f} ms")


def _idp(config: Config, http: requests.Session) -> Iterator[Check]:
    oidc = config.oidc
    provider = Provider(issuer=oidc.issuer, client_id=oidc.client_id, client_secret="",
                        scopes=oidc.scopes, redirect_uri=config.public_base_url + "/callback",
                        timeout=float(oidc.http_timeout), http=http)
    try:
        meta = provider.metadata()
        yield Check("idp discovery", True, f"{meta.issuer}: token endpoint {meta.token_endpoint}")
        keys = provider.keys()
        yield Check("idp jwks", bool(keys.keys), f"{len(keys.keys)} signing key(s)",
                    "the IdP publishes no keys: ID tokens cannot be verified")
    except IdPError as err:
        yield Check("idp", False, str(err),
                    "oidc.issuer must be the exact issuer (Keycloak: .../realms/<realm>) and "
                    "reachable from this host")
        return
    try:
        resp = http.head(oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
                         timeout=float(oidc.http_timeout))
        theirs = email.utils.parsedate_to_datetime(resp.headers["Date"]).timestamp()
    except (requests.RequestException, KeyError, TypeError, ValueError):
        yield Check("clock", False, "the IdP sent no usable Date header", "")
        return
    skew = time.time() - theirs
    ok = abs(skew) <= max(5.0, oidc.leeway / 2)
    yield Check("clock", ok, f"{skew:+.1f} s against the IdP (leeway {oidc.leeway} s)",
                "run NTP (chrony/systemd-timesyncd) on this host and the IdP")


def _management(config: Config) -> Iterator[Check]:
    for server in config.servers.values():
        name = f"management {server.id}"
        try:
            with ManagementConnection(server.management, server.management_password,
                                      timeout=3.0, busy_wait=3.0) as mc:
                rows = mc.clients()
        except (ManagementUnavailable, ProtocolError, OSError) as err:
            hint = ("unix socket: does the path exist and may this user write to it "
                    "(OpenVPN's `management-client-group`/socket mode)?"
                    if server.management.startswith("unix:") else
                    "TCP: is OpenVPN's `management host port pwfile` line there, the port "
                    "reachable, and the password the one in management_password?")
            yield Check(name, False, f"{server.management}: {err}", hint)
            continue
        yield Check(name, True, f"{server.management}: {len(rows)} client(s) listed")


def _base_url(config: Config, http: requests.Session) -> Check:
    url = config.public_base_url + "/healthz"
    try:
        resp = http.get(url, timeout=5)
        ok = resp.status_code == 200
        detail = f"{url} answered {resp.status_code}"
    except requests.RequestException as err:
        ok, detail = False, f"{url}: {err}"
    return Check("public base url", ok, detail,
                 "browsers must reach public_base_url: check DNS, TLS and the load balancer")


def run(config: Config) -> list[Check]:
    http = requests.Session()
    checks = [*_secrets(config), _redis(config), *_idp(config, http), *_management(config),
              _base_url(config, http)]
    return checks
