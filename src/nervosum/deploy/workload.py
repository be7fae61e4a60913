"""What a deployment runs, as nervosum knows it: a registered bundle (its mode, image,
port and drain time, from the bundle's own manifest and nervosum.yaml), or the
multi-model server over a git repository.

Everything the objects need beyond the user's settings comes from here, so a bundle
is deployed the way it was built and tested: the port its server listens on, a
termination grace period just longer than its drain, its image and tag.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from nervosum.config import DEFAULT_CONFIG, NervosumConfig
from nervosum.config.spec import DeploySpec, ServerSpec, StreamSpec
from nervosum.deploy.objects import PRE_STOP
from nervosum.errors import RequestError
from nervosum.project import load_config
from nervosum.registry.store import Entry
from nervosum.repo.sources import seed_git_url
from nervosum.urls import holds_secret, redact

# Seconds past the process's own drain before the kubelet's SIGKILL: time for the
# last answers to be written and the process to exit after the drain ends.
EXIT_MARGIN = 5
SIDE_PORT = 8081  # a stream worker's health / metrics port when its config has none
REPO_PORT = 5000  # `serve-repo`'s default port


@dataclass(frozen=True)
class Workload:
    """The facts of one deployable thing; ``settings`` are its own ``deploy:`` block."""

    mode: str  # http, stream, batch or repo
    name: str  # the default object name, before it is made a DNS label
    image: str | None  # the image repository, None when only the settings can tell
    tag: str | None
    port: int | None  # what the container listens on (a stream's side port); batch: None
    grace_period: int | None  # seconds SIGTERM may take; None: Kubernetes' default
    bundle: str | None  # the bundle id, so a rebuilt image under the same tag rolls out
    description: str  # how messages name it
    settings: DeploySpec = field(default_factory=DeploySpec)
    repo_source: str | None = None
    repo_secret: str | None = None
    grpc_port: int | None = None  # the Open Inference Protocol over gRPC (http mode)
    # Whether the image carries grpcio (a bundle built to serve gRPC); None: not known.
    grpcio: bool | None = None


def _grace(drain: float) -> int:
    return math.ceil(drain) + EXIT_MARGIN


def _image_of(entry: Entry) -> tuple[str, str]:
    """The registry's image reference split into repository and tag, else the name
    ``nervosum build --image`` gives it."""
    if entry.image_ref:
        repository, sep, tag = entry.image_ref.rpartition(":")
        if sep and "/" not in tag:
            return repository, tag
    return f"nervosum/{entry.name}", entry.tag


def bundle_workload(entry: Entry) -> Workload:
    """A registered bundle, read from its manifest and its own nervosum.yaml."""
    if entry.mode == "graph":
        raise RequestError(
            f"{entry.reference} is a graph bundle",
            hint="deploy a graph with: nervosum graph deploy GRAPH_FILE --target kubernetes",
        )
    config = _config_of(entry)
    repository, tag = _image_of(entry)
    port: int | None = None
    grace: int | None = None
    grpc_port: int | None = None
    if entry.mode == "http":
        port, grace = config.server.port, _grace(config.server.graceful_timeout) + PRE_STOP
        grpc_port = config.server.grpc_port
    elif entry.mode == "stream":
        stream = config.stream or StreamSpec()
        port, grace = stream.port or SIDE_PORT, _grace(stream.drain_timeout)
    return Workload(
        mode=entry.mode,
        name=entry.name,
        image=repository,
        tag=tag,
        port=port,
        grace_period=grace,
        bundle=entry.id,
        description=f"{entry.reference} ({entry.short_id})",
        settings=config.deploy or DeploySpec(),
        grpc_port=grpc_port,
        grpcio=grpc_port is not None,
    )


def _config_of(entry: Entry) -> NervosumConfig:
    """The bundle's own nervosum.yaml."""
    return load_config(entry.path / "app", entry.manifest.get("config", DEFAULT_CONFIG)).config


def has_password(url: str) -> bool:
    """Whether a URL carries a literal password (``$(VAR)``, which the kubelet fills from
    the container's environment, is a reference, not a password)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return False
    if not password:
        return False
    return not re.fullmatch(r"\$\([A-Za-z_][A-Za-z0-9_]*\)", password)


def repo_workload(source: str, secret: str | None, image_from: Entry | None) -> Workload:
    """``serve-repo`` over ``source``; the image is a bundle's (any nervosum image
    serves a repository) or the settings' ``image``."""
    if holds_secret(seed_git_url(source)):
        # A token alone (https://TOKEN@host) is as secret as a password (issue 20).
        raise RequestError(
            f"the repository URL {redact(seed_git_url(source))} holds credentials, which"
            " would be written into the manifests in plain text",
            hint="give the URL without them and keep them in a Secret with username and"
            " password keys (a token as the password): --repo-secret NAME",
        )
    path = urlsplit(source if "://" in source else f"//{source}").path
    name = PurePosixPath(path).name.removesuffix(".git") or "models"
    repository, tag = _image_of(image_from) if image_from is not None else (None, None)
    return Workload(
        mode="repo",
        name=name,
        image=repository,
        tag=tag,
        port=REPO_PORT,
        grace_period=_grace(ServerSpec().graceful_timeout) + PRE_STOP,
        bundle=None,
        description=f"the model repository {source}",
        repo_source=source,
        repo_secret=secret,
        grpcio=None if image_from is None else _config_of(image_from).server.grpc_port is not None,
    )
