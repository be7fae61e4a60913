"""API keys: only their hashes are stored, and a presented key is looked up in constant time.

A keys source is lines ``sha256:<hex> <scope>[,<scope>] [name]`` (what ``nervosum token
create`` prints), from ``auth.keys_file`` and the ``NERVOSUM_API_KEYS`` variable (lines
separated by newlines or commas, for a Kubernetes Secret's single value). Blank lines
and ``#`` comments are skipped; a malformed line stops the server at start, named
``file:line``.

Why plain SHA-256 and not bcrypt or argon2: slow hashes exist to make guessing
low-entropy passwords expensive. Keys here are 256 random bits (``secrets``), so no
amount of guessing finds one, slow hash or not; a fast hash keeps the check under a
microsecond on every request, where bcrypt would cost ~100 ms. A leaked keys file gives
nothing away: a preimage of SHA-256 is as hard to find as the key itself.

Why a dict lookup is constant-time enough: the dict is keyed by the SHA-256 digest of
the presented key, so any timing difference depends on that digest, which an attacker
cannot steer towards a stored digest without a preimage; the found entry is then
compared with ``hmac.compare_digest`` as well, so equality itself never short-cuts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nervosum.config.spec import Access
from nervosum.errors import RequestError

ENV_KEYS = "NERVOSUM_API_KEYS"
PREFIX = "nvs_"  # recognisable in a leaked file or a secret scanner's rules
SCOPES = ("predict", "admin")
_LINE = re.compile(r"sha256:([0-9a-f]{64})\s+(\S+)(?:\s+(.+))?")
_ENTRIES = re.compile(r"\n|,\s*(?=sha256:)")  # commas also separate scopes inside a line
_HINT = "each line is `sha256:<hex> predict|admin [name]`, as `nervosum token create` prints"


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a key's name (or a JWT's subject) and its scopes."""

    name: str
    scopes: frozenset[str]

    def allows(self, access: Access) -> bool:
        """``admin`` includes ``predict``."""
        return access == "open" or access in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def new_key() -> str:
    """A new API key: the prefix and 256 random bits."""
    return PREFIX + secrets.token_urlsafe(32)


def key_line(key: str, scope: str, name: str | None) -> str:
    """The line that lets ``key`` in with ``scope`` (``admin`` also allows predict)."""
    return f"sha256:{hash_key(key)} {scope}" + (f" {name}" if name else "")


def _parse(line: str, where: str, number: int) -> tuple[str, Principal]:
    match = _LINE.fullmatch(line)
    if match is None:
        shown = "a line without the sha256: hash" if "sha256:" not in line else "a malformed line"
        raise RequestError(f"{where}:{number}: {shown} in the API keys", hint=_HINT)
    digest, scopes, name = match.groups()
    given = frozenset(scopes.split(","))
    unknown = sorted(given - set(SCOPES))
    if unknown:
        raise RequestError(
            f"{where}:{number}: unknown scope {', '.join(unknown)} in the API keys",
            hint="the scopes are predict and admin (admin includes predict)",
        )
    return digest, Principal(name or f"{where}:{number}", given)


class KeyStore:
    """The accepted keys' hashes and what each may do."""

    def __init__(self, entries: dict[str, Principal]) -> None:
        self._entries = {digest: (digest, principal) for digest, principal in entries.items()}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> Principal | None:
        """The principal whose key this is, or None."""
        digest = hash_key(key)
        found = self._entries.get(digest)
        if found is None:
            return None
        stored, principal = found
        return principal if hmac.compare_digest(stored, digest) else None

    @classmethod
    def load(cls, keys_file: str | None, environ: dict[str, str] | None = None) -> KeyStore:
        """The keys of ``keys_file`` and of ``NERVOSUM_API_KEYS``; a missing file or a bad
        line raises :class:`RequestError` naming it."""
        environ = dict(os.environ) if environ is None else environ
        sources: list[tuple[str, Iterable[str]]] = []
        if keys_file:
            path = Path(keys_file)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise RequestError(
                    f"API keys file {keys_file}: {exc.strerror or exc}",
                    hint="create it with lines from `nervosum token create`",
                ) from None
            sources.append((keys_file, text.splitlines()))
        if environ.get(ENV_KEYS, "").strip():
            sources.append((ENV_KEYS, _ENTRIES.split(environ[ENV_KEYS])))
        entries: dict[str, Principal] = {}
        for where, lines in sources:
            for number, raw in enumerate(lines, start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                digest, principal = _parse(line, where, number)
                entries[digest] = principal
        return cls(entries)
