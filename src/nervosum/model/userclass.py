"""A user's class: found in its module, constructed, its methods bound. One way for a
project's model class (``forms.py``) and a graph step's class (``graph/step.py``), so
both say the same of what is missing or failing, with a "did you mean" where one fits.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from nervosum.errors import ModelDefinitionError
from nervosum.model.loaded import Call
from nervosum.model.userframes import describe_user_error


def did_you_mean(name: str, candidates: list[str], otherwise: str) -> str:
    close = difflib.get_close_matches(name, candidates, n=1)
    return f"did you mean {close[0]!r}?" if close else otherwise


def find_class(
    module: ModuleType, name: str, *, where: str, otherwise: str, factories: bool = False
) -> Callable[..., Any]:
    """The class ``name`` of ``module`` (with ``factories``, any callable making the
    instance, as graph steps accept); ``where`` names the module in the error,
    ``otherwise`` is the hint when no class has a name close to it."""
    found = getattr(module, name, None)
    if isinstance(found, type) or (factories and callable(found)):
        return found
    classes = [n for n, v in vars(module).items() if isinstance(v, type)]
    raise ModelDefinitionError(
        f"{where} has no class {name!r}", hint=did_you_mean(name, classes, otherwise)
    )


def construct(
    cls: Callable[..., Any], arguments: Mapping[str, Any], *, label: str, setting: str, root: Path
) -> Any:
    """``cls(**arguments)``; a signature that does not take them, or a constructor that
    raises, is one error naming ``label`` and the ``setting`` the arguments came from
    (the user's frame of a failure is found under ``root``)."""
    try:
        signature = inspect.signature(cls)
        signature.bind(**arguments)
    except TypeError as exc:
        raise ModelDefinitionError(
            f"{label}.__init__ does not accept {setting} {sorted(arguments)}: {exc}",
            hint=f"its signature is {label.rsplit('.', 1)[-1]}{signature}",
        ) from None
    except ValueError:
        pass  # no introspectable signature (C extension): let the call decide
    try:
        return cls(**arguments)
    except Exception as exc:
        raise ModelDefinitionError(
            f"{label}.__init__ raised {describe_user_error(exc, root)}"
        ) from exc


def bound_method(instance: Any, name: str, label: str) -> Call:
    """``instance``'s method ``name``, or the error naming the methods it has."""
    method = getattr(instance, name, None)
    if not callable(method):
        available = [
            m for m in dir(instance) if not m.startswith("_") and callable(getattr(instance, m))
        ]
        hint = did_you_mean(name, available, f"define `def {name}(self, data)`")
        raise ModelDefinitionError(f"{label} has no method {name!r}", hint=hint)
    return method  # type: ignore[no-any-return]
