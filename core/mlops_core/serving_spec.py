"""The model server pods' settings, declared once: what a Deployment asks for and what the
server reads.

The operator embeds ``ServingSpec`` and ``DriftSpec`` in the Deployment's spec and turns them into
the server's environment with ``server_environment``; the server's settings
(``mlops_serving.settings.ServerSettings``) hold the same two specs, read back from that
environment by ``specs_from_environment``. Each setting's variable is named once, in
``SPEC_VARIABLES``; a unit test proves a spec round-trips into the server's settings unchanged.
The variables that say which versions a pod serves (repository, preloads, pinned versions,
digests) are named here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, ValidationError

from mlops_core.drift import DriftMethod
from mlops_core.wire import WireModel

#: versions one server pod keeps loaded (LRU); a Deployment's pod serves one, a shared
#: multi-model server a few dozen
MODELS_IN_MEMORY_MAX: Final = 256
BATCH_SIZE_MAX: Final = 4096
#: the longest a request waits for its batch to fill, in milliseconds (0: never waits)
BATCH_LATENCY_MS_MAX: Final = 10_000.0
DRIFT_THRESHOLD_MAX: Final = 1000.0
DRIFT_WINDOW_MIN: Final = 10
DRIFT_WINDOW_MAX: Final = 1_000_000

#: the server's environment variable of each setting of the specs
ENV_RUNTIME: Final = "SERVING_RUNTIME"
#: whether the pod has a GPU (from its resources, not a setting of the specs)
ENV_GPU: Final = "SERVING_GPU"
ENV_MODELS_IN_MEMORY: Final = "MAX_MODELS_IN_MEMORY"
ENV_WARMUP: Final = "WARMUP_ON_LOAD"
ENV_BATCHING: Final = "BATCHING_ENABLED"
ENV_BATCH_SIZE: Final = "MAX_BATCH_SIZE"
ENV_BATCH_LATENCY: Final = "MAX_LATENCY_MS"
ENV_DRIFT: Final = "DRIFT_DETECTION_ENABLED"
ENV_DRIFT_METHOD: Final = "DRIFT_DETECTION_METHOD"
ENV_DRIFT_THRESHOLD: Final = "DRIFT_DETECTION_THRESHOLD"
ENV_DRIFT_WINDOW: Final = "DRIFT_WINDOW_SIZE"
ENV_DRIFT_REFERENCE: Final = "DRIFT_REFERENCE_URI"
#: a reference_stats.json in the object store
DRIFT_REFERENCE_PATTERN: Final = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+[.]json$"
DRIFT_REFERENCE_MAX: Final = 1024

#: where the server finds a version: ``<root>/<model>/<version>/`` (s3://bucket/prefix or a
#: local folder)
ENV_MODEL_REPOSITORY: Final = "MODEL_REPOSITORY_URI"
#: ``name:version,name2`` loaded (and warmed) before the server reports ready
ENV_PRELOAD_MODELS: Final = "PRELOAD_MODELS"
#: ``name:version,...``: the version a request without one gets (else the highest)
ENV_MODEL_VERSIONS: Final = "MODEL_VERSIONS"
#: the digest each served version must have: ``model:version=sha256:<hex>,...`` (what the
#: ModelVersion recorded); the server refuses a version whose manifest differs
ENV_MODEL_DIGESTS: Final = "MODEL_DIGESTS"
#: a pool server's byte budget for loaded versions, and what one version costs beyond its files
ENV_MODEL_MEMORY_BUDGET: Final = "MODEL_MEMORY_BUDGET_BYTES"
ENV_MODEL_OVERHEAD: Final = "MODEL_OVERHEAD_BYTES"
#: a ServingPool server: its pool's router config (mounted) and its own name in the placement
ENV_POOL_CONFIG_FILE: Final = "POOL_CONFIG_FILE"
ENV_POOL_SERVER_NAME: Final = "POOL_SERVER_NAME"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


#: onnx: ONNX Runtime for every version whose artifact has model.onnx (the others: torch);
#: torch: torch for every version (only the torch flavour of the serving image has it)
ServingRuntime = Literal["onnx", "torch"]


def runtime_for(requested: ServingRuntime, *, has_onnx: bool) -> ServingRuntime:
    """The runtime that serves a version: ONNX Runtime when asked and the artifact has
    ``model.onnx``; torch when asked, or for versions trained before the ONNX export."""
    return "onnx" if requested == "onnx" and has_onnx else "torch"


class BatchingSpec(WireModel):
    """Dynamic batching: concurrent requests for one version share a forward pass."""

    enabled: bool = Field(
        default=True, description="Whether requests are batched; off, each runs alone."
    )
    max_batch_size: int = Field(
        default=32, ge=1, le=BATCH_SIZE_MAX, description="Largest batch, in records."
    )
    max_latency_ms: float = Field(
        default=5.0,
        ge=0,
        le=BATCH_LATENCY_MS_MAX,
        description="Longest a request waits for its batch to fill, in milliseconds "
        "(0: a batch holds what is queued when the previous one ends).",
    )


class ServingSpec(WireModel):
    """Settings of the model server pods."""

    runtime: ServingRuntime = Field(
        default="onnx",
        description="onnx: ONNX Runtime serves every version whose artifact has model.onnx "
        "(versions trained before the export are served by torch); torch: torch serves every "
        "version (the pods run the torch flavour of the serving image, several times larger).",
    )
    max_models_in_memory: int = Field(
        default=4,
        ge=1,
        le=MODELS_IN_MEMORY_MAX,
        description="Model versions kept loaded per pod (least recently used evicted).",
    )
    warmup: bool = Field(
        default=True, description="Run a dummy batch through a model before reporting ready."
    )
    batching: BatchingSpec = Field(default_factory=BatchingSpec, description="Dynamic batching.")


class DriftSpec(WireModel):
    """Compare live inputs with the training data's reference statistics."""

    enabled: bool = Field(default=True, description="Whether drift is scored.")
    method: DriftMethod = Field(
        default="psi", description="psi, kl (Kullback-Leibler) or wasserstein."
    )
    threshold: float = Field(
        default=0.2,
        gt=0,
        le=DRIFT_THRESHOLD_MAX,
        description="Score above which a feature has drifted.",
    )
    window_size: int = Field(
        default=1000,
        ge=DRIFT_WINDOW_MIN,
        le=DRIFT_WINDOW_MAX,
        description="Recent inputs per feature scored.",
    )
    interval_seconds: int = Field(
        default=60, ge=5, le=86_400, description="How often the operator reads the scores."
    )
    performance_margin: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="How far a served version's estimated accuracy (from its calibrated "
        "probabilities, no labels needed) may fall below its test accuracy before "
        "PerformanceDegraded is set and a performance alert is sent.",
    )
    reference: str | None = Field(
        default=None,
        max_length=DRIFT_REFERENCE_MAX,
        pattern=DRIFT_REFERENCE_PATTERN,
        description="Reference statistics to score against instead of the training data's: "
        "the URI of a reference_stats.json (e.g. written by the trainer for another dataset). "
        "Checked before use: it must describe the model's input features with their kinds; "
        "until it does, scoring stays on the training data and the Deployment says why.",
    )


SpecName = Literal["serving", "drift"]


@dataclass(frozen=True)
class SpecVariable:
    """One setting of the specs and the environment variable that carries it."""

    name: str
    spec: SpecName
    path: tuple[str, ...]


#: every setting of ``ServingSpec`` and ``DriftSpec`` that the server uses, each with its variable
SPEC_VARIABLES: Final = (
    SpecVariable(ENV_RUNTIME, "serving", ("runtime",)),
    SpecVariable(ENV_MODELS_IN_MEMORY, "serving", ("max_models_in_memory",)),
    SpecVariable(ENV_WARMUP, "serving", ("warmup",)),
    SpecVariable(ENV_BATCHING, "serving", ("batching", "enabled")),
    SpecVariable(ENV_BATCH_SIZE, "serving", ("batching", "max_batch_size")),
    SpecVariable(ENV_BATCH_LATENCY, "serving", ("batching", "max_latency_ms")),
    SpecVariable(ENV_DRIFT, "drift", ("enabled",)),
    SpecVariable(ENV_DRIFT_METHOD, "drift", ("method",)),
    SpecVariable(ENV_DRIFT_THRESHOLD, "drift", ("threshold",)),
    SpecVariable(ENV_DRIFT_WINDOW, "drift", ("window_size",)),
    SpecVariable(ENV_DRIFT_REFERENCE, "drift", ("reference",)),
)

#: the settings only the operator uses: not carried to the pods, so changing one restarts none
OPERATOR_ONLY: Final[frozenset[tuple[SpecName, tuple[str, ...]]]] = frozenset(
    {("drift", ("interval_seconds",)), ("drift", ("performance_margin",))}
)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _value_at(model: BaseModel, path: tuple[str, ...]) -> object:
    value: object = model
    for name in path:
        value = getattr(value, name)
    return value


def server_environment(
    serving: ServingSpec, drift: DriftSpec, *, gpu: bool = False
) -> dict[str, str]:
    """The model server's environment variables for these settings (all of them, always, so
    a pod never falls back on a default that differs from the spec's; an unset optional
    setting is an empty value); ``gpu`` when the pod asks for one (ONNX Runtime's CUDA
    provider, torch's cuda device)."""
    specs: dict[SpecName, BaseModel] = {"serving": serving, "drift": drift}
    env = {v.name: _text(_value_at(specs[v.spec], v.path)) for v in SPEC_VARIABLES}
    return {**env, ENV_GPU: _text(gpu)}


def specs_from_environment(environ: Mapping[str, str]) -> dict[SpecName, dict[str, Any]]:
    """The settings that ``environ`` sets, unvalidated, by spec and field: what
    ``ServingSpec`` and ``DriftSpec`` validate. An unset or empty variable keeps the spec's
    default."""
    raw: dict[SpecName, dict[str, Any]] = {"serving": {}, "drift": {}}
    for variable in SPEC_VARIABLES:
        value = environ.get(variable.name, "")
        if not value:
            continue
        level = raw[variable.spec]
        for name in variable.path[:-1]:
            level = level.setdefault(name, {})
        level[variable.path[-1]] = value
    return raw


def describe_environment_error(spec: SpecName, exc: ValidationError) -> str:
    """A spec's validation errors as ``VARIABLE: message``, naming the variables to fix."""
    by_path = {v.path: v.name for v in SPEC_VARIABLES if v.spec == spec}
    problems = []
    for error in exc.errors():
        path = tuple(str(part) for part in error["loc"])
        problems.append(f"{by_path.get(path, '.'.join(path) or spec)}: {error['msg']}")
    return "; ".join(problems)


def model_digests_value(digests: dict[tuple[str, str], str]) -> str:
    """``MODEL_DIGESTS`` for (model, version) → ``sha256:<hex>``."""
    return ",".join(f"{m}:{v}={d}" for (m, v), d in sorted(digests.items()))


def parse_model_digests(text: str) -> dict[tuple[str, str], str]:
    """``model:version=sha256:<hex>,...`` → (model, version) → digest; ValueError says what is
    wrong."""
    digests: dict[tuple[str, str], str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        ref, _, digest = item.partition("=")
        model, _, version = ref.partition(":")
        if not model or not version or not _DIGEST.match(digest):
            raise ValueError(
                f"{ENV_MODEL_DIGESTS}: {item!r} is not 'model:version=sha256:<64 hex digits>'"
            )
        digests[(model, version)] = digest
    return digests
