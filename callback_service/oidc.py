"""OpenID Connect relying party: discovery, authorization URL, code exchange and
ID token validation (authlib for OAuth 2, joserfc — authlib's JOSE library — for JWTs).

Everything the IdP returns is untrusted until the ID token's signature (from the
IdP's JWKS), issuer, audience, expiry and nonce have been checked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger(__name__)

# Asymmetric algorithms only: never "none", never HS* (whose key would be the public
# client secret or, worse, a public key used as an HMAC secret).
ALLOWED_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                "ES512", "EdDSA")
METADATA_TTL = 3600.0
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class IdPError(Exception):
    """The IdP could not be reached or answered something unusable; ``refused``
    when it answered and said no (e.g. invalid_grant)."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class TokenInvalid(Exception):
    """The ID token failed validation; the message says which check failed."""


@dataclass(frozen=True)
class Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class Provider:
    """One IdP client. Thread-safe; metadata and keys are cached and refreshed."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str, scopes: list[str],
                 redirect_uri: str, leeway: int = 60, timeout: float = 10.0,
                 http: requests.Session | None = None) -> None:
        self.issuer = issuer  # compared exactly, as OIDC Discovery requires
        self.client_id = client_id
        self._client_secret = client_secret
        self.scopes = scopes
        self.redirect_uri = redirect_uri
        self.leeway = leeway
        self.timeout = timeout
        self._http = http or requests.Session()
        self._lock = threading.Lock()
        self._meta: tuple[float, Metadata] | None = None
        self._keys: tuple[float, KeySet] | None = None

    # -- metadata -------------------------------------------------------------
    def _get_json(self, url: str) -> Any:
        try:
            resp = self._http.get(url, timeout=self.timeout)
            resp.raise_for_status()
            return resp.json()
        except (requests.RequestException, ValueError) as err:
            raise IdPError(f"cannot fetch {url}: {err}") from err

    def metadata(self) -> Metadata:
        with self._lock:
            if self._meta and time.monotonic() - self._meta[0] < METADATA_TTL:
                return self._meta[1]
        doc = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        try:
            meta = Metadata(doc["issuer"], doc["authorization_endpoint"], doc["token_endpoint"],
                            doc["jwks_uri"])
        except (KeyError, TypeError) as err:
            raise IdPError(f"discovery document lacks {err}") from err
        if meta.issuer != self.issuer:
            raise IdPError(f"discovery issuer {meta.issuer!r} differs from the configured one")
        with self._lock:
            self._meta = (time.monotonic(), meta)
        return meta

    def keys(self, refresh: bool = False) -> KeySet:
        with self._lock:
            if not refresh and self._keys and time.monotonic() - self._keys[0] < METADATA_TTL:
                return self._keys[1]
        try:
            keys = KeySet.import_key_set(self._get_json(self.metadata().jwks_uri))
        except (JoseError, ValueError, TypeError) as err:
            raise IdPError(f"unusable JWKS: {err}") from err
        with self._lock:
            self._keys = (time.monotonic(), keys)
        return keys

    # -- the flow -------------------------------------------------------------
    def _session(self) -> OAuth2Session:
        return OAuth2Session(self.client_id, self._client_secret, scope=" ".join(self.scopes),
                             redirect_uri=self.redirect_uri, code_challenge_method="S256",
                             timeout=self.timeout)

    def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        url, _ = self._session().create_authorization_url(
            self.metadata().authorization_endpoint, state=state, nonce=nonce,
            code_verifier=code_verifier)
        return str(url)

    def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        """Redeem the authorization code (client secret + PKCE verifier)."""
        try:
            with self._session() as session:
                token = session.fetch_token(self.metadata().token_endpoint, code=code,
                                            code_verifier=code_verifier,
                                            grant_type="authorization_code")
        except (OAuth2Error, OAuthError) as err:
            raise IdPError(f"token endpoint refused the code: {err.error}") from err
        except requests.RequestException as err:
            raise IdPError(f"token endpoint unreachable: {err}") from err
        return dict(token)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A refresh grant: the IdP's answer on whether the user may still have tokens.
        Raises IdPError with ``refused=True`` when the IdP refuses (invalid_grant)."""
        try:
            with self._session() as session:
                token = session.refresh_token(self.metadata().token_endpoint,
                                              refresh_token=refresh_token)
        except (OAuth2Error, OAuthError) as err:
            raise IdPError(f"refresh refused: {err.error}", refused=True) from err
        except requests.RequestException as err:
            raise IdPError(f"token endpoint unreachable: {err}") from err
        return dict(token)

    def validate_logout_token(self, token: str, now: float | None = None) -> dict[str, Any]:
        """OpenID Connect Back-Channel Logout 1.0, section 2.6: signature, iss, aud,
        iat, the logout event, sid and/or sub, and no nonce."""
        try:
            decoded = jwt.decode(token, self.keys(), algorithms=list(ALLOWED_ALGS))
        except (JoseError, ValueError) as err:
            raise TokenInvalid(f"logout token signature or format invalid: {err}") from err
        registry = jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()), leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            iat={"essential": True}, jti={"essential": True})
        try:
            registry.validate(decoded.claims)
        except JoseError as err:
            raise TokenInvalid(f"logout token claims invalid: {err}") from err
        claims = dict(decoded.claims)
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
            raise TokenInvalid("logout token without the back-channel logout event")
        if "nonce" in claims:
            raise TokenInvalid("logout token must not carry a nonce")
        if not isinstance(claims.get("sid"), str) and not isinstance(claims.get("sub"), str):
            raise TokenInvalid("logout token names neither sid nor sub")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and (now or time.time()) - iat > 600 + self.leeway:
            raise TokenInvalid("logout token is too old")
        return claims

    def validate_refreshed_id_token(self, id_token: str, *, sub: str,
                                    now: float | None = None) -> dict[str, Any]:
        """An ID token from a refresh grant (OIDC Core 12.2): same checks, but no
        nonce of its own; it must be about the same subject."""
        claims = self._validated(id_token, now, nonce=None)
        if claims.get("sub") != sub:
            raise TokenInvalid("refreshed ID token is about another subject")
        return claims

    def validate_id_token(self, id_token: str, *, nonce: str,
                          now: float | None = None) -> dict[str, Any]:
        """Verify signature, iss, aud (and azp), exp, iat and nonce; return the claims."""
        return self._validated(id_token, now, nonce=nonce)

    def _validated(self, id_token: str, now: float | None, nonce: str | None) -> dict[str, Any]:
        try:
            try:
                token = jwt.decode(id_token, self.keys(), algorithms=list(ALLOWED_ALGS))
            except JoseError as err:
                if "key" not in str(err).lower():
                    raise
                # The IdP may have rotated its keys since we cached them.
                token = jwt.decode(id_token, self.keys(refresh=True),
                                   algorithms=list(ALLOWED_ALGS))
        except (JoseError, ValueError) as err:
            raise TokenInvalid(f"ID token signature or format invalid: {err}") from err
        expected: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "sub": {"essential": True}, "exp": {"essential": True}, "iat": {"essential": True}}
        if nonce is not None:
            expected["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()), leeway=self.leeway, **expected)
        try:
            registry.validate(token.claims)
        except JoseError as err:
            raise TokenInvalid(f"ID token claims invalid: {err}") from err
        aud = token.claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and token.claims.get("azp") != self.client_id:
            raise TokenInvalid("ID token has several audiences and azp is not this client")
        return dict(token.claims)
