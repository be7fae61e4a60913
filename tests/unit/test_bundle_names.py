"""Bundle names and tags are safe file names (issue 20, item 13): `name: ../../x` made
`nervosum export` write outside its folder and put `../../` members in the tarball.
Names are checked when nervosum.yaml loads, when a bundle is registered and when one is
exported; every member of an exported archive passes tarfile's ``data`` filter."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from nervosum.errors import BuildError, ConfigError, RequestError
from nervosum.home import Home
from nervosum.project import load_config
from nervosum.registry.archive import export_bundle
from nervosum.registry.store import Entry, Registry
from tests.conftest import EXAMPLES, PROJECTS, ROOT

SEEDS = ROOT / "tests" / "data" / "seeds"

# Folders the seeds' users serve as they are: their names come from the folder names.
SEED_PROJECTS = [
    SEEDS / "FlorianBorn__machine-learning-microservice-template",
    SEEDS / "nervosum__proof-of-concepts" / "1-python-wrapper",
]


def _written(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.rglob("nervosum.yaml"))


@pytest.mark.parametrize(
    "folder",
    [*_written(EXAMPLES), *_written(PROJECTS), *_written(SEEDS), *SEED_PROJECTS],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_every_example_fixture_and_seed_project_keeps_its_name(folder: Path) -> None:
    config = load_config(folder).config
    assert config.name and config.tag


def test_seed_models_serve_folder_names_are_valid_names() -> None:
    """serve-repo names a model after its folder."""
    from nervosum.config.spec import NervosumConfig

    folders = [p for p in (SEEDS / "ormenesse__models_serve").iterdir() if p.is_dir()]
    assert folders
    for folder in folders:
        model = {"module": "etls", "class": "X"}
        assert NervosumConfig.model_validate({"name": folder.name, "model": model})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "../../escaped"),
        ("name", "team/model"),
        ("name", ".hidden"),
        ("name", "-flag"),
        ("name", "two words"),
        ("tag", "../v1"),
        ("tag", "v1/latest"),
        ("tag", "x" * 129),
    ],
)
def test_a_name_or_tag_that_is_no_safe_file_name_is_refused_at_load(
    tmp_path: Path, key: str, value: str
) -> None:
    values = {"name": "ok", "tag": "v1", key: value}
    (tmp_path / "nervosum.yaml").write_text(
        textwrap.dedent(
            f"""\
            name: {json.dumps(values["name"])}
            tag: {json.dumps(values["tag"])}
            model: {{artifact: model.joblib}}
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    line = 1 if key == "name" else 2
    assert f"nervosum.yaml:{line}: {key}: {value!r} is not a valid {key}" in str(caught.value)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv("NERVOSUM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NERVOSUM_CACHE", raising=False)
    return Home.from_env()


def _bundle(home: Home, name: str, tag: str) -> Entry:
    path = home.bundles / ("f" * 64)
    (path / "app").mkdir(parents=True)
    (path / "weights").mkdir()
    (path / "weights" / "model.joblib").write_bytes(b"weights")
    (path / "app" / "model.joblib").symlink_to("../weights/model.joblib")
    (path / "manifest.json").write_text(json.dumps({"name": name, "tag": tag}))
    return Entry("f" * 64, name, tag, "http", 1.0, path, None, None, {"name": name, "tag": tag})


def _insert_as_before_the_check(home: Home, entry: Entry) -> None:
    """A row an earlier nervosum registered, before names were checked."""
    Registry(home)
    with sqlite3.connect(home.index) as db:
        db.execute(
            "INSERT INTO bundles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.id, entry.name, entry.tag, entry.mode, 1.0, str(entry.path), None, None, "{}"),
        )


def test_a_bundle_with_an_unsafe_name_is_not_registered(home: Home) -> None:
    with pytest.raises(RequestError, match="not a safe file name"):
        Registry(home).add(_bundle(home, "../../escaped", "v1"))
    assert Registry(home).entries() == []


def test_export_refuses_an_unsafe_name_registered_before_the_check(
    home: Home, tmp_path: Path
) -> None:
    _insert_as_before_the_check(home, _bundle(home, "../../escaped", "v1"))
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    env = {**os.environ, "NERVOSUM_HOME": str(home.root)}
    result = subprocess.run(
        [sys.executable, "-m", "nervosum", "export", "f" * 12],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "has the name '../../escaped', which is not a safe file name" in result.stderr
    assert f"nervosum rm {'f' * 12}" in result.stderr
    assert list(tmp_path.rglob("*.tar.gz*")) == []


def test_an_exported_bundle_unpacks_inside_its_folder_with_the_data_filter(
    home: Home, tmp_path: Path
) -> None:
    entry = _bundle(home, "Iris", "v0.0.1")
    archive = export_bundle(entry, tmp_path / "iris.tar.gz")
    with tarfile.open(archive) as opened:
        names = opened.getnames()
        opened.extractall(tmp_path / "unpacked", filter="data")
    assert all(n == "Iris-v0.0.1" or n.startswith("Iris-v0.0.1/") for n in names)
    linked = tmp_path / "unpacked" / "Iris-v0.0.1" / "app" / "model.joblib"
    assert linked.is_symlink() and linked.read_bytes() == b"weights"


def test_a_bundle_with_a_link_out_of_its_folder_is_not_exported(home: Home, tmp_path: Path) -> None:
    entry = _bundle(home, "iris", "v1")
    (entry.path / "app" / "secrets").symlink_to("../../../../etc/passwd")
    with pytest.raises(BuildError, match="would be unpacked outside its folder"):
        export_bundle(entry, tmp_path / "iris.tar.gz")
    assert list(tmp_path.glob("*.tar.gz*")) == []
