"""Start a registered bundle: the isolated environment by default, the image on request."""

from __future__ import annotations

from nervosum.build.progress import Progress
from nervosum.errors import RequestError
from nervosum.home import Home
from nervosum.launch.container import container_command, container_name, find_engine, stop_container
from nervosum.launch.environment import bundle_python
from nervosum.launch.process import run_foreground
from nervosum.launch.request import RunRequest
from nervosum.registry.store import Entry

# Variables that would let the caller's environment leak into the bundle's.
_HOST_ONLY = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def _runnable(entry: Entry) -> None:
    if entry.mode not in ("http", "batch", "stream"):
        raise RequestError(
            f"{entry.reference} is a {entry.mode!r} bundle; this version of nervosum runs"
            " http, batch and stream bundles",
            hint=f"serve its project over HTTP instead: nervosum serve {entry.path / 'app'}",
        )


def _serving_arguments(entry: Entry, request: RunRequest) -> list[str]:
    """--host/--port for an http bundle (a stream worker's side port); a batch job takes
    only its own options."""
    if entry.mode == "batch":
        if request.host or request.port:
            raise RequestError(
                f"--host/--port apply to http bundles; {entry.reference} is a batch job",
                hint="pass the job's options instead: --input IN --output OUT",
            )
        return []
    arguments = []
    if request.host:
        arguments += ["--host", request.host]
    if request.port:
        arguments += ["--port", str(request.port)]
    return arguments


def _in_container(entry: Entry, request: RunRequest, environ: dict[str, str]) -> int:
    engine = find_engine()
    inner = int(entry.manifest.get("port", 5000))
    publish = f"{request.host or '127.0.0.1'}:{request.port or inner}:{inner}"
    if entry.mode != "http":
        _serving_arguments(entry, request)
        publish = ""
    name = container_name(entry)
    command = container_command(engine, entry, name, publish, request)
    return run_foreground(command, environ, on_interrupt=lambda: stop_container(engine, name))


def start_bundle(
    entry: Entry, request: RunRequest, *, home: Home, progress: Progress, environ: dict[str, str]
) -> int:
    """Run ``entry`` in the foreground until it stops; its exit code (0 after Ctrl-C)."""
    _runnable(entry)
    if request.image:
        return _in_container(entry, request, environ)
    if request.volumes:
        raise RequestError(
            "-v/--volume applies to containers",
            hint="add --image, or drop -v: without --image the bundle sees this machine's files",
        )
    python = bundle_python(entry, home, progress)
    env = {key: value for key, value in environ.items() if key not in _HOST_ONLY}
    env.update(request.environment())
    arguments = _serving_arguments(entry, request)
    command = [str(python), str(entry.path / "entrypoint.py"), *arguments, *request.arguments]
    return run_foreground(command, env)
