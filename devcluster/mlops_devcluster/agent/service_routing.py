"""Service routing on the devcluster: follows Services and EndpointSlices and keeps the Service
proxies and the pods' hosts files in step with them.

The plan (:func:`route_plan`) is pure: Services and slices in, listeners with their backends and
the names for the hosts files out. ``default/kubernetes`` has no EndpointSlices here (the API
server runs with ``--endpoint-reconciler-type=none``), so its port goes to the API server itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mlops_devcluster.agent.hosts import HostsFiles, ServiceAddresses
from mlops_devcluster.agent.service_proxy import ServiceProxy
from mlops_devcluster.agent.services import (
    SERVICE_NAME_LABEL,
    Backend,
    Listen,
    ServiceView,
    ready_addresses,
    ready_backends,
)
from mlops_devcluster.agent.watching import follow
from mlops_devcluster.kube import Kube

Object = dict[str, Any]
SERVICES_PATH: Final = "/api/v1/services"
SLICES_PATH: Final = "/apis/discovery.k8s.io/v1/endpointslices"
API_SERVICE: Final = ("default", "kubernetes")
log = logging.getLogger(__name__)
ServiceKey = tuple[str, str]


@dataclass(frozen=True)
class RoutePlan:
    routes: dict[Listen, list[Backend]] = field(default_factory=dict)
    names: list[ServiceAddresses] = field(default_factory=list)


def route_plan(
    services: Mapping[ServiceKey, ServiceView],
    slices: Mapping[ServiceKey, list[Object]],
    *,
    api_server: Backend | None = None,
) -> RoutePlan:
    """Listeners (ClusterIP Services) and hosts-file names (every Service) (pure)."""
    plan = RoutePlan()
    for key, service in sorted(services.items()):
        service_slices = slices.get(key, [])
        if service.cluster_ip is None:
            addresses = ready_addresses(service_slices)
        else:
            addresses = [service.cluster_ip]
            for port in service.ports:
                if key == API_SERVICE and api_server is not None:
                    backends = [api_server]
                else:
                    backends = ready_backends(service_slices, port.name)
                plan.routes[Listen(service.cluster_ip, port.port)] = backends
        plan.names.append(ServiceAddresses(service.namespace, service.name, addresses))
    return plan


def _slice_key(endpoint_slice: Object) -> tuple[ServiceKey, str] | None:
    meta = endpoint_slice["metadata"]
    service = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not service:
        return None
    return (meta["namespace"], service), meta["name"]


class ServiceRouting:
    """Two watches (Services, EndpointSlices), one state, one proxy; every change re-plans."""

    def __init__(
        self,
        *,
        kube: Kube,
        hosts: HostsFiles,
        stopping: threading.Event,
        api_server: Backend | None,
        proxy: ServiceProxy | None,
    ) -> None:
        self.kube = kube
        self.hosts = hosts
        self.stopping = stopping
        self.api_server = api_server
        self.proxy = proxy
        self._services: dict[ServiceKey, ServiceView] = {}
        self._slices: dict[ServiceKey, dict[str, Object]] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        for path, on_list, on_event in (
            (SERVICES_PATH, self._list_services, self._service_event),
            (SLICES_PATH, self._list_slices, self._slice_event),
        ):
            threading.Thread(
                target=follow,
                args=(self.kube, path),
                kwargs={"stopping": self.stopping, "on_list": on_list, "on_event": on_event},
                name=f"watch-{path.rsplit('/', 1)[-1]}",
                daemon=True,
            ).start()

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()

    # -- state -------------------------------------------------------------------------------
    def _list_services(self, items: list[Object]) -> None:
        with self._lock:
            self._services = {}
            for item in items:
                view = ServiceView.from_object(item)
                if view is not None:
                    self._services[view.key] = view
            self._apply()

    def _service_event(self, kind: str, service: Object) -> None:
        meta = service["metadata"]
        key = (meta["namespace"], meta["name"])
        with self._lock:
            view = None if kind == "DELETED" else ServiceView.from_object(service)
            if view is None:
                self._services.pop(key, None)
            else:
                self._services[key] = view
            self._apply()

    def _list_slices(self, items: list[Object]) -> None:
        with self._lock:
            self._slices = {}
            for item in items:
                found = _slice_key(item)
                if found is not None:
                    self._slices.setdefault(found[0], {})[found[1]] = item
            self._apply()

    def _slice_event(self, kind: str, endpoint_slice: Object) -> None:
        found = _slice_key(endpoint_slice)
        if found is None:
            return
        service, name = found
        with self._lock:
            if kind == "DELETED":
                self._slices.get(service, {}).pop(name, None)
            else:
                self._slices.setdefault(service, {})[name] = endpoint_slice
            self._apply()

    def _apply(self) -> None:
        slices = {key: list(named.values()) for key, named in self._slices.items()}
        plan = route_plan(self._services, slices, api_server=self.api_server)
        if self.proxy is not None:
            try:
                self.proxy.sync(plan.routes)
            except Exception:
                log.exception("updating the Service proxies failed")
        self.hosts.set_services(plan.names)
