"""Operator-wide handlers: settings at startup, credentials, liveness details."""

from __future__ import annotations

from typing import Any

import kopf

from mlops_operator import __version__
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.kopf_config import configure_kopf


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext, requeue: Requeue) -> None:
    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, logger: Any, **_: Any) -> None:
        configure_kopf(settings, ctx.settings)
        flags = ctx.settings
        logger.info(
            f"mlops-operator {__version__}: registry={flags.use_registry} "
            f"training={flags.use_training} serving={flags.use_serving} "
            f"monitoring={flags.use_monitoring}; namespaces="
            f"{','.join(flags.watch_namespaces) or 'all'}"
        )

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        info: kopf.ConnectionInfo | None = kopf.login_via_client(**kwargs)
        return info

    @kopf.on.probe(id="version", registry=registry)
    def version(**_: Any) -> str:
        return __version__

    @kopf.on.cleanup(id="requeue-stop", registry=registry)
    def stop_requeue(**_: Any) -> None:
        requeue.stop()
