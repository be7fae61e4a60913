"""Requirements resolved against this environment, and installed packages repacked as wheels."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from nervosum.build.wheels import repack, wheel_filename
from nervosum.errors import ConfigError
from nervosum.requirements import read_requirements, resolve


def test_read_requirements_follows_includes_and_skips_comments(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("pandas>=2.0  # frames\n")
    (tmp_path / "requirements.txt").write_text(
        "# model\n-r base.txt\nscikit-learn>=1.3 \\\n  ; python_version >= '3.8'\n\njoblib\n"
    )
    found = [str(r) for r in read_requirements(tmp_path / "requirements.txt").requirements]
    assert found == ["pandas>=2.0", 'scikit-learn>=1.3; python_version >= "3.8"', "joblib"]


@pytest.mark.parametrize("line", ["-e .", "pkg @ https://x/y.whl", "pandas>="])
def test_unbundlable_lines_are_config_errors_with_their_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"pandas\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        read_requirements(path)
    assert caught.value.issues[0].line == 2
    assert line in caught.value.issues[0].message
    assert caught.value.exit_code == 2


def test_resolve_pins_the_installed_closure_with_extras_and_markers() -> None:
    resolution = resolve(
        [
            Requirement("nervosum"),
            Requirement("uvicorn[standard]"),
            Requirement("surely-not-installed-anywhere>=1"),
            Requirement("numpy<1"),
            Requirement("pandas; python_version < '3'"),
        ]
    )
    pins = resolution.lock_lines()
    assert f"pydantic=={md.version('pydantic')}" in pins
    assert f"uvloop=={md.version('uvloop')}" in pins  # from uvicorn's `standard` extra
    assert f"numpy=={md.version('numpy')}" in pins  # nervosum needs it; the pin is installed
    assert not any(pin.startswith(("pytest==", "ruff==")) for pin in pins)  # dev extras only
    assert [str(r) for r in resolution.missing] == ["surely-not-installed-anywhere>=1"]
    assert [(str(r), v) for r, v in resolution.conflicts] == [("numpy<1", md.version("numpy"))]


def members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_repacked_wheels_are_reproducible_and_their_record_is_true(tmp_path: Path) -> None:
    dist = md.distribution("click")
    first = repack(dist, tmp_path / "a")
    second = repack(dist, tmp_path / "b")
    assert first.name == wheel_filename(dist) == f"click-{dist.version}-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    files = members(first)
    info = f"click-{dist.version}.dist-info"
    assert {f"{info}/METADATA", f"{info}/WHEEL", f"{info}/RECORD", "click/__init__.py"} <= set(
        files
    )
    assert not any(name.endswith(".pyc") or "INSTALLER" in name for name in files)
    rows = list(csv.reader(io.StringIO(files[f"{info}/RECORD"].decode())))
    for name, digest, size in rows:
        if name.endswith("RECORD"):
            continue
        data = files[name]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}" and int(size) == len(data)


def test_a_repacked_wheel_installs_with_pip_offline(tmp_path: Path) -> None:
    wheel = repack(md.distribution("click"), tmp_path / "cache")
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--quiet",
         "--disable-pip-version-check", "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
    assert (target / "click" / "core.py").is_file()


def test_editable_nervosum_is_packed_from_its_package_folder(tmp_path: Path) -> None:
    files = members(repack(md.distribution("nervosum"), tmp_path))
    assert "nervosum/__init__.py" in files
    assert "nervosum/templates/build/Dockerfile" in files
    assert any(name.endswith(".dist-info/entry_points.txt") for name in files)
    assert not any("__pycache__" in name for name in files)
