"""The callback service's flow logic against a real Redis, with the IdP and the
management sender replaced by small fakes (the e2e tests use the real ones)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import redis
from flask.testing import FlaskClient

from callback_service.app import create_app
from callback_service.oidc import IdPError, TokenInvalid
from demo.parts import RedisServer
from shared import config
from shared.management.sender import Delivery, Verdict
from shared.records import (
    LoginRecord,
    login_key,
    new_state,
    pending_fields,
    pending_set_keys,
    record_ttl,
)
from shared.redis_store import RedisStore, SessionStore

CFG = {
    "public_base_url": "https://login.example.test",
    "oidc": {"issuer": "https://idp.example.test", "client_id": "openvpn",
             "client_secret": "cs"},
    "service": {"cookie_secret": "k" * 32},
    "policy": {"allowed_groups": ["vpn-users"]},
    "servers": {"vpn1": {"management": "unix:/nonexistent"}},
}


class FakeProvider:
    def __init__(self) -> None:
        self.claims: dict[str, Any] = {"sub": "1", "preferred_username": "alice",
                                       "groups": ["vpn-users"]}
        self.fail: Exception | None = None
        self.nonces: list[str] = []

    def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        assert len(code_verifier) >= 43
        return f"https://idp.example.test/auth?state={state}&nonce={nonce}"

    def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        if self.fail:
            raise self.fail
        return {"id_token": "token-for-" + code}

    def validate_id_token(self, id_token: str, *, nonce: str, now: float) -> dict[str, Any]:
        self.nonces.append(nonce)
        return self.claims


class Harness:
    def __init__(self, redis_url: str, requests_per_minute: int = 100000,
                 now: Any = time.time, sessions: dict[str, Any] | None = None) -> None:
        self.cfg = config.parse({**CFG, "redis": {"url": redis_url},
                                 "limits": {"requests_per_minute": requests_per_minute},
                                 "sessions": sessions or {}})
        self.sessions = SessionStore(redis.Redis.from_url(redis_url),
                                     f"t{new_state()[:8].replace('-', 'x').replace('_', 'y')}")
        self.store = RedisStore(redis.Redis.from_url(redis_url))
        self.provider = FakeProvider()
        self.verdicts: list[Verdict] = []
        self.outcome = "approved"
        app = create_app(self.cfg, self.store, self.provider,  # type: ignore[arg-type]
                         self.deliver, now=now, session_store=self.sessions)
        self.client: FlaskClient = app.test_client()

    def deliver(self, server: Any, record: LoginRecord, verdict: Verdict) -> Delivery:
        self.verdicts.append(verdict)
        return Delivery(self.outcome if verdict.approve else "denied", verdict.reason, 1)

    def pending(self, timeout: int = 300, **client: str) -> str:
        state = new_state()
        fields = pending_fields(server="vpn1", now=time.time(), timeout=timeout, client={
            "cn": "alice", "username": "alice", "ip": "192.0.2.1", "port": "5000", **client})
        self.store.create(login_key("ovpnsso", state), fields, record_ttl(timeout))
        return state

    def login(self, state: str) -> Any:
        return self.client.get(f"/login?s={state}")

    def callback(self, state: str, query: str = "code=abc") -> Any:
        return self.client.get(f"/callback?state={state}&{query}")

    def confirm(self, state: str, page: Any, decision: str = "approve") -> Any:
        token = re.search(r'name="token" value="([^"]+)"', page.get_data(as_text=True))
        assert token, page.get_data(as_text=True)
        return self.client.post("/confirm", data={"state": state, "token": token.group(1),
                                                  "decision": decision})


@pytest.fixture
def h(redis_server: RedisServer) -> Iterator[Harness]:
    yield Harness(redis_server.url)


def test_happy_path_binds_browser_and_uses_pkce_and_nonce(h: Harness) -> None:
    state = h.pending()
    resp = h.login(state)
    assert resp.status_code == 302
    q = parse_qs(urlparse(resp.headers["Location"]).query)
    assert q["state"] == [state]
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert resp.headers["Cache-Control"] == "no-store"
    ask = h.callback(state)
    assert ask.status_code == 200 and b"Approve this VPN connection?" in ask.data
    assert b"192.0.2.1" in ask.data and h.verdicts == []
    assert h.provider.nonces == q["nonce"]
    ok = h.confirm(state, ask)
    assert ok.status_code == 200 and b"Signed in as alice" in ok.data
    assert [v.approve for v in h.verdicts] == [True]
    # replayed callback or confirmation change nothing
    assert h.callback(state).status_code == 409
    assert h.confirm(state, ask).status_code == 409
    assert len(h.verdicts) == 1


def test_user_can_refuse_on_the_confirmation_page(h: Harness) -> None:
    state = h.pending()
    h.login(state)
    resp = h.confirm(state, h.callback(state), "deny")
    assert b"Connection not approved" in resp.data
    assert [(v.approve, v.reason) for v in h.verdicts] == [
        (False, "Login was not approved in the browser")]


def test_confirmation_needs_the_token_and_the_browser(h: Harness) -> None:
    state = h.pending()
    h.login(state)
    ask = h.callback(state)
    forged = h.client.post("/confirm", data={"state": state, "token": "x" * 43,
                                             "decision": "approve"})
    assert forged.status_code == 409
    other = h.client.application.test_client()
    token = re.search(r'name="token" value="([^"]+)"', ask.get_data(as_text=True))
    assert token
    stolen = other.post("/confirm", data={"state": state, "token": token.group(1),
                                          "decision": "approve"})
    assert stolen.status_code == 409 and h.verdicts == []
    assert h.confirm(state, ask).status_code == 200


def test_forwarded_login_url_is_denied_by_identity_binding(h: Harness) -> None:
    state = h.pending(cn="mallory", username="alice")  # attacker's certificate
    h.login(state)
    resp = h.callback(state)  # the victim, alice, logs in
    assert resp.status_code == 403
    assert not h.verdicts[0].approve
    assert "whose certificate is not yours" in h.verdicts[0].reason


def test_second_login_with_the_same_link_is_refused(h: Harness) -> None:
    state = h.pending()
    assert h.login(state).status_code == 302
    assert h.login(state).status_code == 409


def test_callback_from_another_browser_denies_the_client(h: Harness) -> None:
    state = h.pending()
    h.login(state)
    other = h.client.application.test_client()
    resp = other.get(f"/callback?state={state}&code=abc")
    assert resp.status_code == 403
    assert [(v.approve, v.reason) for v in h.verdicts] == [
        (False, "Login was finished in a different browser")]
    assert h.callback(state).status_code == 409  # and the right browser cannot reuse it


@pytest.mark.parametrize(("query", "reason"), [
    ("error=access_denied&error_description=nope",
     "The login was cancelled or refused at the identity provider."),
    ("error=server_error%0Aclient-auth",
     "The identity provider returned an error (server_error)."),
    ("", "Login failed: no authorization code"),
])
def test_idp_errors_deny_the_client_at_once(h: Harness, query: str, reason: str) -> None:
    state = h.pending()
    h.login(state)
    resp = h.callback(state, query)
    assert 400 <= resp.status_code < 500
    assert [(v.approve, v.reason) for v in h.verdicts] == [(False, reason)]


@pytest.mark.parametrize("error", [IdPError("invalid_grant"), TokenInvalid("bad nonce")])
def test_code_or_token_failure_denies(h: Harness, error: Exception) -> None:
    h.provider.fail = error if isinstance(error, IdPError) else None
    if isinstance(error, TokenInvalid):
        def bad(*a: Any, **k: Any) -> dict[str, Any]:
            raise error
        h.provider.validate_id_token = bad  # type: ignore[method-assign]
    state = h.pending()
    h.login(state)
    assert h.callback(state).status_code == 502
    assert [v.approve for v in h.verdicts] == [False]


def test_policy_denial_is_shown_escaped(h: Harness) -> None:
    h.provider.claims = {"sub": "1", "preferred_username": "<script>alert(1)</script>",
                         "groups": ["nope"]}
    state = h.pending()
    h.login(state)
    resp = h.callback(state)
    assert resp.status_code == 403
    assert b"<script>" not in resp.data and b"&lt;script&gt;" in resp.data
    # the one script on the page is our own static State API file
    assert resp.data.count(b"<script") == 1
    assert b'<script src="/static/ovpn-state.js" defer></script>' in resp.data
    assert not h.verdicts[0].approve and "not in any of the groups" in h.verdicts[0].reason


def test_expired_login_denies_the_waiting_client(h: Harness) -> None:
    state = h.pending(timeout=300)
    h.store.transition(login_key("ovpnsso", state), {"phase": "pending"},
                       {"deadline": f"{time.time() - 1:.3f}"})
    resp = h.login(state)
    assert resp.status_code == 410
    assert [(v.approve, v.reason) for v in h.verdicts] == [
        (False, "Login link expired: reconnect to get a new one")]


def test_client_gone_page(h: Harness) -> None:
    h.outcome = "gone"
    state = h.pending()
    h.login(state)
    resp = h.confirm(state, h.callback(state))
    assert resp.status_code == 410 and b"no longer waiting" in resp.data


def test_malformed_requests_get_4xx_pages(h: Harness) -> None:
    for url in ("/login", "/login?s=" + "x" * 5000, "/login?s=%ff%fe", "/callback",
                "/callback?state=../../x", "/nope"):
        resp = h.client.get(url)
        assert 400 <= resp.status_code < 500, url
        assert b"<title>" in resp.data


def test_unknown_state(h: Harness) -> None:
    assert h.login(new_state()).status_code == 404
    assert h.callback(new_state()).status_code == 404


def test_readyz_reports_redis(h: Harness) -> None:
    assert h.client.get("/readyz").status_code == 200
    down = Harness("redis://127.0.0.1:1/0")
    assert down.client.get("/readyz").status_code == 503
    assert down.client.get(f"/login?s={new_state()}").status_code == 503


def test_unexpected_failure_still_denies_the_waiting_client(h: Harness) -> None:
    h.provider.fail = RuntimeError("boom")
    state = h.pending()
    h.login(state)
    resp = h.callback(state)
    assert resp.status_code == 500 and b"boom" not in resp.data
    assert [v.approve for v in h.verdicts] == [False]


def test_client_controlled_fields_are_escaped_on_the_confirmation_page(h: Harness) -> None:
    state = h.pending(plat='<script>alert(1)</script>', ver='"><img src=x onerror=alert(2)>')
    h.login(state)
    page = h.callback(state).get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_no_redirect_follows_user_input(h: Harness) -> None:
    state = h.pending()
    resp = h.client.get(f"/login?s={state}&next=https://evil.example&redirect_uri=//evil")
    target = urlparse(resp.headers["Location"])
    assert target.netloc == "idp.example.test"
    for url in (f"/callback?state={state}&code=x&next=https://evil.example",
                "/confirm?next=https://evil.example", "//evil.example/", "/healthz?next=//e"):
        assert "Location" not in h.client.get(url).headers


def test_malformed_confirmation_posts(h: Harness) -> None:
    state = h.pending()
    h.login(state)
    h.callback(state)
    for data in ({}, {"state": state}, {"state": state, "token": "t" * 43, "decision": "yes"},
                 {"state": state, "token": "t" * 5000, "decision": "approve"}):
        assert h.client.post("/confirm", data=data).status_code == 400
    raw = h.client.post("/confirm", data=b"state=\xff\xfe&token=\xff&decision=approve",
                        content_type="application/x-www-form-urlencoded")
    assert raw.status_code == 400
    huge = h.client.post("/confirm", data={"state": "x" * 40000})
    assert huge.status_code == 413
    assert h.verdicts == []


def test_rate_limit_per_browser_address(redis_server: RedisServer) -> None:
    start = time.time()
    h = Harness(redis_server.url, requests_per_minute=3, now=lambda: start)  # one window
    codes = [h.client.get(f"/login?s={new_state()}",
                          environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code
             for _ in range(5)]
    assert codes == [404, 404, 404, 429, 429]
    other = h.client.get(f"/login?s={new_state()}", environ_base={"REMOTE_ADDR": "198.51.100.10"})
    assert other.status_code == 404


def metric(h: Harness, name: str) -> float:
    text = h.client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if line.rsplit(" ", 1)[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_outcomes_and_pending(h: Harness) -> None:
    finished = "openvpn_sso_logins_finished_total"
    approved = finished + '{outcome="approved",reason="approved",server="vpn1"}'
    denied = finished + '{outcome="denied",reason="not_approved",server="vpn1"}'
    before = metric(h, approved), metric(h, denied)
    state = h.pending()
    h.store.limit_pending(pending_set_keys("ovpnsso", "vpn1", "192.0.2.1"), state,
                          time.time(), time.time() + 300, (100, 100), 600)
    assert metric(h, 'openvpn_sso_pending_logins{server="vpn1"}') >= 1
    h.login(state)
    h.confirm(state, h.callback(state))
    other = h.pending()
    h.login(other)
    h.confirm(other, h.callback(other), "deny")
    assert (metric(h, approved), metric(h, denied)) == (before[0] + 1, before[1] + 1)
    text = h.client.get("/metrics").get_data(as_text=True)
    assert 'openvpn_sso_request_duration_seconds_count{endpoint="callback"}' in text
    assert 'openvpn_sso_logins_started_total{server="vpn1"}' in text


def test_audit_log_is_one_json_line_per_decision(h: Harness,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    import json

    caplog.set_level("INFO", logger="openvpn_sso.audit")
    state = h.pending(cn="alice", plat='linux"\n{"forged": 1}')
    h.login(state)
    h.confirm(state, h.callback(state))
    lines = [r.getMessage() for r in caplog.records if r.name == "openvpn_sso.audit"]
    assert len(lines) == 1 and "\n" not in lines[0]
    entry = json.loads(lines[0])
    assert (entry["outcome"], entry["user"], entry["server"]) == ("approved", "alice", "vpn1")
    assert entry["platform"] == 'linux"\n{"forged": 1}' and "forged" not in entry
    assert state not in lines[0] and "login_id" in entry


def test_one_session_per_user_ends_the_older_one(redis_server: RedisServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ended: list[tuple[str, str]] = []

    def fake_terminate(cfg: Any, store: SessionStore, session: Any, reason: str) -> str:
        ended.append((session.get("port"), reason))
        store.drop(session)
        return "killed"

    monkeypatch.setattr("callback_service.app.terminate", fake_terminate)
    h = Harness(redis_server.url, sessions={"single_per_user": True})
    for port in ("5001", "5002"):
        state = h.pending(port=port)
        h.login(state)
        assert h.confirm(state, h.callback(state)).status_code == 200
    assert ended == [("5001", "Signed in on another device: only one VPN session per user "
                              "is allowed")]
    assert [s.get("port") for s in h.sessions.all()] == ["5002"]
    assert h.sessions.all()[0].get("user") == "alice"


def test_backchannel_logout_rejects_bad_tokens_and_replays(h: Harness) -> None:
    calls: list[str] = []

    def validate(token: str, now: float) -> dict[str, Any]:
        calls.append(token)
        if token == "bad":
            raise TokenInvalid("nope")
        return {"jti": "same-jti", "sid": "no-such-session"}

    h.provider.validate_logout_token = validate  # type: ignore[attr-defined]
    assert h.client.post("/backchannel-logout").status_code == 400
    assert h.client.post("/backchannel-logout", data={"logout_token": "bad"}).status_code == 400
    ok = h.client.post("/backchannel-logout", data={"logout_token": "good"})
    assert ok.status_code == 200 and ok.headers["Cache-Control"] == "no-store"
    replay = h.client.post("/backchannel-logout", data={"logout_token": "good"})
    assert replay.status_code == 400
