"""Operator-wide handlers: settings at startup, credentials, liveness details."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import kopf

from mlops_operator import __version__
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.kopf_config import configure_kopf
from mlops_operator.kopf_session import bounded_session
from mlops_operator.kube import ConflictError

#: kopf's namespaced peering object (kopf.dev/v1, CRD from the chart's crds/)
PEERING_API_VERSION = "kopf.dev/v1"


def ensure_peerings(ctx: OperatorContext) -> list[str]:
    """A namespaced operator (MLOPS_WATCH_NAMESPACE) peers through a KopfPeering in each
    namespace it watches, and kopf does nothing in a namespace until that object exists: create
    the missing ones (an existing one, e.g. the chart's, is kept). Returns those created."""
    settings = ctx.settings
    if settings.standalone:
        return []
    created = []
    for namespace in settings.watch_namespaces:
        if ctx.kube.get(PEERING_API_VERSION, "KopfPeering", settings.peering_name, namespace):
            continue
        peering = {
            "apiVersion": PEERING_API_VERSION,
            "kind": "KopfPeering",
            "metadata": {"name": settings.peering_name, "namespace": namespace},
        }
        try:
            ctx.kube.create(peering)
        except ConflictError:
            continue  # another replica created it first
        created.append(namespace)
    return created


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext, requeue: Requeue) -> None:
    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, logger: Any, **_: Any) -> None:
        configure_kopf(settings, ctx.settings)
        for namespace in ensure_peerings(ctx):
            logger.info(f"created KopfPeering {namespace}/{ctx.settings.peering_name}")
        flags = ctx.settings
        logger.info(
            f"mlops-operator {__version__}: registry={flags.use_registry} "
            f"training={flags.use_training} serving={flags.use_serving} "
            f"monitoring={flags.use_monitoring}; namespaces="
            f"{','.join(flags.watch_namespaces) or 'all'}"
        )

    @kopf.on.login(registry=registry)
    async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
        # the client's credentials (it may run an exec plugin: off the event loop), in a
        # session made on the loop that bounds the requests in flight
        read = functools.partial(kopf.login_via_client, **kwargs)
        info: kopf.ConnectionInfo | None = await asyncio.get_running_loop().run_in_executor(
            None, read
        )
        return None if info is None else bounded_session(info)

    @kopf.on.probe(id="version", registry=registry)
    def version(**_: Any) -> str:
        return __version__

    @kopf.on.cleanup(id="requeue-stop", registry=registry)
    def stop_requeue(**_: Any) -> None:
        requeue.stop()
