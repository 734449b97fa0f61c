"""Attack classes that cross real parts (docs/security.md maps each to its threat).
Every attack must be refused with a clear message and leave nothing admitted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from demo.parts import login_in_browser, open_in_browser
from demo.stack import Stack
from tests.e2e.conftest import HTML_NAME, INJECTION_NAME

CONNECT_TIMEOUT = 30


def never_connected(client: Any) -> bool:
    return not any(",CONNECTED," in line for line in client.lines())


def forged_callback(stack: Stack, chromium: Any, url: str, query: str) -> Any:
    """Start the login at ``url`` in a fresh browser (it gets the binding cookie and
    lands on the IdP's form), then send that browser to ``/callback?state=…&query``
    as if the IdP had redirected it there."""
    state = url.rsplit("=", 1)[1]
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("input[name=username]")
        base = stack.service.base_url  # type: ignore[union-attr]
        return open_in_browser(chromium, f"{base}/callback?state={state}&{query}",
                               context=context)
    finally:
        context.close()


def test_replayed_callback_is_refused(stack: Stack, chromium: Any, seen_codes: list[str]) -> None:
    """The callback URL replayed in the same browser (binding cookie still there)
    while the confirmation page is open, and later from another browser."""
    with stack.client("alice") as client:
        context = chromium.new_context()
        try:
            page = context.new_page()
            page.goto(client.wait_web_auth_url())
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password")
            with page.expect_navigation(url=lambda u: "/callback" in u) as nav:
                page.click("button[type=submit]")
            callback_url = nav.value.url
            seen_codes.append(parse_qs(urlparse(callback_url).query)["code"][0])
            page.wait_for_selector("#approve")
            replay = open_in_browser(chromium, callback_url, context=context)
            assert (replay.status, replay.title) == (409, "Login link already used")
            with page.expect_navigation():
                page.click("#approve")  # the original login is unharmed by the replay
            assert page.inner_text("#title") == "You are connected"
        finally:
            context.close()
        client.wait_state("CONNECTED", CONNECT_TIMEOUT)
        later = open_in_browser(chromium, callback_url)
        assert (later.status, later.title) == (409, "Login link already used")


def test_replayed_authorization_code_is_refused(stack: Stack, chromium: Any,
                                                seen_codes: list[str]) -> None:
    """A code stolen from one login, presented in another login's callback."""
    with stack.client("alice") as victim:
        result = login_in_browser(chromium, victim.wait_web_auth_url(), "alice", "alice-password")
        victim.wait_state("CONNECTED", CONNECT_TIMEOUT)
    code = parse_qs(urlparse(result.callback_url).query)["code"][0]
    seen_codes.append(code)
    with stack.client("alice") as attacker:
        forged = forged_callback(stack, chromium, attacker.wait_web_auth_url(), f"code={code}")
        assert (forged.status, forged.title) == (502, "Login failed")
        assert attacker.wait_auth_failed(10) == "Login failed at the identity provider"
        assert never_connected(attacker)


def test_forwarded_login_url_does_not_admit_the_attacker(stack: Stack, chromium: Any,
                                                         artifacts: Path) -> None:
    """Mallory connects with her own certificate and sends her login link to Alice."""
    with stack.client("mallory") as attacker:
        url = attacker.wait_web_auth_url()
        page = login_in_browser(chromium, url, "alice", "alice-password",
                                screenshot=artifacts / "forwarded-url-denied.png")
        assert (page.status, page.title) == (403, "Login not accepted")
        assert "use your own VPN profile" in page.message
        reason = attacker.wait_auth_failed(10)
        assert reason.startswith("This login belongs to a VPN connection whose certificate")
        assert never_connected(attacker)


def test_management_injection_through_claims_admits_nobody(stack: Stack, chromium: Any) -> None:
    """A username claim full of newlines and management commands ends up in a deny
    reason; a client waiting at the same time must stay waiting."""
    log_before = len(stack.openvpn["vpn1"].log_text())
    with stack.client("alice") as bystander, stack.client("eve") as eve:
        bystander.wait_web_auth_url()
        page = login_in_browser(chromium, eve.wait_web_auth_url(), "eve", "eve-password")
        assert page.title == "Access denied"
        assert INJECTION_NAME.split("\n")[0] in page.message  # shown as text
        reason = eve.wait_auth_failed(10)
        assert "\n" not in reason
        assert reason == ("Access denied: " + " ".join(INJECTION_NAME.split("\n")) +
                          " is not in any of the groups allowed on VPN server vpn1 (vpn-users)"
                          )[:len(reason)]
        time.sleep(6)  # longer than the client's PUSH_REQUEST interval (5 s)
        assert never_connected(bystander) and not bystander.exited()
        new_log = stack.openvpn["vpn1"].log_text()[log_before:]
        commands = [line.split("MANAGEMENT: CMD ", 1)[1] for line in new_log.splitlines()
                    if "MANAGEMENT: CMD " in line]
        # one status query, one client-kill and the sender's quit: the "commands" in
        # the name stayed text
        assert len(commands) == 3 and commands[0] == "'status 3'", commands
        assert commands[1].startswith("'client-kill ") and "client-auth 0 1 END" in commands[1]
        assert commands[2] == "'quit'", commands


def test_script_in_claims_is_shown_as_text(stack: Stack, chromium: Any) -> None:
    with stack.client("mallet") as client:
        context = chromium.new_context()
        dialogs: list[str] = []
        context.on("page", lambda p: p.on("dialog", lambda d: (dialogs.append(d.message),
                                                                 d.dismiss())))
        try:
            page = login_in_browser(chromium, client.wait_web_auth_url(), "mallet",
                                    "mallet-password", context=context)
        finally:
            context.close()
        assert page.title == "Access denied"
        assert HTML_NAME in page.message  # the markup is visible text, not elements
        assert dialogs == []
        client.wait_auth_failed(10)


def test_open_redirect_parameters_are_ignored(stack: Stack, chromium: Any) -> None:
    import requests

    with stack.client("alice") as client:
        url = client.wait_web_auth_url()
        resp = requests.get(url + "&redirect_uri=https://evil.example/&next=//evil.example",
                            allow_redirects=False, timeout=10)
        assert resp.status_code == 302
        target = urlparse(resp.headers["Location"])
        assert f"{target.scheme}://{target.netloc}" == stack.idp.issuer  # type: ignore[union-attr]
        assert parse_qs(target.query)["redirect_uri"] == [
            stack.service.base_url + "/callback"]  # type: ignore[union-attr]


def test_idp_error_response_denies_at_once(stack: Stack, chromium: Any) -> None:
    """The IdP sends the browser back with error=access_denied (user cancelled)."""
    with stack.client("alice") as client:
        result = forged_callback(stack, chromium, client.wait_web_auth_url(),
                                 "error=access_denied&error_description=%3Cb%3Enope%3C%2Fb%3E")
        assert (result.status, result.title) == (403, "Login not completed")
        assert client.wait_auth_failed(10) == (
            "The login was cancelled or refused at the identity provider.")
        assert never_connected(client)


@pytest.mark.parametrize("decision", ["deny"])
def test_user_refuses_on_confirmation_page(stack: Stack, chromium: Any, decision: str) -> None:
    with stack.client("alice") as client:
        page = login_in_browser(chromium, client.wait_web_auth_url(), "alice", "alice-password",
                                decision=decision)
        assert page.title == "Connection not approved"
        assert client.wait_auth_failed(10) == "Login was not approved in the browser"
        assert never_connected(client)
