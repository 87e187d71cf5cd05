"""The router's one way to follow objects through the Kubernetes API: list, then watch from
that listing's resourceVersion, in a daemon thread; after any failure (the API server away, a
watch expired) list again with a backoff of 0.5 s doubling to 10 s.

The EndpointSlices of the versions' Services (``endpoint_slices``) and the router's own
ConfigMap (``router_config_map``) are followed this way; each says what a listing and an
event mean to it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
WATCH_TIMEOUT_S = 60


class ListWatch:
    """Follows the objects one list call returns in ``namespace`` (optionally narrowed by a
    field selector); a subclass names the call and takes the listings and the events."""

    #: the thread's name, and what the log calls the watch
    name = "watch"

    def __init__(self, namespace: str, *, field_selector: str | None = None) -> None:
        self.namespace = namespace
        self.field_selector = field_selector
        self._stop = threading.Event()
        self.synced = threading.Event()

    def list_call(self, client: Any) -> Any:
        """The client's ``list_namespaced_*`` method to follow."""
        raise NotImplementedError

    def listed(self, items: list[dict[str, Any]]) -> None:
        """A full listing (on start, and again after every failure)."""
        raise NotImplementedError

    def changed(self, event: str, obj: dict[str, Any]) -> None:
        """One watch event: ``ADDED``, ``MODIFIED`` or ``DELETED``."""
        raise NotImplementedError

    def start(self) -> None:
        threading.Thread(target=self._run, name=self.name, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import kubernetes

        k8s: Any = kubernetes  # the client's own annotations are partial
        client, config, watch = k8s.client, k8s.config, k8s.watch
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        list_call = self.list_call(client)
        sanitize = client.ApiClient().sanitize_for_serialization
        narrow = {"field_selector": self.field_selector} if self.field_selector else {}
        backoff = BACKOFF_FIRST_S
        while not self._stop.is_set():
            try:
                listing = list_call(self.namespace, **narrow)
                self.listed([sanitize(item) for item in listing.items])
                stream = watch.Watch().stream(
                    list_call,
                    self.namespace,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=WATCH_TIMEOUT_S,
                    **narrow,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    self.changed(event["type"], sanitize(event["object"]))
                backoff = BACKOFF_FIRST_S
            except Exception as exc:  # the watch must survive API hiccups
                log.warning("%s in %s: %s; retrying", self.name, self.namespace, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
