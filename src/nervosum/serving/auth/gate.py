"""The decision every server makes before routing: let a request in, or deny it and why.

Transport-free: the HTTP middleware and the stream side port both ask :meth:`Gate.check`
with the method, path, client address and a way to read the credentials, and render the
returned :class:`Denial` in the one JSON error shape. Credentials are read only for
routes that need them; a presented key is never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from nervosum.config.spec import Access, AuthSpec
from nervosum.errors import ForbiddenError, RateLimitedError, RequestError, UnauthorizedError
from nervosum.serving.auth.keys import ENV_KEYS, KeyStore, Principal
from nervosum.serving.auth.limits import SlidingWindow
from nervosum.serving.auth.policy import Policy
from nervosum.serving.auth.tokens import JwtVerifier, TokenError, looks_like_jwt

log = logging.getLogger("nervosum.auth")

REALM = 'Bearer realm="nervosum"'
# The bounded values of the failures counter's ``reason`` label.
MISSING, INVALID_KEY, INVALID_TOKEN, SCOPE, LIMITED = (
    "missing",
    "invalid_key",
    "invalid_token",
    "insufficient_scope",
    "rate_limited",
)
ASK_FOR_A_KEY = (
    "send Authorization: Bearer <key> or X-API-Key: <key>; `nervosum token create` makes a key"
)

# (Authorization header, X-API-Key header), read only when a route needs credentials.
Credentials = Callable[[], tuple[str | None, str | None]]
Counter = Callable[[str], None]


@dataclass(frozen=True)
class Denial:
    """A refused request: the error (its status and the one error shape) and the headers
    that say how to get in (``WWW-Authenticate``) or when to retry (``Retry-After``)."""

    error: RequestError
    headers: dict[str, str] = field(default_factory=dict)


def _unauthorized(message: str, hint: str | None, invalid: bool) -> Denial:
    challenge = f'{REALM}, error="invalid_token"' if invalid else REALM
    return Denial(UnauthorizedError(message, hint=hint), {"WWW-Authenticate": challenge})


def _too_many(what: str, wait: int) -> Denial:
    error = RateLimitedError(f"too many {what} from this address", hint=f"retry after {wait} s")
    return Denial(error, {"Retry-After": str(wait)})


ANONYMOUS = "anonymous"


def _bearer(authorization: str | None, api_key: str | None) -> str | None:
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    return authorization  # another scheme (Basic ...): given, and unusable


class Gate:
    """Authentication (when configured), scope checks and the two per-address limits."""

    def __init__(
        self,
        policy: Policy,
        *,
        keys: KeyStore | None = None,
        jwt: JwtVerifier | None = None,
        max_failures: int = 10,
        admin_rate_limit: int = 30,
        on_failure: Counter = lambda reason: None,
    ) -> None:
        self.policy = policy
        self.keys = keys
        self.jwt = jwt
        self.enabled = keys is not None or jwt is not None
        self.failures = SlidingWindow(max_failures)
        self.admin = SlidingWindow(admin_rate_limit)
        self.on_failure = on_failure

    def check(self, method: str, path: str, client: str, credentials: Credentials) -> Denial | None:
        """None to let the request in, else why not."""
        access = self.policy.access(method, path)
        if access == "open":
            return None
        if self.enabled:
            denial = self._authenticate(access, method, path, client, credentials)
            if denial is not None:
                return denial
        if access == "admin":
            wait = self.admin.take(client)
            if wait:
                log.warning("admin rate limit reached by %s on %s %s", client, method, path)
                return _too_many("admin requests", wait)
        return None

    def who(self, credentials: Credentials) -> str:
        """The name of whom the gate let in with ``credentials``, for an audit record:
        ``anonymous`` when authentication is off."""
        token = _bearer(*credentials()) if self.enabled else None
        principal = self._principal(token, "", "", "", quiet=True) if token else None
        return principal.name if principal is not None else ANONYMOUS

    def _authenticate(
        self, access: Access, method: str, path: str, client: str, credentials: Credentials
    ) -> Denial | None:
        token = _bearer(*credentials())
        if token is None:
            self.on_failure(MISSING)
            return _unauthorized(f"{method} {path} needs an API key or token", ASK_FOR_A_KEY, False)
        # A valid key always gets in: behind a proxy or NAT every client shares one address,
        # and a 256-bit key cannot be guessed anyway. The limit stops the hammering.
        wait = self.failures.retry_after(client)
        principal = self._principal(token, method, path, client, quiet=bool(wait))
        if principal is None and wait:
            self.on_failure(LIMITED)
            return _too_many("failed authentications", wait)
        if principal is None:
            self.failures.record(client)
            return _unauthorized("invalid token", None, True)
        if not principal.allows(access):
            self.on_failure(SCOPE)
            log.warning("%s may not %s %s (needs %s)", principal.name, method, path, access)
            challenge = f'{REALM}, error="insufficient_scope", scope="{access}"'
            error = ForbiddenError(
                f"{method} {path} needs the {access} scope",
                hint=f"use a key made with `nervosum token create --scope {access}`",
            )
            return Denial(error, {"WWW-Authenticate": challenge})
        return None

    def _principal(
        self, token: str, method: str, path: str, client: str, *, quiet: bool
    ) -> Principal | None:
        """Who ``token`` belongs to; a refusal is logged with its reason (never the token)
        and counted, unless ``quiet`` (the address is rate limited: counted as that)."""
        if self.jwt is not None and looks_like_jwt(token):
            try:
                return self.jwt.verify(token)
            except TokenError as exc:
                if not quiet:
                    self.on_failure(INVALID_TOKEN)
                    log.warning("refused a JWT from %s on %s %s: %s", client, method, path, exc)
                return None
        principal = self.keys.lookup(token) if self.keys is not None else None
        if principal is None and not quiet:
            self.on_failure(INVALID_KEY)
            log.warning("refused an unknown API key from %s on %s %s", client, method, path)
        return principal


def load_gate(
    auth: AuthSpec,
    *,
    admin_rate_limit: int,
    base: str | None = None,
    on_failure: Counter = lambda reason: None,
) -> Gate:
    """The gate ``auth`` describes; reads the keys file, ``NERVOSUM_API_KEYS`` and the JWKS
    now, so a missing file or a malformed line stops the server before it listens."""
    keys = None
    if auth.keys_file or os.environ.get(ENV_KEYS, "").strip():
        keys = KeyStore.load(auth.keys_file)
    jwt = JwtVerifier(auth) if auth.jwks_file else None
    gate = Gate(
        Policy(metrics=auth.metrics, docs=auth.docs, base=base),
        keys=keys,
        jwt=jwt,
        max_failures=auth.max_failures,
        admin_rate_limit=admin_rate_limit,
        on_failure=on_failure,
    )
    if gate.enabled:
        log.info(
            "authentication on: %d API key(s)%s; /metrics %s, docs %s",
            len(keys) if keys is not None else 0,
            ", JWT" if jwt is not None else "",
            auth.metrics,
            auth.docs,
        )
    return gate
