"""``python -m mlops_operator.rest``: serve the MLOps REST API with uvicorn.

Settings come from the environment (``rest/settings.py``): ``MLOPS_REST_HOST`` (else
``POD_IP``, else all interfaces), ``MLOPS_REST_PORT`` (8080), ``MLOPS_REST_NAMESPACE`` (else
the first of ``MLOPS_WATCH_NAMESPACE``), the object store's ``MLOPS_BUCKET`` and ``AWS_*``.
Kubernetes credentials: the pod's ServiceAccount in a cluster, else ``$KUBECONFIG``.
"""

from __future__ import annotations

import logging
import os

import uvicorn

from mlops_core.legacy_environment import adopt_legacy_environment
from mlops_core.storage import ObjectStore, open_store, s3_client
from mlops_operator.kube import Kube, load_api_client
from mlops_operator.rest.app import build_app
from mlops_operator.rest.auth import Reviews
from mlops_operator.rest.services import RestServices, StoreOpener
from mlops_operator.rest.settings import RestSettings

FIELD_MANAGER = "mlops-rest-api"


def store_opener() -> StoreOpener:
    """Opens object stores, sharing one S3 client (made on first use)."""
    client: list[object] = []

    def opener(uri: str) -> ObjectStore:
        if uri.startswith("s3://"):
            if not client:
                client.append(s3_client())
            return open_store(uri, client=client[0])
        return open_store(uri)

    return opener


def main() -> None:
    adopt_legacy_environment(os.environ)
    settings = RestSettings()
    if settings.s3_endpoint:
        os.environ.setdefault("AWS_ENDPOINT_URL_S3", settings.s3_endpoint)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(message)s")
    kube = Kube(load_api_client(), field_manager=FIELD_MANAGER)
    services = RestServices(
        settings=settings,
        kube=kube,
        reviews=Reviews(kube, cache_seconds=settings.auth_cache_seconds),
        open_store=store_opener(),
    )
    uvicorn.run(
        build_app(services),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
