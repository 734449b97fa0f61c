from hypothesis import given
from hypothesis import strategies as st

from callback_service.i18n import CATALOGS, LANGUAGES, Text, text, translate


def test_every_language_has_every_text() -> None:
    keys = set(CATALOGS["en"])
    for lang in LANGUAGES:
        assert set(CATALOGS[lang]) == keys, lang
        for key, value in CATALOGS[lang].items():
            # same placeholders in every translation
            assert sorted(p.split("}")[0] for p in key.split("{")[1:]) == \
                sorted(p.split("}")[0] for p in value.split("{")[1:]), (lang, key)


def test_translation_with_escaped_parameters() -> None:
    msg = text("Signed in as {user}. Your VPN connection to {server} is being established; "
               "you can close this window.", user="<b>eve</b>", server="vpn1")
    assert str(msg).startswith("Signed in as <b>eve</b>.")  # English, for OpenVPN/logs
    html = translate("de", msg)
    assert html.startswith("Angemeldet als &lt;b&gt;eve&lt;/b&gt;.")
    confirm = translate("fr", text("You are signed in as <strong>{user}</strong>. Approve only "
                                   "if you just started this connection yourself.", user="<i>"))
    assert "<strong>&lt;i&gt;</strong>" in confirm
    assert translate("de", text("This login belongs to a VPN connection whose {what} is not "
                                "yours: use your own VPN profile (never a login link someone "
                                "sent you)", what="certificate")).count("Zertifikat") == 1


@given(st.text(), st.sampled_from(LANGUAGES))
def test_unknown_text_is_escaped_whole(message: str, lang: str) -> None:
    html = translate(lang, message)
    if message not in CATALOGS["en"]:
        assert "<" not in html and ">" not in html
    assert translate(lang, Text(message)) == html or message in CATALOGS["en"]
