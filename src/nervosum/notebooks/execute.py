"""Run one notebook top to bottom in a real Jupyter kernel, as a person would.

nachlass converted notebooks to scripts and ran them under plain ``python``, so IPython
magics failed, and a failing notebook did not stop its build. Here each notebook runs
in an ipykernel started with this interpreter (so it sees the packages the bundle will
pin), in the given folder, with the given environment; the first cell that raises stops
the build with that cell and its error.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager, NoSuchKernel
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from nervosum.build.progress import Progress
from nervosum.errors import BuildError

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TRACEBACK_LINES = 12  # the end of a traceback, where the user's error is
_NO_MODULE = re.compile(r"No module named '([^']+)'")
_FIX_HINT = "fix the notebook (the cell and its traceback are shown above) and build again"
# nbclient logs every kernel start at INFO; the build's own progress says it better.
_CLIENT_LOG = logging.getLogger("nervosum.notebooks.client")
_CLIENT_LOG.setLevel(logging.WARNING)


class ThisInterpreterKernel(AsyncKernelManager):
    """A kernel manager that starts ipykernel with this interpreter.

    An installed ``python3`` kernel spec (``ipython kernel install --user`` in another
    environment) would otherwise win, and the notebooks would run with packages other
    than the ones the bundle pins. With no spec folders, jupyter_client falls back to
    ipykernel's built-in spec, which names ``sys.executable``.
    """

    @default("kernel_spec_manager")
    def _native_only(self) -> KernelSpecManager:
        return KernelSpecManager(kernel_dirs=[])


@dataclass(frozen=True)
class NotebookRun:
    """One notebook to execute (as nbformat read it), where it runs, and
    its environment."""

    name: str
    notebook: Any
    cwd: Path
    env: dict[str, str]


def _first_line(source: str) -> str:
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    if not lines:
        return ""
    more = " ..." if len(lines) > 1 else ""
    return f" (`{lines[0][:60]}`{more})"


class _CellTracker:
    """nbclient hooks: which code cell runs, how long each took, reported as they end."""

    def __init__(self, name: str, total: int, progress: Progress) -> None:
        self.name = name
        self.total = total
        self.progress = progress
        self.number = 0
        self.started = time.monotonic()
        self.source = ""
        self.traceback: list[str] = []

    def start(self, cell: Any, **_: Any) -> None:
        if cell.cell_type == "code":
            self.number += 1
            self.started = time.monotonic()
            self.source = str(cell.source)

    def executed(self, cell: Any, execute_reply: Any, **_: Any) -> None:
        if cell.cell_type == "code" and execute_reply["content"]["status"] == "ok":
            seconds = time.monotonic() - self.started
            self.progress.output(f"cell {self.number}/{self.total} ran in {seconds:.1f}s")

    def error(self, execute_reply: Any, **_: Any) -> None:
        self.traceback = list(execute_reply["content"].get("traceback") or [])

    def failure(self, ename: str, evalue: str) -> BuildError:
        """The build error for the current cell, after showing it and its traceback."""
        self.progress.output(f"cell {self.number} of {self.name} failed:")
        for line in self.source.splitlines():
            self.progress.output(f"  | {line}")
        clean = _ANSI.sub("", "\n".join(self.traceback)).splitlines()
        for line in clean[-_TRACEBACK_LINES:]:
            self.progress.output(f"  {line}")
        # One line: exception texts may span several (altair's do).
        why = " ".join(evalue.split())
        return BuildError(
            f"{self.name}: cell {self.number}{_first_line(self.source)} raised {ename}: {why}",
            hint=failure_hint(ename, evalue),
        )


def _distribution(module: str) -> str:
    """The installed distribution that provides the top-level ``module`` (``sklearn`` is
    scikit-learn), with its version; the module's name when none is recorded."""
    names = md.packages_distributions().get(module) or []
    return f"{names[0]} {md.version(names[0])}" if names else module


def failure_hint(ename: str, evalue: str) -> str:
    """What to do about a cell's error, when it is not fixed in the notebook: a missing
    file is added (ml-workflows' snapshot lacks its data); a module no installed package
    provides is installed. A submodule missing from an installed package means the
    notebook was written for a release that had it (seed notebooks pin 2020 versions,
    such as ``sklearn.feature_extraction.stop_words``): say so."""
    if ename == "FileNotFoundError":
        return (
            "the notebook reads a file the repository does not hold (paths are relative to the"
            " notebook's folder): commit it, or list the notebook that writes it earlier, and"
            " build again"
        )
    missing = _NO_MODULE.search(evalue) if ename == "ModuleNotFoundError" else None
    if missing is None:
        return _FIX_HINT
    module = missing.group(1)
    top = module.partition(".")[0]
    if importlib.util.find_spec(top) is None:
        return (
            f"pip install the package that provides {top!r} into nervosum's environment (the"
            " notebooks run with this Python), list it in requirements.txt, and build again"
        )
    return (
        f"{module!r} is not in the installed {_distribution(top)}: the notebook imports a module"
        " that release no longer has; change the import (the cell is shown above) and build"
        " again"
    )


def code_cells(notebook: Any) -> int:
    """How many cells of ``notebook`` run code (what the progress counts)."""
    return sum(1 for cell in notebook.cells if cell.cell_type == "code")


def execute(run: NotebookRun, progress: Progress) -> Any:
    """Execute ``run`` and return the executed notebook (outputs filled in).

    Raises :class:`BuildError` naming the failing cell when a cell raises or the kernel
    dies, and when no kernel can be started.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    tracker = _CellTracker(run.name, code_cells(run.notebook), progress)
    client = NotebookClient(
        run.notebook,
        # The kernel's own log (a TCP warning at start) is noise next to the build's output.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        kernel_name=NATIVE_KERNEL_NAME,
        kernel_manager_class=ThisInterpreterKernel,
        log=_CLIENT_LOG,
        resources={"metadata": {"path": str(run.cwd)}},
        on_cell_start=tracker.start,
        on_cell_executed=tracker.executed,
        on_cell_error=tracker.error,
    )
    try:
        client.execute(env=run.env, cwd=str(run.cwd))
    except CellExecutionError as exc:
        raise tracker.failure(exc.ename, exc.evalue) from None
    except DeadKernelError as exc:
        raise BuildError(
            f"{run.name}: the kernel died while running cell {tracker.number}: {exc}",
            hint="the cell ended the Python process (os._exit, a crash or out of memory)",
        ) from None
    except NoSuchKernel:
        raise BuildError(
            "no Jupyter kernel for this Python",
            hint="install the notebooks extra: pip install 'nervosum[notebooks]'",
        ) from None
    return run.notebook
