"""Loading user models in every accepted form and calling them one way."""

from nervosum.model.handle import ModelHandle, ModelIdentity
from nervosum.model.outputs import PROBABILITIES, Outputs, OutputShapeError

__all__ = ["PROBABILITIES", "ModelHandle", "ModelIdentity", "OutputShapeError", "Outputs"]
