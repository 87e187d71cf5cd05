"""The model server pods' settings, declared once: what a Deployment asks for and what the
server reads.

The operator embeds ``ServingSpec`` and ``DriftSpec`` in the Deployment's spec, turns them into
the server's environment with ``server_environment`` and the server's settings
(``mlops_serving.settings.ServerSettings``) read that environment back, with the bounds declared
here. A unit test proves a spec round-trips into the server's settings unchanged.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from pydantic import Field

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

#: the server's environment variable of each setting (``ServerSettings`` field names, upper-cased)
ENV_RUNTIME: Final = "SERVING_RUNTIME"
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
#: the digest each served version must have: ``model:version=sha256:<hex>,...`` (what the
#: ModelVersion recorded); the server refuses a version whose manifest differs
ENV_MODEL_DIGESTS: Final = "MODEL_DIGESTS"
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
    reference: str | None = Field(
        default=None,
        max_length=DRIFT_REFERENCE_MAX,
        pattern=DRIFT_REFERENCE_PATTERN,
        description="Reference statistics to score against instead of the training data's: "
        "the URI of a reference_stats.json (e.g. written by the trainer for another dataset). "
        "Checked before use: it must describe the model's input features with their kinds; "
        "until it does, scoring stays on the training data and the Deployment says why.",
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def server_environment(
    serving: ServingSpec, drift: DriftSpec, *, gpu: bool = False
) -> dict[str, str]:
    """The model server's environment variables for these settings (all of them, always, so
    a pod never falls back on a default that differs from the spec's); ``gpu`` when the pod
    asks for one (ONNX Runtime's CUDA provider, torch's cuda device)."""
    batching = serving.batching
    return {
        ENV_RUNTIME: serving.runtime,
        ENV_GPU: _flag(gpu),
        ENV_MODELS_IN_MEMORY: str(serving.max_models_in_memory),
        ENV_WARMUP: _flag(serving.warmup),
        ENV_BATCHING: _flag(batching.enabled),
        ENV_BATCH_SIZE: str(batching.max_batch_size),
        ENV_BATCH_LATENCY: repr(float(batching.max_latency_ms)),
        ENV_DRIFT: _flag(drift.enabled),
        ENV_DRIFT_METHOD: drift.method,
        ENV_DRIFT_THRESHOLD: repr(float(drift.threshold)),
        ENV_DRIFT_WINDOW: str(drift.window_size),
        ENV_DRIFT_REFERENCE: drift.reference or "",
    }


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
