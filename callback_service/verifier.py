"""Continuous verification: is every connected user still allowed at the IdP?

Every ``sessions.verify_interval`` one worker of one replica (a Redis lock decides)
redeems each session's sealed refresh token. If the IdP refuses (user disabled or
deleted, session revoked), the session is ended with a reason. If the IdP cannot
be reached, ``sessions.on_idp_error`` decides: keep (default, logged) or disconnect.
Sessions whose client OpenVPN no longer lists are forgotten; live ones are renewed.
The refreshed ID token's claims go through the server's policy again, so a user
removed from the allowed groups is disconnected as well.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from callback_service import policy
from callback_service.oidc import IdPError, Provider, TokenInvalid
from callback_service.sessionctl import address_of, listed_clients, terminate
from callback_service.tokens import SealError, load_key, seal, unseal
from shared.config import Config
from shared.escape import log_text
from shared.redis_store import SessionStore
from shared.sessions import Session
from shared.store import StoreUnavailable

log = logging.getLogger("openvpn_sso.verifier")

REASON_REFUSED = "Your account is no longer allowed at the identity provider"
REASON_IDP_DOWN = "The identity provider could not confirm your account: reconnect to log in"


def policy_refusal(config: Config, session: Session, provider: Provider,
                   id_token: object) -> str | None:
    """Re-apply the server's policy to the claims of a refreshed ID token, so a user
    removed from the allowed groups loses the VPN too. None: still allowed (or the
    IdP sent no ID token to judge by)."""
    server = config.servers.get(session.get("server"))
    if server is None or not isinstance(id_token, str):
        return None
    try:
        claims = provider.validate_refreshed_id_token(id_token, sub=session.get("sub"))
    except TokenInvalid as err:
        log.warning("verifier: refreshed ID token of %s rejected: %s", session.id[:8],
                    log_text(str(err)))
        return "Your login could not be confirmed by the identity provider: reconnect"
    allow, deny = config.rules_for(server.id)
    decision = policy.decide(
        policy.Subject.from_claims(claims, groups_claim=config.oidc.groups_claim,
                                   client_id=config.oidc.client_id),
        username_claim=config.oidc.username_claim, allow=allow, deny=deny,
        server_label=server.display_name or server.id)
    return None if decision.allowed else decision.reason


def run_once(config: Config, store: SessionStore, provider: Provider) -> Counter[str]:
    """Check every session once; returns counts of what happened."""
    counts: Counter[str] = Counter()
    key = (load_key(config.sessions.encryption_key.reveal())
           if config.sessions.encryption_key is not None else None)
    listed = listed_clients(config)
    for session in store.all():
        where = listed.get(session.get("server"))
        if where is not None and address_of(session) not in where:
            store.drop(session)  # the client left without the disconnect hook seeing it
            counts["gone"] += 1
            continue
        sealed = session.get("refresh")
        if key is None or not sealed:
            store.touch(session, config.sessions.ttl)
            counts["unverifiable"] += 1
            continue
        try:
            refresh = unseal(key, sealed, session.get("sub"))
            tokens = provider.refresh(refresh)
        except SealError:
            log.warning("verifier: session %s has a token sealed with another key",
                        session.id[:8])
            store.touch(session, config.sessions.ttl)
            counts["unverifiable"] += 1
            continue
        except IdPError as err:
            if err.refused:
                terminate(config, store, session, REASON_REFUSED)
                counts["refused"] += 1
            elif config.sessions.on_idp_error == "disconnect":
                log.warning("verifier: IdP unreachable, disconnecting %s: %s",
                            session.id[:8], log_text(str(err)))
                terminate(config, store, session, REASON_IDP_DOWN)
                counts["idp_down_disconnected"] += 1
            else:
                log.warning("verifier: IdP unreachable, keeping %s: %s", session.id[:8],
                            log_text(str(err)))
                store.touch(session, config.sessions.ttl)
                counts["idp_down_kept"] += 1
            continue
        refusal = policy_refusal(config, session, provider, tokens.get("id_token"))
        if refusal:
            terminate(config, store, session, refusal)
            counts["policy"] += 1
            continue
        new = tokens.get("refresh_token")
        store.touch(session, config.sessions.ttl,
                    **({"refresh": seal(key, new, session.get("sub"))}
                       if isinstance(new, str) else {}), checked=f"{time.time():.0f}")
        counts["allowed"] += 1
    log.info("verifier: %s", dict(counts))
    return counts


def start_background(config: Config, store: SessionStore, provider: Provider,
                     sleep: Callable[[float], None] = time.sleep) -> threading.Thread:
    """Each worker runs this loop; the Redis lock lets one of them work per interval."""
    interval = config.sessions.verify_interval

    def loop() -> None:
        while True:
            sleep(interval)
            try:
                if store.lock("verifier", max(1, interval - 1)):
                    run_once(config, store, provider)
            except StoreUnavailable as err:
                log.warning("verifier: Redis unavailable: %s", log_text(str(err)))
            except Exception:
                log.exception("verifier pass failed")

    thread = threading.Thread(target=loop, name="openvpn-sso-verifier", daemon=True)
    thread.start()
    return thread
