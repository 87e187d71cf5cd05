"""Compute resources and scheduling, shared by TrainingJob, Experiment trials and Deployment."""

from __future__ import annotations

import math
import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations
from mlops_operator.api.meta import OBJECT_NAME_MAX, OBJECT_NAME_PATTERN

#: a Kubernetes resource quantity, e.g. 500m, 2, 4Gi: a non-negative decimal number with an
#: optional binary (Ki…Ei), decimal (n, u, m, k…E) or exponent suffix (``[.]`` and ``[+]``
#: rather than escapes, so the pattern goes into a CEL string as it is)
QUANTITY_PATTERN: Final = (
    "^[+]?(([0-9]+([.][0-9]*)?)|([.][0-9]+))"
    "(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+([.][0-9]*)?)|([.][0-9]+))))?$"
)
QUANTITY_MAX_LENGTH: Final = 32
GPU_MAX: Final = 16
LABEL_KEY_MAX: Final = 317
LABEL_VALUE_MAX: Final = 63


def _quantity_text(value: object) -> object:
    """``cpu: 2`` in YAML is an integer; Kubernetes accepts it, so do we."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def quantity_message(what: str, examples: str) -> str:
    """What a user reads when ``what`` is not a quantity."""
    return (
        f"{what} must be a Kubernetes quantity such as {examples} (a non-negative number with "
        "an optional suffix: m, k, M, G, T or Ki, Mi, Gi, Ti)"
    )


def _checked(message: str) -> AfterValidator:
    def check(value: str) -> str:
        if re.fullmatch(QUANTITY_PATTERN, value) is None:
            raise ValueError(f"{message}; got {value!r}")
        return value

    return AfterValidator(check)


def _quantity_schema(message: str) -> FieldInfo:
    """Int-or-string, checked on the API server by a CEL rule rather than a bare ``pattern``,
    so a wrong value is refused with a sentence that shows a right one, not the expression.
    To CEL the value is an int or a string: only a string needs the pattern."""
    cel = rule(f"type(self) == int ? self >= 0 : self.matches('{QUANTITY_PATTERN}')", message)
    schema: JsonDict = {"x-kubernetes-int-or-string": True, **validations(cel)}
    field: FieldInfo = Field(max_length=QUANTITY_MAX_LENGTH, json_schema_extra=schema)
    return field


CPU_MESSAGE: Final = quantity_message("cpu", "500m, 1 or 2.5")
MEMORY_MESSAGE: Final = quantity_message("memory", "512Mi or 2Gi")

#: CPU per pod: cores, or thousandths of a core (500m); a string or, as in Kubernetes, a number
CpuQuantity = Annotated[
    str, BeforeValidator(_quantity_text), _checked(CPU_MESSAGE), _quantity_schema(CPU_MESSAGE)
]
#: memory per pod: bytes, usually with a binary suffix (512Mi, 2Gi)
MemoryQuantity = Annotated[
    str,
    BeforeValidator(_quantity_text),
    _checked(MEMORY_MESSAGE),
    _quantity_schema(MEMORY_MESSAGE),
]
_BINARY: Final = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: Final = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "P": 1e15, "E": 1e18,
}  # fmt: skip


def quantity_bytes(quantity: str) -> int:
    """A memory quantity (``512Mi``, ``2G``, ``1e9``, ``1048576``) in whole bytes, rounded up."""
    if re.fullmatch(QUANTITY_PATTERN, quantity) is None:
        raise ValueError(f"{MEMORY_MESSAGE}; got {quantity!r}")
    text = quantity.lstrip("+")
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return math.ceil(float(text[: -len(suffix)]) * factor)
    if text and text[-1] in _DECIMAL:
        return math.ceil(float(text[:-1]) * _DECIMAL[text[-1]])
    return math.ceil(float(text))


LabelValue = Annotated[str, Field(max_length=LABEL_VALUE_MAX)]


class ComputeResources(WireModel):
    """What each pod (each worker) gets."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "!has(self.gpuProduct) || (has(self.gpu) && self.gpu > 0)",
                "gpuProduct applies only with gpu > 0",
                field_path=".gpuProduct",
            )
        )
    )

    cpu: CpuQuantity = Field(
        default="1", description="CPU request and limit per pod, e.g. 500m or 2."
    )
    memory: MemoryQuantity = Field(
        default="2Gi", description="Memory request and limit per pod, e.g. 512Mi or 4Gi."
    )
    gpu: int = Field(
        default=0,
        ge=0,
        le=GPU_MAX,
        json_schema_extra=validations(
            rule("self >= 0", "gpu must be 0 or more: the number of GPUs per pod")
        ),
        description="NVIDIA GPUs per pod (nvidia.com/gpu). A pod asking for one runs only on a "
        "GPU node (nvidia.com/gpu.present=true) and tolerates its nvidia.com/gpu taint.",
    )
    gpu_product: str | None = Field(
        default=None,
        min_length=1,
        max_length=LABEL_VALUE_MAX,
        description="GPU model to run on, matched against the node label nvidia.com/gpu.product, "
        "e.g. NVIDIA-H100-80GB-HBM3. Only with gpu > 0.",
    )

    @model_validator(mode="after")
    def _product_needs_gpu(self) -> ComputeResources:
        if self.gpu_product is not None and self.gpu == 0:
            raise ValueError("gpuProduct applies only with gpu > 0")
        return self


TolerationOperator = Literal["Exists", "Equal"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Toleration(WireModel):
    """A taint the pods tolerate (as in a pod spec)."""

    key: str | None = Field(
        default=None, max_length=LABEL_KEY_MAX, description="Taint key; empty matches all keys."
    )
    operator: TolerationOperator = Field(default="Equal", description="Exists or Equal.")
    value: str | None = Field(
        default=None, max_length=LABEL_VALUE_MAX, description="Taint value, for Equal."
    )
    effect: TaintEffect | None = Field(
        default=None,
        description="NoSchedule, PreferNoSchedule or NoExecute; empty matches all effects.",
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        le=31_536_000,
        description="For NoExecute: how long the pod stays bound after the taint appears.",
    )


class Scheduling(WireModel):
    """Where the pods may run, beyond what the GPU request implies."""

    node_selector: dict[str, LabelValue] = Field(
        default_factory=dict,
        max_length=32,
        description="Node labels the pods require (merged with the GPU node selector).",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list,
        max_length=16,
        description="Extra tolerations (the nvidia.com/gpu toleration is added for GPU pods).",
    )
    priority_class_name: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="PriorityClass of the pods.",
    )
