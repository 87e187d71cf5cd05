"""``python -m mlops_operator``: run the operator (kopf) with settings from the environment."""

from __future__ import annotations

import os
import threading

import kopf

from mlops_core.legacy_environment import adopt_legacy_environment
from mlops_core.storage import ObjectStore, open_store, s3_client
from mlops_operator.context import OperatorContext
from mlops_operator.handlers import build_registry
from mlops_operator.kube import Kube, load_api_client
from mlops_operator.settings import OperatorSettings


def _store_opener() -> object:
    client: list[object] = []
    creating = threading.Lock()

    def opener(uri: str) -> ObjectStore:
        if uri.startswith("s3://"):
            # one client for the process: handler threads that start at once must not each
            # build their own (building one costs about half a second of CPU)
            with creating:
                if not client:
                    client.append(s3_client())
            return open_store(uri, client=client[0])
        return open_store(uri)

    return opener


def main() -> None:
    adopt_legacy_environment(os.environ)
    settings = OperatorSettings()
    if settings.s3_endpoint:
        os.environ.setdefault("AWS_ENDPOINT_URL_S3", settings.s3_endpoint)
    kopf.configure(
        log_format=kopf.LogFormat.FULL,
        verbose=settings.log_level == "DEBUG",
        quiet=settings.log_level in ("WARNING", "ERROR"),
    )
    ctx = OperatorContext(settings=settings, kube=Kube(load_api_client()))
    ctx.open_store = _store_opener()  # type: ignore[assignment]
    namespaces = settings.watch_namespaces
    kopf.run(
        registry=build_registry(ctx),
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=settings.standalone,
        peering_name=None if settings.standalone else settings.peering_name,
        liveness_endpoint=settings.liveness_endpoint,
    )


if __name__ == "__main__":
    main()
