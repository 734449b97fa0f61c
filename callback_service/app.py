"""The callback service: ``/login`` sends the browser to the IdP, ``/callback``
validates the result, checks policy and identity binding, ``/confirm`` takes the
user's explicit approval, and the verdict goes to OpenVPN.

Stateless: everything about a login lives in its Redis record, and every phase
change is one atomic compare-and-set, so any replica can serve any request and
each step of a login works once.

Untrusted here: the query string, form and cookies (browser), the record's client
fields (VPN client), and the claims (IdP). Pages are rendered by Jinja with
autoescaping; reasons sent to OpenVPN go through ``shared.escape``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, render_template, request
from itsdangerous import BadSignature, URLSafeSerializer

from callback_service import binding, clientconfig, policy
from callback_service.i18n import LANGUAGES, Text, text, translate
from callback_service.metrics import (
    DELIVER_SECONDS,
    LOGIN_SECONDS,
    LOGINS_FINISHED,
    LOGINS_STARTED,
    OUTCOME_OF,
    REDIS_ERRORS,
    REQUEST_SECONDS,
    SENDER_ERRORS,
    Timer,
    exposition,
)
from callback_service.oidc import IdPError, Provider, TokenInvalid
from callback_service.sessionctl import terminate
from callback_service.tokens import load_key, seal
from shared.config import Config, ServerConfig
from shared.escape import log_text, one_line
from shared.management.codec import ProtocolError
from shared.management.sender import Delivery, ManagementUnavailable, Verdict
from shared.records import (
    PHASE_CONFIRM,
    PHASE_DONE,
    PHASE_PENDING,
    PHASE_REDIRECTED,
    PHASE_TAKEN,
    LoginRecord,
    RecordError,
    is_state,
    login_key,
    pending_set_keys,
)
from shared.store import StoreUnavailable

if TYPE_CHECKING:
    from shared.redis_store import SessionStore
    from shared.sessions import Session
    from shared.store import Store

log = logging.getLogger("openvpn_sso.service")
audit = logging.getLogger("openvpn_sso.audit")

Deliver = Callable[[ServerConfig, LoginRecord, Verdict], Delivery]

MSG_EXPIRED = "This login link has expired. Reconnect your VPN client to get a new one."
MSG_UNKNOWN = ("This login link is unknown or has expired. Reconnect your VPN client to get a "
               "new one.")
MSG_USED = "This login link was already used. Reconnect your VPN client to log in again."
MSG_OTHER_BROWSER = ("The login must be finished in the browser where it started. Reconnect "
                     "your VPN client to try again.")
MSG_IDP_DOWN = "The identity provider could not be reached. Try again in a minute."
MSG_GONE = ("Your VPN client stopped waiting for this login (it disconnected or timed out). "
            "Reconnect and log in again.")
MSG_UNDELIVERED = ("Your login could not be passed to the VPN server. Reconnect your VPN client "
                   "and try again; contact your administrator if this persists.")
MSG_STORE_DOWN = "The login service is temporarily unavailable. Try again in a minute."
MSG_INTERNAL = "Something went wrong on the login service. Reconnect your VPN client to try again."
MSG_RATE = "Too many requests from your address. Wait a minute and try again."
REASON_EXPIRED = "Login link expired: reconnect to get a new one"
REASON_NOT_APPROVED = "Login was not approved in the browser"
REASON_OTHER_NETWORK = ("This login was opened from another network than the VPN connection: "
                        "open the link on the device that connects")
RATE_LIMITED_PATHS = ("/login", "/callback", "/confirm")


@dataclass(frozen=True)
class Page:
    kind: str  # success, denied, expired, error
    title: str
    message: str | Text  # English template; translated when shown
    status: int

    @property
    def state_event(self) -> str:
        """openvpn3's web-page State API event, so app webviews can close."""
        return "CONNECT_SUCCESS" if self.kind == "success" else "CONNECT_FAILED"


def page(p: Page) -> Response:
    return Response(render_template("result.html", page=p), status=p.status)


def binding_cookie_name(state: str) -> str:
    # One cookie per login, so two logins in one browser (two VPN profiles) coexist.
    return "ovpnsso_" + hashlib.sha256(state.encode()).hexdigest()[:16]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def idp_error_message(error: str) -> Text:
    # RFC 6749 error codes are short ASCII tokens: keep the leading token only.
    code = ""
    for c in error[:40]:
        if not (c.isascii() and (c.isalnum() or c == "_")):
            break
        code += c
    if code in ("access_denied", "login_required", "consent_required"):
        return text("The login was cancelled or refused at the identity provider.")
    return text("The identity provider returned an error ({code}).", code=code or "unknown")


def create_app(config: Config, store: Store, provider: Provider, deliver: Deliver,
               now: Callable[[], float] = time.time,
               session_store: SessionStore | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024
    signer = URLSafeSerializer(config.service.cookie_secret.reveal(), salt="browser-binding")
    secure_cookies = config.public_base_url.startswith("https://")
    prefix = config.key_prefix
    bind = config.binding
    binding_claim = bind.claim or config.oidc.username_claim
    brand = config.branding
    seal_key = (load_key(config.sessions.encryption_key.reveal())
                if config.sessions.encryption_key is not None else None)
    logo_origin = "/".join(brand.logo_url.split("/")[:3]) if brand.logo_url.startswith(
        "https://") else ""

    @app.context_processor
    def page_context() -> dict[str, Any]:
        lang = request.accept_languages.best_match(LANGUAGES) or "en"
        return {"lang": lang, "brand": brand, "text": text,
                "t": lambda message: translate(lang, message)}

    def browser_ip() -> str:
        return binding.browser_address(request.remote_addr or "",
                                       request.headers.get("X-Forwarded-For"),
                                       config.service.trusted_proxies)

    def finish(key: str, record: LoginRecord, outcome: str, reason: str) -> None:
        """Mark the record done (kept until its TTL for replay pages); free its slot."""
        try:
            store.transition(key, {"phase": record.phase},
                             {"phase": PHASE_DONE, "outcome": outcome, "reason": one_line(reason)})
            store.release_pending(pending_set_keys(prefix, record.server, record.ip),
                                  record.state)
        except StoreUnavailable as err:
            log.warning("could not mark login done: %s", log_text(str(err)))

    def decided(record: LoginRecord, outcome: str, code: str, reason: str, *,
                user: str = "", sub: str = "", delivery: str = "",
                deliver_ms: float | None = None) -> None:
        """One audit line (JSON) and the metrics for a finished login."""
        server = record.server if record.server in config.servers else "unknown"
        LOGINS_FINISHED.labels(server, outcome, code).inc()
        total = max(0.0, now() - float(record.created or now()))
        LOGIN_SECONDS.labels(server, outcome).observe(total)
        audit.info("%s", json.dumps({
            "event": "login", "outcome": outcome, "reason_code": code, "reason": reason,
            "server": record.server, "common_name": record.cn, "vpn_username": record.username,
            "user": user, "sub": sub, "client": record.real_address, "platform": record.plat,
            "version": record.ver, "delivery": delivery, "login_id": digest(record.state)[:16],
            "total_ms": round(total * 1000), "deliver_ms": deliver_ms,
        }, ensure_ascii=True))

    def refuse(key: str, record: LoginRecord, code: str, user_reason: str,
               result: Page) -> Response:
        """Deny the waiting client with a reason, record it, show ``result``."""
        server = config.servers.get(record.server)
        delivered = "no server"
        if server is not None:
            try:
                delivered = deliver(server, record, Verdict(False, user_reason)).outcome
            except (ManagementUnavailable, ProtocolError, OSError) as err:
                delivered = "undelivered"
                SENDER_ERRORS.labels(server.id).inc()
                log.warning("could not deny client on %s: %s", log_text(record.server),
                            log_text(str(err)))
        outcome = OUTCOME_OF[code]
        finish(key, record, outcome, user_reason)
        decided(record, outcome, code, user_reason, user=record.user, delivery=delivered)
        return page(result)

    def expired(key: str, record: LoginRecord) -> Response:
        return refuse(key, record, "expired", REASON_EXPIRED,
                      Page("expired", "Login link expired", MSG_EXPIRED, 410))

    def read_binding(state: str) -> str:
        try:
            return str(signer.loads(request.cookies.get(binding_cookie_name(state), "")))
        except BadSignature:
            return ""

    @app.before_request
    def rate_limit() -> Response | None:
        if request.path not in RATE_LIMITED_PATHS:
            return None
        g.timer = Timer()
        window = int(now() // 60)
        count = store.hit(f"{prefix}:rate:{browser_ip()}:{window}", 120)
        if count > config.limits.requests_per_minute:
            return page(Page("error", "Slow down", MSG_RATE, 429))
        return None

    @app.after_request
    def headers(resp: Response) -> Response:
        timer = g.get("timer")
        if timer is not None:
            REQUEST_SECONDS.labels(request.path.strip("/")).observe(timer.seconds())
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
            f"img-src 'self' data: {logo_origin}".rstrip() + "; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
        resp.headers["Vary"] = "Accept-Language"
        return resp

    @app.post("/backchannel-logout")
    def backchannel_logout() -> tuple[Response, int]:
        """OIDC Back-Channel Logout: the IdP ends a user's session; their VPN
        sessions end with it (matched by the IdP session id, else the subject)."""
        # (no-store, like every answer: see headers() below)
        def invalid() -> tuple[Response, int]:
            return Response('{"error": "invalid_request"}', mimetype="application/json"), 400

        token = request.form.get("logout_token", "")
        if not token or len(token) > 8192 or session_store is None:
            return invalid()
        try:
            claims = provider.validate_logout_token(token, now=now())
        except (TokenInvalid, IdPError) as err:
            log.warning("logout token rejected: %s", log_text(str(err)))
            return invalid()
        if not session_store.remember_once(f"jti:{digest(str(claims['jti']))}", 3600):
            log.warning("logout token replayed (jti seen before)")
            return invalid()
        sid, sub = claims.get("sid"), claims.get("sub")
        ended = 0
        for session in session_store.all():
            if (sid and session.get("sid") == sid) or (not sid and sub and
                                                       session.get("sub") == sub):
                end_session(session, "Signed out at the identity provider")
                ended += 1
        log.info("back-channel logout for sid=%s sub=%s ended %d VPN session(s)",
                 log_text(str(sid or "")), log_text(str(sub or "")), ended)
        return Response(""), 200

    @app.get("/healthz")
    def healthz() -> tuple[str, int]:
        return "ok\n", 200

    def pending_counts() -> list[tuple[str, int]]:
        return [(sid, store.count_pending(pending_set_keys(prefix, sid, "")[1], now()))
                for sid in sorted(config.servers)]

    @app.get("/metrics")
    def metrics() -> Response:
        try:
            body, content_type = exposition(pending_counts)
        except StoreUnavailable:
            REDIS_ERRORS.inc()
            body, content_type = exposition(lambda: [])
        return Response(body, content_type=content_type)

    @app.get("/readyz")
    def readyz() -> tuple[str, int]:
        try:
            store.get(f"{prefix}:ready-probe")
        except StoreUnavailable:
            return "redis unavailable\n", 503
        return "ready\n", 200

    @app.get("/login")
    def login() -> Response:
        state = request.args.get("s", "")
        if not is_state(state):
            return page(Page("error", "Invalid login link", MSG_UNKNOWN, 400))
        key = login_key(prefix, state)
        token = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # PKCE: 86 characters, within 43..128
        status, fields = store.transition(key, {"phase": PHASE_PENDING}, {
            "phase": PHASE_REDIRECTED, "nonce": nonce, "verifier": verifier,
            "binding": digest(token), "login_at": f"{now():.3f}"})
        if status == "missing" or fields is None:
            return page(Page("expired", "Login link expired", MSG_UNKNOWN, 404))
        if status != "ok":
            return page(Page("error", "Login link already used", MSG_USED, 409))
        record = LoginRecord.decode(state, fields)
        server = live_server(key, record)
        if isinstance(server, Response):
            return server
        try:
            url = provider.authorization_url(state=state, nonce=nonce, code_verifier=verifier)
        except IdPError as err:
            log.warning("IdP unavailable at /login: %s", log_text(str(err)))
            return refuse(key, record, "idp_unreachable",
                          "Identity provider unreachable: try again later",
                          Page("error", "Identity provider unreachable", MSG_IDP_DOWN, 502))
        LOGINS_STARTED.labels(server.id).inc()
        resp = Response(status=302, headers={"Location": url})
        resp.set_cookie(binding_cookie_name(state), signer.dumps(token),
                        max_age=max(60, int(float(record.deadline) - now()) + 60),
                        httponly=True, samesite="Lax", secure=secure_cookies, path="/")
        return resp

    @app.get("/callback")
    def callback() -> Response:
        state = request.args.get("state", "")
        if not is_state(state):
            return page(Page("error", "Invalid login response", MSG_UNKNOWN, 400))
        key = login_key(prefix, state)
        token = read_binding(state)
        status, fields = store.transition(
            key, {"phase": PHASE_REDIRECTED, "binding": digest(token) if token else "-"},
            {"phase": PHASE_TAKEN, "taken_at": f"{now():.3f}"})
        if status == "missing":
            return page(Page("expired", "Login link expired", MSG_UNKNOWN, 404))
        if status == "phase":
            return page(Page("error", "Login link already used", MSG_USED, 409))
        if status == "mismatch:binding":
            # Not this browser's login: take it anyway so it cannot be finished
            # elsewhere, and tell the waiting client at once.
            status, fields = store.transition(key, {"phase": PHASE_REDIRECTED},
                                              {"phase": PHASE_TAKEN})
            if status != "ok" or fields is None:
                return page(Page("error", "Login link already used", MSG_USED, 409))
            return refuse(key, LoginRecord.decode(state, fields), "other_browser",
                          "Login was finished in a different browser",
                          Page("denied", "Login not accepted", MSG_OTHER_BROWSER, 403))
        assert fields is not None
        return failsafe(key, LoginRecord.decode(state, fields), authenticate)

    def failsafe(key: str, record: LoginRecord,
                 step: Callable[[str, LoginRecord], Response]) -> Response:
        """Run a step that owns a taken record; if it fails unexpectedly, the waiting
        client is still refused at once, with a reason, instead of timing out."""
        try:
            return step(key, record)
        except StoreUnavailable:
            raise
        except Exception:
            log.exception("internal error while finishing a login")
            return refuse(key, record, "internal", "Login failed on the login service: reconnect "
                          "to try again", Page("error", "Login failed", MSG_INTERNAL, 500))

    def start_session(record: LoginRecord, server: ServerConfig) -> None:
        """Remember who is connected where (and end older sessions of the same user
        if only one is allowed). A failure here never undoes the approval."""
        assert session_store is not None
        try:
            if config.sessions.single_per_user:
                for old in session_store.all():
                    if old.get("sub") == record.sub and old.get("sub"):
                        end_session(old, "Signed in on another device: only one VPN session "
                                         "per user is allowed")
            session_store.create({
                "server": server.id, "cn": record.cn, "user": record.user, "sub": record.sub,
                "sid": record.sid, "ip": record.ip, "port": record.port,
                "vpn_username": record.username, "platform": record.plat,
                "since": f"{now():.0f}", "refresh": record.refresh}, config.sessions.ttl)
        except StoreUnavailable as err:
            log.warning("could not record the session: %s", log_text(str(err)))

    def end_session(session: Session, reason: str) -> str:
        """Disconnect a session's client with a reason and forget the session."""
        assert session_store is not None
        return terminate(config, session_store, session, reason)

    def live_server(key: str, record: LoginRecord) -> ServerConfig | Response:
        """The server of a record this request owns, or the refusal if the login
        cannot go on (expired, or a server this deployment does not know)."""
        if record.expired(now()):
            return expired(key, record)
        server = config.servers.get(record.server)
        if server is None:
            return refuse(key, record, "unknown_server", "Unknown VPN server",
                          Page("error", "Login failed", MSG_INTERNAL, 500))
        return server

    def authenticate(key: str, record: LoginRecord) -> Response:
        """The IdP's answer for a taken record: validate, decide, confirm or approve."""
        server = live_server(key, record)
        if isinstance(server, Response):
            return server
        error = request.args.get("error")
        if error is not None:
            message = idp_error_message(error)
            return refuse(key, record, "idp_error", str(message),
                          Page("denied", "Login not completed", message, 403))
        code = request.args.get("code", "")
        if not code or len(code) > 2048:
            return refuse(key, record, "no_code", "Login failed: no authorization code",
                          Page("error", "Login failed", MSG_INTERNAL, 400))
        try:
            tokens = provider.exchange_code(code, record.verifier)
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise TokenInvalid("the token response has no ID token")
            claims = provider.validate_id_token(id_token, nonce=record.nonce, now=now())
        except IdPError as err:
            log.warning("code exchange failed: %s", log_text(str(err)))
            return refuse(key, record, "code_rejected", "Login failed at the identity provider",
                          Page("error", "Login failed",
                               "The identity provider did not accept this login. Reconnect "
                               "your VPN client to try again.", 502))
        except TokenInvalid as err:
            log.warning("ID token rejected: %s", log_text(str(err)))
            return refuse(key, record, "token_invalid", "Login failed: invalid identity token",
                          Page("error", "Login failed", MSG_INTERNAL, 502))
        label = server.display_name or server.id
        allow, deny = config.rules_for(server.id)
        subject = policy.Subject.from_claims(claims, groups_claim=config.oidc.groups_claim,
                                             client_id=config.oidc.client_id)
        decision = policy.decide(subject, username_claim=config.oidc.username_claim,
                                 allow=allow, deny=deny, server_label=label)
        if not decision.allowed:
            return refuse(key, record, "policy", decision.reason,
                          Page("denied", "Access denied", decision.message or "", 403))
        mismatch = binding.identity_mismatch(
            match=bind.match, claim_value=binding.claim_for_binding(claims, binding_claim),
            common_name=record.cn, username=record.username, mode=bind.normalize,
            strip_domain=bind.strip_domain)
        if mismatch:
            return refuse(key, record, "binding", str(mismatch),
                          Page("denied", "Login not accepted", mismatch, 403))
        if bind.browser_ip == "match" and not binding.same_client(browser_ip(), record.ip):
            return refuse(key, record, "browser_ip", REASON_OTHER_NETWORK,
                          Page("denied", "Login not accepted", REASON_OTHER_NETWORK, 403))
        push = clientconfig.render(config, server, subject, decision.username)
        sub = one_line(str(claims.get("sub", "")), 200)
        refresh = tokens.get("refresh_token")
        identity = {"user": decision.username, "sub": sub, "push": "\n".join(push),
                    "sid": one_line(str(claims.get("sid", "")), 200),
                    "refresh": seal(seal_key, refresh, sub)
                    if seal_key and isinstance(refresh, str) else ""}
        if not bind.confirm:
            status, fields = store.transition(key, {"phase": PHASE_TAKEN}, identity)
            if status != "ok" or fields is None:
                return page(Page("error", "Login link already used", MSG_USED, 409))
            return approve(key, LoginRecord.decode(record.state, fields), server)
        confirm = secrets.token_urlsafe(32)
        status, fields = store.transition(key, {"phase": PHASE_TAKEN}, {
            "phase": PHASE_CONFIRM, "confirm": digest(confirm), **identity})
        if status != "ok" or fields is None:
            return page(Page("error", "Login link already used", MSG_USED, 409))
        record = LoginRecord.decode(record.state, fields)
        return Response(render_template(
            "confirm.html", record=record, user=decision.username, server=label, token=confirm,
            started=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(record.created)))))

    @app.post("/confirm")
    def confirm() -> Response:
        state = request.form.get("state", "")
        token = request.form.get("token", "")
        choice = request.form.get("decision", "")
        if not is_state(state) or not 20 <= len(token) <= 100 or choice not in ("approve", "deny"):
            return page(Page("error", "Invalid request", MSG_UNKNOWN, 400))
        key = login_key(prefix, state)
        cookie = read_binding(state)
        status, fields = store.transition(
            key, {"phase": PHASE_CONFIRM, "binding": digest(cookie) if cookie else "-",
                  "confirm": digest(token)},
            {"phase": PHASE_TAKEN})
        if status == "missing":
            return page(Page("expired", "Login link expired", MSG_UNKNOWN, 404))
        if status != "ok" or fields is None:
            return page(Page("error", "Login link already used", MSG_USED, 409))
        return failsafe(key, LoginRecord.decode(state, fields),
                        lambda k, r: confirmed(k, r, choice))

    def confirmed(key: str, record: LoginRecord, choice: str) -> Response:
        server = live_server(key, record)
        if isinstance(server, Response):
            return server
        if choice == "deny":
            return refuse(key, record, "not_approved", REASON_NOT_APPROVED,
                          Page("denied", "Connection not approved",
                               "The VPN connection was refused. If you did not start it, tell "
                               "your administrator.", 200))
        resp = approve(key, record, server)
        resp.delete_cookie(binding_cookie_name(record.state), path="/")
        return resp

    def approve(key: str, record: LoginRecord, server: ServerConfig) -> Response:
        timer = Timer()
        label = server.display_name or server.id
        username, sub = record.user, record.sub
        push = [line for line in record.push.split("\n") if line]
        try:
            delivery = deliver(server, record, Verdict(True, config_lines=tuple(push)))
        except (ManagementUnavailable, ProtocolError, OSError) as err:
            SENDER_ERRORS.labels(server.id).inc()
            log.warning("could not deliver approval on %s: %s", log_text(server.id),
                        log_text(str(err)))
            finish(key, record, "undelivered", str(err))
            decided(record, "undelivered", "undelivered", str(err), user=username, sub=sub)
            return page(Page("error", "Login not completed", MSG_UNDELIVERED, 502))
        DELIVER_SECONDS.labels(server.id).observe(timer.seconds())
        finish(key, record, delivery.outcome, delivery.detail)
        decided(record, delivery.outcome, delivery.outcome, delivery.detail, user=username,
                sub=sub, delivery=delivery.outcome, deliver_ms=round(timer.seconds() * 1000, 1))
        if delivery.outcome == "approved":
            if session_store is not None:
                start_session(record, server)
            return page(Page("success", "You are connected", text(
                "Signed in as {user}. Your VPN connection to {server} is being established; "
                "you can close this window.", user=username, server=label), 200))
        if delivery.outcome == "gone":
            return page(Page("expired", "VPN client no longer waiting", MSG_GONE, 410))
        return page(Page("error", "Login not completed", MSG_UNDELIVERED, 502))

    @app.errorhandler(StoreUnavailable)
    def store_down(err: StoreUnavailable) -> Response:
        REDIS_ERRORS.inc()
        log.error("store unavailable: %s", log_text(str(err)))
        return page(Page("error", "Temporarily unavailable", MSG_STORE_DOWN, 503))

    @app.errorhandler(RecordError)
    def bad_record(err: RecordError) -> Response:
        log.error("malformed record: %s", log_text(str(err)))
        return page(Page("error", "Login failed", MSG_INTERNAL, 500))

    @app.errorhandler(404)
    def not_found(err: Exception) -> Response:
        return page(Page("error", "Not found", "There is nothing here.", 404))

    @app.errorhandler(Exception)
    def internal(err: Exception) -> Response:
        if hasattr(err, "code") and isinstance(err.code, int) and 400 <= err.code < 500:
            return page(Page("error", "Bad request", "This request could not be understood.",
                             err.code))
        log.exception("internal error: %s", type(err).__name__)
        return page(Page("error", "Login failed", MSG_INTERNAL, 500))

    return app
