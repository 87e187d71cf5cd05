"""ServingPool (servingpools.mlops.dev): model server and router pods that many Deployments share.

A platform team declares the pool's size and limits: server replicas, each server's resources and
the share of its memory that holds models, how many copies of each served version to keep, and
router replicas. A Deployment opts in with ``spec.pool``. The operator places every served version
of the pool's Deployments on ``copies`` servers by free memory (``mlops_operator.placement``),
writes the placement into the routers' config and reports, per server, what it holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import ConfigDict, Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations
from mlops_operator.api.conditions import ResourceStatus
from mlops_operator.api.meta import (
    OBJECT_NAME_MAX,
    OBJECT_NAME_PATTERN,
    CustomResource,
    PrinterColumn,
    ResourceKind,
    ScaleSubresource,
    age_column,
    ready_column,
)
from mlops_operator.api.name_limits import SERVICE_NAME_MAX
from mlops_operator.api.resources import (
    ComputeResources,
    MemoryQuantity,
    Scheduling,
    quantity_bytes,
)

SERVERS_MAX: Final = 64
ROUTERS_MAX: Final = 16
COPIES_MAX: Final = 8
#: served versions a pool places (the router config lists each one's servers)
PLACED_MAX: Final = 2048
#: versions one server reports holding (its LRU capacity is bounded by the same number)
MODELS_PER_SERVER_MAX: Final = 256
#: "<model>:<version>" as reported in a status
MODEL_REF_MAX: Final = 63 + 1 + 64
UNPLACED_MAX: Final = 64
#: the pool's name plus "-server-<index>" / "-router" stays a Service name and a label value
POOL_NAME_MAX: Final = SERVICE_NAME_MAX - len("-server-") - len(str(SERVERS_MAX))

#: one loaded small MLP measured ~146 KiB of RSS beyond its files (docs/pools.md), rounded up
MODEL_OVERHEAD_DEFAULT: Final = "256Ki"
#: "<model>:<version>" in a status
ModelRef = Annotated[str, Field(max_length=MODEL_REF_MAX)]

POOL_NAME_RULE: Final = rule(
    f"size(self.metadata.name) <= {POOL_NAME_MAX}",
    f"a ServingPool name may have at most {POOL_NAME_MAX} characters: its server pods are "
    "named <pool>-server-<index>",
)
BUDGET_FITS: Final = "modelMemory must be less than resources.memory (the server itself needs room)"


class ServingPoolSpec(WireModel):
    """How many servers and routers the pool runs, and how much of each server holds models."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.modelMemory) || !has(self.resources) || !has(self.resources.memory) || "
                "!isQuantity(string(self.modelMemory)) || "
                "!isQuantity(string(self.resources.memory)) || "
                "quantity(string(self.modelMemory)).isLessThan("
                "quantity(string(self.resources.memory)))",
                BUDGET_FITS,
                field_path=".modelMemory",
            )
        )
    )

    replicas: int = Field(
        default=3,
        ge=0,
        le=SERVERS_MAX,
        description="Model server pods. 0 stops serving: every pooled Deployment reports it.",
    )
    router_replicas: int = Field(
        default=2, ge=1, le=ROUTERS_MAX, description="Router pods shared by the pool's Deployments."
    )
    copies: int = Field(
        default=2,
        ge=1,
        le=COPIES_MAX,
        description="Servers that hold each served version (at most the ready servers): a "
        "server lost leaves the other copies answering while its versions are placed again.",
    )
    model_memory: MemoryQuantity = Field(
        default="1Gi",
        description="Memory budget for models on each server (weights plus the per-model "
        "overhead); the server evicts the least recently used version rather than exceed it. "
        "Less than resources.memory, which also holds the runtime.",
    )
    model_overhead: MemoryQuantity = Field(
        default=MODEL_OVERHEAD_DEFAULT,
        description="Memory one loaded version costs beyond its artifact's bytes (runtime "
        "objects, drift window, batcher): counted by placement and by each server's budget. "
        "The default rounds up what a small MLP was measured to cost (docs/pools.md).",
    )
    max_models_per_server: int = Field(
        default=64,
        ge=1,
        le=MODELS_PER_SERVER_MAX,
        description="Versions one server keeps in memory at most (LRU beyond it).",
    )
    resources: ComputeResources = Field(
        default_factory=ComputeResources, description="CPU and memory of each server pod."
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling, description="Node selector, tolerations and priority."
    )
    storage_secret_name: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Secret in this namespace with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
        "and AWS_ENDPOINT_URL for the object store. Default: the operator's (mlops-s3).",
    )

    @model_validator(mode="after")
    def _budget_fits(self) -> ServingPoolSpec:
        if quantity_bytes(self.model_memory) >= quantity_bytes(self.resources.memory):
            raise ValueError(BUDGET_FITS)
        return self

    @property
    def model_memory_bytes(self) -> int:
        return quantity_bytes(self.model_memory)

    @property
    def model_overhead_bytes(self) -> int:
        return quantity_bytes(self.model_overhead)


class PoolServerStatus(WireModel):
    """One server of the pool: what placement gave it and what it reports."""

    name: str = Field(max_length=SERVICE_NAME_MAX, description="Server pod name.")
    ready: bool = Field(default=False, description="Whether the pod is ready.")
    placed: list[ModelRef] = Field(
        default_factory=list,
        max_length=MODELS_PER_SERVER_MAX,
        description="Versions placed here, as <model>:<version>.",
    )
    loaded: int = Field(default=0, ge=0, description="Versions in memory now (scraped).")
    memory_placed_bytes: int = Field(
        default=0, ge=0, description="Bytes the placed versions need (weights plus overhead)."
    )
    memory_used_bytes: int = Field(
        default=0, ge=0, description="Bytes the loaded versions hold now (scraped)."
    )
    loads_total: float = Field(default=0.0, ge=0, description="Loads since the server started.")
    evictions_total: float = Field(
        default=0.0, ge=0, description="Evictions since the server started."
    )
    loads_per_minute: float = Field(
        default=0.0, ge=0, description="Loads per minute since the last status."
    )
    evictions_per_minute: float = Field(
        default=0.0, ge=0, description="Evictions per minute since the last status."
    )


class UnplacedVersion(WireModel):
    """A served version the pool could not place, and why."""

    deployment: str = Field(max_length=SERVICE_NAME_MAX, description="Deployment serving it.")
    version: str = Field(max_length=MODEL_REF_MAX, description="<model>:<version>.")
    reason: str = Field(max_length=1024, description="Why, and what to change.")


PoolPhase = Literal["Pending", "Serving", "Degraded", "Stopped"]


class ServingPoolStatus(ResourceStatus):
    """Servers, what each holds, memory and churn."""

    phase: PoolPhase | None = Field(
        default=None, description="Pending, Serving, Degraded, Stopped."
    )
    replicas: int = Field(default=0, ge=0, description="Server pods that exist.")
    ready_servers: int = Field(default=0, ge=0, description="Server pods that are ready.")
    ready_routers: int = Field(default=0, ge=0, description="Router pods that are ready.")
    label_selector: str | None = Field(
        default=None, max_length=512, description="Selector of the server pods (scale)."
    )
    deployments: int = Field(default=0, ge=0, description="Deployments in this pool.")
    placed_versions: int = Field(default=0, ge=0, description="Served versions placed.")
    servers: list[PoolServerStatus] = Field(
        default_factory=list, max_length=SERVERS_MAX, description="One entry per server."
    )
    unplaced: list[UnplacedVersion] = Field(
        default_factory=list,
        max_length=UNPLACED_MAX,
        description="Versions that fit on no server, with the reason.",
    )
    memory_used_bytes: int = Field(default=0, ge=0, description="Bytes in memory, all servers.")
    memory_budget_bytes: int = Field(default=0, ge=0, description="Model memory, all servers.")
    loads_per_minute: float = Field(default=0.0, ge=0, description="Loads, all servers.")
    evictions_per_minute: float = Field(default=0.0, ge=0, description="Evictions, all servers.")
    sampled_at: datetime | None = Field(
        default=None, description="When the servers' counters were last read."
    )
    servers_summary: str | None = Field(
        default=None, max_length=32, description="Ready servers of replicas, e.g. 3/3."
    )
    memory_summary: str | None = Field(
        default=None, max_length=64, description="Memory used of the budget, e.g. 40%."
    )


class ServingPool(CustomResource):
    """A shared set of model servers and routers."""

    kind: Literal["ServingPool"] = "ServingPool"
    spec: ServingPoolSpec
    status: ServingPoolStatus = Field(default_factory=ServingPoolStatus)


SERVING_POOL: Final = ResourceKind(
    kind="ServingPool",
    plural="servingpools",
    singular="servingpool",
    short_names=("mlpool",),
    resource=ServingPool,
    spec=ServingPoolSpec,
    status=ServingPoolStatus,
    description="ServingPool is a set of model server pods and router pods that many "
    "Deployments share (spec.pool). Served versions are placed on servers by free memory, "
    "each on `copies` servers; servers load what they are given and evict the least recently "
    "used version within their memory budget.",
    printer_columns=(
        PrinterColumn(
            name="Servers", json_path=".status.serversSummary", description="Ready of replicas."
        ),
        PrinterColumn(
            name="Deployments",
            json_path=".status.deployments",
            type="integer",
            description="Deployments in the pool.",
        ),
        PrinterColumn(
            name="Placed",
            json_path=".status.placedVersions",
            type="integer",
            description="Served versions placed.",
        ),
        PrinterColumn(
            name="Memory", json_path=".status.memorySummary", description="Used of the budget."
        ),
        PrinterColumn(name="Phase", json_path=".status.phase", description="Pool phase."),
        ready_column(),
        age_column(),
        PrinterColumn(
            name="Loads/min",
            json_path=".status.loadsPerMinute",
            type="number",
            description="Model loads per minute.",
            priority=1,
        ),
        PrinterColumn(
            name="Evictions/min",
            json_path=".status.evictionsPerMinute",
            type="number",
            description="Evictions per minute.",
            priority=1,
        ),
    ),
    scale=ScaleSubresource(
        spec_replicas_path=".spec.replicas",
        status_replicas_path=".status.replicas",
        label_selector_path=".status.labelSelector",
    ),
    root_rules=(POOL_NAME_RULE,),
)
