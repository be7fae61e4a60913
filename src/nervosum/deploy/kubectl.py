"""``--apply``: hand the objects to ``kubectl apply``, the cluster's own dry run first.

Nothing is applied unless the API server has accepted every object in a server-side
dry run (``--dry-run=server`` runs admission and validation without storing), so a
rejected object leaves the cluster as it was. Before that, one cheap request says
whether a cluster answers at all, so "kubectl is missing" and "no cluster" are one
line each with what to do, never kubectl's own stack of retries and errors.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from nervosum.errors import NervosumError

REQUEST_TIMEOUT = "15s"
OFFLINE_HINT = "without a cluster, print the objects (the default) or write them with -o DIR"


@dataclass(frozen=True)
class Kubectl:
    """``kubectl``, optionally bound to one ``--context`` of the kubeconfig."""

    binary: str
    context: str | None = None

    @classmethod
    def find(cls, context: str | None) -> Kubectl:
        binary = shutil.which("kubectl")
        if binary is None:
            raise NervosumError(
                "kubectl is not installed (it is not on PATH), so --apply cannot reach a cluster",
                hint=f"install kubectl (https://kubernetes.io/docs/tasks/tools/); {OFFLINE_HINT}",
            )
        return cls(binary, context)

    @property
    def where(self) -> str:
        return f"context {self.context!r}" if self.context else "kubectl's current context"

    def _run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [self.binary, f"--request-timeout={REQUEST_TIMEOUT}"]
        if self.context:
            command.append(f"--context={self.context}")
        return subprocess.run(
            [*command, *args], input=stdin, capture_output=True, text=True, check=False
        )

    def reachable(self) -> None:
        """Fail with one line unless the cluster of the context answers."""
        done = self._run("get", "--raw", "/version")
        if done.returncode != 0:
            raise NervosumError(
                f"no Kubernetes cluster answers for {self.where}: {_last_line(done)}",
                hint="check `kubectl config get-contexts` and that the cluster is running"
                f" (--context NAME picks another); {OFFLINE_HINT}",
            )

    def apply(self, manifests: str, *, dry_run: bool) -> str:
        """``kubectl apply`` of the YAML stream, server-side dry run only or for real;
        kubectl's report (one line per object)."""
        mode = ["--dry-run=server"] if dry_run else []
        done = self._run("apply", *mode, "-f", "-", stdin=manifests)
        if done.returncode != 0:
            stage = "the server-side dry run" if dry_run else "kubectl apply"
            raise NervosumError(
                f"{stage} failed for {self.where}: {_last_line(done)}",
                hint="nothing was applied"
                if dry_run
                else "some objects may be applied:"
                " fix the cause and run again (apply is idempotent)",
            )
        return done.stdout


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1].removeprefix("error: ").strip() if lines else f"exit {done.returncode}"
