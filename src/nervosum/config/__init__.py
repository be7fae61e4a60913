"""nervosum.yaml: parsed once into frozen, typed objects. Nothing else reads YAML."""

from nervosum.config.load import DEFAULT_CONFIG, Project, load_config
from nervosum.config.spec import MODES, ModelSpec, NervosumConfig, SchemaField

__all__ = [
    "DEFAULT_CONFIG",
    "MODES",
    "ModelSpec",
    "NervosumConfig",
    "Project",
    "SchemaField",
    "load_config",
]
