"""build -> ls -> run -> predict, end to end, with no container engine involved.

Bundles go into a registry per test; repacked wheels and run environments are shared by
the whole session (NERVOSUM_CACHE), as they are across a user's builds.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import joblib
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from tests.conftest import (
    EXAMPLES,
    IRIS_SETOSA,
    free_port,
    iris_copy,
    nervosum,
    spawned_nervosum,
    wait_ready,
)
from tests.unit.test_build_builders import DAEMON_DOWN, STOPPED_DAEMON, fake_builder

pytestmark = pytest.mark.slow


def built_id(*args: str, env: dict[str, str]) -> str:
    result = nervosum("build", "--no-image", "-q", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def ls_json(env: dict[str, str], *filters: str) -> list[dict[str, object]]:
    args = [part for text in filters for part in ("-f", text)]
    result = nervosum("ls", "--format", "json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_build_ls_run_predict(tmp_path: Path, home_env: dict[str, str]) -> None:
    result = nervosum("build", str(EXAMPLES / "iris"), "--no-image", env=home_env)
    assert result.returncode == 0, result.stderr
    assert "built iris:v0.0.1" in result.stdout
    assert "packing installed packages" in result.stderr
    table = nervosum("ls", env=home_env).stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "TAG", "MODE", "CREATED", "IMAGE"]
    assert table[1].split()[1:4] == ["iris", "v0.0.1", "http"]

    port = free_port()
    run_args = ("run", "-n", "iris", "-t", "v0.0.1", "--port", str(port))
    with spawned_nervosum(*run_args, env=home_env, port=port) as server:
        wait_ready(server, timeout=420)
        with server.client() as client:
            answer = client.post("/predict", json=IRIS_SETOSA)
            info = client.get("/info").json()
        output = server.output()
    assert answer.status_code == 200, answer.text
    assert answer.json()["prediction"] == 0
    assert info["name"] == "Iris"
    assert "running iris:v0.0.1" in output
    assert "newest match" in output

    # The environment is cached by the lock: a second run does not rebuild it.
    port = free_port()
    with spawned_nervosum("run", "--port", str(port), env=home_env, port=port) as again:
        wait_ready(again, timeout=120)
        output = again.output()
    assert "creating the bundle's environment" not in output
    assert "newest bundle" in output


def test_run_passes_environment_variables(
    tmp_path: Path, home_env: dict[str, str], make_project
) -> None:
    project = iris_copy(tmp_path, "envcheck")
    (project / "model" / "model.py").write_text(
        "import os\n\n\nclass IrisModel:\n    def predict(self, x):\n"
        "        return [os.environ.get('GREETING', 'unset')] * len(x)\n"
    )
    built_id(str(project), env=home_env)
    port = free_port()
    args = ("run", "-n", "envcheck", "-e", "GREETING=hello=world", "--port", str(port))
    with spawned_nervosum(*args, env=home_env, port=port) as server:
        wait_ready(server, timeout=420)
        with server.client() as client:
            answer = client.post("/predict", json=IRIS_SETOSA)
    assert answer.json()["prediction"] == "hello=world"


def test_ls_filters_newest_first_and_run_without_flags(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    first = built_id(str(iris_copy(tmp_path, "iris")), env=home_env)
    batch = built_id(str(iris_copy(tmp_path, "iris_batch", mode="batch")), env=home_env)
    assert first != batch

    assert [e["name"] for e in ls_json(home_env)] == ["iris_batch", "iris"]
    assert [e["name"] for e in ls_json(home_env, "mode=batch")] == ["iris_batch"]
    assert ls_json(home_env, "mode=batch", "name=iris") == []
    assert ls_json(home_env, "name=iris", "mode=batch") == []
    assert [e["id"] for e in ls_json(home_env, "name=iris*", "mode=batch")] == [batch]
    assert [e["id"] for e in ls_json(home_env, f"id={first[:6]}")] == [first]
    assert [e["id"] for e in ls_json(home_env, "tag=v0.0.1", "mode=http")] == [first]
    assert ls_json(home_env, "tag=v9") == []
    quiet = nervosum("ls", "-q", env=home_env).stdout.split()
    assert quiet == [batch[:12], first[:12]]

    bad = nervosum("ls", "-f", "colour=red", env=home_env)
    assert bad.returncode == 2
    assert "unknown filter key 'colour'" in bad.stderr and "id, name, tag, mode" in bad.stderr

    # No flags: the newest bundle overall, named before anything else happens.
    newest = nervosum("run", env=home_env)
    assert "running iris_batch:v0.0.1" in newest.stderr and "newest bundle" in newest.stderr
    assert newest.returncode == 2  # a batch job needs its input and output
    assert "Missing option '-i' / '--input'" in newest.stderr

    missing = nervosum("run", "-n", "irsi", env=home_env)
    assert missing.returncode == 1
    assert "no bundle matches name=irsi" in missing.stderr
    assert "names: iris, iris_batch" in missing.stderr
    wrong_tag = nervosum("run", "-n", "iris", "-t", "v2", env=home_env)
    assert wrong_tag.returncode == 1
    assert "tags: v0.0.1" in wrong_tag.stderr


def test_same_input_same_id_and_a_change_gives_a_new_one(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    project = iris_copy(tmp_path, "repro")
    first = built_id(str(project), env=home_env)
    assert built_id(str(project), env=home_env) == first
    assert len(ls_json(home_env)) == 1
    with (project / "model" / "model.py").open("a") as source:
        source.write("\n# a comment changes the code\n")
    second = built_id(str(project), env=home_env)
    assert second != first
    assert [e["id"] for e in ls_json(home_env)] == [second, first]


def test_bundle_layout_weights_ignores_and_dockerfile(
    tmp_path: Path, home_env: dict[str, str], make_project
) -> None:
    project = make_project(
        """
        name: Tree
        tag: "2.0"
        model: {artifact: model.joblib}
        server: {port: 8080}
        build: {ignore: ["*.log"]}
        input_schema:
          - {name: x, type: float}
        """,
        {
            "data/train.csv": "x,y\n1,0\n",
            ".nervosumignore": "data/\n",
            "notes.log": "debug\n",
            "README.md": "# tree\n",
        },
    )
    joblib.dump(DecisionTreeClassifier().fit([[0.0], [1.0]], [0, 1]), project / "model.joblib")
    home_env["NERVOSUM_HOME"] = str(project / ".registry")  # a registry inside the project
    bundle_id = built_id(str(project), env=home_env)
    bundle = project / ".registry" / "bundles" / bundle_id

    app_files = sorted(
        p.relative_to(bundle / "app").as_posix() for p in (bundle / "app").rglob("*")
    )
    assert app_files == [".nervosumignore", "README.md", "model.joblib", "nervosum.yaml"]
    link = bundle / "app" / "model.joblib"
    assert link.is_symlink() and os.readlink(link) == "../weights/model.joblib"
    assert link.read_bytes() == (project / "model.joblib").read_bytes()

    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["id"] == bundle_id
    assert (manifest["name"], manifest["tag"], manifest["mode"]) == ("tree", "2.0", "http")
    assert manifest["weights"] == ["model.joblib"]
    assert manifest["input_schema"] == [{"name": "x", "type": "float", "required": True}]
    assert manifest["git"] is None
    # No requirements.txt: the model file brings what reads and compiles it (issue 21).
    for library in ("scikit-learn==", "joblib==", "onnxruntime==", "skl2onnx=="):
        assert any(pin.startswith(library) for pin in manifest["requirements"]), library
    assert any(pin.startswith("nervosum==") for pin in manifest["requirements"])

    lock = (bundle / "requirements.lock").read_text().splitlines()
    wheels = sorted(p.name for p in (bundle / "wheels").glob("*.whl"))
    assert len(lock) == len(wheels) and all("--hash=sha256:" in line for line in lock)

    dockerfile = (bundle / "Dockerfile").read_text()
    for expected in [
        "ARG BASE_IMAGE=python:3.",
        "COPY wheels/ /bundle/wheels/",
        "--no-index --find-links /bundle/wheels --require-hashes",
        'LABEL owner="nervosum" name="tree" tag="2.0" mode="http"',
        "COPY weights/ /bundle/weights/",
        "COPY app/ /bundle/app/",
        "USER 10001:10001",
        "EXPOSE 8080",
        "HEALTHCHECK",
        "http://127.0.0.1:8080/health/ready",
        'ENTRYPOINT ["/opt/nervosum/bin/python", "/bundle/entrypoint.py"]',
    ]:
        assert expected in dockerfile, expected
    order = [dockerfile.index(s) for s in ("COPY --from", "COPY weights/", "COPY app/")]
    assert order == sorted(order)  # dependencies, then model files, then code
    entrypoint = (bundle / "entrypoint.py").read_text()
    assert 'COMMAND = ["serve"]' in entrypoint and 'CONFIG = "nervosum.yaml"' in entrypoint


def test_the_manifest_records_the_git_commit(tmp_path: Path, home_env: dict[str, str]) -> None:
    project = iris_copy(tmp_path, "versioned")
    git = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "model"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    built_id(str(project), env=home_env)
    inspected = json.loads(nervosum("inspect", "versioned:v0.0.1", env=home_env).stdout)
    assert inspected["manifest"]["git"] == {"commit": head.stdout.strip(), "dirty": False}


def test_config_errors_exit_2_and_register_nothing(
    tmp_path: Path, home_env: dict[str, str], make_project
) -> None:
    project = make_project("name: Broken\ndeployment:\n  mode: kafka\ntag: v1\n")
    result = nervosum("build", str(project), env=home_env)
    assert result.returncode == 2
    assert (
        "nervosum.yaml:3: deployment.mode: mode 'kafka' is not a deployment mode" in result.stderr
    )
    assert ls_json(home_env) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "name: Iris\ndeployment: {mode: unsupported}\nsrc: .\n",
            "nervosum.yaml:2: deployment.mode: mode 'unsupported' is not supported",
        ),
        (
            "name: Iris\ninterface: {model_module: model, model_class: Iris Model}\n",
            "interface.model_class",
        ),
        ("name: Iris\nrequirements: missing.txt\n", "requirements file 'missing.txt' not found"),
        ("deployment: {mode: http}\n", "name: required field is missing"),
    ],
)
def test_seed_config_errors_through_build(
    home_env: dict[str, str], make_project, config: str, expected: str
) -> None:
    project = make_project(config)
    result = nervosum("build", str(project), "--c", "nervosum.yaml", env=home_env)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr


def test_requirements_that_disagree_with_the_environment_fail_the_build(
    tmp_path: Path, home_env: dict[str, str], make_project
) -> None:
    project = make_project(
        "name: Old\nrequirements: requirements.txt\nmodel: {module: m, class: M}\n",
        {
            "requirements.txt": "numpy<1.0\n",
            "m.py": "class M:\n    def predict(self, x):\n        return x\n",
        },
    )
    result = nervosum("build", str(project), env=home_env)
    assert result.returncode == 1
    assert "numpy<1.0 (installed: " in result.stderr
    assert "hint: install the versions the model needs here" in result.stderr
    assert ls_json(home_env) == []


def test_pip_options_are_ignored_and_their_credentials_stay_out_of_the_bundle(
    home_env: dict[str, str], make_project
) -> None:
    project = make_project(
        "name: Indexed\nrequirements: requirements.txt\nmodel: {module: m, class: M}\n",
        {
            "requirements.txt": "--extra-index-url https://deploy:s3cr3t@pypi.corp.example/simple"
            "\n--trusted-host pypi.corp.example\npandas\n",
            "m.py": "class M:\n    def predict(self, x):\n        return x\n",
        },
    )
    result = nervosum("build", str(project), "--no-image", env=home_env)
    assert result.returncode == 0, result.stderr
    notes = [line.strip() for line in result.stderr.splitlines() if "options ignored" in line]
    assert notes == [
        "requirements.txt: pip options ignored, the bundle installs from its own wheels:"
        " --extra-index-url https://***@pypi.corp.example/simple, --trusted-host pypi.corp.example"
    ]
    assert "s3cr3t" not in result.stdout + result.stderr
    [entry] = ls_json(home_env)
    bundle = Path(str(entry["path"]))
    assert (bundle / "app" / "requirements.txt").read_text() == (
        "--extra-index-url https://***@pypi.corp.example/simple\n"
        "--trusted-host pypi.corp.example\npandas\n"
    )
    for path in bundle.rglob("*"):
        if path.is_file() and path.suffix != ".whl":
            assert b"s3cr3t" not in path.read_bytes(), path
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert any(pin.startswith("pandas==") for pin in manifest["requirements"])


def test_image_asked_for_without_a_builder(tmp_path: Path, home_env: dict[str, str]) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    env = {**home_env, "PATH": str(empty)}
    result = nervosum("build", str(EXAMPLES / "iris"), "--image", env=env)
    assert result.returncode == 1
    assert "no image built: none of podman, docker, buildah is installed" in result.stderr
    assert "docker build " in result.stderr
    assert [e["name"] for e in ls_json(home_env)] == ["iris"]  # the bundle is still there
    default = nervosum("build", str(EXAMPLES / "iris"), env=env)
    assert default.returncode == 0, default.stderr
    assert "no image built" in default.stderr


def test_a_docker_whose_daemon_is_down_is_treated_as_absent(
    tmp_path: Path, home_env: dict[str, str]
) -> None:
    fake_builder(tmp_path / "bin", "docker", STOPPED_DAEMON)
    env = {**home_env, "PATH": str(tmp_path / "bin")}
    result = nervosum("build", str(EXAMPLES / "iris"), env=env)
    assert result.returncode == 0, result.stderr
    [entry] = ls_json(home_env)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: no image built: docker is installed but cannot build ({DAEMON_DOWN});"
        f" the bundle is registered, build it later: docker build -t nervosum/iris:v0.0.1"
        f" {entry['path']}"
    ]
    assert "run it: nervosum run -n iris -t v0.0.1" in result.stdout

    asked = nervosum("build", str(EXAMPLES / "iris"), "--image", env=env)
    assert asked.returncode == 1
    assert f"error: no image built: docker is installed but cannot build ({DAEMON_DOWN})" in (
        asked.stderr
    )
    assert [e["name"] for e in ls_json(home_env)] == ["iris"]  # the bundle is still there
    assert (tmp_path / "bin" / "calls.log").read_text() == "docker info\ndocker info\n"


def test_inspect_export_rm(tmp_path: Path, home_env: dict[str, str]) -> None:
    bundle_id = built_id(str(EXAMPLES / "iris"), env=home_env)
    inspected = json.loads(nervosum("inspect", bundle_id[:8], env=home_env).stdout)
    assert inspected["id"] == bundle_id and inspected["manifest"]["name"] == "iris"

    archive = tmp_path / "out" / "iris.tar.gz"
    exported = nervosum("export", "iris:v0.0.1", "-o", str(archive), env=home_env)
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert {"iris-v0.0.1/manifest.json", "iris-v0.0.1/Dockerfile"} <= set(names)
    assert any(name.startswith("iris-v0.0.1/wheels/nervosum-") for name in names)

    removed = nervosum("rm", "iris:v0.0.1", env=home_env)
    assert removed.returncode == 0 and f"removed iris:v0.0.1 ({bundle_id[:12]})" in removed.stdout
    assert ls_json(home_env) == []
    assert not (tmp_path / "home" / "bundles" / bundle_id).exists()
    again = nervosum("rm", "iris:v0.0.1", env=home_env)
    assert again.returncode == 1 and "the registry is empty" in again.stderr


def test_concurrent_builds_both_register(tmp_path: Path, home_env: dict[str, str]) -> None:
    projects = [iris_copy(tmp_path, f"twin{i}") for i in range(3)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "nervosum", "build", "--no-image", "-q", str(p)],
            env=home_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in projects
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    assert sorted(e["name"] for e in ls_json(home_env)) == ["twin0", "twin1", "twin2"]
    assert list((tmp_path / "home" / "tmp").iterdir()) == []


def tiny_wheel(folder: Path, name: str, version: str) -> Path:
    """A pure-Python wheel of a package nobody has installed, for an offline index."""
    folder.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{module}.py", "ANSWER = 42\n")
        zf.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        zf.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        zf.writestr(f"{info}/RECORD", "")
    return wheel


def test_requirements_not_installed_here_are_downloaded(
    tmp_path: Path, home_env: dict[str, str], make_project
) -> None:
    index = tmp_path / "index"
    tiny_wheel(index, "nervosum-demo-extra", "1.2.0")
    project = make_project(
        "name: Extra\nrequirements: requirements.txt\nmodel: {module: m, class: M}\n",
        {
            "requirements.txt": "nervosum-demo-extra>=1.0\n",
            "m.py": "class M:\n    def predict(self, x):\n        return x\n",
        },
    )
    env = {**home_env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    result = nervosum("build", str(project), "--no-image", env=env)
    assert result.returncode == 0, result.stderr
    assert "downloading 1 packages" in result.stderr
    [entry] = ls_json(home_env)
    lock = (Path(str(entry["path"])) / "requirements.lock").read_text()
    assert "nervosum-demo-extra==1.2.0 --hash=sha256:" in lock
    assert (
        Path(str(entry["path"])) / "wheels" / "nervosum_demo_extra-1.2.0-py3-none-any.whl"
    ).is_file()

    nowhere = {**env, "PIP_FIND_LINKS": str(tmp_path / "empty")}
    (project / "requirements.txt").write_text("nervosum-demo-extra>=2.0\n")
    failed = nervosum("build", str(project), "--no-image", env=nowhere)
    assert failed.returncode == 1
    assert "pip could not download the requirements that are not installed here" in failed.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="manylinux wheels are Linux-only")
def test_platform_builds_download_compiled_wheels_for_that_platform(
    tmp_path: Path, home_env: dict[str, str], bundle_cache: Path
) -> None:
    built_id(str(EXAMPLES / "iris"), env=home_env)  # fills the wheel cache
    index = tmp_path / "index"
    index.mkdir()
    for wheel in (bundle_cache / "wheels").glob("*/*.whl"):
        shutil.copy(wheel, index / wheel.name)
    env = {**home_env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    target = f"manylinux_2_28_{platform.machine()}"
    result = nervosum("build", str(EXAMPLES / "iris"), "--no-image", "--platform", target, env=env)
    assert result.returncode == 0, result.stderr
    assert "downloading" in result.stderr and "Successfully downloaded" in result.stderr
    newest = ls_json(home_env)[0]
    wheels = {p.name for p in (Path(str(newest["path"])) / "wheels").glob("*.whl")}
    assert any(name.startswith("numpy-") and "manylinux" in name for name in wheels)


def test_a_batch_bundle_runs_a_batch_job(tmp_path: Path, home_env: dict[str, str]) -> None:
    built_id(str(EXAMPLES / "iris-batch"), env=home_env)
    source = EXAMPLES / "iris-batch" / "data" / "input.csv"
    out = tmp_path / "scores"
    result = nervosum(
        "run", "-n", "iris_batch", "--input", str(source), "--output", f"{out}/", env=home_env
    )
    assert result.returncode == 0, result.stderr
    assert "150 rows in, 150 out, 0 rejected" in result.stdout
    frame = pd.concat(pd.read_parquet(part) for part in sorted(out.glob("part-*.parquet")))
    assert frame.columns.tolist() == ["id", "prediction"]
    assert frame["id"].tolist()[:2] == ["flower-000", "flower-001"]
    serving = nervosum("run", "-n", "iris_batch", "--port", "5000", env=home_env)
    assert serving.returncode == 2 and "--host/--port apply to http bundles" in serving.stderr
