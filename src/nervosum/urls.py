"""URLs as they may be shown: without the credentials they carry (repositories, indexes).

The userinfo of a URL (``user:password@``, or a token alone, ``TOKEN@``) is a secret
however it is spelled, so it is cut out whole wherever a URL is shown, logged or
rendered: the URL itself, and any text that may quote it (git's own error lines echo the
URL they were given). The userinfo ends at the *last* ``@`` before the host, as
:func:`urllib.parse.urlsplit` reads it, and a password holding an unencoded ``/`` (which
``urlsplit`` would take for the start of the path) is cut out too. pip's VCS URLs keep
their ``@ref`` (``git+https://host/org/repo@v1.0``), so a requirements file copied into
a bundle still installs. A URL whose path holds ``@`` and then ``/`` may lose its host in
what is shown; hiding a little too much is the safe side.

The scp-like form ``git@host:path`` has no scheme and no secret: it is shown as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

# scheme://userinfo@ (a URL ends at whitespace or a quote). The userinfo runs to the last
# '@' that is followed by a host and a path; else (a URL without a path) to the URL's last
# '@', except in pip's VCS URLs (git+https://host/org/repo@v1.0), where an '@' after the
# path starts a ref; else it is free of '/' and '@'.
_USERINFO = re.compile(
    r"(?P<scheme>(?<![A-Za-z0-9+.-])(?P<vcs>[A-Za-z]+\+)?[A-Za-z][A-Za-z0-9.-]*://)"
    r"(?P<userinfo>"
    r"[^\s'\"<>]*(?=@[^\s'\"<>@/]*/)"
    r"|(?(vcs)(?!)|[^\s'\"<>]*(?=@[^\s'\"<>@/]*(?:[\s'\"<>]|$)))"
    r"|[^\s'\"<>/@]*(?=@)"
    r")@"
)
HIDDEN = "***"
SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})


@dataclass(frozen=True)
class Credentials:
    """The userinfo of a URL, percent-decoded (``password`` is None for a token alone)."""

    user: str
    password: str | None


def redact(text: str, *urls: str) -> str:
    """``text`` (a URL, or a message that may quote URLs) with the userinfo of every URL
    replaced by ``***``; the credentials of ``urls`` are also hidden wherever else they
    appear in ``text`` (decoded, or quoted in a way the pattern does not recognise)."""
    shown = _USERINFO.sub(rf"\g<scheme>{HIDDEN}@", text)
    for url in urls:
        for secret in _secrets(url):
            shown = shown.replace(secret, HIDDEN)
    return shown


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """``url`` without its userinfo, and that userinfo decoded (None when there is none)."""
    found = _USERINFO.match(url.strip())
    if found is None:
        return url, None
    userinfo = found.group("userinfo")
    user, colon, password = userinfo.partition(":")
    bare = found.group("scheme") + url.strip()[found.end() :]
    return bare, Credentials(unquote(user), unquote(password) if colon else None)


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def holds_secret(url: str) -> bool:
    """Whether showing ``url`` as given would show a secret: any userinfo, except a user
    name alone over ssh (``ssh://git@host/...``), which the key, not the name, protects."""
    _, credentials = split_credentials(url)
    if credentials is None:
        return False
    return scheme_of(url) not in SSH_SCHEMES or credentials.password is not None


def _secrets(url: str) -> list[str]:
    """The strings that would give the credentials of ``url`` away, longest first."""
    found = _USERINFO.match(url.strip())
    if found is None or not holds_secret(url):
        return []
    userinfo = found.group("userinfo")
    user, _, password = userinfo.partition(":")
    parts = {userinfo, password, unquote(password)}
    if scheme_of(url) not in SSH_SCHEMES:
        parts |= {user, unquote(user)}  # a token alone is the user name
    # Short parts (a one-letter user) would blank out ordinary words of the message.
    return sorted((p for p in parts if len(p) >= 4), key=len, reverse=True)
