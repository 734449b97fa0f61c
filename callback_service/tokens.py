"""Refresh tokens at rest: sealed with AES-256-GCM (the `cryptography` package),
bound to their session id as associated data so a sealed token cannot be moved to
another session record."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class SealError(ValueError):
    """The key is unusable or a sealed value does not open."""


def load_key(text: str) -> bytes:
    """A 32-byte key given as 64 hex characters or standard/urlsafe base64."""
    raw = text.strip()
    try:
        key = bytes.fromhex(raw) if len(raw) == 64 else base64.urlsafe_b64decode(
            raw.replace("+", "-").replace("/", "_") + "=" * (-len(raw) % 4))
    except (ValueError, binascii.Error) as err:
        raise SealError("sessions.encryption_key: not hex or base64") from err
    if len(key) != 32:
        raise SealError("sessions.encryption_key: needs 32 bytes (e.g. openssl rand -hex 32)")
    return key


def seal(key: bytes, plaintext: str, context: str) -> str:
    nonce = os.urandom(12)
    box = AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())
    return base64.urlsafe_b64encode(nonce + box).decode()


def unseal(key: bytes, sealed: str, context: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
    except (InvalidTag, ValueError, binascii.Error) as err:
        raise SealError("sealed value does not open with this key") from err
