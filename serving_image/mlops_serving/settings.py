"""Settings of the model server and the router, from the environment (and the command line).

Every field maps to an upper-case environment variable of the same name, e.g.
``MODEL_REPOSITORY_URI`` or ``MAX_REQUEST_BYTES``. The settings a Deployment controls (models in
memory, warm-up, batching, drift) are not restated here: the server holds the contract's own
``ServingSpec`` and ``DriftSpec`` (``mlops_core.serving_spec``), read from the variables that
the operator's ``server_environment`` writes, with the contract's defaults and bounds. The
router's variables are those of ``mlops_core.routing``.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_core.core_schema import ValidatorFunctionWrapHandler
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from mlops_core.routing import (
    ENV_BACKEND_PORT,
    ENV_ROUTER_CONFIG_FILE,
    ENV_ROUTER_CONFIG_MAP,
    ENV_ROUTER_CONFIG_POLL_SECONDS,
    ENV_ROUTER_NAMESPACE,
    ENV_ROUTER_POOL,
)
from mlops_core.serving_spec import (
    ENV_GPU,
    ENV_MODEL_DIGESTS,
    ENV_MODEL_MEMORY_BUDGET,
    ENV_MODEL_OVERHEAD,
    ENV_MODEL_REPOSITORY,
    ENV_MODEL_VERSIONS,
    ENV_POOL_CONFIG_FILE,
    ENV_POOL_SERVER_NAME,
    ENV_PRELOAD_MODELS,
    DriftSpec,
    ServingSpec,
    SpecName,
    describe_environment_error,
    parse_model_digests,
    specs_from_environment,
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


class _ServingContract(PydanticBaseSettingsSource):
    """The ``serving`` and ``drift`` settings from the contract's variables."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: raw for name, raw in specs_from_environment(os.environ).items() if raw}


class ServerSettings(BaseSettings):
    """``python -m mlops_serving serve``."""

    model_config = SettingsConfigDict(
        protected_namespaces=(), extra="ignore", populate_by_name=True
    )

    host: str = Field(default="0.0.0.0", description="Bind address; pods pass $POD_IP.")  # noqa: S104
    port: int = Field(default=8080, ge=1, le=65535)
    model_repository_uri: str = Field(
        default="/tmp/models",
        validation_alias=ENV_MODEL_REPOSITORY,
        description="s3://bucket/prefix or a local folder; a version is <root>/<model>/<version>/.",
    )
    preload_models: str = Field(
        default="",
        validation_alias=ENV_PRELOAD_MODELS,
        description="'name:version,name2' loaded at start.",
    )
    model_versions: str = Field(
        default="",
        validation_alias=ENV_MODEL_VERSIONS,
        description="Default version per model, 'name:version,...'; else highest.",
    )
    model_digests: str = Field(
        default="",
        validation_alias=ENV_MODEL_DIGESTS,
        description="'name:version=sha256:<hex>,...': the manifest digest each version must have "
        "(the ModelVersion's); a version whose manifest differs is refused.",
    )
    serving: ServingSpec = Field(
        default_factory=ServingSpec,
        description="Models in memory, warm-up and batching: the Deployment's spec.serving.",
    )
    drift: DriftSpec = Field(
        default_factory=DriftSpec, description="Drift scoring: the Deployment's spec.monitoring."
    )
    serving_gpu: bool = Field(
        default=False,
        validation_alias=ENV_GPU,
        description="The pod has a GPU: ONNX Runtime's CUDA provider, torch's cuda.",
    )
    model_memory_budget_bytes: int = Field(
        default=0,
        ge=0,
        validation_alias=ENV_MODEL_MEMORY_BUDGET,
        description="0 = no byte budget.",
    )
    model_overhead_bytes: int = Field(
        default=0,
        ge=0,
        validation_alias=ENV_MODEL_OVERHEAD,
        description="Bytes one loaded version costs beyond its files, counted in the budget.",
    )
    model_cache_ttl: float = Field(
        default=0.0, ge=0, description="Seconds an idle model stays loaded; 0 = until evicted."
    )
    pool_config_file: str = Field(
        default="",
        validation_alias=ENV_POOL_CONFIG_FILE,
        description="A ServingPool's router config (mounted): the server preloads the versions "
        "placed on POOL_SERVER_NAME. Empty: not a pool server.",
    )
    pool_server_name: str = Field(
        default="",
        validation_alias=ENV_POOL_SERVER_NAME,
        description="This server's name in the pool.",
    )
    max_request_bytes: int = Field(default=8 * MIB, ge=1024)
    drift_min_samples: int = Field(default=50, ge=1)
    drift_sample_per_batch: int = Field(
        default=8, ge=1, le=4096, description="Records of each batch added to the drift window."
    )
    feedback_capacity: int = Field(default=100_000, ge=1)
    performance_estimation: bool = Field(
        default=True,
        description="Estimate each calibrated version's accuracy from its probabilities while "
        "drift monitoring is on (the window is monitoring.windowSize).",
    )
    explain_max_instances: int = Field(
        default=16, ge=1, le=1024, description="Instances one explain request may carry (413 past)."
    )
    explain_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Explanations computed at once, each in a worker process of the server's "
        "own (started on the first explanation); further explain requests wait.",
    )
    explain_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How much lower the explanation workers' CPU priority is than the server's "
        "(os.nice): on a busy node the predictions get the CPU first.",
    )
    explain_idle_priority: bool = Field(
        default=True,
        description="Run the explanation workers under the kernel's idle scheduling policy "
        "(SCHED_IDLE, Linux): they get a CPU only when no prediction wants it, and give it up "
        "as soon as one does, where a lower niceness alone still lets a woken prediction wait "
        "for the rest of a worker's time slice.",
    )
    explain_cpu_share: float = Field(
        default=0.1,
        gt=0,
        le=64,
        description="The share of one CPU the explanation workers may use together while the "
        "server is answering predictions (one began within the last 0.1 s; 0.1: a tenth of one "
        "CPU; each of EXPLAIN_CONCURRENCY workers gets an equal part): a worker sleeps after a "
        "forward pass for as long as keeps its CPU time within its part of the wall-clock "
        "time. A part of 1 or more never holds a worker back.",
    )
    explain_idle_cpu_share: float = Field(
        default=1.0,
        gt=0,
        le=64,
        description="The same share while the server is answering no prediction (none began "
        "within the last 0.1 s): 1, one CPU, lets a lone worker explain at full speed on a "
        "quiet server; set it to EXPLAIN_CPU_SHARE to pace the workers alike at all times.",
    )
    torch_num_threads: int = Field(
        default_factory=_default_threads,
        ge=1,
        le=256,
        description="Threads of one forward pass, in either runtime (ONNX Runtime's intra-op "
        "threads, torch's threads).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        contract = _ServingContract(settings_cls)
        return (init_settings, contract, env_settings, dotenv_settings, file_secret_settings)

    @field_validator("serving", "drift", mode="wrap")
    @classmethod
    def _name_the_variables(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            spec: SpecName = "serving" if info.field_name == "serving" else "drift"
            raise ValueError(describe_environment_error(spec, exc)) from None

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
        batching = self.serving.batching
        return batching.max_batch_size if batching.enabled else 1

    @property
    def batch_wait_ms(self) -> float:
        """How long a batch waits to fill: 0 with batching off."""
        batching = self.serving.batching
        return batching.max_latency_ms if batching.enabled else 0.0

    def preload(self) -> list[tuple[str, str | None]]:
        return ModelRef.parse_list(self.preload_models, setting=ENV_PRELOAD_MODELS)

    def pinned_versions(self) -> dict[str, str]:
        refs = ModelRef.parse_list(self.model_versions, setting=ENV_MODEL_VERSIONS)
        pinned: dict[str, str] = {}
        for name, version in refs:
            if version is None:
                raise ValueError(f"{ENV_MODEL_VERSIONS}: {name!r} needs a version: '{name}:1.0.0'")
            pinned[name] = version
        return pinned


class RouterSettings(BaseSettings):
    """``python -m mlops_serving route``."""

    model_config = SettingsConfigDict(
        protected_namespaces=(), extra="ignore", populate_by_name=True
    )

    host: str = Field(default="0.0.0.0")  # noqa: S104
    port: int = Field(default=8080, ge=1, le=65535)
    router_config_file: str = Field(
        default="/etc/mlops/router/router.json",
        validation_alias=ENV_ROUTER_CONFIG_FILE,
        description="Mounted ConfigMap key.",
    )
    router_config_poll_seconds: float = Field(
        default=1.0, gt=0, validation_alias=ENV_ROUTER_CONFIG_POLL_SECONDS
    )
    router_pool: bool = Field(
        default=False,
        validation_alias=ENV_ROUTER_POOL,
        description="Route for a ServingPool: the config is a PoolRouterConfig (every pooled "
        "Deployment's split and the placement of versions on the pool's servers).",
    )
    router_config_map: str | None = Field(
        default=None,
        validation_alias=ENV_ROUTER_CONFIG_MAP,
        description="ConfigMap (in router_namespace) whose router.json is followed through the "
        "API and written to router_config_file; unset: the file alone (e.g. a mounted key).",
    )
    router_namespace: str | None = Field(
        default=None,
        validation_alias=ENV_ROUTER_NAMESPACE,
        description="Namespace of the per-version Services (EndpointSlice watch).",
    )
    backend_port: int = Field(default=8080, ge=1, le=65535, validation_alias=ENV_BACKEND_PORT)
    backend_timeout_seconds: float = Field(default=30.0, gt=0)
    backend_attempts: int = Field(default=3, ge=1, le=10)
    max_request_bytes: int = Field(default=8 * MIB, ge=1024)
    max_connections: int = Field(
        default=512, ge=1, description="Idle connections kept per endpoint."
    )
