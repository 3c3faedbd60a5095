"""Secrets at rest and configuration errors."""

from __future__ import annotations

import base64

import pytest

from shared.platform.crypto import Cipher, CryptoError, callback_secret
from shared.platform.settings import ConfigError, load_settings

KEY_A = "a:" + base64.b64encode(b"A" * 32).decode()
KEY_B = "b:" + base64.b64encode(b"B" * 32).decode()


def test_cipher_round_trip_and_rotation() -> None:
    old = Cipher(KEY_A)
    token = old.encrypt("rpa_secret", context="dep_1")
    assert "rpa_secret" not in token and token.startswith("v1:a:")
    rotated = Cipher(f"{KEY_B},{KEY_A}")  # b encrypts now; a still decrypts
    assert rotated.decrypt(token, context="dep_1") == "rpa_secret"
    assert rotated.encrypt("x").startswith("v1:b:")


def test_cipher_binds_the_context() -> None:
    cipher = Cipher(KEY_A)
    token = cipher.encrypt("rpa_secret", context="dep_1")
    with pytest.raises(CryptoError):
        cipher.decrypt(token, context="dep_2")
    with pytest.raises(CryptoError):
        Cipher(KEY_B).decrypt(token, context="dep_1")


def test_bad_keyring_is_a_clear_error() -> None:
    with pytest.raises(CryptoError):
        Cipher("a:notbase64!!")
    with pytest.raises(CryptoError):
        Cipher("a:" + base64.b64encode(b"short").decode())


def test_callback_secret_is_per_deployment() -> None:
    assert callback_secret("s", "dep_1") != callback_secret("s", "dep_2")
    assert callback_secret("s", "dep_1") == callback_secret("s", "dep_1")


def test_local_settings_create_persistent_secrets(tmp_path) -> None:
    first = load_settings({"DATA_DIR": str(tmp_path)})
    again = load_settings({"DATA_DIR": str(tmp_path)})
    assert first.internal_secret.get_secret_value() == again.internal_secret.get_secret_value()
    assert (tmp_path / "encryption_keys").stat().st_mode & 0o777 == 0o600
    Cipher(first.encryption_keys.get_secret_value())


def test_invalid_settings_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({"PORT": "not-a-port"})
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT"):
        load_settings({"ORCHESTRATOR_BACKEND": "gcp"})


def test_admin_token_needs_32_characters() -> None:
    with pytest.raises(ConfigError, match=r"ADMIN_TOKEN.*32"):
        load_settings({"ADMIN_TOKEN": "x" * 31})
    assert load_settings({"ADMIN_TOKEN": "x" * 32}).admin_token.get_secret_value() == "x" * 32
    assert not load_settings({"ADMIN_TOKEN": ""}).admin_token.get_secret_value()  # empty: /admin is off


def test_api_keys_take_an_explicit_tenant_or_get_their_own() -> None:
    settings = load_settings({"API_KEYS": "key-one, team-a:key-two,team-a:key-three"})
    assert settings.api_key_entries == [(None, "key-one"), ("team-a", "key-two"), ("team-a", "key-three")]
    assert settings.api_key_list == ["key-one", "key-two", "key-three"]
    for bad in ("bad tenant:key", ":key", "team-a:"):
        with pytest.raises(ConfigError, match="API_KEYS"):
            load_settings({"API_KEYS": bad})
