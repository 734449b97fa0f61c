"""ID token validation: signature from the IdP's keys, iss, aud, exp, nonce, algs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from callback_service.oidc import Provider, TokenInvalid

ISSUER = "https://idp.example.test/realms/corp"
IDP_KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})


class StaticKeys(Provider):
    def keys(self, refresh: bool = False) -> KeySet:
        return KeySet([RSAKey.import_key(IDP_KEY.as_dict(private=False))])


def provider() -> Provider:
    return StaticKeys(issuer=ISSUER, client_id="openvpn", client_secret="x", scopes=["openid"],
                      redirect_uri="https://login.example.test/callback", leeway=30)


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "openvpn", "sub": "u1", "iat": now, "exp": now + 300,
            "nonce": "n-1", "preferred_username": "alice"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = IDP_KEY, alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": "idp-1"}, payload, key)


def test_valid_token() -> None:
    assert provider().validate_id_token(sign(claims()), nonce="n-1")["sub"] == "u1"


@pytest.mark.parametrize(("token_claims", "why"), [
    (claims(iss="https://evil.example"), "iss"),
    (claims(aud="another-client"), "aud"),
    (claims(exp=int(time.time()) - 120), "exp"),
    (claims(nonce="other"), "nonce"),
    (claims(nonce=None), "nonce"),
    (claims(sub=None), "sub"),
    (claims(aud=["openvpn", "other"]), "azp"),
])
def test_claims_are_checked(token_claims: dict[str, Any], why: str) -> None:
    with pytest.raises(TokenInvalid) as info:
        provider().validate_id_token(sign(token_claims), nonce="n-1")
    assert why in str(info.value)


def test_signature_from_another_key_is_rejected() -> None:
    with pytest.raises(TokenInvalid):
        provider().validate_id_token(sign(claims(), OTHER_KEY), nonce="n-1")


def test_alg_none_and_hmac_with_public_key_are_rejected() -> None:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none'})}.{b64(claims())}."
    with pytest.raises(TokenInvalid):
        provider().validate_id_token(unsigned, nonce="n-1")
    # the classic confusion attack: HMAC "signed" with the IdP's public key as secret
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'idp-1'})}.{b64(claims())}"
    mac = hmac.new(IDP_KEY.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    forged = signing_input + "." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        provider().validate_id_token(forged, nonce="n-1")
    ec = ECKey.generate_key("P-256", parameters={"kid": "idp-1"})
    with pytest.raises(TokenInvalid):
        provider().validate_id_token(sign(claims(), ec, "ES256"), nonce="n-1")


def test_leeway_allows_small_clock_skew() -> None:
    token = sign(claims(exp=int(time.time()) - 10))
    assert provider().validate_id_token(token, nonce="n-1")["sub"] == "u1"


EVENT = {"http://schemas.openid.net/event/backchannel-logout": {}}


def logout_claims(**over: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "aud": "openvpn", "iat": int(time.time()), "jti": "j-1",
            "sid": "s-1", "events": EVENT}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_logout_token_valid() -> None:
    assert provider().validate_logout_token(sign(logout_claims()))["sid"] == "s-1"
    assert provider().validate_logout_token(sign(logout_claims(sid=None, sub="u1")))["sub"] == "u1"


@pytest.mark.parametrize(("changes", "why"), [
    ({"events": None}, "event"),
    ({"events": {"other": {}}}, "event"),
    ({"nonce": "n"}, "nonce"),
    ({"sid": None}, "neither sid nor sub"),
    ({"aud": "other"}, "aud"),
    ({"iss": "https://evil.example"}, "iss"),
    ({"jti": None}, "jti"),
    ({"iat": int(time.time()) - 3600}, "too old"),
])
def test_logout_token_checks(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(TokenInvalid) as info:
        provider().validate_logout_token(sign(logout_claims(**changes)))
    assert why in str(info.value)


def test_logout_token_from_another_key_is_rejected() -> None:
    with pytest.raises(TokenInvalid):
        provider().validate_logout_token(sign(logout_claims(), OTHER_KEY))


def test_refreshed_id_token_needs_no_nonce_but_the_same_subject() -> None:
    token = sign(claims(nonce=None))
    assert provider().validate_refreshed_id_token(token, sub="u1")["sub"] == "u1"
    with pytest.raises(TokenInvalid, match="another subject"):
        provider().validate_refreshed_id_token(token, sub="u2")
    with pytest.raises(TokenInvalid):
        provider().validate_refreshed_id_token(sign(claims(nonce=None), OTHER_KEY), sub="u1")
    with pytest.raises(TokenInvalid):  # the original login still needs its nonce
        provider().validate_id_token(token, nonce="n-1")
