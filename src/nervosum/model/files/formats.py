"""Which library reads a model file: its first bytes where they are decisive, else its
suffix, so a pickle named ``model.bin`` or a booster named ``model.model`` still loads and
a ``.json`` that is not XGBoost's fails with XGBoost's own reason."""

from __future__ import annotations

from pathlib import Path

MLMODEL = "MLmodel"  # the file that makes a folder an MLflow model
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle", ".sav", ".cloudpickle")
_SUFFIXES = {
    **dict.fromkeys(PICKLE_SUFFIXES, "sklearn"),
    ".onnx": "onnx",
    ".json": "xgboost",
    ".ubj": "xgboost",
    ".txt": "lightgbm",
}
_HEAD = 4096  # bytes read to recognise a file


def _by_content(head: bytes) -> str | None:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocol 2-5
        return "sklearn"
    if head.startswith((b"tree\n", b"tree\r\n")):  # LightGBM's text model
        return "lightgbm"
    if head.startswith(b"{") and b"learner" in head[:64]:  # XGBoost UBJSON / JSON
        return "xgboost"
    return None


def detect_format(path: Path) -> str | None:
    """``sklearn``, ``xgboost``, ``lightgbm``, ``onnx`` or ``mlflow`` for a model file
    (or an MLflow model folder); None when neither its content nor its suffix says."""
    if path.is_dir():
        return "mlflow" if (path / MLMODEL).is_file() else None
    if path.name == MLMODEL:
        return "mlflow"
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD)
    except OSError:
        return None
    return _by_content(head) or _SUFFIXES.get(path.suffix.lower())


def model_file_in(folder: Path) -> Path | None:
    """The one model file at the top of ``folder`` (a ``.json`` or ``.txt`` counts only
    when its first bytes are XGBoost's or LightGBM's); None for none, or for several."""
    found = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        suffix = path.suffix.lower()
        if suffix in (".json", ".txt"):
            with path.open("rb") as handle:
                if _by_content(handle.read(_HEAD)) is None:
                    continue
        elif suffix not in _SUFFIXES:
            continue
        found.append(path)
    return found[0] if len(found) == 1 else None
