"""Which loaded modules a project's import evicts: the names its code provides only."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from nervosum.model.imports import prepare_path


def test_a_data_folder_named_like_a_stdlib_module_evicts_nothing(tmp_path: Path) -> None:
    """A folder `email/` of data (no code) left the standard library's email evicted."""
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "inbox.csv").write_text("a,b\n")
    (tmp_path / "helpers.py").write_text("VALUE = 1\n")
    import email

    sys.modules["helpers"] = email  # stands for a stale module of the project's name
    try:
        prepare_path(tmp_path, tmp_path)
        assert sys.modules["email"] is email
        assert "helpers" not in sys.modules  # the project's own name is evicted
    finally:
        sys.modules.pop("helpers", None)
        while str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


def test_a_namespace_package_whose_code_is_one_level_down_is_the_projects(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "sub" / "mod.py").write_text("VALUE = 1\n")
    stale = types.ModuleType("pkg")
    stale.__file__ = "elsewhere/pkg/__init__.py"
    sys.modules["pkg"] = stale
    try:
        prepare_path(tmp_path, tmp_path)
        assert "pkg" not in sys.modules
    finally:
        sys.modules.pop("pkg", None)
        while str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


class _ImportedMeanwhile(dict):  # type: ignore[type-arg]
    """``sys.modules`` as another thread changes it: a module is added while it is read."""

    def items(self):  # type: ignore[no-untyped-def]
        for number, item in enumerate(dict.items(self)):
            if number == 1:
                self["imported_meanwhile"] = types.ModuleType("imported_meanwhile")
            yield item


def test_modules_imported_by_another_thread_meanwhile_do_not_stop_a_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scoring.py").write_text("VALUE = 1\n", encoding="utf-8")
    stale = types.ModuleType("scoring")
    stale.__file__ = "/elsewhere/scoring.py"
    modules = _ImportedMeanwhile(sys.modules)
    modules["scoring"] = stale
    monkeypatch.setattr(sys, "modules", modules)

    prepare_path(tmp_path, tmp_path)

    assert "scoring" not in modules  # the other project's module of that name is forgotten
