"""Keep nervosum.yaml's serving keys in step with features.yaml and the saved artifact.

``nervosum train`` owns one marked block of nervosum.yaml: ``model.artifact``,
``id_field``, ``input_schema`` and ``output_schema``. Everything outside the markers
(name, tag, logging, server settings, comments) is the user's and is kept byte for
byte, so retraining after a change to features.yaml never leaves the server validating
requests against the old features, and never rewrites what the user wrote.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from nervosum.config.yaml_lines import parse_yaml
from nervosum.errors import RequestError
from nervosum.training.features import FEATURES_FILE, FeatureSpec

BEGIN = "# >>> nervosum train"
END = "# <<< nervosum train"
DEFAULT_ARTIFACT = "model_bin/model.joblib"
# The keys the block writes: set anywhere else too, the written file would be broken.
OWNED_KEYS = ("model", "id_field", "input_schema", "output_schema", "interface")
_OWNED_KEY = re.compile(rf"""^["']?({"|".join(OWNED_KEYS)})["']?\s*:""")
_HEADER = f"{BEGIN}: written from {FEATURES_FILE}; edit that file and run `nervosum train`"


def _markers(lines: list[str], config_path: Path) -> tuple[int, int]:
    """The line indexes of the block's two markers."""
    begins = [i for i, line in enumerate(lines) if line.startswith(BEGIN)]
    ends = [i for i, line in enumerate(lines) if line.startswith(END)]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise RequestError(
            f"{config_path} has no block for nervosum train to write (one {BEGIN!r} line "
            f"followed by one {END!r} line)",
            hint="add the two marker lines where model, id_field and input_schema belong, "
            "and remove those keys from the rest of the file",
        )
    return begins[0], ends[0]


def check_block(config_path: Path) -> None:
    """Fail before training, not after, when nervosum.yaml cannot take the result: no
    block, or a key the block owns also set outside it."""
    if not config_path.is_file():
        raise RequestError(
            f"{config_path} not found",
            hint="create a training project with `nervosum init NAME --template training`",
        )
    lines = config_path.read_text(encoding="utf-8").splitlines()
    begin, end = _markers(lines, config_path)
    outside = [(n, line) for n, line in enumerate(lines, start=1) if not begin < n - 1 < end]
    twice = [
        f"{match.group(1)} (line {n})"
        for n, line in outside
        if (match := _OWNED_KEY.match(line)) is not None
    ]
    if twice:
        raise RequestError(
            f"{config_path} sets {', '.join(twice)} outside the block nervosum train writes",
            hint=f"remove {'it' if len(twice) == 1 else 'them'} from the rest of the file:"
            f" the block between {BEGIN!r} and {END!r} holds {', '.join(OWNED_KEYS)}",
        )


def check_artifact_inside(config_path: Path, artifact: Path) -> None:
    """A :class:`RequestError` when ``artifact`` is outside the project's ``src`` folder,
    which is what bundles and images carry: the model would not be in them."""
    root = _src_dir(_settings(config_path), config_path).resolve()
    if not artifact.resolve().is_relative_to(root):
        raise RequestError(
            f"the model path {artifact} is outside the project's src folder {root}",
            hint="save the model inside it (e.g. --model-path model_bin/model.joblib): bundles"
            " and images carry only that folder",
        )


def _settings(config_path: Path) -> dict[str, Any]:
    data = parse_yaml(config_path.read_text(encoding="utf-8")).data
    return data if isinstance(data, dict) else {}


def _src_dir(settings: dict[str, Any], config_path: Path) -> Path:
    src = settings.get("src")
    return config_path.parent / (src if isinstance(src, str) else ".")


def artifact_path(config_path: Path) -> Path:
    """Where the artifact goes by default: nervosum.yaml's ``model.artifact`` (relative
    to ``src``), else ``model_bin/model.joblib``."""
    settings = _settings(config_path)
    model = settings.get("model")
    artifact = model.get("artifact") if isinstance(model, dict) else None
    name = artifact if isinstance(artifact, str) and artifact else DEFAULT_ARTIFACT
    return _src_dir(settings, config_path) / name


def _relative(artifact: Path, config_path: Path) -> str:
    """The artifact as nervosum.yaml names it: relative to ``src`` when inside it."""
    root = _src_dir(_settings(config_path), config_path).resolve()
    target = artifact.resolve()
    try:
        return target.relative_to(root).as_posix()
    except ValueError:
        return str(target)


def served_keys(
    features: FeatureSpec, artifact: str, output_type: str | None = None
) -> dict[str, Any]:
    """The block's keys: the artifact, the id field, the features as the input schema,
    and (once trained) the prediction named after the target."""
    keys: dict[str, Any] = {"model": {"artifact": artifact}}
    if features.id_field:
        keys["id_field"] = features.id_field
    keys["input_schema"] = [
        f.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        for f in features.features
    ]
    if output_type is not None:
        keys["output_schema"] = [{"name": features.target, "type": output_type}]
    return keys


def write_block(
    config_path: Path, features: FeatureSpec, artifact: Path, output_type: str | None = None
) -> None:
    """Replace the marked block of ``config_path`` with the keys for ``artifact``."""
    lines = config_path.read_text(encoding="utf-8").splitlines(keepends=True)
    begin, end = _markers([line.rstrip("\r\n") for line in lines], config_path)
    keys = served_keys(features, _relative(artifact, config_path), output_type)
    body = yaml.safe_dump(keys, sort_keys=False, default_flow_style=None, width=100)
    block = f"{_HEADER}\n{body}{END}\n"
    config_path.write_text("".join([*lines[:begin], block, *lines[end + 1 :]]), encoding="utf-8")
