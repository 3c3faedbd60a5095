"""Secrets at rest: AES-256-GCM with key ids (so keys rotate), and keyed hashes for lookups.

Ciphertext format: `v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`; the key id is bound in as
associated data so a token cannot be replayed under another key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class CryptoError(Exception):
    pass


class Cipher:
    def __init__(self, keyring: str):
        self._keys: dict[str, bytes] = {}
        self._aeads: dict[str, AESGCM] = {}
        self._primary = ""
        for item in (part.strip() for part in keyring.split(",")):
            if not item:
                continue
            kid, _, b64 = item.partition(":")
            try:
                raw = base64.b64decode(b64, validate=True)
            except ValueError:
                raise CryptoError(f"encryption key {kid!r} is not base64") from None
            if len(raw) != 32 or not kid:
                raise CryptoError(f"encryption key {kid!r} must be `id:base64(32 bytes)`")
            self._keys[kid] = raw
            self._primary = self._primary or kid
        if not self._keys:
            raise CryptoError("ENCRYPTION_KEYS holds no key")

    def encrypt(self, plaintext: str, context: str = "") -> str:
        nonce = os.urandom(12)
        sealed = self._aead(self._primary).encrypt(nonce, plaintext.encode(), self._aad(self._primary, context))
        return f"v1:{self._primary}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str = "") -> str:
        try:
            version, kid, b64 = token.split(":", 2)
            blob = base64.b64decode(b64)
            if version != "v1" or kid not in self._keys:
                raise CryptoError(f"no key {kid!r} to decrypt with")
            return self._aead(kid).decrypt(blob[:12], blob[12:], self._aad(kid, context)).decode()
        except CryptoError:
            raise
        except Exception as exc:
            raise CryptoError("cannot decrypt a stored secret") from exc

    def _aead(self, kid: str) -> AESGCM:
        if kid not in self._aeads:
            # Imported on first use: keeps `cryptography` off cold paths that decrypt nothing (GET a deployment).
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aeads[kid] = AESGCM(self._keys[kid])
        return self._aeads[kid]

    @staticmethod
    def _aad(kid: str, context: str) -> bytes:
        return f"{kid}|{context}".encode()


def keyed_hash(secret: str, value: str, purpose: str) -> str:
    """HMAC-SHA256, hex: stable lookups of secrets without storing them."""
    return hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def callback_secret(internal_secret: str, deployment_id: str) -> str:
    """The per-deployment secret the inference container sends back; derived, never stored."""
    return keyed_hash(internal_secret, deployment_id, "worker-callback")
