"""The pieces of authentication on their own: key lines, the sliding window, the route
policy and JWT checks against a JWKS file (real RSA keys, real PyJWT signatures)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nervosum.config.spec import AuthSpec
from nervosum.errors import RequestError
from nervosum.serving.auth.keys import ENV_KEYS, KeyStore, key_line, new_key
from nervosum.serving.auth.limits import SlidingWindow
from nervosum.serving.auth.policy import Policy
from nervosum.serving.auth.tokens import JwtVerifier, TokenError

AUDIENCE = "nervosum-tests"


def test_a_key_is_found_by_its_line_and_nothing_else_is(tmp_path: Path) -> None:
    predict, admin = new_key(), new_key()
    assert predict.startswith("nvs_") and len(predict) > 40
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# team keys\n\n{key_line(predict, 'predict', 'web')}\n")
    env = {ENV_KEYS: f"{key_line(admin, 'admin', 'ops')},{key_line(new_key(), 'predict', None)}"}
    store = KeyStore.load(str(keys), env)
    assert len(store) == 3
    web = store.lookup(predict)
    assert web is not None and web.name == "web" and web.allows("predict")
    assert not web.allows("admin")
    ops = store.lookup(admin)
    assert ops is not None and ops.allows("admin") and ops.allows("predict")
    assert store.lookup(predict + "x") is None
    assert store.lookup(key_line(predict, "predict", None).split()[0]) is None  # not the hash


def test_scopes_inside_a_line_are_not_split_as_entries() -> None:
    key = new_key()
    store = KeyStore.load(None, {ENV_KEYS: key_line(key, "predict,admin", "both")})
    found = store.lookup(key)
    assert found is not None and found.scopes == {"predict", "admin"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("5f0c predict", "keys.txt:2: a line without the sha256: hash in the API keys"),
        ("sha256:abc predict", "keys.txt:2: a malformed line in the API keys"),
        ("sha256:" + "a" * 64, "keys.txt:2: a malformed line in the API keys"),
        ("sha256:" + "a" * 64 + " write", "keys.txt:2: unknown scope write in the API keys"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{key_line(new_key(), 'predict', None)}\n{line}\n")
    with pytest.raises(RequestError) as caught:
        KeyStore.load(str(keys), {})
    assert caught.value.message == message.replace("keys.txt", str(keys))
    assert caught.value.hint


def test_a_missing_keys_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RequestError, match=r"API keys file .*absent\.txt: No such file"):
        KeyStore.load(str(tmp_path / "absent.txt"), {})


def test_the_window_slides_and_forgets_the_oldest_addresses() -> None:
    now = [1000.0]
    window = SlidingWindow(3, 60.0, max_addresses=2, clock=lambda: now[0])
    for _ in range(3):
        assert window.take("a") == 0
        now[0] += 10
    assert window.take("a") == 30  # at 1030; the first event leaves the window at 1060
    now[0] += 30
    assert window.take("a") == 0
    assert window.retry_after("a") == 10
    window.record("b")
    window.record("c")  # a third address: the least recently seen (a) is dropped
    assert window.retry_after("a") == 0
    assert len(window._events) == 2


def test_each_route_class_needs_its_access() -> None:
    policy = Policy(metrics="admin", docs="predict", base="models_serve")
    assert policy.access("GET", "/health/ready") == "open"
    assert policy.access("GET", "/v2/health/live") == "open"
    assert policy.access("GET", "/ping") == "open"
    # serve-repo with base `health` routes POST /health/live to a model folder `live`
    assert policy.access("POST", "/health/live") == "predict"
    assert policy.access("GET", "/metrics") == "admin"
    assert policy.access("GET", "/docs/assets/swagger-ui.css") == "predict"
    assert policy.access("POST", "/models_serve/-/refresh") == "admin"
    assert policy.access("GET", "/models_serve/-/refresh") == "predict"  # the report
    assert policy.access("GET", "/models_serve/refactor") == "admin"
    assert policy.access("POST", "/v2/repository/index") == "admin"
    assert policy.access("POST", "/v2/repository/models/a/unload") == "admin"
    assert policy.access("POST", "/v2/models/a/infer") == "predict"
    assert policy.access("GET", "/no/such/route") == "predict"
    assert Policy(metrics="open", docs="open").access("GET", "/openapi.json") == "open"


@pytest.fixture(scope="module")
def signer() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def verifier(tmp_path: Path, signer: rsa.RSAPrivateKey) -> JwtVerifier:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signer.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [public | {"kid": "k1"}]}))
    return JwtVerifier(
        AuthSpec(jwks_file=str(tmp_path / "jwks.json"), audience=AUDIENCE, issuer="https://id")
    )


def token(signer: rsa.RSAPrivateKey, **changes: Any) -> str:
    claims = {"sub": "svc", "aud": AUDIENCE, "iss": "https://id", "exp": time.time() + 60}
    claims |= {"scope": "predict"} | changes.pop("claims", {})
    headers = {"kid": changes.pop("kid", "k1")}
    return jwt.encode(claims, signer, algorithm="RS256", headers=headers)


def test_a_valid_token_names_its_subject_and_scopes(
    verifier: JwtVerifier, signer: rsa.RSAPrivateKey
) -> None:
    principal = verifier.verify(token(signer, claims={"scope": "predict admin"}))
    assert principal.name == "jwt:svc" and principal.scopes == {"predict", "admin"}
    listed = verifier.verify(token(signer, claims={"scope": ["predict", "other"]}))
    assert listed.scopes == {"predict"}


def _forged(signer: rsa.RSAPrivateKey, alg: str) -> str:
    """A token whose header says ``alg``: unsigned, or HMAC-signed with the public key."""
    claims = {"sub": "svc", "aud": AUDIENCE, "iss": "https://id", "exp": time.time() + 60}
    header = {"alg": alg, "kid": "k1", "typ": "JWT"}
    b64 = jwt.utils.base64url_encode
    signing_input = b64(json.dumps(header).encode()) + b"." + b64(json.dumps(claims).encode())
    if alg == "none":
        return signing_input.decode() + "."
    import hashlib
    import hmac

    pem = signer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = hmac.new(pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "Signature has expired"),
        ("no_exp", 'Token is missing the "exp" claim'),
        ("audience", "Audience doesn't match"),
        ("issuer", "Invalid issuer"),
        ("kid", "no key with kid 'other'"),
        ("none", "The specified alg value is not allowed"),
        ("hs256", "The specified alg value is not allowed"),
    ],
)
def test_a_bad_token_is_refused_with_its_reason(
    verifier: JwtVerifier, signer: rsa.RSAPrivateKey, case: str, reason: str
) -> None:
    bad = {
        "expired": lambda: token(signer, claims={"exp": time.time() - 3600}),
        "no_exp": lambda: jwt.encode(
            {"aud": AUDIENCE, "iss": "https://id"}, signer, "RS256", headers={"kid": "k1"}
        ),
        "audience": lambda: token(signer, claims={"aud": "another-service"}),
        "issuer": lambda: token(signer, claims={"iss": "https://evil"}),
        "kid": lambda: token(signer, kid="other"),
        "none": lambda: _forged(signer, "none"),
        "hs256": lambda: _forged(signer, "HS256"),
    }[case]()
    with pytest.raises(TokenError, match=reason):
        verifier.verify(bad)


def test_a_shared_secret_in_the_jwks_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "jwks.json").write_text(
        json.dumps({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]})
    )
    with pytest.raises(RequestError, match="key s uses HS256; only public-key algorithms"):
        JwtVerifier(AuthSpec(jwks_file=str(tmp_path / "jwks.json"), audience=AUDIENCE))


def test_without_pyjwt_the_jwks_setting_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jwt", None)  # as if the jwt extra were not installed
    with pytest.raises(RequestError) as caught:
        JwtVerifier(AuthSpec(jwks_file=str(tmp_path / "jwks.json"), audience=AUDIENCE))
    assert caught.value.hint == "pip install 'nervosum[jwt]'"


def test_admin_routes_are_rate_limited_with_authentication_off() -> None:
    from nervosum.serving.auth.gate import Gate

    gate = Gate(Policy(metrics="admin", docs="predict", base="repo"), admin_rate_limit=2)
    assert not gate.enabled

    def no_credentials() -> tuple[str | None, str | None]:
        raise AssertionError("credentials are not read with authentication off")

    checks = [gate.check("POST", "/repo/-/refresh", "10.0.0.1", no_credentials) for _ in range(3)]
    assert checks[:2] == [None, None]
    assert checks[2] is not None and checks[2].error.http_status == 429
    assert checks[2].headers["Retry-After"] == "60"
    assert gate.check("POST", "/repo/-/refresh", "10.0.0.2", no_credentials) is None
    assert gate.check("POST", "/predict", "10.0.0.1", no_credentials) is None
