"""``nervosum notebooks build``: a repository of stage notebooks -> a servable project.

The steps of nachlass's assemble script, each made to fail loudly: copy or clone the
repository, check its ``requirements.txt``, read every listed notebook (a typo fails
before anything runs), execute them in order in a kernel with
``S2I_PIPELINE_STAGE_SAVE_FILE=<basename>.sav`` (and the ``-e`` variables), collect each
saved stage and executed notebook, write ``stages.json``, load the result once as the
server will, and profile the rows the notebooks trained on when one saved them
(notebooks/reference.py).
"""

from __future__ import annotations

import difflib
import importlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from nervosum.build.progress import Progress
from nervosum.config import Project
from nervosum.errors import BuildError, RequestError
from nervosum.model.stages import stage_file, write_stages
from nervosum.notebooks.paths import check_inside
from nervosum.notebooks.project import copy_code, finish_project
from nervosum.notebooks.reference import ReferenceRows, profile_reference, reference_name
from nervosum.notebooks.requirements import (
    REQUIREMENTS_FILE,
    bundle_requirements,
    check_requirements,
)
from nervosum.notebooks.source import checkout, is_git_url
from nervosum.urls import redact

# [compat] nachlass's variable, and nervosum's own spelling of it.
STAGE_VARIABLES = ("S2I_PIPELINE_STAGE_SAVE_FILE", "NERVOSUM_STAGE_FILE")
NOTEBOOK_SUFFIX = ".ipynb"
LIST_HINT = "--notebooks 03-features.ipynb,04-model.ipynb (or S2I_SOURCE_NOTEBOOK_LIST)"
# What running notebooks needs: the `notebooks` extra, imported only when a build runs.
EXTRA_MODULES = ("nbformat", "nbclient", "jupyter_client", "ipykernel")
EXTRA_HINT = "pip install 'nervosum[notebooks]'"


def require_extra() -> None:
    """A :class:`RequestError` naming the ``notebooks`` extra when a module it installs
    cannot be imported, before anything is copied or run."""
    for module in EXTRA_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise RequestError(
                f"nervosum notebooks build needs {module}, which cannot be imported here"
                f" ({type(exc).__name__}: {exc})",
                hint=EXTRA_HINT,
            ) from None


@dataclass(frozen=True)
class NotebooksBuild:
    """What to build: notebooks (relative to the repository, in order), the variables
    every notebook's kernel gets, and the project's name and tag."""

    notebooks: tuple[str, ...]
    variables: dict[str, str]
    name: str
    tag: str


def parse_notebook_list(text: str) -> tuple[str, ...]:
    """A comma-separated notebook list, as nachlass's ``S2I_SOURCE_NOTEBOOK_LIST``."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise RequestError("no notebooks are listed", hint=LIST_HINT)
    by_stage: dict[str, str] = {}
    for name in names:
        if not name.endswith(NOTEBOOK_SUFFIX):
            raise RequestError(f"{name!r} is not a notebook (.ipynb) file", hint=LIST_HINT)
        check_inside(name, "notebook", LIST_HINT)
        stage = stage_file(name)
        if stage in by_stage:
            raise RequestError(
                f"{by_stage[stage]} and {name} would both save their stage to {stage}",
                hint="list each notebook once; notebooks in different folders need different names",
            )
        by_stage[stage] = name
    return names


def _notebooks_in(root: Path) -> list[str]:
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob(f"*{NOTEBOOK_SUFFIX}")
        if ".ipynb_checkpoints" not in path.parts
    )


def read_notebook(root: Path, relative: str) -> Any:
    """The listed notebook, read and validated; a readable error when it is missing or
    is not a notebook."""
    require_extra()
    import nbformat

    path = root / relative
    if not path.is_file():
        found = _notebooks_in(root)
        close = difflib.get_close_matches(relative, found, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"notebooks there: {', '.join(found)}"
        raise RequestError(
            f"notebook {relative} is not in the repository",
            hint=hint if found else "the repository holds no notebooks",
        )
    try:
        return nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises JSON, schema and version errors alike
        raise RequestError(
            f"{relative} is not a readable notebook: {type(exc).__name__}: {exc}",
            hint="open it in Jupyter and save it again",
        ) from None


def run_notebooks(
    root: Path, build: NotebooksBuild, target: Path, progress: Progress, reference: ReferenceRows
) -> None:
    """Execute the notebooks in order, each told where ``reference`` rows go; put each
    stage and executed notebook in ``target``."""
    require_extra()
    import nbformat

    from nervosum.notebooks.execute import NotebookRun, code_cells, execute

    notebooks = [(relative, read_notebook(root, relative)) for relative in build.notebooks]
    reference.remove_stale()
    for index, (relative, notebook) in enumerate(notebooks, start=1):
        name = PurePath(relative).name
        stage = stage_file(name)
        cwd = (root / relative).parent
        progress.step(
            f"notebook {index}/{len(notebooks)}: {relative} ({code_cells(notebook)} code cells)"
        )
        env = {
            **os.environ,
            **build.variables,
            **reference.variable,
            **dict.fromkeys(STAGE_VARIABLES, stage),
        }
        (cwd / stage).unlink(missing_ok=True)  # a committed stage must not pass for a new one
        executed = execute(NotebookRun(name, notebook, cwd, env), progress)
        nbformat.write(executed, target / name)  # type: ignore[no-untyped-call]
        if not (cwd / stage).is_file():
            raise BuildError(
                f"{relative} ran to the end but saved no stage to {stage}",
                hint="save the fitted stage to the file named by $S2I_PIPELINE_STAGE_SAVE_FILE,"
                " e.g. cloudpickle.dump(stage, open(os.environ['S2I_PIPELINE_STAGE_SAVE_FILE'],"
                " 'wb'))",
            )
        shutil.copyfile(cwd / stage, target / stage)
    write_stages(target, [PurePath(relative).name for relative in build.notebooks])


@dataclass(frozen=True)
class BuiltNotebooks:
    """The servable project (in the caller's private ``workdir``) and what it was built
    from: the user's folder, or the redacted URL and commit, for messages."""

    project: Project
    origin: str


def build_notebooks(
    location: str,
    build: NotebooksBuild,
    workdir: Path,
    *,
    progress: Progress,
    branch: str | None = None,
) -> BuiltNotebooks:
    """Build ``location`` (a folder or git URL) into the project ``workdir/project``."""
    require_extra()
    named = reference_name({**os.environ, **build.variables})
    progress.step(f"fetching {redact(location)}")
    source = checkout(location, workdir, branch=branch)
    # Errors name the user's folder, or the file's place in the repository for a URL.
    shown = Path() if is_git_url(location) else Path(source.description)
    wanted = check_requirements(source.root, progress, shown=shown)
    target = workdir / "project"
    target.mkdir()
    reference = ReferenceRows.of(source.root, named)
    run_notebooks(source.root, build, target, progress, reference)
    copied = copy_code(source.root, target)
    if copied:
        progress.output(f"{copied} Python files of the repository kept for the stages' imports")
    lines = bundle_requirements(wanted)
    (target / REQUIREMENTS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    origin = source.description + (f" at {source.commit[:12]}" if source.commit else "")
    project = finish_project(
        target, name=build.name, tag=build.tag, origin=origin, progress=progress
    )
    profile_reference(reference, project, progress)
    return BuiltNotebooks(project, origin)
