"""JWT bearer tokens, checked offline against a JSON Web Key Set file.

Only public-key algorithms are accepted: a token is checked with the key whose ``kid``
it names, with that key's own algorithm, so ``alg: none`` and the HS256-signed-with-the-
public-key confusion both fail as a wrong algorithm; a symmetric (``oct``) key in the
file is refused at start. ``exp`` is required, ``aud`` must hold ``auth.audience``,
``iss`` must equal ``auth.issuer`` when set. PyJWT is imported here only, so nervosum
works without the ``jwt`` extra until ``auth.jwks_file`` is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nervosum.config.spec import AuthSpec
from nervosum.errors import RequestError
from nervosum.serving.auth.keys import SCOPES, Principal

if TYPE_CHECKING:
    from jwt import PyJWK

ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class TokenError(Exception):
    """Why a token was refused: for the log, never for the client."""


def looks_like_jwt(token: str) -> bool:
    """Three dot-separated parts; API keys (``nvs_`` + base64url) have no dot."""
    return token.count(".") == 2


def _load_keys(jwks_file: str) -> dict[str | None, PyJWK]:
    try:
        import jwt
    except ImportError:
        raise RequestError(
            f"auth.jwks_file {jwks_file} needs PyJWT, which is not installed",
            hint="pip install 'nervosum[jwt]'",
        ) from None
    try:
        document = json.loads(Path(jwks_file).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RequestError(f"JWKS file {jwks_file}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise RequestError(f"JWKS file {jwks_file} is not JSON: {exc}") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise RequestError(
            f"JWKS file {jwks_file} has no keys", hint='a JSON Web Key Set is {"keys": [...]}'
        )
    keys: dict[str | None, PyJWK] = {}
    for index, entry in enumerate(entries):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        where = f"JWKS file {jwks_file}: key {kid or index}"
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            raise RequestError(f"{where} is unusable: {exc}") from None
        if key.algorithm_name not in ASYMMETRIC:
            raise RequestError(
                f"{where} uses {key.algorithm_name}; only public-key algorithms are accepted",
                hint="publish the issuer's public keys (RSA, EC or OKP), never a shared secret",
            )
        keys[kid] = key
    return keys


def _scopes(value: Any) -> frozenset[str]:
    names = value.split() if isinstance(value, str) else value
    if not isinstance(names, list):
        return frozenset()
    return frozenset(n for n in names if n in SCOPES)


class JwtVerifier:
    """Checks JWT bearer tokens against ``auth.jwks_file`` (read once, at start)."""

    def __init__(self, auth: AuthSpec) -> None:
        assert auth.jwks_file is not None and auth.audience is not None  # AuthSpec checks
        self.keys = _load_keys(auth.jwks_file)
        self.audience = auth.audience
        self.issuer = auth.issuer
        self.scope_claim = auth.scope_claim

    def _key(self, header: dict[str, Any]) -> PyJWK:
        kid = header.get("kid")
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        key = self.keys.get(kid) if kid is not None else None
        if key is None:
            raise TokenError(f"no key with kid {kid!r} in the JWKS file")
        return key

    def verify(self, token: str) -> Principal:
        """The token's subject and scopes; :class:`TokenError` says why not."""
        import jwt

        try:
            key = self._key(jwt.get_unverified_header(token))
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from None
        subject = claims.get("sub")
        return Principal(
            f"jwt:{subject}" if isinstance(subject, str) else "jwt",
            _scopes(claims.get(self.scope_claim)),
        )
