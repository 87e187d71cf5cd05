"""kopf registrations (thin): each handler parses nothing itself, calls one reconcile
function, posts the Events it returns and turns its retry request into kopf's backoff.

``build_registry`` registers only the controllers whose feature flags are on.
"""

from __future__ import annotations

import kopf

from mlops_operator.context import OperatorContext
from mlops_operator.handlers import lifecycle, metrics, registry, training


def build_registry(ctx: OperatorContext) -> kopf.OperatorRegistry:
    operator_registry = kopf.OperatorRegistry()
    lifecycle.register(operator_registry, ctx)
    metrics.register(operator_registry, ctx)
    if ctx.settings.use_registry:
        registry.register(operator_registry, ctx)
    if ctx.settings.use_training:
        training.register(operator_registry, ctx)
    return operator_registry


__all__ = ["build_registry"]
