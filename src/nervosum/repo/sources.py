"""Where a model repository comes from: a local folder, or a git repository.

A source produces :class:`Snapshot` objects: a folder to load models from, a version
(the git commit, or a digest of the local files) and a fingerprint per model folder, so
a refresh reloads only the folders that changed. A git refresh clones into a new
directory, never over the one the running models came from: a failed clone or fetch
leaves everything serving (the seed ``rm -rf``'d its models first).

Credentials for https come from the environment (``usergit`` with ``gitpassword``, or
the ``password`` the seed's manifests set) and reach git through its environment-based
configuration (an ``Authorization`` header): they are never written into a URL, a
command line, the checkout's ``.git/config`` or a log line. A URL given with credentials
in it (``https://TOKEN@host/...``, ``https://user:password@host/...``) has them moved into
that header before git sees it, and every URL and git message shown is redacted
(:mod:`nervosum.urls`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from nervosum.errors import SourceError
from nervosum.repo.folders import discover
from nervosum.urls import redact, split_credentials

log = logging.getLogger("nervosum.repo")

GIT_TIMEOUT = 300.0
_SKIPPED_PARTS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})


@dataclass(frozen=True)
class Snapshot:
    """One state of the repository, ready to load from."""

    root: Path
    version: str
    fingerprints: dict[str, str]


class Source(ABC):
    """A local folder or a git repository."""

    description: str

    @abstractmethod
    def snapshot(self, current: Snapshot | None) -> Snapshot:
        """The repository as it is now (may return ``current`` when nothing changed)."""

    def release(self, snapshot: Snapshot) -> None:  # noqa: B027 - most sources hold nothing
        """``snapshot`` is no longer used by any model; free what it holds."""


def folder_fingerprint(folder: Path) -> str:
    """Sizes and modification times of every file under ``folder``: cheap enough to poll."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if _SKIPPED_PARTS.intersection(path.relative_to(folder).parts) or not path.is_file():
            continue
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


class LocalSource(Source):
    """A folder on this machine, read in place; a change to a model folder reloads it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.description = str(self.root)

    def snapshot(self, current: Snapshot | None) -> Snapshot:
        if not self.root.is_dir():
            raise SourceError(f"model repository {self.root} is not a directory")
        prints = {f.name: folder_fingerprint(f.path) for f in discover(self.root)}
        digest = hashlib.sha256(repr(sorted(prints.items())).encode()).hexdigest()[:12]
        return Snapshot(self.root, f"local-{digest}", prints)


@dataclass(frozen=True)
class GitAuth:
    """https credentials, kept out of URLs and command lines."""

    user: str
    password: str

    @classmethod
    def from_env(cls) -> GitAuth | None:
        """The seed's variables: ``usergit`` and ``gitpassword`` (or ``password``)."""
        # [compat] the seed's lower-case names, as its env file and manifests set them
        user = os.environ.get("usergit")  # noqa: SIM112
        password = os.environ.get("gitpassword") or os.environ.get("password")  # noqa: SIM112
        if user and password:
            return cls(user, password)
        return None

    def environment(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {token}",
        }


def seed_git_url(git_path: str) -> str:
    """The seed's ``gitPath`` (an https URL, or one with ``https://`` stripped) as a URL."""
    if "://" in git_path or git_path.startswith("git@"):
        return git_path
    return f"https://{git_path}"


class GitSource(Source):
    """A git repository (https, ssh or ``file://``), one shallow clone per new commit."""

    def __init__(
        self, url: str, workdir: Path, *, branch: str | None = None, auth: GitAuth | None = None
    ) -> None:
        """``auth``: credentials from the environment; those of an http(s) URL win."""
        self._given = url
        self.url = url
        self.branch = branch
        self.workdir = workdir
        self.auth = auth
        bare, credentials = split_credentials(url)
        if credentials is not None and bare.lower().startswith(("https://", "http://")):
            self.url = bare
            self.auth = GitAuth(credentials.user, credentials.password or "")
        self.description = redact(url) + (f" ({branch})" if branch else "")

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
        if self.auth is not None:
            env.update(self.auth.environment())
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise SourceError(
                "git is not installed", hint="install git, or serve a local folder"
            ) from None
        except subprocess.TimeoutExpired:
            message = f"git {args[0]} of {self.description} took over {GIT_TIMEOUT:g}s"
            raise SourceError(message) from None
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
            detail = redact(last, self._given)
            raise SourceError(f"git {args[0]} of {self.description} failed: {detail}")
        return done.stdout

    def remote_commit(self) -> str | None:
        """The branch's commit on the remote, without cloning (None if it has no such ref)."""
        ref = f"refs/heads/{self.branch}" if self.branch else "HEAD"
        for line in self._git("ls-remote", self.url, ref).splitlines():
            commit, _, name = line.partition("\t")
            if name == ref:
                return commit
        return None

    def snapshot(self, current: Snapshot | None) -> Snapshot:
        remote = self.remote_commit()
        if current is not None and remote is not None and remote == current.version:
            return current
        self.workdir.mkdir(parents=True, exist_ok=True)
        target = self.workdir / f"checkout-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns()}"
        branch = ["--branch", self.branch] if self.branch else []
        try:
            self._git("clone", "--quiet", "--depth", "1", *branch, self.url, str(target))
            commit = self._git("rev-parse", "HEAD", cwd=target).strip()
            listing = self._git("ls-tree", "HEAD", cwd=target)
        except SourceError:
            shutil.rmtree(target, ignore_errors=True)
            raise
        trees: dict[str, str] = {}
        for line in listing.splitlines():
            meta, _, name = line.partition("\t")
            _, kind, object_id = meta.split()
            if kind == "tree":
                trees[name] = object_id
        found = {f.name for f in discover(target)}
        prints = {name: tree for name, tree in trees.items() if name in found}
        log.info("cloned %s at %s into %s", self.description, commit[:12], target)
        return Snapshot(target, commit, prints)

    def release(self, snapshot: Snapshot) -> None:
        if snapshot.root.parent == self.workdir:
            shutil.rmtree(snapshot.root, ignore_errors=True)
