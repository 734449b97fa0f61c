#!/usr/bin/env python3
"""Smoke test for the test IdP (tests/idp/server.mjs), browser-less.

Starts the server with a temporary config, drives an authorization-code + PKCE
login over plain HTTP (requests.Session, redirects followed by hand), checks the
tokens, then exercises the admin API (disable / enable / logout with back-channel
logout / add / delete) and stops the server by its pid.

Usage:  (cd tests/idp && npm ci) && python3 tests/idp/smoke.py [-v]
Exit status is non-zero if any check failed. Needs only the stdlib and requests.
"""

import base64
import hashlib
import html
import json
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
VERBOSE = "-v" in sys.argv[1:]
CLIENT_ID, CLIENT_SECRET = "openvpn", secrets.token_urlsafe(24)
REDIRECT_URI = "http://127.0.0.1:9/oidc/callback"  # never contacted: we stop at the Location header
ADMIN_TOKEN = secrets.token_urlsafe(24)
ALICE = {
    "username": "alice",
    "password": "correct horse",
    "sub": "alice-0001",
    "email": "alice@example.test",
    "name": "Alice Example",
    "groups": ["vpn-users", "staff"],
    "claims": {"department": "engineering"},
}
BOB = {
    "username": "bob",
    "password": "bobpw",
    "sub": "bob-0002",
    "email": "bob@example.test",
    "name": "Bob",
    "groups": ["vpn-users"],
}

results = {"passed": 0, "failed": 0}


def check(cond, what, detail=None):
    results["passed" if cond else "failed"] += 1
    print(
        f"{'PASS' if cond else 'FAIL'}  {what}"
        + ("" if cond or detail is None else f"  -> {detail}")
    )
    return cond


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_part(token, i):
    part = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def requests_post(*args, **kwargs):
    return requests.post(*args, timeout=kwargs.pop("timeout", 10), **kwargs)


def requests_get(*args, **kwargs):
    return requests.get(*args, timeout=kwargs.pop("timeout", 10), **kwargs)


def die_with_parent():
    """Linux: SIGTERM the node child if this script dies without its cleanup (SIGKILL)."""
    import contextlib
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


class BackchannelReceiver(BaseHTTPRequestHandler):
    """Plays the VPN side's back-channel logout endpoint; remembers every logout_token."""

    tokens = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        self.tokens.extend(urllib.parse.parse_qs(body).get("logout_token", []))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Idp:
    def __init__(self, config, workdir):
        self.cfg_path = os.path.join(workdir, "idp.json")
        with open(self.cfg_path, "w") as f:
            json.dump(config, f)
        self.log_path = os.path.join(workdir, "idp.log")
        self.log = open(self.log_path, "w")  # noqa: SIM115 (closed in stop())
        self.extra_stdout = []
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            ["node", os.path.join(HERE, "server.mjs"), self.cfg_path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=HERE,
            preexec_fn=die_with_parent,
        )
        lines = queue.Queue()

        def pump():  # keeps reading stdout so the pipe never fills; anything after ISSUER is a bug
            first = True
            for line in self.proc.stdout:
                if first:
                    lines.put(line)
                    first = False
                else:
                    self.extra_stdout.append(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            first = lines.get(timeout=30)
        except BaseException:  # timeout, or SIGTERM/Ctrl-C while waiting: never leave node behind
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        if not first or not first.startswith("ISSUER "):
            self.stop()
            raise RuntimeError(
                f"no ISSUER line from server (got {first!r}); log:\n{self.read_log()}"
            )
        self.issuer = first.split()[1]

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM by pid, then wait; SIGKILL only if it does not go away."""
        if self.log.closed:
            return self.proc.returncode
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def follow(http, resp, stop_prefix, hops=10):
    """Follow redirects by hand until a page is shown or the Location goes to stop_prefix."""
    for _ in range(hops):
        if resp.status_code not in (301, 302, 303, 307, 308):
            return resp, None
        loc = urllib.parse.urljoin(resp.url, resp.headers["location"])
        if loc.startswith(stop_prefix):
            return resp, loc
        resp = http.get(loc, allow_redirects=False)
    raise RuntimeError("too many redirects")


def form_action(resp):
    m = re.search(r'<form[^>]*action="([^"]+)"', resp.text)
    return urllib.parse.urljoin(resp.url, html.unescape(m.group(1))) if m else None


def start_auth(http, disco, prompt=None, login_hint=None):
    verifier = b64url(secrets.token_bytes(32))
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email groups",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge_method": "S256",
        "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
    }
    if prompt:
        params["prompt"] = prompt
    if login_hint:
        params["login_hint"] = login_hint
    resp = http.get(disco["authorization_endpoint"], params=params, allow_redirects=False)
    page, loc = follow(http, resp, REDIRECT_URI)
    return page, loc, params, verifier


def finish(http, disco, loc, params, verifier):
    """Check the callback URL and redeem the code (client_secret_basic + code_verifier)."""
    q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
    check(
        q.get("state") == [params["state"]] and "code" in q,
        "redirect_uri got ?code= and the same state",
        loc,
    )
    check(q.get("iss") == [disco["issuer"]], "authorization response carries iss")
    tok = requests_post(
        disco["token_endpoint"],
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={
            "grant_type": "authorization_code",
            "code": q["code"][0],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    check(tok.status_code == 200, "token endpoint accepts code + code_verifier", tok.text)
    return tok.json()


def login(http, disco, user, password, wrong_first=False):
    page, loc, params, verifier = start_auth(http, disco)
    check(
        loc is None
        and page.status_code == 200
        and 'name="username"' in page.text
        and 'type="password"' in page.text
        and "Sign in</button>" in page.text,
        f"/auth leads to the login form ({user})",
        page.status_code,
    )
    if wrong_first:
        bad = http.post(
            form_action(page), data={"username": user, "password": "wrong"}, allow_redirects=False
        )
        check(
            bad.status_code == 200 and "Invalid username or password" in bad.text,
            "wrong password re-shows form with 'Invalid username or password'",
            bad.status_code,
        )
        page = bad
    resp = http.post(
        form_action(page), data={"username": user, "password": password}, allow_redirects=False
    )
    page, loc = follow(http, resp, REDIRECT_URI)
    check(
        loc is not None,
        f"right password: redirect chain ends at redirect_uri ({user})",
        None if loc else page.text[:300],
    )
    return finish(http, disco, loc, params, verifier) if loc else {}


def refresh(disco, rt):
    return requests_post(
        disco["token_endpoint"],
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": rt},
    )


def check_refresh_refused(disco, rt, what):
    r = refresh(disco, rt)
    check(r.status_code == 400 and r.json().get("error") == "invalid_grant", what, r.text)


def admin(idp, method, path, body=None, token=ADMIN_TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, idp.issuer + path, json=body, headers=headers, timeout=10)


def run(idp, bc_tokens):
    disco = requests_get(idp.issuer + "/.well-known/openid-configuration").json()
    check(disco.get("issuer") == idp.issuer, "discovery issuer equals ISSUER line")
    check(disco.get("code_challenge_methods_supported") == ["S256"], "PKCE S256 only")
    check(
        {"openid", "profile", "email", "groups", "offline_access"}
        <= set(disco.get("scopes_supported", [])),
        "scopes",
    )
    check(
        disco.get("backchannel_logout_supported") is True
        and "end_session_endpoint" in disco
        and "introspection_endpoint" in disco
        and "revocation_endpoint" in disco,
        "logout/introspection/revocation advertised",
    )
    jwks = requests_get(disco["jwks_uri"]).json()
    kids = {k["kid"]: k for k in jwks["keys"]}
    check(
        any(k.get("alg") == "RS256" and k["kty"] == "RSA" for k in jwks["keys"]),
        "JWKS has an RS256 key",
    )
    check(all("d" not in k for k in jwks["keys"]), "JWKS publishes no private parts")

    check(
        admin(idp, "POST", "/__admin/users/alice/disable", token=None).status_code == 403,
        "admin API: no token -> 403",
    )
    check(
        admin(idp, "POST", "/__admin/users/alice/disable", token="nope").status_code == 403,
        "admin API: bad token -> 403",
    )

    http = requests.Session()
    r = http.get(
        disco["authorization_endpoint"],
        allow_redirects=False,
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "state": "s",
        },
    )
    check(
        "error=invalid_request" in r.headers.get("location", ""),
        "request without PKCE is refused",
        r.headers.get("location"),
    )

    tokens = login(http, disco, "alice", ALICE["password"], wrong_first=True)
    idt = tokens.get("id_token", "")
    header, claims = jwt_part(idt, 0), jwt_part(idt, 1)
    print("ID token header:", json.dumps(header))
    print("ID token payload:", json.dumps(claims, indent=2))
    check(
        header.get("alg") == "RS256" and header.get("kid") in kids,
        "ID token is RS256 with a kid from the JWKS",
    )
    check(
        claims.get("iss") == idp.issuer
        and claims.get("aud") == CLIENT_ID
        and claims.get("sub") == ALICE["sub"],
        "iss/aud/sub",
    )
    check(claims.get("groups") == ALICE["groups"], "ID token has groups", claims.get("groups"))
    check(
        claims.get("email") == ALICE["email"] and claims.get("email_verified") is True,
        "ID token has email",
    )
    check(
        claims.get("preferred_username") == "alice" and claims.get("name") == ALICE["name"],
        "ID token has preferred_username/name",
    )
    check(claims.get("department") == "engineering", "ID token has the user's extra claim")
    check(bool(claims.get("sid")), "ID token has sid")
    check(bool(tokens.get("refresh_token")), "refresh_token issued without offline_access")
    rt = tokens.get("refresh_token", "")

    ui = requests_get(
        disco["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens.get('access_token')}"},
    )
    check(
        ui.status_code == 200 and ui.json().get("groups") == ALICE["groups"],
        "userinfo returns groups",
        ui.text,
    )
    r = refresh(disco, rt)
    check(
        r.status_code == 200 and "id_token" in r.json(),
        "refresh grant works while alice is enabled",
        r.text,
    )
    rt = r.json().get("refresh_token", rt)

    page, loc, _params, _verifier = start_auth(http, disco)
    check(loc is not None, "second /auth in the same browser session: SSO, no form")
    page, loc, _, _ = start_auth(http, disco, prompt="login")
    check(
        loc is None and 'name="password"' in page.text,
        "prompt=login forces the form despite the session",
    )

    check(
        admin(idp, "POST", "/__admin/users/alice/disable").status_code == 200,
        "admin: disable alice",
    )
    check_refresh_refused(disco, rt, "refresh fails (invalid_grant) for disabled user")
    page, loc, _, _ = start_auth(http, disco)  # alice's browser session still exists
    check(
        loc is None and page.status_code == 200 and 'name="password"' in page.text,
        "disabled user's existing session no longer gives SSO: login form shown",
        page.status_code,
    )
    bad = http.post(
        form_action(page),
        data={"username": "alice", "password": ALICE["password"]},
        allow_redirects=False,
    )
    check(
        bad.status_code == 200 and "Account disabled" in bad.text,
        "disabled user cannot log in ('Account disabled')",
    )
    check(
        admin(idp, "POST", "/__admin/users/alice/enable").status_code == 200, "admin: enable alice"
    )
    r = refresh(disco, rt)
    check(r.status_code == 200, "refresh works again after enable", r.text)
    rt = r.json().get("refresh_token", rt)

    lo = admin(idp, "POST", "/__admin/logout/alice")
    print("admin logout response:", lo.text)
    check(
        lo.status_code == 200
        and lo.json().get("backchannel") == [{"client_id": CLIENT_ID, "ok": True}],
        "admin logout reports back-channel delivery",
    )
    check(len(bc_tokens) == 1, "back-channel endpoint received one logout_token", len(bc_tokens))
    if bc_tokens:
        lt = jwt_part(bc_tokens[0], 1)
        print("logout_token payload:", json.dumps(lt))
        check(
            lt.get("sub") == ALICE["sub"]
            and lt.get("aud") == CLIENT_ID
            and lt.get("iss") == idp.issuer
            and "http://schemas.openid.net/event/backchannel-logout" in lt.get("events", {})
            and lt.get("sid") == claims.get("sid")
            and "nonce" not in lt,
            "logout_token sub/aud/iss/events/sid",
        )
    check_refresh_refused(disco, rt, "refresh fails after admin logout")
    page, loc, _, _ = start_auth(http, disco)
    check(
        loc is None and 'name="password"' in page.text,
        "after admin logout the browser must log in again",
    )

    check(admin(idp, "POST", "/__admin/users", body=BOB).status_code == 200, "admin: add bob")
    bob = login(requests.Session(), disco, "bob", BOB["password"])
    check(
        jwt_part(bob.get("id_token", "x.e30.x"), 1).get("groups") == ["vpn-users"],
        "bob's ID token has groups",
    )
    check(admin(idp, "DELETE", "/__admin/users/bob").status_code == 200, "admin: delete bob")
    r = refresh(disco, bob.get("refresh_token", ""))
    check(
        r.status_code == 400 and r.json().get("error") == "invalid_grant",
        "refresh fails for deleted user",
        r.text,
    )


def main():
    if not os.path.isdir(os.path.join(HERE, "node_modules", "oidc-provider")):
        print(f"missing node_modules: run  (cd {HERE} && npm ci)  first", file=sys.stderr)
        return 2
    # Let SIGTERM/SIGINT unwind through the finally blocks so the node child is always stopped.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    bc = ThreadingHTTPServer(
        ("127.0.0.1", 0), BackchannelReceiver
    )  # bound now, served once node runs
    bc_thread = threading.Thread(target=bc.serve_forever, daemon=True)
    config = {
        "host": "127.0.0.1",
        "port": 0,
        "admin_token": ADMIN_TOKEN,
        "users": [ALICE],
        "clients": [
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [REDIRECT_URI],
                "backchannel_logout_uri": f"http://127.0.0.1:{bc.server_address[1]}/backchannel",
            }
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        idp = None
        try:
            idp = Idp(config, tmp)
            bc_thread.start()
            print(
                f"server up: ISSUER {idp.issuer} after {idp.startup_seconds:.2f}s "
                f"(pid {idp.proc.pid})"
            )
            run(idp, BackchannelReceiver.tokens)
        except Exception as exc:  # a crash is a failed check, not a traceback-only exit
            check(False, "smoke run completed without exception", repr(exc))
        finally:
            if idp:
                rc = idp.stop()
                check(rc == 0, "server exits 0 on SIGTERM", rc)
                check(idp.proc.poll() is not None, f"node pid {idp.proc.pid} is gone")
                check(
                    not idp.extra_stdout,
                    "server printed nothing on stdout after the ISSUER line",
                    idp.extra_stdout,
                )
                if VERBOSE or results["failed"]:
                    print("---- server log (stderr) ----\n" + idp.read_log())
            if bc_thread.is_alive():
                bc.shutdown()  # would block forever if serve_forever never ran
            bc.server_close()
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
