"""The pages a user sees, in real Chromium: languages from Accept-Language,
branding, the openvpn3 State API events, small screens. Screenshots are kept in
test-artifacts/ for people to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from demo.parts import login_in_browser, open_in_browser, sign_in
from demo.stack import Stack
from shared.records import new_state

# An app's embedded webview provides `appEvent`; record what the pages send to it
# (sessionStorage: our pages share one origin, the IdP's page in between does not).
RECORD_EVENTS = """
window.appEvent = { postMessage: function (m) {
  var seen = JSON.parse(sessionStorage.getItem("ovpn-events") || "[]");
  seen.push(m.type); sessionStorage.setItem("ovpn-events", JSON.stringify(seen)); } };
"""


def events(context: Any) -> list[str]:
    page = context.pages[-1]
    return list(page.evaluate("JSON.parse(sessionStorage.getItem('ovpn-events') || '[]')"))


def test_state_api_events_let_app_webviews_close(stack: Stack, chromium: Any,
                                                 artifacts: Path) -> None:
    with stack.client("alice") as client:
        context = chromium.new_context()
        context.add_init_script(RECORD_EVENTS)
        try:
            page = login_in_browser(chromium, client.wait_web_auth_url(), "alice",
                                    "alice-password", context=context)
            assert page.title == "You are connected"
            assert events(context) == ["ACTION_REQUIRED", "CONNECT_SUCCESS"]
        finally:
            context.close()
        client.wait_state("CONNECTED", 30)
    with stack.client("bob") as client:
        context = chromium.new_context()
        context.add_init_script(RECORD_EVENTS)
        try:
            login_in_browser(chromium, client.wait_web_auth_url(), "bob", "bob-password",
                             context=context)
            assert events(context) == ["CONNECT_FAILED"]
        finally:
            context.close()


@pytest.mark.parametrize(("locale", "title", "words"), [
    ("de-DE", "Zugriff verweigert", "ist in keiner der Gruppen"),
    ("fr-FR", "Accès refusé", "n'appartient à aucun des groupes"),
    ("en-GB", "Access denied", "is not in any of the groups"),
])
def test_pages_speak_the_browsers_language(stack: Stack, chromium: Any, artifacts: Path,
                                           locale: str, title: str, words: str) -> None:
    with stack.client("bob") as client:
        context = chromium.new_context(locale=locale)
        try:
            page = login_in_browser(chromium, client.wait_web_auth_url(), "bob", "bob-password",
                                    context=context,
                                    screenshot=artifacts / f"denied-{locale}.png")
            assert page.title == title
            assert words in page.message and "bob" in page.message and "vpn-users" in page.message
            html_lang = context.pages[-1].get_attribute("html", "lang")
            assert html_lang == locale[:2]
        finally:
            context.close()
        # the client's reason stays in one language (it also goes to logs)
        assert client.wait_auth_failed(10).startswith("Access denied: bob is not in any")


def test_branding_and_accessibility_basics(stack: Stack, chromium: Any, artifacts: Path) -> None:
    base = stack.service.base_url  # type: ignore[union-attr]
    context = chromium.new_context(locale="de-DE", viewport={"width": 390, "height": 844})
    try:
        result = open_in_browser(chromium, f"{base}/login?s={new_state()}", context=context)
        assert result.title == "Anmeldelink abgelaufen"
        page = context.pages[-1]
        assert page.inner_text("#brand") == "Example Corp VPN"
        assert page.inner_text("#support") == "IT helpdesk: extension 4242"
        assert page.get_attribute("#title", "role") == "alert"
        assert page.title().startswith("Anmeldelink abgelaufen")
        # nothing wider than a phone screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(artifacts / "expired-de-mobile.png"))
    finally:
        context.close()


def test_confirmation_page_in_french_on_a_phone(stack: Stack, chromium: Any,
                                                artifacts: Path) -> None:
    with stack.client("alice") as client:
        context = chromium.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
        try:
            page = context.new_page()
            page.goto(client.wait_web_auth_url())
            sign_in(page, "alice", "alice-password")
            assert page.inner_text("#title") == "Approuver cette connexion VPN ?"
            assert page.inner_text("#approve") == "Approuver"
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(artifacts / "confirm-fr-mobile.png"))
            page.click("#approve")
            page.wait_for_selector("text=Vous êtes connecté")
        finally:
            context.close()
        client.wait_state("CONNECTED", 30)
