"""The registry index and how bundles are found: AND-combined filters, newest first."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nervosum.errors import RegistryError, RequestError
from nervosum.home import Home
from nervosum.registry.select import Filter, apply_filters, resolve_reference, select_newest
from nervosum.registry.store import Entry, Registry


def entry(bundle_id: str, name: str, tag: str, mode: str, created: float, root: Path) -> Entry:
    path = root / bundle_id
    path.mkdir(parents=True, exist_ok=True)
    return Entry(bundle_id, name, tag, mode, created, path, None, None, {"name": name})


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.setenv("NERVOSUM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NERVOSUM_CACHE", raising=False)
    registry = Registry(Home.from_env())
    bundles = registry.home.bundles
    for item in [
        entry("aaa111" + "0" * 58, "iris", "v0.0.1", "http", 100.0, bundles),
        entry("aab222" + "0" * 58, "iris_batch", "v0.0.1", "batch", 200.0, bundles),
        entry("bbb333" + "0" * 58, "iris", "v0.0.2", "http", 300.0, bundles),
        entry("ccc444" + "0" * 58, "churn", "v1", "batch", 50.0, bundles),
    ]:
        registry.add(item)
    return registry


def names(entries: list[Entry]) -> list[str]:
    return [f"{e.name}:{e.tag}" for e in entries]


def test_home_layout_comes_from_the_environment(registry: Registry, tmp_path: Path) -> None:
    home = registry.home
    assert home.root == (tmp_path / "home").resolve()
    assert home.cache == home.root / "cache"
    assert home.index.is_file() and home.bundles.is_dir() and home.tmp.is_dir()


def test_entries_are_newest_first(registry: Registry) -> None:
    assert names(registry.entries()) == [
        "iris:v0.0.2",
        "iris_batch:v0.0.1",
        "iris:v0.0.1",
        "churn:v1",
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], ["iris:v0.0.2", "iris_batch:v0.0.1", "iris:v0.0.1", "churn:v1"]),
        (["name=iris"], ["iris:v0.0.2", "iris:v0.0.1"]),
        (["name=IRIS"], ["iris:v0.0.2", "iris:v0.0.1"]),
        (["mode=batch"], ["iris_batch:v0.0.1", "churn:v1"]),
        # The seed bug: every filter used the last one. Here both orders give the AND.
        (["mode=http", "name=iris"], ["iris:v0.0.2", "iris:v0.0.1"]),
        (["name=iris", "mode=http"], ["iris:v0.0.2", "iris:v0.0.1"]),
        (["mode=batch", "name=iris"], []),
        (["name=iris*", "mode=batch"], ["iris_batch:v0.0.1"]),
        (["tag=v0.0.1"], ["iris_batch:v0.0.1", "iris:v0.0.1"]),
        (["tag=v0.0.1", "name=iris"], ["iris:v0.0.1"]),
        (["id=aa"], ["iris_batch:v0.0.1", "iris:v0.0.1"]),
        (["id=AAA"], ["iris:v0.0.1"]),
        (["id=aa", "mode=batch"], ["iris_batch:v0.0.1"]),
        (["id==bbb"], ["iris:v0.0.2"]),
        (["tag=v0.0.?"], ["iris:v0.0.2", "iris_batch:v0.0.1", "iris:v0.0.1"]),
    ],
)
def test_filters_are_and_combined(
    registry: Registry, filters: list[str], expected: list[str]
) -> None:
    conditions = [Filter.parse(text) for text in filters]
    assert names(apply_filters(registry.entries(), conditions)) == expected


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("name", "is not key=value", "keys: id, name, tag, mode"),
        ("=iris", "is not key=value", "keys: id, name, tag, mode"),
        ("name=", "is not key=value", "keys: id, name, tag, mode"),
        ("nmae=iris", "unknown filter key 'nmae'", "did you mean 'name'?"),
        ("label=x", "unknown filter key 'label'", "keys: id, name, tag, mode"),
    ],
)
def test_bad_filters_name_the_allowed_keys(text: str, message: str, hint: str) -> None:
    with pytest.raises(RequestError) as caught:
        Filter.parse(text)
    assert message in caught.value.message
    assert hint in (caught.value.hint or "")
    assert caught.value.exit_code == 2


def test_select_newest_and_no_match_hints(registry: Registry) -> None:
    entries = registry.entries()
    assert select_newest(entries, []).tag == "v0.0.2"
    assert select_newest(entries, [Filter.parse("tag=v0.0.1")]).name == "iris_batch"
    with pytest.raises(RegistryError) as caught:
        select_newest(entries, [Filter.parse("name=irs")])
    assert caught.value.message == "no bundle matches name=irs"
    assert caught.value.hint == "names: iris, iris_batch"
    assert caught.value.exit_code == 1
    with pytest.raises(RegistryError) as caught:
        select_newest(entries, [Filter.parse("name=iris"), Filter.parse("tag=v0.0.3")])
    assert caught.value.hint == "tags: v0.0.1, v0.0.2"


def test_select_in_an_empty_registry_says_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        select_newest([], [])
    assert "empty" in caught.value.message
    assert "nervosum build" in (caught.value.hint or "")


def test_references(registry: Registry) -> None:
    entries = registry.entries()
    assert names([resolve_reference(entries, "iris:v0.0.1")]) == ["iris:v0.0.1"]
    assert names([resolve_reference(entries, "iris")]) == ["iris:v0.0.2"]
    assert names([resolve_reference(entries, "ccc4")]) == ["churn:v1"]
    with pytest.raises(RequestError, match="matches 2 bundles"):
        resolve_reference(entries, "aa")
    with pytest.raises(RegistryError):
        resolve_reference(entries, "iris:v3")


def test_readd_replaces_and_remove_deletes_the_folder(registry: Registry) -> None:
    first = registry.entries()[-1]
    registry.add(dataclasses.replace(first, created=999.0))
    assert registry.entries()[0].id == first.id
    assert len(registry.entries()) == 4
    registry.set_image(first.id, "nervosum/churn:v1", "sha256:abc")
    assert registry.entries()[0].image_ref == "nervosum/churn:v1"
    registry.remove(registry.entries()[0])
    assert first.id not in [e.id for e in registry.entries()]
    assert not first.path.exists()
