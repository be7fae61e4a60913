"""Standard inference protocols beside the native one; all call the same engine path.

- ``v2``: Open Inference Protocol (KServe v2, Triton), REST, with binary tensors
- ``mlflow``: the MLflow scoring server's ``/invocations``
- ``kserve_v1``: KServe's v1 ``:predict``
"""

from starlette.routing import Route

from nervosum.serving.protocols import kserve_v1, mlflow, v2

ROUTES: list[Route] = [*v2.ROUTES, *mlflow.ROUTES, *kserve_v1.ROUTES]

__all__ = ["ROUTES"]
