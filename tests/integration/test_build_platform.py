"""Building for another platform picks, per compiled package, a version that has a wheel
for it (issue 19): against a real PEP 503 index served on 127.0.0.1, holding this
environment's own compiled wheels and a made-up package at several versions with
several platform tags. pip does the reading and downloading, as it would from PyPI."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import platform
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename

from nervosum import __version__
from nervosum.build.platforms import Substitution, download_for_platform
from nervosum.build.progress import Progress
from nervosum.build.wheels import repack, wheel_filename
from nervosum.errors import BuildError
from nervosum.requirements import resolve
from tests.conftest import nervosum
from tests.unit.test_build_requirements import Recorder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="manylinux wheels are Linux-only"),
]

ARCH = platform.machine()
PY = f"cp{sys.version_info.major}{sys.version_info.minor}"
TARGET = f"manylinux_2_28_{ARCH}"  # every compiled wheel installed here runs there
# The made-up packages: version -> the platform tags of its wheels on the index.
NATIVE = {
    "1.0": [f"manylinux2014_{ARCH}"],
    "1.5": [f"manylinux2014_{ARCH}"],
    "2.0": [f"manylinux_2_34_{ARCH}"],  # installed here; too new for the target
}
NEWONLY = {
    "2.0": [f"manylinux_2_34_{ARCH}"],
    "3.0": [f"manylinux_2_34_{ARCH}", f"musllinux_1_2_{ARCH}"],  # installed here
}


MODEL = "class M:\n    def predict(self, x):\n        return x\n"


def compiled_wheel(folder: Path, name: str, version: str, platforms: list[str]) -> Path:
    """A wheel of ``name`` tagged for ``platforms`` (its content is Python: only the tags
    matter to the index and to pip)."""
    module = name.replace("-", "_")
    tags = f"{PY}-{PY}-{'.'.join(platforms)}"
    wheel = folder / f"{module}-{version}-{tags}.whl"
    info = f"{module}-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{module}/__init__.py", f"VERSION = {version!r}\n")
        zf.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        wheel_tags = "".join(f"Tag: {PY}-{PY}-{p}\n" for p in platforms)
        zf.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n{wheel_tags}")
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def install_into(site: Path, name: str, version: str, platforms: list[str]) -> None:
    """``name`` as pip would have installed it into ``site`` (found there via PYTHONPATH)."""
    module = name.replace("-", "_")
    info = site / f"{module}-{version}.dist-info"
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(f"VERSION = {version!r}\n")
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    tags = "".join(f"Tag: {PY}-{PY}-{p}\n" for p in platforms)
    (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n{tags}")
    (info / "RECORD").write_text(
        f"{module}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/WHEEL,,\n{info.name}/RECORD,,\n"
    )


def write_simple_index(root: Path) -> None:
    """PEP 503 pages: /simple/<project>/ links each of the project's files in /files/."""
    by_project: dict[str, list[Path]] = {}
    for wheel in sorted((root / "files").glob("*.whl")):
        by_project.setdefault(str(parse_wheel_filename(wheel.name)[0]), []).append(wheel)
    for project, wheels in by_project.items():
        links = "".join(
            f'<a href="../../files/{w.name}#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">'
            f"{w.name}</a><br>\n"
            for w in wheels
        )
        page = root / "simple" / project / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, bundle_cache: Path) -> Iterator[str]:
    """The index's URL: nervosum's installed compiled dependencies, repacked, and the
    made-up packages."""
    root = tmp_path_factory.mktemp("index")
    files = root / "files"
    files.mkdir()
    resolution = resolve([Requirement(f"nervosum=={__version__}")])
    for dist in resolution.pinned.values():
        if "Root-Is-Purelib: true" not in (dist.read_text("WHEEL") or ""):
            os.link(repack(dist, bundle_cache / "wheels"), files / wheel_filename(dist))
    for name, versions in (("nervosum-demo-native", NATIVE), ("nervosum-demo-newonly", NEWONLY)):
        for version, platforms in versions.items():
            compiled_wheel(files, name, version, platforms)
    write_simple_index(root)
    handler = lambda *a: QuietHandler(*a, directory=str(root))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def build_env(tmp_path: Path, home_env: dict[str, str], index: str) -> dict[str, str]:
    """The user's environment with pip reading only the local index, and the made-up
    packages installed (on PYTHONPATH)."""
    site = tmp_path / "site"
    install_into(site, "nervosum-demo-native", "2.0", NATIVE["2.0"])
    install_into(site, "nervosum-demo-newonly", "3.0", NEWONLY["3.0"])
    env = {key: value for key, value in home_env.items() if not key.startswith("PIP_")}
    return {
        **env,
        "PIP_CONFIG_FILE": os.devnull,  # no pip.conf: this index and nothing else
        "PIP_INDEX_URL": index,
        "PYTHONPATH": str(site),
    }


def project_needing(make_project, requirement: str) -> Path:
    return make_project(
        "name: Native\nrequirements: requirements.txt\nmodel: {module: m, class: M}\n"
        f"deployment: {{mode: batch, platform_tag: {TARGET}}}\n",
        {"requirements.txt": f"{requirement}\n", "m.py": MODEL},
    )


def test_a_package_without_a_wheel_for_the_platform_gets_the_newest_that_has_one(
    build_env: dict[str, str], make_project
) -> None:
    project = project_needing(make_project, "nervosum-demo-native")
    result = nervosum("build", str(project), "--no-image", env=build_env)
    assert result.returncode == 0, result.stderr
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (
        f"nervosum-demo-native 2.0 (installed here) has no wheel for {TARGET} and Python"
        f" {python}: bundling 1.5, the newest version that has one"
    ) in " ".join(result.stderr.split())
    [entry] = json.loads(nervosum("ls", "--format", "json", env=build_env).stdout)
    bundle = Path(entry["path"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["target_platform"] == TARGET
    assert manifest["platform_versions"] == {
        "nervosum-demo-native": {"installed": "2.0", "bundled": "1.5"}
    }
    assert "nervosum-demo-native==1.5" in manifest["requirements"]
    wheels = {p.name for p in (bundle / "wheels").glob("*.whl")}
    assert f"nervosum_demo_native-1.5-{PY}-{PY}-manylinux2014_{ARCH}.whl" in wheels
    lock = (bundle / "requirements.lock").read_text().splitlines()
    assert len(lock) == len(wheels)
    numpy = next(name for name in wheels if canonicalize_name(name.split("-")[0]) == "numpy")
    assert numpy == next(
        p.name for p in (Path(build_env["NERVOSUM_CACHE"]) / "wheels").glob("*/numpy-*.whl")
    )  # installed versions that have a wheel for the target are kept


@pytest.fixture
def pip_reads_the_index(build_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The same settings for the pip that in-process calls start."""
    for key in [key for key in os.environ if key.startswith("PIP_")]:
        monkeypatch.delenv(key)
    for key in ("PIP_CONFIG_FILE", "PIP_INDEX_URL"):
        monkeypatch.setenv(key, build_env[key])


@pytest.mark.usefixtures("pip_reads_the_index")
def test_the_ranges_of_the_requirements_bound_the_choice(tmp_path: Path) -> None:
    recorder = Recorder()
    chosen = download_for_platform(
        {"nervosum-demo-native": "2.0"},
        {"nervosum-demo-native": SpecifierSet("!=1.5")},
        tmp_path,
        platform=TARGET,
        constraints=[],
        progress=recorder,
    )
    assert chosen == [Substitution("nervosum-demo-native", "2.0", "1.0")]
    assert [p.name for p in tmp_path.glob("*.whl")] == [
        f"nervosum_demo_native-1.0-{PY}-{PY}-manylinux2014_{ARCH}.whl"
    ]
    assert any("bundling 1.0, the newest version that has one" in line for line in recorder.lines)


@pytest.mark.usefixtures("pip_reads_the_index")
def test_no_version_for_the_platform_is_one_error_naming_what_exists(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        download_for_platform(
            {"nervosum-demo-newonly": "3.0"},
            {},
            tmp_path,
            platform=TARGET,
            constraints=[],
            progress=Progress(),
        )
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert caught.value.message == (
        f"no version of nervosum-demo-newonly has a wheel for {TARGET} and Python {python}:"
        f" its newest version, 3.0, has wheels for manylinux_2_34_{ARCH}, musllinux_1_2_{ARCH}"
    )
    assert caught.value.hint is not None and "--platform" in caught.value.hint
    assert caught.value.exit_code == 1
