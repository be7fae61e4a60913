"""``nervosum deploy --values``: the machine-learning-microservice-template's config.yaml
(its Helm chart's values file), as published and with its deployment keys set, read as
settings; the objects it gives are valid Kubernetes and what the template's chart made."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest

from nervosum.deploy.manifests import render
from nervosum.deploy.settings import apply_sets
from nervosum.deploy.values import chart_values
from nervosum.deploy.values_file import KNOWN, UNUSED_IMAGE, read_values
from nervosum.errors import ConfigError
from tests.unit.test_deploy_manifests import HTTP, K8S_VERSION, by_kind, env_of, main_container

SEED = (
    Path(__file__).parents[1]
    / "data"
    / "seeds"
    / "FlorianBorn__machine-learning-microservice-template"
)
PUBLISHED = SEED / "config.yaml"


def uncommented(text: str) -> str:
    """The published config.yaml with every key it ships commented out set, as a user of
    the template sets them before deploying."""
    keys = "|".join(re.escape(key) for key in KNOWN)
    return re.sub(rf"(?m)^#\s?((?:{keys}):)", r"\1", text)


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(uncommented(PUBLISHED.read_text(encoding="utf-8")), encoding="utf-8")
    return path


def objects_of(path: Path, sets: list[str] | None = None) -> dict[str, dict]:
    settings = read_values(path, HTTP.image).apply(HTTP.settings)
    objects = render(chart_values(HTTP, apply_sets(settings, sets or [])))
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    return by_kind(objects)


def test_the_published_file_sets_no_deployment_key_and_says_so() -> None:
    given = read_values(PUBLISHED, HTTP.image)
    assert given.changes == {}
    assert given.notes() == [
        "note: config.yaml: no deployment key is set (the template ships them commented out):"
        " the bundle's settings apply",
        "note: config.yaml: ignored, the template's keys for the model and its test request:"
        " prediction_test_case_path",
    ]
    defaults = render(chart_values(HTTP, HTTP.settings))
    assert objects_of(PUBLISHED) == by_kind(defaults)


def test_the_keys_set_give_the_deployment_and_service_of_the_templates_chart(
    configured: Path,
) -> None:
    given = read_values(configured, HTTP.image)
    assert given.changes == {
        "name": "ml-microservice",
        "label": "ml-microservice",
        "container": "ml-microservice",
        "port": 8000,
        "replicas": 2,
        "service.name": "ml-service",
        "service.type": "NodePort",
        "service.port": 8000,
        "service.node_port": 30000,
        "image.tag": "0.0.1",
        "image.repository": "n02291/ml_template_production_env",
    }
    # The chart deployed production_image_*; image_name / image_tag were never used.
    assert given.ignored[UNUSED_IMAGE] == ["image_name", "image_tag"]
    assert given.ignored["the prediction log and the API"][:2] == [
        "enable_mongodb_logging",
        "mongo_db_name",
    ]
    assert "ID_NAME" in given.ignored["the prediction log and the API"]
    assert "docker_credentials_id" in given.ignored["Jenkins and the image build"]
    assert given.notes()[0].startswith(
        "note: config.yaml: read deployment_name (name), deployment_label (label),"
    )
    objects = objects_of(configured)
    deployment, service = objects["Deployment"], objects["Service"]
    container = main_container(deployment)
    assert deployment["metadata"]["name"] == "ml-microservice"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "ml-microservice"}
    assert container["name"] == "ml-microservice"
    assert container["image"] == "n02291/ml_template_production_env:0.0.1"
    assert container["ports"][0]["containerPort"] == 8000
    assert env_of(deployment)["NERVOSUM_PORT"] == "8000"
    assert service["metadata"]["name"] == "ml-service"
    assert service["spec"]["type"] == "NodePort"
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["nodePort"]) == (8000, 30000)


def test_set_flags_override_the_file(configured: Path) -> None:
    objects = objects_of(configured, ["replicas=4", "service.type=ClusterIP", "service.node_port="])
    assert objects["Deployment"]["spec"]["replicas"] == 4
    assert objects["Service"]["spec"]["type"] == "ClusterIP"


def test_image_name_stands_in_without_production_image_and_tags_stay_as_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("repository: n02291\nimage_name: prod_ml_microservice\nimage_tag: 1.10\n")
    assert read_values(path, HTTP.image).changes == {
        "image.tag": "1.10",
        "image.repository": "n02291/prod_ml_microservice",
    }
    path.write_text("repository: registry.example/ml\n")  # the bundle's image, under it
    assert read_values(path, HTTP.image).changes == {
        "image.repository": "registry.example/ml/iris_model"
    }


def test_the_build_yaml_spelling_maps_the_same(tmp_path: Path) -> None:
    path = tmp_path / "build.yaml"
    path.write_text(
        "docker_repository: n02291\ndocker_production_image_name: ml_template_production\n"
        "docker_production_image_tag: 0.0.1\nk8s_deployment_name: ml-microservice\n"
        "k8s_replicas: 2\nk8s_service_type: NodePort\nk8s_service_node_port: 30000\n"
        "k8s_image_name: prod_ml_microservice\njenkins_ansible_vault_id: ansible-vault\n"
    )
    given = read_values(path, HTTP.image)
    assert given.changes["image.repository"] == "n02291/ml_template_production"
    assert given.changes["name"] == "ml-microservice"
    assert given.ignored == {
        UNUSED_IMAGE: ["k8s_image_name"],
        "Jenkins and the image build": ["jenkins_ansible_vault_id"],
    }


def test_unknown_keys_and_bad_values_are_reported_at_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("deployment_nam: ml\nreplicas: 2\nsevice_port: 80\ncolour: blue\n")
    with pytest.raises(ConfigError) as raised:
        read_values(path, HTTP.image)
    assert [issue.render("config.yaml") for issue in raised.value.issues] == [
        "config.yaml:1: deployment_nam: unknown key: not one of the template's deployment keys,"
        " nor of its others (did you mean 'deployment_name'?)",
        "config.yaml:3: sevice_port: unknown key: not one of the template's deployment keys,"
        " nor of its others (did you mean 'service_port'?)",
        "config.yaml:4: colour: unknown key: not one of the template's deployment keys, nor of"
        " its others (the template's deployment keys are deployment_name, deployment_label,"
        " container_name, replicas, container_port, service_name, service_type, service_port,"
        " service_node_port, repository, production_image_name, production_image_tag)",
    ]
    path.write_text("service_type: NodePort\nservice_node_port: 80\nreplicas: many\n")
    with pytest.raises(ConfigError) as raised:
        read_values(path, HTTP.image).apply(HTTP.settings)
    rendered = [issue.render("config.yaml") for issue in raised.value.issues]
    assert rendered[0].startswith("config.yaml:3: replicas: Input should be a valid integer")
    assert rendered[1].startswith(
        "config.yaml:2: service_node_port (service.node_port): Input should be greater than"
    )


def test_a_setting_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("deployment_name: a\nk8s_deployment_name: b\n")
    with pytest.raises(ConfigError, match=r"sets name, as deployment_name \(line 1\) does"):
        read_values(path, HTTP.image)
