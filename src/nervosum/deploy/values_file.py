"""``--values FILE``: the machine-learning-microservice-template's deployment keys as
settings.

# [compat] FlorianBorn/machine-learning-microservice-template deployed with
# ``helm install NAME -f config.yaml helm/``: its ``config.yaml`` is the values file of
# its chart (``deployment_name``, ``service_node_port``, ...), and ``config/build.yaml``
# holds the same keys prefixed ``k8s_`` / ``docker_``. Each key maps onto one setting
# (docs/deploy.md), the image as the chart wrote it: ``REPOSITORY/NAME:TAG``.

The same file holds the template's settings for Jenkins, the image build, training and
logging: those are named in a note and left alone. A key neither defines is an error
with a "did you mean", so a typo never silently deploys the defaults.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nervosum.config.spec import DeploySpec
from nervosum.config.yaml_lines import parse_yaml
from nervosum.deploy.settings import Place, apply_changes
from nervosum.detect.template import LOGGING_KEYS
from nervosum.errors import ConfigError, ConfigIssue

# template key (config.yaml spelling, then config/build.yaml's) -> setting
SETTINGS: dict[str, str] = {
    "deployment_name": "name",
    "k8s_deployment_name": "name",
    "deployment_label": "label",
    "k8s_deployment_label": "label",
    "container_name": "container",
    "k8s_container_name": "container",
    "replicas": "replicas",
    "k8s_replicas": "replicas",
    "container_port": "port",
    "k8s_container_port": "port",
    "service_name": "service.name",
    "k8s_service_name": "service.name",
    "service_type": "service.type",
    "k8s_service_type": "service.type",
    "service_port": "service.port",
    "k8s_service_port": "service.port",
    "service_node_port": "service.node_port",
    "k8s_service_node_port": "service.node_port",
}
# The parts of the chart's ``image: REPOSITORY/NAME:TAG``. Its template used
# ``production_image_*``; ``image_name`` / ``image_tag`` stand in when those are absent.
REPOSITORY = ("repository", "docker_repository")
IMAGE_NAMES = (
    "production_image_name",
    "docker_production_image_name",
    "image_name",
    "k8s_image_name",
)
IMAGE_TAGS = ("production_image_tag", "docker_production_image_tag", "image_tag", "k8s_image_tag")
IMAGE_KEYS = frozenset((*REPOSITORY, *IMAGE_NAMES, *IMAGE_TAGS))
# Keys the template defines for something other than the deployment.
OTHER_PURPOSES: dict[str, str] = {
    key: purpose
    for purpose, keys in {
        "Jenkins and the image build": (
            "registry",
            "docker_registry",
            "runtime_image_name",
            "runtime_image_tag",
            "docker_runtime_image_name",
            "docker_runtime_image_tag",
            "docker_socket_path",
            "github_project_name",
            "docker_credentials_id",
            "scm_credentials_id",
            "jenkins_docker_credentials_id",
            "jenkind_scm_credentials_id",
            "jenkins_ansible_vault_id",
        ),
        "the model and its test request": ("model_path", "model_name", "prediction_test_case_path"),
        "the prediction log and the API": (*LOGGING_KEYS, "ID_NAME"),
    }.items()
    for key in keys
}
KNOWN = [*SETTINGS, *sorted(IMAGE_KEYS), *OTHER_PURPOSES]
Written = dict[str, tuple[Any, int | None]]  # an image key: its value as written, its line
UNUSED_IMAGE = "an image its chart did not deploy (production_image_* win)"


@dataclass
class ValuesFile:
    """What a values file said: the settings it changes, each with the key and line it
    came from, and what was read and left alone, for the notes."""

    name: str
    changes: dict[str, Any] = field(default_factory=dict)
    places: dict[str, Place] = field(default_factory=dict)
    read: list[str] = field(default_factory=list)
    ignored: dict[str, list[str]] = field(default_factory=dict)

    def apply(self, base: DeploySpec) -> DeploySpec:
        """``base`` with this file's settings, validated (problems at the file's lines)."""
        return apply_changes(base, self.changes, self.name, self.places)

    def notes(self) -> list[str]:
        """One line saying which keys were read, one per group of keys left alone."""
        if self.read:
            lines = [f"note: {self.name}: read {', '.join(self.read)}"]
        else:
            lines = [
                f"note: {self.name}: no deployment key is set (the template ships them"
                " commented out): the bundle's settings apply"
            ]
        for purpose, keys in self.ignored.items():
            lines.append(
                f"note: {self.name}: ignored, the template's keys for {purpose}: " + ", ".join(keys)
            )
        return lines


def read_values(path: Path, default_image: str | None) -> ValuesFile:
    """The template's deployment keys of ``path`` as settings; ``default_image`` (the
    bundle's ``REPOSITORY/NAME``) names the image when the file gives only a repository."""
    doc = parse_yaml(path.read_text(encoding="utf-8"))
    found = ValuesFile(path.name)
    if doc.issues:
        raise ConfigError(found.name, doc.issues)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(found.name, [ConfigIssue("", "not a mapping of keys", 1)])
    issues: list[ConfigIssue] = []
    image: Written = {}
    for key, value in data.items():
        line = doc.line_of((key,))
        if key in SETTINGS:
            _change(found, SETTINGS[key], value, (key, line), issues)
        elif key in IMAGE_KEYS:  # as written: a tag 1.10 stays 1.10
            scalar = isinstance(value, int | float | str)
            image[key] = (doc.text_of((key,)) if scalar else value, line)
        elif key in OTHER_PURPOSES:
            found.ignored.setdefault(OTHER_PURPOSES[key], []).append(key)
        else:
            issues.append(_unknown(str(key), line))
    _image(found, image, default_image, issues)
    if issues:
        raise ConfigError(found.name, issues)
    return found


def _change(
    found: ValuesFile, setting: str, value: Any, place: Place, issues: list[ConfigIssue]
) -> None:
    if setting in found.places:
        earlier, line = found.places[setting]
        issues.append(
            ConfigIssue(
                place[0],
                f"sets {setting}, as {earlier} (line {line}) does",
                place[1],
                "keep one",
            )
        )
        return
    found.changes[setting] = value
    found.places[setting] = place
    found.read.append(f"{place[0]} ({setting})")


def _first(image: Written, keys: tuple[str, ...]) -> tuple[str, Any, int | None] | None:
    """The first of ``keys`` the file set: (key, value, line)."""
    for key in keys:
        value, line = image.get(key, (None, None))
        if value is not None:
            return key, value, line
    return None


def _image(
    found: ValuesFile, image: Written, default_image: str | None, issues: list[ConfigIssue]
) -> None:
    """``image.repository`` and ``image.tag`` as the chart wrote the image."""
    tag = _first(image, IMAGE_TAGS)
    if tag is not None:
        _change(found, "image.tag", str(tag[1]), (tag[0], tag[2]), issues)
    repository, name = _first(image, REPOSITORY), _first(image, IMAGE_NAMES)
    if name is None and repository is not None:
        if default_image is None:
            issues.append(
                ConfigIssue(
                    repository[0],
                    "a repository without an image name",
                    repository[2],
                    "add production_image_name",
                )
            )
            return
        # The bundle's image under the template's repository.
        name = ("", default_image.rsplit("/", 1)[-1], repository[2])
    given = [part for part in (repository, name) if part is not None]
    if given:
        written = "/".join(key for key, _, _ in given if key)
        reference = "/".join(str(value) for _, value, _ in given)
        _change(found, "image.repository", reference, (written, given[-1][2]), issues)
    used = {part[0] for part in (tag, *given) if part is not None}
    for key, (value, _) in image.items():
        if value is not None and key not in used:  # image_name beside production_image_name
            found.ignored.setdefault(UNUSED_IMAGE, []).append(key)


def _unknown(key: str, line: int | None) -> ConfigIssue:
    close = difflib.get_close_matches(key, KNOWN, n=1, cutoff=0.6)
    deployment = [*list(SETTINGS)[::2], REPOSITORY[0], IMAGE_NAMES[0], IMAGE_TAGS[0]]
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else f"the template's deployment keys are {', '.join(deployment)}"
    )
    message = "unknown key: not one of the template's deployment keys, nor of its others"
    return ConfigIssue(key, message, line, hint)
