"""Arguments shared by the commands that take a project folder (or a model file)."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from nervosum.config import DEFAULT_CONFIG
from nervosum.config.load import COMPILE_ENV

if TYPE_CHECKING:
    from nervosum.serving.server import ServeOptions


def project_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """``[PATH] [-c CONFIG]``, as the seed CLI had them: PATH is a project folder (or a
    model file, for the commands that load the model), CONFIG is relative to it."""
    func = click.option(
        "-c",
        "--config",
        "--c",  # [compat] the seed CLI's spelling
        default=DEFAULT_CONFIG,
        show_default=True,
        metavar="CONFIG",
        help="Config file, relative to PATH (an absolute path also works).",
    )(func)
    return click.argument("project_dir", metavar="[PATH]", default=".", type=click.Path())(func)


def compile_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--compile/--no-compile``, for every command that loads a model file."""
    return click.option(
        "--compile/--no-compile",
        default=None,
        expose_value=False,
        callback=_set_compile,
        help="--compile: serve a model file through ONNX Runtime or fail saying why; "
        "--no-compile: serve it with its own library [default: model.compile, or "
        "NERVOSUM_COMPILE=auto|onnx|off].",
    )(func)


def model_arguments(func: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`project_arguments` plus :func:`compile_option`, for the commands that load
    the project's model."""
    return project_arguments(compile_option(func))


def _set_compile(ctx: click.Context, param: click.Parameter, value: bool | None) -> None:
    """Put the choice where every process that loads the project reads it: the
    environment (``load_config`` applies ``NERVOSUM_COMPILE``; children inherit it)."""
    if value is None:
        return
    before = os.environ.get(COMPILE_ENV)
    os.environ[COMPILE_ENV] = "onnx" if value else "off"
    ctx.call_on_close(functools.partial(_restore, COMPILE_ENV, before))


def _restore(name: str, value: str | None) -> None:
    """Put an environment variable back as the command found it (a command run in
    process, as tests do, must not leave its choice to the next one)."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def parse_workers(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> int | str | None:
    """``--workers``: a whole number of at least 1, or ``auto`` (one per CPU core)."""
    if value is None:
        return None
    text = value.strip().lower()
    if text == "auto":
        return text
    if not (text.isdigit() and int(text) >= 1):
        raise click.BadParameter(f"{value!r} is not a number of workers (use 1, 2, ... or auto)")
    return int(text)


def listen_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--host``, ``--port``, ``--graceful-timeout``, ``--access-log``, ``--log-level``:
    what every command that runs an HTTP server takes."""
    options = [
        click.option(
            "--host",
            envvar="NERVOSUM_HOST",
            help="Interface to bind [env NERVOSUM_HOST; default 127.0.0.1].",
        ),
        click.option(
            "--port",
            type=int,
            envvar="NERVOSUM_PORT",
            help="Port [env NERVOSUM_PORT; default 5000].",
        ),
        click.option(
            "--graceful-timeout",
            type=click.FloatRange(min=0),
            help="Seconds SIGTERM waits for in-flight requests before closing [default 30].",
        ),
        click.option("--access-log/--no-access-log", default=False, help="Log every request."),
        click.option(
            "--log-level",
            type=click.Choice(["critical", "error", "warning", "info", "debug"]),
            default="info",
            show_default=True,
        ),
    ]
    func = security_options(func)  # listed after the options above
    for option in reversed(options):
        func = option(func)
    return func


def grpc_port_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--grpc-port``: the commands that serve the Open Inference Protocol over gRPC too."""
    return click.option(
        "--grpc-port",
        type=click.IntRange(1, 65535),
        envvar="NERVOSUM_GRPC_PORT",
        help="Also serve the Open Inference Protocol over gRPC on this port, with the same"
        " models, keys and TLS [env NERVOSUM_GRPC_PORT; default: off].",
    )(func)


def security_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The TLS and authentication flags (:data:`SECURITY_FLAGS`), kept in ``ctx.meta``
    for :func:`with_security_flags`: every HTTP server and the stream side port take them."""
    for name, metavar, text in reversed(SECURITY_FLAGS):
        func = click.option(
            f"--{name.replace('_', '-')}",
            metavar=metavar,
            envvar=f"NERVOSUM_{name.upper()}",
            expose_value=False,
            callback=_remember_security_flag,
            help=f"{text} [env NERVOSUM_{name.upper()}].",
        )(func)
    return func


# TLS and authentication flags: every HTTP server takes them, so they travel in
# ``ctx.meta`` instead of each command's signature.
SECURITY_FLAGS = (
    ("ssl_certfile", "PEM", "Serve HTTPS with this certificate chain (needs --ssl-keyfile)"),
    ("ssl_keyfile", "PEM", "The private key of --ssl-certfile"),
    ("ssl_ca_certs", "PEM", "Require client certificates signed by these CAs (mTLS)"),
    ("api_keys_file", "FILE", "API key hashes, one per line (nervosum token create)"),
    ("jwks_file", "FILE", "Accept JWT bearer tokens signed by this JSON Web Key Set"),
    ("jwt_audience", "AUD", "The audience a JWT must name (with --jwks-file)"),
)
SECURITY_META = "nervosum.security"


def _remember_security_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(SECURITY_META, {})[param.name] = value


def with_security_flags(ctx: click.Context, options: ServeOptions) -> ServeOptions:
    """``options`` with the TLS and authentication flags given to this command."""
    return dataclasses.replace(options, **ctx.meta.get(SECURITY_META, {}))


def listen_settings(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    graceful_timeout: float | None,
    access_log: bool,
    log_level: str,
    grpc_port: int | None = None,
) -> ServeOptions:
    """What :func:`listen_options` (and :func:`grpc_port_option`) gave, as the server's
    options (``--debug`` included)."""
    from nervosum.serving.server import ServeOptions

    options = ServeOptions(
        host=host,
        port=port,
        grpc_port=grpc_port,
        graceful_timeout=graceful_timeout,
        access_log=access_log,
        log_level=log_level,
        debug=bool(ctx.find_root().params.get("debug")),
    )
    return with_security_flags(ctx, options)


def key_value_pairs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """`-e KEY=VALUE` and `-v SRC:DST` must have their separator."""
    separator = "=" if param.name == "env" else ":"
    for value in values:
        if separator not in value or value.startswith(separator):
            raise click.BadParameter(
                f"{value!r} is not {'KEY=VALUE' if separator == '=' else 'SRC:DST'}"
            )
    return values
