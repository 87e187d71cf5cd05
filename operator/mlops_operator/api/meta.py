"""What every kind shares: group and version, object metadata, and the facts a CRD needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mlops_core.wire import WireModel

GROUP: Final = "mlops.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "mlops.dev/v1alpha1"  # f"{GROUP}/{VERSION}", spelled out for typing
CATEGORY: Final = "mlops"

#: a reference to another object by name (a DNS-1123 subdomain)
OBJECT_NAME_MAX: Final = 253
OBJECT_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: a name that also ends up in label values (a DNS-1123 label)
LABEL_NAME_MAX: Final = 63
LABEL_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: a semantic version (https://semver.org), without a leading "v"
SEMVER_MAX: Final = 64
#: (``[.]`` rather than an escaped dot, so the pattern can go into a CEL string as it is)
SEMVER_PATTERN: Final = (
    "^(0|[1-9][0-9]*)[.](0|[1-9][0-9]*)[.](0|[1-9][0-9]*)"
    "(-(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)([.](0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?"
    "([+][0-9a-zA-Z-]+([.][0-9a-zA-Z-]+)*)?$"
)
URI_MAX: Final = 1024
DESCRIPTION_MAX: Final = 1024

#: a semantic version as reported in a status (not validated there: the spec was)
VersionString = Annotated[str, Field(max_length=SEMVER_MAX)]
#: entries of a metrics map (metric name → value)
METRICS_MAX: Final = 32


class _KubeModel(BaseModel):
    """Kubernetes-owned structures: camelCase, and fields this package does not use are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class OwnerReference(_KubeModel):
    """The object that owns this one; deleting the owner garbage-collects it."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(_KubeModel):
    """The parts of ``metadata`` that the operator reads or sets."""

    name: str
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    owner_references: list[OwnerReference] = Field(default_factory=list)
    finalizers: list[str] = Field(default_factory=list)


class CustomResource(_KubeModel):
    """A whole object of one of this package's kinds: apiVersion, kind, metadata, spec, status.

    Subclasses add ``kind``, ``spec`` and ``status``. :meth:`from_body` turns the raw object a
    watch or kopf handler receives into the typed model, once; :meth:`to_wire` is the reverse.
    """

    api_version: Literal["mlops.dev/v1alpha1"] = API_VERSION
    metadata: ObjectMeta

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """Parse a raw object (a dict, or a read-only mapping such as kopf's ``Body``)."""
        return cls.model_validate(_plain(body))

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready, camelCase form with unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _plain(value: object) -> object:
    """Mappings and sequences as plain dicts and lists (kopf hands out read-only views)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(item) for item in value]
    return value


PrinterColumnType = Literal["string", "integer", "number", "boolean", "date"]


@dataclass(frozen=True, kw_only=True)
class PrinterColumn:
    """A column of ``kubectl get``."""

    name: str
    json_path: str
    type: PrinterColumnType = "string"
    description: str
    priority: int = 0


@dataclass(frozen=True, kw_only=True)
class ScaleSubresource:
    """Where ``kubectl scale`` and a HorizontalPodAutoscaler read and write replicas."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str


def ready_column() -> PrinterColumn:
    return condition_column("Ready")


def condition_column(condition_type: str) -> PrinterColumn:
    return PrinterColumn(
        name=condition_type,
        json_path=f'.status.conditions[?(@.type=="{condition_type}")].status',
        description=f"Status of the {condition_type} condition.",
    )


def age_column() -> PrinterColumn:
    return PrinterColumn(
        name="Age",
        json_path=".metadata.creationTimestamp",
        type="date",
        description="Time since the object was created.",
    )


@dataclass(frozen=True, kw_only=True)
class ResourceKind:
    """One kind of this API: its Python types and what its CustomResourceDefinition says."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    resource: type[CustomResource]
    spec: type[WireModel]
    status: type[WireModel]
    description: str
    printer_columns: tuple[PrinterColumn, ...]
    scale: ScaleSubresource | None = None
    #: CEL rules on the whole object (they may read ``self.metadata.name``)
    root_rules: tuple[dict[str, str], ...] = field(default=())

    @property
    def crd_name(self) -> str:
        """``<plural>.<group>``, the CustomResourceDefinition's own name."""
        return f"{self.plural}.{GROUP}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"
