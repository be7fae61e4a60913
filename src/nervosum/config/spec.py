"""The typed, frozen shape of nervosum.yaml.

Two spellings load into the same objects: the seed Nervosum format (``interface:
{model_module, model_class | model_function}``, ``deployment.platform_tag``, python type
names) and the native one (``model: {module, class | function, init, methods,
artifact}``). Every model is ``extra="forbid"`` so a typo is an error, never a silently
ignored key.
"""

from __future__ import annotations

import keyword
import math
import os
import re
from datetime import date, datetime
from typing import Any, Literal

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nervosum.config.monitoring import MonitoringSpec
from nervosum.config.types import PYTHON_TYPES, canonical_type
from nervosum.config.variants import VariantsSpec

MODES = ("http", "batch", "stream", "graph")

BOTH_MODELS = "give either `interface` (seed format) or `model`, not both"
NO_MODEL = (
    "no model given: add `model: {module: ..., class: ...}` (or the seed's "
    "`interface: {model_module: ..., model_class: ...}`) or `model: {artifact: ...}`"
)

_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


def _fits(value: object, type_name: str) -> bool:
    """Whether a value written in the file (a default, choice or example) is of the type."""
    if isinstance(value, bool):
        return type_name == "bool"
    if type_name == "int":
        return isinstance(value, int)
    if type_name == "float":
        return isinstance(value, int | float) and math.isfinite(value)
    if type_name == "datetime":
        if not isinstance(value, str | date):
            return False
        try:
            _DATETIME.validate_python(value)
        except pydantic.ValidationError:
            return False
        return True
    return isinstance(value, PYTHON_TYPES[type_name])


def duplicate_names(names: list[object]) -> list[tuple[int, str]]:
    """``(index, name)`` of every name already seen earlier in ``names``."""
    seen: set[str] = set()
    repeated: list[tuple[int, str]] = []
    for index, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name in seen:
            repeated.append((index, name))
        seen.add(name)
    return repeated


# Blocks that later capabilities fill in; the names are reserved so a config written for a
# newer nervosum fails loudly on an older one only when the block is actually malformed.
RESERVED_BLOCKS = ("graph",)
METRIC_NAME = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class SchemaField(_Frozen):
    """One input or output field: a name, a type and optional constraints."""

    name: str = Field(min_length=1)
    type: str
    required: bool = True
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    description: str | None = None
    example: Any = None

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> str:
        return canonical_type(str(value))

    @model_validator(mode="after")
    def _bounds_make_sense(self) -> SchemaField:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if (self.min is not None or self.max is not None) and self.type not in ("int", "float"):
            raise ValueError(f"min/max apply to int and float fields, not {self.type}")
        if self.type == "int":
            for bound in (self.min, self.max):
                if bound is not None and not float(bound).is_integer():
                    raise ValueError(f"min/max of an int field must be whole numbers, not {bound}")
        for choice in self.choices or ():
            self._check_value("choice", choice, in_choices=False)
        if self.default is not None:
            self._check_value("default", self.default)
        if self.example is not None:
            self._check_value("example", self.example)
        return self

    def _check_value(self, what: str, value: Any, *, in_choices: bool = True) -> None:
        """A value from the file must be something the field itself would accept."""
        if not _fits(value, self.type):
            raise ValueError(f"{what} {value!r} is not a valid {self.type}")
        if self.min is not None and value < self.min:
            raise ValueError(f"{what} {value!r} is less than min ({self.min})")
        if self.max is not None and value > self.max:
            raise ValueError(f"{what} {value!r} is greater than max ({self.max})")
        if in_choices and self.choices and value not in self.choices:
            raise ValueError(f"{what} {value!r} is not one of the choices")


def _check_identifier(value: str, what: str) -> str:
    if not value.isidentifier() or keyword.iskeyword(value):
        raise ValueError(f"{what} {value!r} is not a valid Python name (no spaces or dashes)")
    return value


def _check_dotted(value: str, what: str) -> str:
    for part in value.split("."):
        _check_identifier(part, what)
    return value


class Deployment(_Frozen):
    mode: str = "http"
    # [compat] seed Nervosum: pip --platform for batch dependencies; kept for the bundle build.
    platform_tag: str | None = None

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value in MODES:
            return value
        allowed = ", ".join(MODES)
        if value.lower() == "kafka":
            raise ValueError(
                f"mode {value!r} is not a deployment mode; allowed: {allowed}. Kafka is a "
                "stream source: use `mode: stream` with `stream: {source: kafka://host/topic}`"
            )
        raise ValueError(f"mode {value!r} is not supported; allowed: {allowed}")


class Interface(_Frozen):
    """[compat] The seed Nervosum spelling of the model: a class, or (the proof of concept's
    form) a module-level function."""

    model_module: str
    model_class: str | None = None
    model_function: str | None = None

    @field_validator("model_module")
    @classmethod
    def _module(cls, value: str) -> str:
        return _check_dotted(value, "model_module")

    @field_validator("model_class", "model_function")
    @classmethod
    def _name(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _check_identifier(value, str(info.field_name))

    @model_validator(mode="after")
    def _class_or_function(self) -> Interface:
        if self.model_class and self.model_function:
            raise ValueError(
                "give either model_class (a class with predict) or model_function "
                "(a module-level function), not both"
            )
        if not self.model_class and not self.model_function:
            raise ValueError(
                "give model_class (a class with predict) or model_function "
                "(a module-level function such as predict)"
            )
        return self


MODEL_FORMATS = ("sklearn", "xgboost", "lightgbm", "onnx", "mlflow")
ModelFormat = Literal["sklearn", "xgboost", "lightgbm", "onnx", "mlflow"]


class ToleranceSpec(_Frozen):
    """How far a compiled model may stray from the original and still serve: absolute on
    class probabilities, relative on predicted values (classes must be equal)."""

    probabilities: float = Field(default=1e-5, ge=0)
    values: float = Field(default=1e-6, ge=0)


class CompileSpec(_Frozen):
    """`model.compile`: run the model file through ONNX Runtime when its conversion
    answers like the original (`auto`), insist on it (`onnx`: a model that cannot be
    converted or disagrees fails to load), or never (`off`). Written as a word or as a
    mapping with the reference rows and the tolerance."""

    mode: Literal["auto", "onnx", "off"] = "auto"
    reference: str | None = None
    tolerance: ToleranceSpec = Field(default_factory=ToleranceSpec)

    @model_validator(mode="before")
    @classmethod
    def _word(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML reads `compile: off` as false, `on` as true
            return {"mode": "auto" if value else "off"}
        return {"mode": value} if isinstance(value, str) else value


class ModelSpec(_Frozen):
    """How to load and call the model: a class (with an optional method chain), a
    module-level function, or an artifact (a pickled estimator, a native XGBoost /
    LightGBM file, an ONNX file or an MLflow model folder)."""

    module: str | None = None
    class_: str | None = Field(default=None, alias="class")
    function: str | None = None
    init: dict[str, Any] = Field(default_factory=dict)
    methods: tuple[str, ...] | None = None
    artifact: str | None = None
    format: ModelFormat | None = None
    compile: CompileSpec = Field(default_factory=CompileSpec)
    probabilities: bool = True

    @field_validator("module")
    @classmethod
    def _module(cls, value: str | None) -> str | None:
        return None if value is None else _check_dotted(value, "module")

    @field_validator("class_")
    @classmethod
    def _cls(cls, value: str | None) -> str | None:
        return None if value is None else _check_identifier(value, "class")

    @field_validator("function")
    @classmethod
    def _function(cls, value: str | None) -> str | None:
        return None if value is None else _check_identifier(value, "function")

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("methods must list at least one method")
            for name in value:
                _check_identifier(name, "method")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> ModelSpec:
        code = "function" if self.function else "class"
        if self.artifact and (self.module or self.class_ or self.function):
            raise ValueError(f"give either artifact or module + {code}, not both")
        if self.class_ and self.function:
            raise ValueError(
                "give either class (a class with predict) or function (a module-level "
                "function), not both"
            )
        if not self.artifact and not (self.module and (self.class_ or self.function)):
            raise ValueError(
                "give module and class (a model class), module and function (a module-level "
                "function) or artifact (a saved estimator)"
            )
        if self.format and not self.artifact:
            raise ValueError("format applies to model.artifact (the file it reads)")
        if (self.artifact or self.function) and (self.methods or self.init):
            form = "an artifact" if self.artifact else "a function"
            raise ValueError(f"methods and init apply to a model class, not to {form}")
        return self


class ServerSpec(_Frozen):
    """`server:`: where and how the HTTP servers listen, and the limits every request
    meets before it reaches a route. The defaults hold on the manifests `nervosum
    deploy` renders (1 GiB of memory, a 2 s probe timeout)."""

    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=0, le=65535)
    # The Open Inference Protocol over gRPC on this port too; None: no gRPC.
    grpc_port: int | None = Field(default=None, ge=1, le=65535)
    max_body_size: int = Field(default=8 * 1024 * 1024, gt=0)  # also bounds an inflated body
    workers: int | Literal["auto"] = 1
    timeout: float = Field(default=60.0, gt=0)
    graceful_timeout: float = Field(default=30.0, ge=0)
    preload: bool = True
    model_process: bool = False
    max_header_size: int = Field(default=64 * 1024, ge=1024)  # request line + headers: 431
    max_url_size: int = Field(default=8 * 1024, ge=256)  # the request target: 414
    header_timeout: float = Field(default=10.0, gt=0)  # seconds to send the headers: 408
    body_timeout: float = Field(default=60.0, gt=0)  # seconds to send the body: 408
    keep_alive_timeout: float = Field(default=5.0, gt=0)  # an idle connection is closed
    max_connections: int = Field(default=1000, ge=1)  # open at once per process; past it 503
    max_rows: int | None = Field(default=None, ge=1)  # rows per request: 413; None: no limit
    admin_rate_limit: int = Field(default=30, ge=1)  # admin requests per minute per address
    json_text_plain: bool = False  # [compat] read text/plain bodies as JSON (cross-site risk)
    ssl_certfile: str | None = None  # PEM certificate chain: HTTPS
    ssl_keyfile: str | None = None  # its PEM private key
    ssl_ca_certs: str | None = None  # PEM CA bundle: client certificates required (mTLS)

    @field_validator("workers")
    @classmethod
    def _positive_workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("workers must be at least 1, or 'auto' for one per CPU core")
        return value

    @property
    def worker_count(self) -> int:
        """``workers: auto`` means one per CPU core."""
        return (os.cpu_count() or 1) if self.workers == "auto" else int(self.workers)

    @model_validator(mode="after")
    def _certificate_and_key(self) -> ServerSpec:
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ValueError("HTTPS needs both ssl_certfile and ssl_keyfile")
        if self.ssl_ca_certs and not self.ssl_certfile:
            raise ValueError(
                "ssl_ca_certs (client certificates) needs ssl_certfile and ssl_keyfile"
            )
        return self


class BatchingSpec(_Frozen):
    """Adaptive micro-batching: concurrent requests merged into one model call."""

    enabled: bool | None = None  # None: on for row-wise models, off for transform_predict
    max_batch_size: int = Field(default=64, ge=1)
    max_wait_ms: float = Field(default=2.0, ge=0)
    max_queue: int = Field(default=2048, ge=1)


class BuildSpec(_Frozen):
    """What `nervosum build` makes besides the bundle."""

    image: bool | None = None  # None: an image when a builder is installed
    builder: Literal["auto", "podman", "docker", "buildah"] = "auto"
    base_image: str | None = None  # None: python:<this Python's X.Y>-slim
    ignore: tuple[str, ...] = ()


class ErrorsSpec(_Frozen):
    expose_details: bool = True


Access = Literal["open", "predict", "admin"]


class AuthSpec(_Frozen):
    """`auth:`: who may call the servers. Off until a key source or a JWKS is given.

    API keys are stored only as hashes (lines printed by `nervosum token create`), from
    `keys_file` and from the NERVOSUM_API_KEYS environment variable; JWT bearer tokens are
    checked offline against `jwks_file`. Health routes are always open; `metrics` and
    `docs` (/docs, /openapi.json, /schema) say who may read them.
    """

    keys_file: str | None = None  # lines "sha256:<hex> <scope>[,<scope>] [name]"
    jwks_file: str | None = None  # a JSON Web Key Set file: JWT bearer tokens
    audience: str | None = None  # a JWT's aud must hold it (needed with jwks_file)
    issuer: str | None = None  # a JWT's iss must equal it
    scope_claim: str = "scope"  # the JWT claim naming its scopes (space-separated or a list)
    metrics: Access = "admin"
    docs: Access = "predict"
    max_failures: int = Field(default=10, ge=1)  # failed attempts per address per minute: 429

    @model_validator(mode="after")
    def _jwt_needs_audience(self) -> AuthSpec:
        if self.jwks_file and not self.audience:
            raise ValueError("jwks_file needs audience: the tokens' aud this server accepts")
        return self


class MetricsSpec(_Frozen):
    """Prometheus metrics: the name prefix and how predictions are counted."""

    prefix: str | None = Field(default=None, pattern=METRIC_NAME)  # None: env, then nervosum
    # auto: a counter per class for classifiers and text / integer outputs, a histogram
    # of the value for float outputs; classes / histogram force one; off: none.
    predictions: Literal["auto", "classes", "histogram", "off"] = "auto"
    buckets: tuple[float, ...] | None = None  # the histogram's; None: Prometheus' defaults
    max_classes: int = Field(default=50, ge=1)  # distinct label values before "other"
    feedback_window: int = Field(default=1000, ge=1)  # labelled predictions in the gauges

    @field_validator("buckets")
    @classmethod
    def _increasing(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is not None and (not value or list(value) != sorted(set(value))):
            raise ValueError("buckets must be a non-empty list of increasing numbers")
        return value


SQL_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


class SinkSpec(_Frozen):
    """One destination of the prediction log."""

    type: Literal["jsonl", "sqlite", "postgres", "fluentd", "mongodb", "stdout"]
    path: str | None = None  # jsonl: predictions.jsonl, sqlite: predictions.db (cwd-relative)
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)  # jsonl: rotate past this
    backups: int = Field(default=5, ge=0)  # jsonl: rotated files kept
    table: str = Field(default="predictions", pattern=SQL_NAME)  # sqlite, postgres
    dsn: str | None = None  # postgres: postgresql://user@host:port/db, never a password
    # postgres, mongodb: the variable holding the password (PGPASSWORD / MONGODB_PASSWORD)
    password_env: str | None = None
    password_file: str | None = None  # postgres, mongodb: or a file holding it (a secret)
    host: str = "localhost"  # fluentd
    port: int = Field(default=24224, ge=1, le=65535)  # fluentd
    tag: str = "nervosum"  # fluentd: events are <tag>.predict / <tag>.predict_proba
    url: str | None = None  # mongodb: mongodb://[user@]host:port, never a password
    database: str = Field(default="ml_service", pattern=r"^[^/\\. \"$]{1,63}$")  # mongodb
    collection: str = Field(default="prediction_logs", pattern=r"^[^$]{1,255}$")  # mongodb
    timezone: str = "UTC"  # mongodb: the documents' timestamp, an IANA name (Europe/Berlin)

    @field_validator("dsn", "url")
    @classmethod
    def _no_password(cls, value: str | None, info: ValidationInfo) -> str | None:
        from urllib.parse import urlsplit

        if value and (urlsplit(value).password or "password=" in value.lower()):
            what = "DSN" if info.field_name == "dsn" else "URL"
            raise ValueError(
                f"the {what} holds a password; give it in the environment (password_env,"
                " PGPASSWORD / MONGODB_PASSWORD by default) or a file (password_file), never"
                " in nervosum.yaml"
            )
        return value

    @field_validator("url")
    @classmethod
    def _mongodb_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError(f"{value!r} is not a MongoDB URL (mongodb://host:27017)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        import zoneinfo

        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r}: give an IANA name such as UTC or Europe/Berlin"
            ) from None
        return value


class LoggingSpec(_Frozen):
    """The prediction log: one record per prediction, written off the request path."""

    sinks: tuple[SinkSpec, ...] = (SinkSpec(type="jsonl"),)
    n_best: int = Field(default=2, ge=0)  # classes (with probabilities) kept per record
    inputs: bool = True  # log each prediction's inputs
    queue_size: int = Field(default=10_000, ge=1)  # records waiting per sink; past it: dropped
    batch_size: int = Field(default=500, ge=1)  # records per write
    flush_timeout: float = Field(default=5.0, ge=0)  # seconds shutdown waits for the queue


class StreamSpec(_Frozen):
    """``nervosum stream``'s settings (flags override them), so a built bundle of
    ``deployment.mode: stream`` runs as a stream worker with ``nervosum run``."""

    source: str | None = None  # redis://host:port/db/stream, nats://host:port/subject, kafka://...
    sink: str | None = None
    dead_letter: str | None = None
    group: str | None = None  # None: nervosum-<name>
    batch_size: int = Field(default=256, ge=1)  # a batch is what waits, up to this
    max_wait_ms: float = Field(default=100.0, ge=0)
    max_deliveries: int = Field(default=5, ge=1)
    idle_ms: int = Field(default=30_000, ge=100)
    proba: bool = False
    drain_timeout: float = Field(default=30.0, ge=0)
    port: int | None = Field(default=8081, ge=0, le=65535)  # the side port; 0 or null: none


K8S_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"  # a DNS-1123 label
# A project's name and tag: they name files (bundle archives and their members) and image
# references, so no `/`, no `..`, nothing an OCI tag refuses ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
BUNDLE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
K8S_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
QUANTITY = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$"
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# A variable name that says it holds a secret (DB_PASSWORD, gitpassword, HF_TOKEN, API_KEY;
# not TOKENIZER or PARTITION_KEY): its value must come from a Secret, not from the file.
_SECRET_NAME = re.compile(
    r"PASSW(OR)?D|SECRET|CREDENTIAL|(^|[^A-Z])(TOKEN|(API|ACCESS|PRIVATE)_?KEY)([^A-Z]|$)"
)


def name_from(text: str) -> str:
    """A valid project name made from ``text`` (a folder's name): every other character
    becomes ``-``, and a leading ``.`` or ``-`` goes."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip(".-")[:128]
    return name or "model"


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret (``DB_PASSWORD``,
    ``HF_TOKEN``), which must then come from a Secret, never be written as a value."""
    return _SECRET_NAME.search(name.upper()) is not None


class SecretRef(_Frozen):
    """One key of a Kubernetes Secret: where a sensitive value comes from, never the value."""

    secret: str = Field(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        """``SECRET/KEY`` is short for ``{secret: SECRET, key: KEY}`` (handy with --set)."""
        if isinstance(value, str):
            secret, sep, key = value.partition("/")
            if not sep:
                raise ValueError(f"{value!r} is not SECRET/KEY (e.g. predlog-db/password)")
            return {"secret": secret, "key": key}
        return value


class DeployImage(_Frozen):
    repository: str | None = Field(default=None, min_length=1)  # None: the bundle's image
    tag: str | None = Field(default=None, min_length=1)  # None: the bundle's tag
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    pull_secret: str | None = Field(default=None, pattern=K8S_NAME)


class DeployResources(_Frozen):
    """Container requests and limits as Kubernetes reads them. No CPU limit by default:
    a limit throttles a model's bursts while a request already reserves its share."""

    requests: dict[str, str | int | float] = {"cpu": "250m", "memory": "512Mi"}
    limits: dict[str, str | int | float] = {"memory": "1Gi"}

    @field_validator("requests", "limits")
    @classmethod
    def _quantities(cls, value: dict[str, str | int | float]) -> dict[str, str | int | float]:
        for name, amount in value.items():
            if isinstance(amount, bool) or not re.match(QUANTITY, str(amount)):
                raise ValueError(f"{name}: {amount!r} is not a quantity (e.g. 500m, 2, 1Gi)")
        return value


class DeployService(_Frozen):
    name: str | None = Field(default=None, pattern=K8S_NAME)  # None: the deployment's name
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    port: int = Field(default=80, ge=1, le=65535)
    node_port: int | None = Field(default=None, ge=30000, le=32767)

    @model_validator(mode="after")
    def _node_port_needs_type(self) -> DeployService:
        if self.node_port is not None and self.type == "ClusterIP":
            raise ValueError("node_port needs type NodePort or LoadBalancer")
        return self


class DeployAutoscaling(_Frozen):
    """A HorizontalPodAutoscaler on CPU (it needs ``resources.requests.cpu``)."""

    enabled: bool = False
    min_replicas: int | None = Field(default=None, ge=1)  # None: replicas (at least 1)
    max_replicas: int = Field(default=5, ge=1)
    cpu_percent: int = Field(default=80, ge=1)  # of the CPU request

    @model_validator(mode="after")
    def _bounds(self) -> DeployAutoscaling:
        if self.min_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is greater than max_replicas"
                f" ({self.max_replicas})"
            )
        return self


class DeployIngress(_Frozen):
    enabled: bool = False
    host: str | None = Field(default=None, pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    path: str = Field(default="/", pattern=r"^/")  # a prefix
    # ImplementationSpecific: a controller's own path syntax, e.g. ingress-nginx regexes
    path_type: Literal["Prefix", "Exact", "ImplementationSpecific"] = "Prefix"
    class_name: str | None = None  # None: the cluster's default ingress class
    annotations: dict[str, str] = {}  # the Ingress's, e.g. an ingress controller's rewrite


def _env_value(item: object) -> object:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item) if isinstance(item, int | float) else item


class DeploySpec(_Frozen):
    """``nervosum deploy``'s settings (``--set key=value`` overrides them): what the
    Kubernetes objects and the Helm chart's values are made from."""

    namespace: str | None = Field(default=None, pattern=K8S_NAME)  # None: kubectl's current
    name: str | None = Field(default=None, pattern=K8S_NAME)  # None: the bundle's name
    label: str | None = Field(default=None, pattern=K8S_LABEL_VALUE)  # `app`; None: name
    container: str | None = Field(default=None, pattern=K8S_NAME)  # None: name
    replicas: int = Field(default=1, ge=0)
    port: int | None = Field(default=None, ge=1, le=65535)  # None: the bundle's port
    # gRPC's port (also its Service port); None: the bundle's server.grpc_port, or no gRPC.
    grpc_port: int | None = Field(default=None, ge=1, le=65535)
    image: DeployImage = DeployImage()
    resources: DeployResources = DeployResources()
    env: dict[str, str] = {}
    secret_env: dict[str, SecretRef] = {}
    args: tuple[str, ...] = ()  # appended to the container's command
    claim: str | None = Field(default=None, pattern=K8S_NAME)  # a PersistentVolumeClaim
    mount_path: str = Field(default="/data", pattern=r"^/")  # where the claim is mounted
    service: DeployService = DeployService()
    autoscaling: DeployAutoscaling = DeployAutoscaling()
    ingress: DeployIngress = DeployIngress()
    schedule: str | None = Field(default=None, min_length=1)  # batch: a CronJob

    @field_validator("env", mode="before")
    @classmethod
    def _env_text(cls, value: object) -> object:
        # `PORT: 8080` and `DEBUG: true` are meant as text, as the process will see them.
        if not isinstance(value, dict):
            return value
        return {key: _env_value(item) for key, item in value.items()}

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not re.match(ENV_NAME, name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value

    @field_validator("env")
    @classmethod
    def _no_plain_secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if looks_secret(name):
                raise ValueError(
                    f"{name} looks like a secret, and env values are written in plain text:"
                    f" reference a Secret instead, secret_env: {{{name}: SECRET/KEY}}"
                )
        return value

    @model_validator(mode="after")
    def _scaling_needs_cpu_request(self) -> DeploySpec:
        if self.autoscaling.enabled and "cpu" not in self.resources.requests:
            raise ValueError("autoscaling on CPU needs resources.requests.cpu")
        return self


class NervosumConfig(_Frozen):
    """The whole nervosum.yaml, validated."""

    name: str = Field(min_length=1)
    tag: str = "latest"
    deployment: Deployment = Deployment()
    src: str = "."
    interface: Interface | None = None
    model: ModelSpec | None = None
    requirements: str | None = None
    input_schema: tuple[SchemaField, ...] = ()
    output_schema: tuple[SchemaField, ...] = ()
    id_field: str | None = None
    server: ServerSpec = ServerSpec()
    errors: ErrorsSpec = ErrorsSpec()
    auth: AuthSpec = AuthSpec()
    batching: BatchingSpec = BatchingSpec()
    build: BuildSpec = BuildSpec()
    metrics: MetricsSpec = MetricsSpec()
    logging: LoggingSpec | None = None
    stream: StreamSpec | None = None
    deploy: DeploySpec | None = None
    variants: VariantsSpec | None = None
    monitoring: MonitoringSpec = MonitoringSpec()
    graph: dict[str, Any] | None = None

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_text(cls, value: object) -> object:
        # YAML reads `tag: 1.0` as a float; a tag is always text.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("name", "tag")
    @classmethod
    def _file_name_safe(cls, value: str, info: ValidationInfo) -> str:
        # `name: ../../x` made `nervosum export` write outside its folder (issue 20).
        if not re.fullmatch(BUNDLE_NAME, value):
            raise ValueError(
                f"{value!r} is not a valid {info.field_name}: use letters, digits, '.', '_'"
                " and '-' (at most 128), not starting with '.' or '-'"
            )
        return value

    @field_validator("output_schema", mode="before")
    @classmethod
    def _single_output(cls, value: object) -> object:
        # [compat] seed Nervosum allowed a single {name, type} mapping for output_schema.
        return [value] if isinstance(value, dict) else value

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _unique_names(cls, value: tuple[SchemaField, ...]) -> tuple[SchemaField, ...]:
        repeated = duplicate_names([f.name for f in value])
        if repeated:
            raise ValueError(f"field {repeated[0][1]!r} is declared twice")
        return value

    @field_validator("model")
    @classmethod
    def _not_both(cls, value: ModelSpec | None, info: ValidationInfo) -> ModelSpec | None:
        # Checked on `model` (declared after `interface`) so the error points at its line.
        if value is not None and info.data.get("interface") is not None:
            raise ValueError(BOTH_MODELS)
        return value

    @field_validator("id_field")
    @classmethod
    def _id_not_an_input(cls, value: str | None, info: ValidationInfo) -> str | None:
        inputs: tuple[SchemaField, ...] = info.data.get("input_schema", ())
        if value and any(f.name == value for f in inputs):
            raise ValueError(f"id_field {value!r} must not also be an input_schema field")
        return value

    @model_validator(mode="after")
    def _model_given_once(self) -> NervosumConfig:
        if self.interface and self.model:
            raise ValueError(BOTH_MODELS)
        if not self.interface and not self.model:
            raise ValueError(NO_MODEL)
        return self

    @property
    def model_spec(self) -> ModelSpec:
        """The model section, whichever spelling the file used."""
        if self.model is not None:
            return self.model
        assert self.interface is not None  # guaranteed by _model_given_once
        return ModelSpec.model_validate(
            {
                "module": self.interface.model_module,
                "class": self.interface.model_class,
                "function": self.interface.model_function,
            }
        )

    def reserved_blocks_in_use(self) -> list[str]:
        """Reserved blocks present in the file that this version does not act on yet."""
        return [name for name in RESERVED_BLOCKS if getattr(self, name)]
