"""TLS for every server nervosum runs, from the ``server.ssl_*`` settings.

uvicorn takes the file names itself (:func:`uvicorn_tls`); the stream side port is plain
asyncio and needs an ``ssl.SSLContext`` (:func:`server_context`). Both read the same
three settings and the same cipher list (:data:`CIPHERS`), so HTTPS and mutual TLS mean
the same thing on every port: TLS 1.2 or newer, and a CA bundle makes client
certificates required, never merely requested.

Both load the files once themselves first: a missing file, a key that does not match its
certificate or a file that is not PEM is one readable error (exit 2) before anything
listens, instead of a traceback in every worker. A passphrase-protected key is refused
rather than prompted for on the terminal.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from nervosum.config.spec import ServerSpec
from nervosum.errors import RequestError

_FILES = ("ssl_certfile", "ssl_keyfile", "ssl_ca_certs")
# Forward-secret AEAD suites only, on every port: TLS 1.2 needs them and TLS 1.0 / 1.1
# cannot use them (TLS 1.3 suites are not set by this list). uvicorn's own default,
# "TLSv1", left the floor to the system's OpenSSL policy.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"


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
    if server_context(settings) is None:
        return {}
    tls: dict[str, Any] = {
        "ssl_certfile": settings.ssl_certfile,
        "ssl_keyfile": settings.ssl_keyfile,
        "ssl_ciphers": CIPHERS,
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
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    assert settings.ssl_keyfile is not None  # ServerSpec requires the pair
    try:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile, password=_no_password)
    except ssl.SSLError as exc:
        mismatch = getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH"
        raise RequestError(
            f"--ssl-keyfile {settings.ssl_keyfile} is not the private key of --ssl-certfile "
            f"{settings.ssl_certfile}"
            if mismatch
            else f"--ssl-certfile {settings.ssl_certfile} / --ssl-keyfile "
            f"{settings.ssl_keyfile}: not a PEM certificate chain and its private key",
            hint="give a PEM certificate chain and its unencrypted PEM private key",
        ) from None
    if settings.ssl_ca_certs:
        try:
            context.load_verify_locations(settings.ssl_ca_certs)
        except ssl.SSLError:
            raise RequestError(
                f"--ssl-ca-certs {settings.ssl_ca_certs}: no PEM CA certificate in it",
                hint="give the PEM certificates of the CAs that sign client certificates",
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _no_password() -> bytes:
    """Asked for when the key is encrypted: refuse instead of prompting on the terminal."""
    raise RequestError(
        "--ssl-keyfile: the private key is encrypted with a passphrase",
        hint="give an unencrypted PEM private key, readable only by the server",
    )


def grpc_credentials(settings: ServerSpec) -> Any:
    """``grpc.ServerCredentials`` from the same settings, or ``None`` when TLS is off.
    gRPC's own TLS (BoringSSL) negotiates TLS 1.2 or newer with forward-secret suites;
    a CA bundle makes client certificates required, as on HTTPS."""
    if server_context(settings) is None:  # checks the files as HTTPS does
        return None
    import grpc

    assert settings.ssl_certfile is not None and settings.ssl_keyfile is not None
    key = Path(settings.ssl_keyfile).read_bytes()
    chain = Path(settings.ssl_certfile).read_bytes()
    roots = Path(settings.ssl_ca_certs).read_bytes() if settings.ssl_ca_certs else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=roots, require_client_auth=roots is not None
    )
