"""Run ``nervosum serve-repo``: pick the source, check it, then serve every model in it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from nervosum.config.spec import AuthSpec, ServerSpec
from nervosum.errors import RequestError
from nervosum.home import Home
from nervosum.repo.app import create_repo_app
from nervosum.repo.cron import CronSchedule
from nervosum.repo.fleet import ModelFleet
from nervosum.repo.sources import GitAuth, GitSource, LocalSource, Source, seed_git_url
from nervosum.serving.inference_grpc.beside import check_grpc
from nervosum.serving.server import (
    DrainingServer,
    ServeOptions,
    stop_signals_end_cleanly,
    uvicorn_config,
)

DEFAULT_SCHEDULE = "0 2 * * *"  # the seed's crontab: 02:00 every day
OFF = ("off", "never", "none", "")


@dataclass(frozen=True)
class RepoOptions:
    """What ``serve-repo`` was asked for (flags and the seed's environment variables)."""

    source: str
    base_url: str | None = None
    branch: str | None = None
    refresh: str | None = None  # cron; None: daily for git, off for a local folder
    watch: bool | None = None  # None: on for a local folder
    watch_interval: float = 2.0
    workdir: Path | None = None


def is_git(source: str) -> bool:
    """A URL, ``git@host:path``, or the seed's ``gitPath`` without its scheme
    (``github.com/team/models``: a first segment with a dot that is no local folder)."""
    if "://" in source or source.startswith("git@"):
        return True
    first = source.split("/", 1)[0]
    return "." in first.strip(".") and "/" in source and not Path(source).exists()


def open_source(options: RepoOptions) -> Source:
    """A local folder, or a git repository (a URL, or the seed's ``gitPath``)."""
    if not is_git(options.source):
        folder = Path(options.source)
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise RequestError(
                f"model repository {options.source} {what}",
                hint="pass a folder of model folders, or a git URL (https://, ssh://, file://)",
            )
        if options.branch:
            raise RequestError("--branch is for git sources", hint="drop it for a local folder")
        return LocalSource(folder)
    url = seed_git_url(options.source)
    workdir = options.workdir or _default_workdir(url)
    return GitSource(url, workdir, branch=options.branch, auth=GitAuth.from_env())


def _default_workdir(url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return Home.from_env().root / "repos" / digest


def default_base_url(source: str) -> str:
    """The repository's name: ``./models_serve`` and ``.../models_serve.git`` give
    ``models_serve``, the seed's usual ``baseUrl``."""
    name = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    if not name or name in (".", ".."):
        name = Path(source).resolve().name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "models"


def refresh_schedule(options: RepoOptions, local: bool) -> CronSchedule | None:
    expression = options.refresh
    if expression is None:
        expression = "off" if local else DEFAULT_SCHEDULE
    if expression.strip().lower() in OFF:
        return None
    return CronSchedule.parse(expression)


def serve_repo(options: RepoOptions, serve: ServeOptions) -> int:
    """Check the source (a first clone), then serve until stopped; the exit code."""
    base_url = (options.base_url or default_base_url(options.source)).strip("/")
    if not base_url or "/" in base_url or "{" in base_url:
        raise RequestError(
            f"--base-url {options.base_url!r} must be one path segment, e.g. models_serve"
        )
    auth = serve.auth_settings(AuthSpec())  # only the flags: a repository has no auth: block
    source = open_source(options)
    local = isinstance(source, LocalSource)
    schedule = refresh_schedule(options, local)
    watch = options.watch if options.watch is not None else local
    settings = serve.settings(ServerSpec())
    check_grpc(settings)
    snapshot = source.snapshot(None)
    fleet = ModelFleet(
        source,
        base_url,
        snapshot=snapshot,
        debug=serve.debug,
        drain_timeout=settings.graceful_timeout,
    )
    app = create_repo_app(
        fleet,
        schedule=schedule,
        watch_interval=options.watch_interval if watch else None,
        auth=auth,
        settings=settings,
    )
    server = DrainingServer(uvicorn_config(app, settings, serve))
    with stop_signals_end_cleanly():
        server.run()
    return 0
