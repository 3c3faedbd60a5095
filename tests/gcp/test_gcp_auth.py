"""verify_tasks_token: only Cloud Tasks' Google-signed token for this function and account gets in.

Tokens are signed here with a throwaway RSA key; the verifier gets its public key through an
injected cert fetcher, so nothing touches the network.
"""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from shared.clients.google_auth import CertCache, emulator_task_token, verify_tasks_token
from shared.platform.errors import UnauthorizedError
from shared.platform.settings import Settings

INVOKER = "tasks-invoker@demo-p.iam.gserviceaccount.com"
STEP_URL = "https://run-step-123456789.us-central1.run.app/internal/steps"
AUDIENCE = "https://run-step-123456789.us-central1.run.app"


def _key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


GOOGLE_PRIVATE, GOOGLE_PUBLIC = _key()
OTHER_PRIVATE, _ = _key()


def token(private: str = GOOGLE_PRIVATE, kid: str = "google-1", **claims) -> str:
    now = int(time.time())
    payload = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": INVOKER,
        "email_verified": True,
        "sub": "1234567890",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(crypt.RSASigner.from_string(private, key_id=kid), payload).decode()


class Fetcher:
    def __init__(self, certs: dict[str, str]):
        self.certs = certs
        self.calls = 0

    def __call__(self) -> tuple[dict[str, str], float]:
        self.calls += 1
        return dict(self.certs), 3600.0


@pytest.fixture
def settings() -> Settings:
    return Settings(step_function_url=STEP_URL, tasks_invoker_sa=INVOKER, internal_secret="s3cret")


@pytest.fixture
def certs() -> CertCache:
    return CertCache(Fetcher({"google-1": GOOGLE_PUBLIC}))


def test_cloud_tasks_token_is_accepted(settings, certs):
    verify_tasks_token(settings, f"Bearer {token()}", certs=certs)
    verify_tasks_token(settings, f"bearer  {token(iss='accounts.google.com')} ", certs=certs)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        f"Token {token()}",
    ],
    ids=["missing", "empty", "no-token", "blank-token", "basic", "garbage", "wrong-scheme"],
)
def test_missing_or_malformed_headers_are_rejected(settings, certs, header):
    with pytest.raises(UnauthorizedError):
        verify_tasks_token(settings, header, certs=certs)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "https://run-step-evil.a.run.app"}, "wrong audience"),
        ({"aud": STEP_URL}, "audience with a path"),
        ({"email": "someone-else@demo-p.iam.gserviceaccount.com"}, "wrong service account"),
        ({"email_verified": False}, "unverified email"),
        ({"iss": "https://evil.example.com"}, "wrong issuer"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "expired"),
        ({"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200}, "issued in the future"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_tokens_for_someone_else_are_rejected(settings, certs, claims, why):
    with pytest.raises(UnauthorizedError):
        verify_tasks_token(settings, f"Bearer {token(**claims)}", certs=certs)


def test_a_bad_signature_is_rejected(settings, certs):
    forged = token(private=OTHER_PRIVATE)  # right claims and key id, wrong key
    with pytest.raises(UnauthorizedError, match="invalid Cloud Tasks token"):
        verify_tasks_token(settings, f"Bearer {forged}", certs=certs)
    header, payload, _ = token().split(".")
    with pytest.raises(UnauthorizedError):
        verify_tasks_token(settings, f"Bearer {header}.{payload}.", certs=certs)


def test_a_rotated_key_is_fetched_once_and_unknown_keys_fail(settings):
    fetcher = Fetcher({"google-1": GOOGLE_PUBLIC})
    certs = CertCache(fetcher)
    verify_tasks_token(settings, f"Bearer {token()}", certs=certs)
    verify_tasks_token(settings, f"Bearer {token()}", certs=certs)
    assert fetcher.calls == 1  # cached while fresh
    fetcher.certs = {"google-2": GOOGLE_PUBLIC}  # Google rotated its keys
    verify_tasks_token(settings, f"Bearer {token(kid='google-2')}", certs=certs)
    assert fetcher.calls == 2
    with pytest.raises(UnauthorizedError):
        verify_tasks_token(settings, f"Bearer {token(kid='nobody')}", certs=certs)


def test_emulator_token_works_only_while_the_emulator_is_configured(settings, certs, monkeypatch):
    header = f"Bearer {emulator_task_token(settings)}"
    monkeypatch.delenv("CLOUD_TASKS_EMULATOR_HOST", raising=False)
    with pytest.raises(UnauthorizedError):
        verify_tasks_token(settings, header, certs=certs)  # production never accepts it
    monkeypatch.setenv("CLOUD_TASKS_EMULATOR_HOST", "127.0.0.1:9")
    verify_tasks_token(settings, header, certs=certs)
    with pytest.raises(UnauthorizedError):
        verify_tasks_token(settings, "Bearer emulator.0000", certs=certs)
    monkeypatch.setenv("K_SERVICE", "run-step")
    with pytest.raises(RuntimeError, match="local emulation only"):
        verify_tasks_token(settings, header, certs=certs)


def test_without_a_configured_url_nothing_is_accepted(certs):
    bare = Settings(tasks_invoker_sa=INVOKER, internal_secret="s3cret")
    with pytest.raises(UnauthorizedError):
        verify_tasks_token(bare, f"Bearer {token()}", certs=certs)
