"""What every request handler uses, built once per process in the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from fastapi import Request

from mlops_core.storage import ObjectStore
from mlops_operator.kube import Kube
from mlops_operator.rest.auth import Reviews
from mlops_operator.rest.settings import RestSettings

StoreOpener = Callable[[str], ObjectStore]


@dataclass
class RestServices:
    settings: RestSettings
    #: the REST API's own identity (its ServiceAccount in a pod)
    kube: Kube
    reviews: Reviews
    open_store: StoreOpener
    #: for forwarding predictions; opened and closed by the lifespan
    http: httpx.AsyncClient | None = None


def services_of(request: Request) -> RestServices:
    services: RestServices = request.app.state.services
    return services
