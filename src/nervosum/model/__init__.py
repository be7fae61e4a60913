"""Loading user models in every accepted form and calling them one way."""

from nervosum.model.handle import PROBABILITIES, ModelHandle, ModelIdentity
from nervosum.model.outputs import OutputShapeError

__all__ = ["PROBABILITIES", "ModelHandle", "ModelIdentity", "OutputShapeError"]
