"""TLS for every server nervosum runs, from the ``server.ssl_*`` settings.

uvicorn takes the file names itself (:func:`uvicorn_tls`); the stream side port is plain
asyncio and needs an ``ssl.SSLContext`` (:func:`server_context`). Both read the same
three settings, so HTTPS and mutual TLS mean the same thing on every port: a CA bundle
makes client certificates required, never merely requested.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from nervosum.config.spec import ServerSpec
from nervosum.errors import RequestError

_FILES = ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs")


def _check_files(settings: ServerSpec) -> None:
    for name in _FILES:
        value = getattr(settings, name)
        if value and not Path(value).is_file():
            raise RequestError(
                f"--{name.replace('_', '-')}: {value} is not a file",
                hint="give the PEM file's path (relative to the working directory)",
            )


def uvicorn_tls(settings: ServerSpec) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` that turn HTTPS (and mTLS) on."""
    if not settings.ssl_certfile:
        return {}
    _check_files(settings)
    tls: dict[str, Any] = {
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
    }
    if settings.ssl_ca_certs:
        tls.update(ssl_ca_certs=settings.ssl_ca_certs, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return tls


def server_context(settings: ServerSpec) -> ssl.SSLContext | None:
    """An ``SSLContext`` for a plain asyncio server, or ``None`` when TLS is off."""
    if not settings.ssl_certfile:
        return None
    _check_files(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    assert settings.ssl_keyfile is not None  # ServerSpec requires the pair
    context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    if settings.ssl_ca_certs:
        context.load_verify_locations(settings.ssl_ca_certs)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
