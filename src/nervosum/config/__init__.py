"""nervosum.yaml: parsed once into frozen, typed objects. Nothing else reads YAML
(:mod:`nervosum.project` finds the file, or infers one, for a path)."""

from nervosum.config.load import DEFAULT_CONFIG, Project
from nervosum.config.spec import MODES, ModelSpec, NervosumConfig, SchemaField

__all__ = [
    "DEFAULT_CONFIG",
    "MODES",
    "ModelSpec",
    "NervosumConfig",
    "Project",
    "SchemaField",
]
