"""Which project files go into a bundle (.nervosumignore / .dockerignore semantics)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nervosum.build.ignore import IgnoreRules, parse_rules, project_files


def rules(*lines: str) -> IgnoreRules:
    return IgnoreRules(parse_rules(lines))


@pytest.mark.parametrize(
    ("patterns", "path", "is_dir", "ignored"),
    [
        (["*.csv"], "data.csv", False, True),
        (["*.csv"], "deep/down/data.csv", False, True),
        (["/*.csv"], "deep/data.csv", False, False),
        (["/*.csv"], "data.csv", False, True),
        (["data/"], "data", True, True),
        (["data/"], "data", False, False),
        (["docs/*.md"], "docs/a.md", False, True),
        (["docs/*.md"], "docs/sub/a.md", False, False),
        (["docs/**/*.md"], "docs/sub/a.md", False, True),
        (["**/cache"], "a/b/cache", True, True),
        (["*.csv", "!keep.csv"], "keep.csv", False, False),
        (["!keep.csv", "*.csv"], "keep.csv", False, True),
        (["# *.py", ""], "model.py", False, False),
        (["mod?l.py"], "model.py", False, True),
        (["./notes.txt"], "notes.txt", False, True),
    ],
)
def test_patterns(patterns: list[str], path: str, is_dir: bool, ignored: bool) -> None:
    assert rules(*patterns).ignored(path, is_dir=is_dir) is ignored


def make_tree(root: Path, paths: list[str]) -> None:
    for relative in paths:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(relative)


def test_project_files_skip_vcs_envs_caches_and_the_ignore_file_rules(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        [
            "nervosum.yaml",
            "model/model.py",
            "model/__pycache__/model.cpython-311.pyc",
            ".git/HEAD",
            ".venv/bin/python",
            ".nervosum/index.sqlite",
            "data/train.csv",
            "data/README.md",
            "notebooks/.ipynb_checkpoints/x.ipynb",
        ],
    )
    (tmp_path / ".nervosumignore").write_text("# training data stays home\ndata/\n")
    found = [p.as_posix() for p in project_files(tmp_path, IgnoreRules.for_project(tmp_path))]
    assert found == [".nervosumignore", "model/model.py", "nervosum.yaml"]


def test_dockerignore_is_used_when_there_is_no_nervosumignore(tmp_path: Path) -> None:
    make_tree(tmp_path, ["nervosum.yaml", "big.parquet", "model.py"])
    (tmp_path / ".dockerignore").write_text("*.parquet\n")
    found = [p.as_posix() for p in project_files(tmp_path, IgnoreRules.for_project(tmp_path))]
    assert found == [".dockerignore", "model.py", "nervosum.yaml"]


def test_extra_patterns_apply_after_the_file(tmp_path: Path) -> None:
    make_tree(tmp_path, ["nervosum.yaml", "out/x.txt", "model.py"])
    found = project_files(tmp_path, IgnoreRules.for_project(tmp_path, ["/out/"]))
    assert [p.as_posix() for p in found] == ["model.py", "nervosum.yaml"]


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".env", True),
        (".env.production", True),
        ("config/.env", True),
        (".env.sample", False),
        (".env.example", False),
        ("config/env.sample", False),
        ("environment.py", False),
    ],
)
def test_env_files_never_go_into_a_bundle(tmp_path: Path, path: str, ignored: bool) -> None:
    """A `.env` holds credentials; the bundle runs with the environment it is given."""
    assert IgnoreRules.for_project(tmp_path).ignored(path, is_dir=False) is ignored
