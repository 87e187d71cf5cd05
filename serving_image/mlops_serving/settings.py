"""Settings of the model server and the router, from the environment (and the command line).

Every field maps to an upper-case environment variable of the same name, e.g.
``MODEL_REPOSITORY_URI``, ``MAX_MODELS_IN_MEMORY`` or ``DRIFT_DETECTION_METHOD``. The settings a
Deployment controls (models in memory, warm-up, batching, drift) are bounded by the contract in
``mlops_core.serving_spec``, whose ``server_environment`` writes exactly these variables.
"""

from __future__ import annotations

import os

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_core.drift import DriftMethod
from mlops_core.serving_spec import (
    BATCH_LATENCY_MS_MAX,
    BATCH_SIZE_MAX,
    DRIFT_THRESHOLD_MAX,
    DRIFT_WINDOW_MAX,
    DRIFT_WINDOW_MIN,
    MODELS_IN_MEMORY_MAX,
    BatchingSpec,
    DriftSpec,
    ServingRuntime,
    ServingSpec,
    parse_model_digests,
)

MIB = 1024 * 1024


def _default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


class ModelRef:
    """``name`` or ``name:version`` from a comma-separated setting."""

    @staticmethod
    def parse_list(text: str, *, setting: str) -> list[tuple[str, str | None]]:
        refs: list[tuple[str, str | None]] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            name, sep, version = item.partition(":")
            if not name or (sep and not version):
                raise ValueError(
                    f"{setting}: {item!r} is not 'name' or 'name:version' "
                    "(comma-separated, e.g. 'fraud:1.2.0,spam')"
                )
            refs.append((name, version or None))
        return refs


class ServerSettings(BaseSettings):
    """``python -m mlops_serving serve``."""

    model_config = SettingsConfigDict(protected_namespaces=(), extra="ignore")

    host: str = Field(default="0.0.0.0", description="Bind address; pods pass $POD_IP.")  # noqa: S104
    port: int = Field(default=8080, ge=1, le=65535)
    model_repository_uri: str = Field(
        default="/tmp/models",
        description="s3://bucket/prefix or a local folder; a version is <root>/<model>/<version>/.",
    )
    preload_models: str = Field(default="", description="'name:version,name2' loaded at start.")
    model_versions: str = Field(
        default="", description="Default version per model, 'name:version,...'; else highest."
    )
    model_digests: str = Field(
        default="",
        description="'name:version=sha256:<hex>,...': the manifest digest each version must have "
        "(the ModelVersion's); a version whose manifest differs is refused.",
    )
    serving_runtime: ServingRuntime = Field(
        default="onnx",
        description="onnx: ONNX Runtime for versions with model.onnx, torch for older ones; "
        "torch: torch for every version (needs the torch flavour of the image).",
    )
    serving_gpu: bool = Field(
        default=False, description="The pod has a GPU: ONNX Runtime's CUDA provider, torch's cuda."
    )
    max_models_in_memory: int = Field(default=4, ge=1, le=MODELS_IN_MEMORY_MAX)
    model_memory_budget_bytes: int = Field(default=0, ge=0, description="0 = no byte budget.")
    model_overhead_bytes: int = Field(
        default=0,
        ge=0,
        description="Bytes one loaded version costs beyond its files, counted in the budget.",
    )
    model_cache_ttl: float = Field(
        default=0.0, ge=0, description="Seconds an idle model stays loaded; 0 = until evicted."
    )
    pool_config_file: str = Field(
        default="",
        description="A ServingPool's router config (mounted): the server preloads the versions "
        "placed on POOL_SERVER_NAME. Empty: not a pool server.",
    )
    pool_server_name: str = Field(default="", description="This server's name in the pool.")
    warmup_on_load: bool = True
    batching_enabled: bool = Field(
        default=True, description="Off: every request runs alone (a batch of one, no wait)."
    )
    max_batch_size: int = Field(default=32, ge=1, le=BATCH_SIZE_MAX)
    max_latency_ms: float = Field(default=5.0, ge=0, le=BATCH_LATENCY_MS_MAX)
    max_request_bytes: int = Field(default=8 * MIB, ge=1024)
    drift_detection_enabled: bool = True
    drift_detection_method: DriftMethod = "psi"
    drift_detection_threshold: float = Field(default=0.2, gt=0, le=DRIFT_THRESHOLD_MAX)
    drift_window_size: int = Field(default=1000, ge=DRIFT_WINDOW_MIN, le=DRIFT_WINDOW_MAX)
    drift_min_samples: int = Field(default=50, ge=1)
    drift_reference_uri: str = Field(
        default="",
        max_length=2048,
        description="Reference statistics JSON to score drift against instead of the "
        "training data's (s3://... or a path); empty: the artifact's.",
    )
    drift_sample_per_batch: int = Field(
        default=8, ge=1, le=4096, description="Records of each batch added to the drift window."
    )
    feedback_capacity: int = Field(default=100_000, ge=1)
    explain_max_instances: int = Field(
        default=16, ge=1, le=1024, description="Instances one explain request may carry (413 past)."
    )
    explain_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Explanations computed at once, on threads of their own (never the "
        "inference thread); further explain requests wait.",
    )
    torch_num_threads: int = Field(
        default_factory=_default_threads,
        ge=1,
        le=256,
        description="Threads of one forward pass, in either runtime (ONNX Runtime's intra-op "
        "threads, torch's threads).",
    )

    @field_validator("preload_models", "model_versions")
    @classmethod
    def _refs(cls, value: str) -> str:
        ModelRef.parse_list(value, setting="model list")
        return value

    @field_validator("model_digests")
    @classmethod
    def _digests(cls, value: str) -> str:
        parse_model_digests(value)
        return value

    def expected_digests(self) -> dict[tuple[str, str], str]:
        """(name, version) → the digest its manifest must have."""
        return parse_model_digests(self.model_digests)

    @property
    def batch_size_limit(self) -> int:
        """The largest batch the batcher forms: 1 with batching off."""
        return self.max_batch_size if self.batching_enabled else 1

    @property
    def batch_wait_ms(self) -> float:
        """How long a batch waits to fill: 0 with batching off."""
        return self.max_latency_ms if self.batching_enabled else 0.0

    def serving_spec(self) -> ServingSpec:
        """These settings as the serving contract (``mlops_core.serving_spec``)."""
        return ServingSpec(
            runtime=self.serving_runtime,
            max_models_in_memory=self.max_models_in_memory,
            warmup=self.warmup_on_load,
            batching=BatchingSpec(
                enabled=self.batching_enabled,
                max_batch_size=self.max_batch_size,
                max_latency_ms=self.max_latency_ms,
            ),
        )

    def drift_spec(self) -> DriftSpec:
        return DriftSpec(
            enabled=self.drift_detection_enabled,
            method=self.drift_detection_method,
            threshold=self.drift_detection_threshold,
            window_size=self.drift_window_size,
        )

    def preload(self) -> list[tuple[str, str | None]]:
        return ModelRef.parse_list(self.preload_models, setting="PRELOAD_MODELS")

    def pinned_versions(self) -> dict[str, str]:
        refs = ModelRef.parse_list(self.model_versions, setting="MODEL_VERSIONS")
        pinned: dict[str, str] = {}
        for name, version in refs:
            if version is None:
                raise ValueError(f"MODEL_VERSIONS: {name!r} needs a version: '{name}:1.0.0'")
            pinned[name] = version
        return pinned


class RouterSettings(BaseSettings):
    """``python -m mlops_serving route``."""

    model_config = SettingsConfigDict(protected_namespaces=(), extra="ignore")

    host: str = Field(default="0.0.0.0")  # noqa: S104
    port: int = Field(default=8080, ge=1, le=65535)
    router_config_file: str = Field(
        default="/etc/mlops/router/router.json", description="Mounted ConfigMap key."
    )
    router_config_poll_seconds: float = Field(default=1.0, gt=0)
    router_pool: bool = Field(
        default=False,
        description="Route for a ServingPool: the config is a PoolRouterConfig (every pooled "
        "Deployment's split and the placement of versions on the pool's servers).",
    )
    router_config_map: str | None = Field(
        default=None,
        description="ConfigMap (in router_namespace) whose router.json is followed through the "
        "API and written to router_config_file; unset: the file alone (e.g. a mounted key).",
    )
    router_namespace: str | None = Field(
        default=None, description="Namespace of the per-version Services (EndpointSlice watch)."
    )
    backend_port: int = Field(default=8080, ge=1, le=65535)
    backend_timeout_seconds: float = Field(default=30.0, gt=0)
    backend_attempts: int = Field(default=3, ge=1, le=10)
    max_request_bytes: int = Field(default=8 * MIB, ge=1024)
    max_connections: int = Field(
        default=512, ge=1, description="Idle connections kept per endpoint."
    )
