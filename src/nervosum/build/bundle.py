"""`nervosum build`: a project folder -> a self-contained, registered bundle.

    <bundle>/
      manifest.json       id, name, tag, mode, created, versions, schemas, git commit
      Dockerfile          multi-stage, offline (see templates/build/Dockerfile)
      entrypoint.py       starts the model in its deployment mode
      requirements.lock   every package pinned, with its wheel's sha256
      wheels/             those wheels: installing the bundle needs no network
      app/                the project (config, code), honouring .nervosumignore
      weights/            model files, in their own image layer; app/ links to them
      reference-profile.json  with monitoring.reference: the inputs' and predictions'
                          reference distributions live drift is measured against

The id is the sha256 of everything but the manifest, so the same project built from the
same environment gets the same id. The bundle is written under the registry's tmp/ and
renamed into place, so concurrent builds never see each other's half-written folders.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nervosum import __version__
from nervosum.build.ignore import IgnoreRules, bundle_sources
from nervosum.build.model_needs import model_requirements, model_requirements_file
from nervosum.build.progress import Progress
from nervosum.build.wheelhouse import Wheelhouse, fill_wheelhouse
from nervosum.config import Project
from nervosum.detect.template import check_bundle_needs
from nervosum.drift.profile import PROFILE_FILE, project_profile
from nervosum.errors import BuildError
from nervosum.home import Home
from nervosum.registry.store import Entry, Registry
from nervosum.requirements import (
    RequirementsFile,
    read_requirements,
    resolve,
)
from nervosum.urls import redact

# Saved-model suffixes (and anything of 1 MiB or more that is not code) go to weights/.
WEIGHT_SUFFIXES = frozenset(
    {
        *(".joblib", ".pkl", ".pickle", ".sav", ".onnx", ".pt", ".pth", ".bin", ".safetensors"),
        *(".h5", ".hdf5", ".keras", ".ckpt", ".npy", ".npz", ".cbm", ".ubj", ".xgb", ".lgb"),
        *(".pb", ".tflite", ".gguf"),
    }
)
_WEIGHT_MIN_BYTES = 1 << 20
_CODE_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".txt", ".md", ".json", ".toml", ".cfg"})
_COMMANDS = {"http": ["serve"], "batch": ["batch"], "stream": ["stream"], "graph": ["graph"]}


@dataclass(frozen=True)
class BuildOptions:
    """What `nervosum build` was asked for, beyond the project itself."""

    base_image: str | None = None
    platform: str | None = None


def is_weight(path: Path) -> bool:
    """Whether a project file is a model file (its own image layer) rather than code."""
    if path.suffix.lower() in WEIGHT_SUFFIXES:
        return True
    return path.suffix.lower() not in _CODE_SUFFIXES and path.stat().st_size >= _WEIGHT_MIN_BYTES


def _template(filename: str, **values: str) -> str:
    text = (files("nervosum") / "templates" / "build" / filename).read_text(encoding="utf-8")
    return Template(text).substitute(values)


def _git_state(folder: Path) -> dict[str, Any] | None:
    """The commit the source is at and whether the tree has uncommitted changes."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        commit = subprocess.run(
            [git, "-C", str(folder), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            [git, "-C", str(folder), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError:
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def _copy_project(
    project: Project, sources: list[Path], staging: Path, masked: list[Path]
) -> list[str]:
    """Copy the project into app/, model files into weights/ (linked from app/); the
    ``masked`` files (requirements) without the credentials their index URLs may hold."""
    weights: list[str] = []
    for relative in sources:
        source = project.project_dir / relative
        secret = source.resolve() in masked
        if is_weight(source) and not secret:
            target = staging / "weights" / relative
            link = staging / "app" / relative
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(os.path.relpath(target, link.parent))
            weights.append(relative.as_posix())
        else:
            target = staging / "app" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if secret:
            text = source.read_bytes().decode("utf-8")
            target.write_bytes(redact(text).encode("utf-8"))
        else:
            shutil.copyfile(source, target)
        shutil.copymode(source, target)
    return weights


def content_id(folder: Path) -> str:
    """sha256 over every path and content (links by target), the manifest excluded."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative == "manifest.json" or (path.is_dir() and not path.is_symlink()):
            continue
        if path.is_symlink():
            body = b"link:" + os.readlink(path).encode()
        else:
            body = hashlib.sha256(path.read_bytes()).digest()
        digest.update(relative.encode() + b"\0" + body + b"\0")
    return digest.hexdigest()


def _roots(project: Project, requirements: RequirementsFile) -> list[Requirement]:
    # A stream worker needs the broker clients (the `stream` extra) in its environment,
    # a server with server.grpc_port grpcio (the `grpc` extra).
    config = project.config
    extras = [
        name
        for name, wanted in (
            ("stream", config.deployment.mode == "stream"),
            ("grpc", config.deployment.mode == "http" and config.server.grpc_port is not None),
        )
        if wanted
    ]
    extra = f"[{','.join(extras)}]" if extras else ""
    own = [Requirement(f"nervosum{extra}=={__version__}"), *model_requirements(project)]
    listed = {canonicalize_name(r.name) for r in requirements.requirements}
    return [
        *(r for r in own if canonicalize_name(r.name) not in listed),
        *requirements.requirements,
    ]


def _project_requirements(project: Project) -> RequirementsFile:
    if project.config.requirements:
        return read_requirements(project.project_dir / project.config.requirements)
    written = model_requirements_file(project)  # an MLflow folder's requirements.txt
    return read_requirements(written) if written is not None else RequirementsFile()


def _ignore_extra(project_dir: Path, home: Home) -> list[str]:
    """Keep the registry out of the bundle when it lives inside the project."""
    try:
        inside = home.root.relative_to(project_dir.resolve())
    except ValueError:
        return []
    return [f"/{inside.as_posix()}/"]


def _write_generated(
    project: Project, staging: Path, options: BuildOptions, weights: bool, profiled: bool
) -> None:
    """The entrypoint and the Dockerfile (copying the weights and the reference profile
    when the bundle has them)."""
    cfg = project.config
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    (staging / "entrypoint.py").write_text(
        _template(
            "entrypoint.py",
            mode=cfg.deployment.mode,
            command=json.dumps(_COMMANDS[cfg.deployment.mode]),
            config=json.dumps(project.config_path.relative_to(project.project_dir).as_posix()),
        ),
        encoding="utf-8",
    )
    (staging / "Dockerfile").write_text(
        _template(
            "Dockerfile",
            name=cfg.name.lower(),
            tag=cfg.tag,
            mode=cfg.deployment.mode,
            port=str(cfg.server.port),
            base_image=options.base_image or f"python:{python}-slim",
            weights_copy="COPY weights/ /bundle/weights/" if weights else "",
            profile_copy=f"COPY {PROFILE_FILE} /bundle/" if profiled else "",
        ),
        encoding="utf-8",
    )


def _manifest(
    project: Project,
    bundle_id: str,
    weights: list[str],
    wheelhouse: Wheelhouse,
    target_platform: str | None,
) -> dict[str, Any]:
    cfg = project.config
    return {
        "id": bundle_id,
        "name": cfg.name.lower(),
        "tag": cfg.tag,
        "mode": cfg.deployment.mode,
        "created": time.time(),
        "nervosum_version": __version__,
        "python_version": platform.python_version(),
        "platform": sys.platform,
        "port": cfg.server.port,
        "config": project.config_path.relative_to(project.project_dir).as_posix(),
        "source": str(project.project_dir.resolve()),
        "git": _git_state(project.project_dir),
        "input_schema": [f.model_dump(exclude_none=True) for f in cfg.input_schema],
        "output_schema": [f.model_dump(exclude_none=True) for f in cfg.output_schema],
        "weights": weights,
        "requirements": [line.split(" ", 1)[0] for line in wheelhouse.lock],
        "target_platform": target_platform,
        # Packages bundled at another version than the one installed here, because the
        # installed one has no wheel for the target platform.
        "platform_versions": {
            item.name: {"installed": item.installed, "bundled": item.bundled}
            for item in wheelhouse.substituted
        },
    }


def _place(staging: Path, target: Path) -> Path:
    """Rename the finished bundle into place; an identical bundle there only gets the new
    manifest (a rebuild of the same content refreshes its creation time)."""
    try:
        staging.rename(target)
    except OSError:
        if not (target / "manifest.json").is_file():
            raise
        fresh = target / f".manifest.{uuid.uuid4().hex}"
        shutil.copyfile(staging / "manifest.json", fresh)
        fresh.replace(target / "manifest.json")
    return target


def build_bundle(
    project: Project, *, home: Home, options: BuildOptions, progress: Progress
) -> Entry:
    """Bundle and register a validated project; return its registry entry."""
    check_bundle_needs(project)
    if project.config.monitoring.reference:  # first: a bad reference fails before copying
        progress.step(f"profiling the reference {project.config.monitoring.reference}")
    profile = project_profile(project)
    # Compared without resolving links: a linked folder inside the project is copied in.
    src = Path(os.path.normpath(Path(os.path.abspath(project.project_dir)) / project.config.src))
    if not src.is_relative_to(os.path.abspath(project.project_dir)):
        raise BuildError(
            f"src {project.config.src!r} is outside the project folder {project.project_dir}",
            hint="build from the folder that contains both nervosum.yaml and the source",
        )
    extra = [*_ignore_extra(project.project_dir, home), *project.config.build.ignore]
    rules = IgnoreRules.for_project(project.project_dir, extra)
    sources = bundle_sources(project, rules)
    requirements = _project_requirements(project)
    staging = home.tmp / uuid.uuid4().hex
    staging.mkdir(parents=True)
    try:
        progress.step(f"copying {len(sources)} project files")
        weights = _copy_project(project, sources, staging, requirements.files)
        progress.step("resolving requirements")
        note = requirements.note()
        if note:
            progress.output(note)
        resolution = resolve(_roots(project, requirements))
        wheelhouse = fill_wheelhouse(
            resolution, staging / "wheels", home=home, platform=options.platform, progress=progress
        )
        lock = wheelhouse.lock
        (staging / "requirements.lock").write_text("\n".join(lock) + "\n", encoding="utf-8")
        _write_generated(project, staging, options, bool(weights), profile is not None)
        # The id covers the reference itself (a project file), not the profile made of it:
        # the profile says when it was made, and a rebuild must keep the same id.
        bundle_id = content_id(staging)
        if profile is not None:
            profile.write(staging / PROFILE_FILE)
        manifest = _manifest(project, bundle_id, weights, wheelhouse, options.platform)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        target = _place(staging, home.bundles / bundle_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    entry = Entry(
        id=bundle_id,
        name=manifest["name"],
        tag=manifest["tag"],
        mode=manifest["mode"],
        created=manifest["created"],
        path=target,
        image_ref=None,
        image_id=None,
        manifest=manifest,
    )
    Registry(home).add(entry)
    return entry
