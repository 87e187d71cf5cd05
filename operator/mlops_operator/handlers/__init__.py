"""kopf registrations (thin): each handler parses nothing itself, calls one reconcile
function, posts the Events it returns, turns its retry request into kopf's backoff and hands
its timed work (``Outcome.requeue_after``) to the one operator-wide requeue.

``build_registry`` registers only the controllers whose feature flags are on.
"""

from __future__ import annotations

import kopf

from mlops_operator.context import OperatorContext
from mlops_operator.handlers import (
    deployment,
    experiment,
    lifecycle,
    metrics,
    registry,
    serving_pool,
    training,
)
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.handlers.version_index import ModelVersions


def build_registry(ctx: OperatorContext) -> kopf.OperatorRegistry:
    operator_registry = kopf.OperatorRegistry()
    requeue = Requeue()
    versions = ModelVersions()
    if ctx.settings.use_registry or ctx.settings.use_serving:
        versions.register(operator_registry)
    lifecycle.register(operator_registry, ctx, requeue)
    metrics.register(operator_registry, ctx)
    if ctx.settings.use_registry:
        registry.register(operator_registry, ctx, versions)
    if ctx.settings.use_training:
        training.register(operator_registry, ctx, requeue)
        experiment.register(operator_registry, ctx, requeue)
    if ctx.settings.use_serving:
        deployment.register(operator_registry, ctx, requeue, versions)
        serving_pool.register(operator_registry, ctx, requeue)
    return operator_registry


__all__ = ["build_registry"]
