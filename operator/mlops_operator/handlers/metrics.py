"""The operator's metrics endpoint, and the watches that keep its per-object gauges current.

Watch-event handlers only: they read each TrainingJob's, Experiment's and Deployment's status
into the metrics' book and write nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf

from mlops_operator.api.meta import GROUP, VERSION
from mlops_operator.context import OperatorContext
from mlops_operator.metrics import OPERATOR_METRICS, OperatorMetrics
from mlops_operator.resource_states import (
    ResourceState,
    deployment_state,
    experiment_state,
    training_state,
)

StateReader = Callable[[Mapping[str, Any]], ResourceState]


def _watch(
    registry: kopf.OperatorRegistry,
    metrics: OperatorMetrics,
    *,
    kind: str,
    plural: str,
    read: StateReader,
) -> None:
    @kopf.on.event(GROUP, VERSION, plural, id=f"metrics-{plural}", registry=registry)
    def observe(
        *, body: kopf.Body, namespace: str | None, name: str, type: str | None, **_: Any
    ) -> None:
        state = None if type == "DELETED" else read(body)
        metrics.observe(kind, state, namespace=namespace or "", name=name)


def register(
    registry: kopf.OperatorRegistry,
    ctx: OperatorContext,
    *,
    metrics: OperatorMetrics = OPERATOR_METRICS,
) -> None:
    port, host = ctx.settings.metrics_port, ctx.settings.metrics_host
    if port is None:
        return

    @kopf.on.startup(id="metrics-endpoint", registry=registry)
    def serve_metrics(logger: Any, **_: Any) -> None:
        metrics.serve(port, host=host)
        logger.info(f"metrics on {host}:{port}/metrics")

    # Whatever the feature flags: the gauges describe the objects, whoever reconciles them.
    _watch(registry, metrics, kind="TrainingJob", plural="trainingjobs", read=training_state)
    _watch(registry, metrics, kind="Experiment", plural="experiments", read=experiment_state)
    _watch(registry, metrics, kind="Deployment", plural="deployments", read=deployment_state)
