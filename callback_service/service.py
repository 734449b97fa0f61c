"""Wire the real dependencies (Redis, the IdP, the management sender) into the app."""

from __future__ import annotations

import logging
import os

from flask import Flask

from callback_service import clientconfig, verifier
from callback_service.app import create_app
from callback_service.oidc import Provider
from shared import config as configmod
from shared.management import sender
from shared.records import LoginRecord
from shared.redis_store import RedisStore, SessionStore, connect


def deliver(server: configmod.ServerConfig, record: LoginRecord,
            verdict: sender.Verdict) -> sender.Delivery:
    return sender.deliver(server, record.ip, record.port, record.cn, verdict, wake=server.wake)


def provider_for(config: configmod.Config) -> Provider:
    oidc = config.oidc
    return Provider(issuer=oidc.issuer, client_id=oidc.client_id,
                    client_secret=oidc.client_secret.reveal(), scopes=oidc.scopes,
                    redirect_uri=config.public_base_url + "/callback", leeway=oidc.leeway,
                    timeout=float(oidc.http_timeout))


def build_app(config: configmod.Config, verify: bool = True) -> Flask:
    problems = clientconfig.validate(config)
    if problems:
        raise configmod.ConfigError(problems)
    provider = provider_for(config)
    client = connect(config)
    store = RedisStore(client, config.redis.wait_replicas, config.redis.wait_timeout_ms)
    sessions = SessionStore(client, config.key_prefix)
    if verify:
        verifier.start_background(config, sessions, provider)
    return create_app(config, store, provider, deliver, session_store=sessions)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The audit trail is one JSON object per line, nothing around it, for log shippers.
    audit = logging.getLogger("openvpn_sso.audit")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False


def app_from_environment() -> Flask:
    """For WSGI servers: the config path comes from OPENVPN_SSO_CONFIG."""
    setup_logging(os.environ.get("OPENVPN_SSO_LOG_LEVEL", "INFO"))
    return build_app(configmod.load())
