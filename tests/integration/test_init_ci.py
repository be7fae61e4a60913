"""`nervosum init --ci github|gitlab|jenkins`: pipelines that test, check, build, push and
deploy, validated by parsing them (no CI service runs here) and by running the test
job's own commands against a real training project."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from nervosum.cli import main
from nervosum.scaffold import create_project

pytestmark = pytest.mark.slow

DEPLOY = 'nervosum deploy -n "$NAME" -t "$TAG" --target kubernetes --apply'
SECRETS = ("REGISTRY_USER", "REGISTRY_PASSWORD", "KUBECONFIG")


def pipeline(tmp_path: Path, ci: str) -> tuple[Path, str]:
    """A default project with the ``ci`` pipeline added by `init --ci -d`; (file, stdout)."""
    project = tmp_path / "churn"
    create_project("churn", project)
    result = CliRunner().invoke(main, ["init", "--ci", ci, "-d", str(project)])
    assert result.exit_code == 0, result.output
    written = Path(result.stdout.splitlines()[0].removeprefix("wrote "))
    return written, result.stdout


def assert_shell_parses(script: str) -> None:
    """bash's own parser accepts the script (`bash -n` reads without running)."""
    checked = subprocess.run(
        ["bash", "-n"], input=script, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, f"{checked.stderr}\n{script}"


def commands(steps: list[dict[str, Any]]) -> list[str]:
    return [step.get("run") or step.get("uses", "") for step in steps]


def test_github_workflow_tests_on_every_change_and_delivers_main(tmp_path: Path) -> None:
    path, stdout = pipeline(tmp_path, "github")
    assert path == tmp_path / "churn" / ".github" / "workflows" / "nervosum.yml"
    assert stdout.splitlines()[1].startswith("next: set REGISTRY, IMAGE_NAME and KUBE_CONTEXT")
    workflow = yaml.safe_load(path.read_text())
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert "pull_request" in workflow["on"]
    test, deliver = workflow["jobs"]["test"], workflow["jobs"]["deliver"]
    assert list(workflow["jobs"]) == ["test", "deliver"]
    runs = commands(test["steps"])
    assert runs[:2] == ["actions/checkout@v4", "actions/setup-python@v5"]
    assert runs[2].startswith("pip install ")
    assert runs[3:6] == ["nervosum train .", "pytest tests", "nervosum check ."]
    assert test["steps"][3]["if"] == "hashFiles('features.yaml') != ''"
    assert deliver["needs"] == "test"
    assert deliver["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    names = [step.get("name") for step in deliver["steps"]]
    assert names[-3:] == ["Build", "Push", "Deploy"]
    build, push, deploy = (step["run"] for step in deliver["steps"][-3:])
    assert build.startswith("nervosum build . --image --builder docker\n")
    assert 'docker push "$REGISTRY/${IMAGE_NAME:-$NAME}:$IMAGE_TAG"' in push
    assert DEPLOY in deploy and '--context "$KUBE_CONTEXT"' in deploy
    assert '--set image.tag="$IMAGE_TAG"' in deploy
    assert "config.name.lower()" in build and "$GITHUB_SHA" in build
    # The model and the nervosum.yaml that were trained and checked are delivered.
    upload = next(s for s in test["steps"] if s.get("uses", "").startswith("actions/upload"))
    assert upload["with"]["path"].split() == ["model_bin/", "nervosum.yaml"]
    download = next(s for s in deliver["steps"] if s.get("uses", "").startswith("actions/down"))
    assert download["with"]["path"] == "."
    for script in [*runs[2:], build, push, deploy]:
        assert_shell_parses(script)
    # Settings come from the repository's variables and secrets, never from the file.
    assert deliver["env"] == {
        "REGISTRY": "${{ vars.REGISTRY }}",
        "IMAGE_NAME": "${{ vars.IMAGE_NAME }}",
        "KUBE_CONTEXT": "${{ vars.KUBE_CONTEXT }}",
    }
    secret_env = {
        key: value for step in deliver["steps"] for key, value in step.get("env", {}).items()
    }
    assert secret_env == {
        "REGISTRY_USER": "${{ secrets.REGISTRY_USER }}",
        "REGISTRY_PASSWORD": "${{ secrets.REGISTRY_PASSWORD }}",
        "KUBECONFIG_CONTENT": "${{ secrets.KUBECONFIG }}",
    }


def test_gitlab_pipeline_has_a_test_and_a_deliver_stage(tmp_path: Path) -> None:
    path, _ = pipeline(tmp_path, "gitlab")
    assert path == tmp_path / "churn" / ".gitlab-ci.yml"
    config = yaml.safe_load(path.read_text())
    assert config["stages"] == ["test", "deliver"]
    test, deliver = config["test"], config["deliver"]
    assert test["stage"] == "test" and deliver["stage"] == "deliver"
    assert test["script"][0].startswith("pip install ")
    assert test["script"][1:] == [
        "if [ -f features.yaml ]; then nervosum train .; fi",
        "pytest tests",
        "nervosum check .",
    ]
    # the tested model, and the nervosum.yaml checked with it, are the delivered ones
    assert test["artifacts"]["paths"] == ["model_bin/", "nervosum.yaml"]
    assert deliver["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
    script = deliver["script"]
    assert script[0] == "nervosum build . --image --builder docker"
    assert 'docker push "$IMAGE"' in script
    assert script[-1].startswith(DEPLOY)
    assert script[-1].endswith('--set image.tag="$IMAGE_TAG"')
    assert 'IMAGE_TAG="$TAG-$CI_COMMIT_SHORT_SHA"' in script
    assert 'IMAGE="$REGISTRY/${IMAGE_NAME:-$NAME}:$IMAGE_TAG"' in script
    assert any("config.name.lower()" in line for line in script)
    assert script.index('docker push "$IMAGE"') < len(script) - 1
    assert_shell_parses("\n".join(deliver["before_script"] + script))
    assert_shell_parses("\n".join(test["script"]))
    # Secrets are masked CI/CD variables: the file names them, never sets them.
    declared = {**config["variables"], **deliver["variables"]}
    assert not set(SECRETS) & set(declared)


def test_jenkinsfile_stages_run_in_order(tmp_path: Path) -> None:
    path, _ = pipeline(tmp_path, "jenkins")
    assert path == tmp_path / "churn" / "Jenkinsfile"
    text = path.read_text()
    assert text.count("{") == text.count("}")
    stages = re.findall(r"stage\('([^']+)'\)", text)
    assert stages == ["Install", "Train", "Test", "Check", "Build", "Push", "Deploy"]
    bodies = dict(zip(stages, re.split(r"\n        stage\('[^']+'\) ", text)[1:], strict=True))
    assert "fileExists('features.yaml')" in bodies["Train"]
    assert "sh '.venv/bin/pytest tests'" in bodies["Test"]
    assert "sh '.venv/bin/nervosum check .'" in bodies["Check"]
    assert "nervosum build . --image --builder docker" in bodies["Build"]
    assert 'docker push "$REGISTRY/${IMAGE_NAME:-$NAME}:$IMAGE_TAG"' in bodies["Push"]
    assert ".venv/bin/" + DEPLOY in bodies["Deploy"]
    assert '--set image.tag="$IMAGE_TAG"' in bodies["Deploy"]
    assert "git rev-parse --short=8 HEAD" in bodies["Build"]
    assert "config.name.lower()" in bodies["Build"]
    assert "Multibranch Pipeline" in text.split("pipeline {")[0]
    for stage in ("Build", "Push", "Deploy"):
        assert "when { branch 'main' }" in bodies[stage]
    assert "usernamePassword(credentialsId: params.REGISTRY_CREDENTIALS" in bodies["Push"]
    assert "file(credentialsId: params.KUBECONFIG_CREDENTIALS" in bodies["Deploy"]
    for script in re.findall(r"sh '''(.*?)'''", text, re.S):
        assert_shell_parses(script.replace("\\\n", " "))
    parameters = re.findall(r"string\(name: '(\w+)', defaultValue: '([^']*)'", text)
    assert [name for name, _ in parameters] == [
        "REGISTRY",
        "IMAGE_NAME",
        "KUBE_CONTEXT",
        "REGISTRY_CREDENTIALS",
        "KUBECONFIG_CREDENTIALS",
    ]
    assert not any(name in SECRETS for name, _ in parameters)


def test_the_current_folder_is_the_default_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_project("here", tmp_path / "here")
    monkeypatch.chdir(tmp_path / "here")
    result = CliRunner().invoke(main, ["init", "--ci", "gitlab"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "wrote .gitlab-ci.yml"
    assert (tmp_path / "here" / ".gitlab-ci.yml").is_file()


def test_a_new_project_gets_the_chosen_pipeline(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["init", "svc", "-d", str(tmp_path / "svc"), "--ci", "jenkins"]
    )
    assert result.exit_code == 0, result.output
    assert "  Jenkinsfile" in result.stdout.splitlines()
    assert result.stdout.splitlines()[0] == f"created {tmp_path / 'svc'}/ (8 files)"


@pytest.mark.parametrize(
    ("ci", "expected", "absent"),
    [
        (None, ".github/workflows/nervosum.yml", ".gitlab-ci.yml"),
        ("gitlab", ".gitlab-ci.yml", ".github/workflows/nervosum.yml"),
    ],
)
def test_the_training_template_has_github_unless_told(
    tmp_path: Path, ci: str | None, expected: str, absent: str
) -> None:
    args = ["init", "tr", "-d", str(tmp_path / "tr"), "--template", "training"]
    result = CliRunner().invoke(main, args + (["--ci", ci] if ci else []))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tr" / expected).is_file()
    assert not (tmp_path / "tr" / absent).exists()


def test_an_existing_pipeline_is_never_overwritten(tmp_path: Path) -> None:
    path, _ = pipeline(tmp_path, "jenkins")
    path.write_text("// mine\n")
    result = CliRunner().invoke(main, ["init", "--ci", "jenkins", "-d", str(path.parent)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path} already exists",
        "hint: remove it to write a fresh pipeline",
    ]
    assert path.read_text() == "// mine\n"


def test_a_folder_without_a_project_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", "--ci", "github", "-d", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: {tmp_path} has no nervosum.yaml"
    assert result.stderr.splitlines()[1].startswith("hint: run it inside a project, pass -d DIR")
    assert list(tmp_path.iterdir()) == []


def test_a_template_needs_a_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", "--ci", "github", "--template", "training"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --template needs NAME",
        "hint: nervosum init NAME --template training",
    ]


def test_an_unknown_ci_system_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["init", "--ci", "travis"])
    assert result.exit_code == 2
    assert "Invalid value for '--ci': 'travis' is not one of 'github', 'gitlab', 'jenkins'." in (
        result.stderr
    )


def test_the_test_job_runs_as_written_on_a_training_project(tmp_path: Path) -> None:
    """The GitHub test job's own commands (after its install step) pass on a fresh
    training project: train, the project's tests, check."""
    project = tmp_path / "flowers"
    made = CliRunner().invoke(
        main, ["init", "flowers", "-d", str(project), "--template", "training"]
    )
    assert made.exit_code == 0, made.output
    workflow = yaml.safe_load((project / ".github" / "workflows" / "nervosum.yml").read_text())
    steps = [s for s in workflow["jobs"]["test"]["steps"] if "run" in s and s["name"] != "Install"]
    script = "set -e\n" + "\n".join(step["run"] for step in steps)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERVOSUM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "saved model_bin/model.joblib" in done.stdout
    assert re.search(r"=+ 6 passed in ", done.stdout), done.stdout
    assert done.stdout.rstrip().endswith("ready to serve: nervosum serve .")


def test_the_github_delivery_pushes_and_deploys_a_tag_per_commit(tmp_path: Path) -> None:
    """The deliver job's Build, Push and Deploy scripts, run by bash with stand-ins for
    the docker and nervosum commands (recording their arguments): a lowercased name, and
    the tag of nervosum.yaml plus the commit, pushed and passed to deploy."""
    project = tmp_path / "Churn"
    create_project("Churn", project)
    made = CliRunner().invoke(main, ["init", "--ci", "github", "-d", str(project)])
    assert made.exit_code == 0, made.output
    workflow = yaml.safe_load((project / ".github" / "workflows" / "nervosum.yml").read_text())
    steps = workflow["jobs"]["deliver"]["steps"][-3:]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for tool in ("docker", "nervosum"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\n')
        stub.chmod(0o755)
    env_file = tmp_path / "github_env"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERVOSUM_")}
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]])
    sha = "0123456789abcdef0123456789abcdef01234567"
    env.update(
        GITHUB_ENV=str(env_file),
        GITHUB_SHA=sha,
        RUNNER_TEMP=str(tmp_path),
        REGISTRY="ghcr.io/acme",
        KUBE_CONTEXT="prod",
    )
    for step in steps:
        exported = (
            dict(line.split("=", 1) for line in env_file.read_text().splitlines())
            if (env_file.exists())
            else {}
        )
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=project,
            env={**env, **exported},
            input="",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    recorded = calls.read_text().splitlines()
    image = "ghcr.io/acme/churn:v0.1.0-01234567"
    assert recorded[0] == "nervosum build . --image --builder docker"
    assert recorded[2] == f"docker tag nervosum/churn:v0.1.0 {image}"
    assert recorded[3] == f"docker push {image}"
    assert recorded[4] == (
        "nervosum deploy -n churn -t v0.1.0 --target kubernetes --apply --context prod"
        " --set image.repository=ghcr.io/acme/churn --set image.tag=v0.1.0-01234567"
    )
