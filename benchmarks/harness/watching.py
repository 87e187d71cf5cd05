"""Objects of one namespace as the API server reports them, watched on threads of their own.

A benchmark that polls the API server every few milliseconds to time what the operator does
adds load to the same CPUs the operator and its pods run on, and only sees a change at its next
poll. A watch costs the API server and the benchmark nothing between changes and timestamps
each change as it arrives: ``NamespaceWatch`` lists each kind once, then follows its watch from
that resource version (listing again when the version is too old to resume from), and hands
every object, with the ``time.perf_counter()`` of its arrival, to one callback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

#: (kind's plural, event type, the object as a dict, when it arrived)
OnEvent = Callable[[str, str, dict[str, Any], float], None]
GONE = 410
WATCH_SECONDS = 5


@dataclass(frozen=True)
class WatchedKind:
    api_version: str
    plural: str
    label_selector: str | None = None


class NamespaceWatch:
    """``with NamespaceWatch(api_client, namespace, kinds, on_event):`` every object of
    ``kinds`` in ``namespace``, listed first and then as each change arrives."""

    def __init__(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        kinds: list[WatchedKind],
        on_event: OnEvent,
    ) -> None:
        self._core = k8s.CoreV1Api(api_client)
        self._objects = k8s.CustomObjectsApi(api_client)
        self._namespace = namespace
        self._kinds = kinds
        self._on_event = on_event
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failures: list[BaseException] = []

    def __enter__(self) -> NamespaceWatch:
        listed = [(kind, self._list(kind)) for kind in self._kinds]
        for kind, version in listed:
            thread = threading.Thread(target=self._follow, args=(kind, version), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=WATCH_SECONDS + 5)

    def _lister(self, kind: WatchedKind) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if kind.api_version == "v1":
            if kind.plural != "pods":
                raise ValueError(f"core kind {kind.plural!r}: only pods are watched")
            return self._core.list_namespaced_pod, (self._namespace,)
        group, version = kind.api_version.split("/")
        return self._objects.list_namespaced_custom_object, (
            group,
            version,
            self._namespace,
            kind.plural,
        )

    def _query(self, kind: WatchedKind) -> dict[str, Any]:
        return {"label_selector": kind.label_selector} if kind.label_selector else {}

    def _list(self, kind: WatchedKind) -> str:
        function, args = self._lister(kind)
        listing = function(*args, _preload_content=False, **self._query(kind))
        body = json.loads(listing.data)
        now = time.perf_counter()
        for item in body.get("items") or []:
            self._on_event(kind.plural, "ADDED", item, now)
        return str(body["metadata"]["resourceVersion"])

    def _follow(self, kind: WatchedKind, version: str) -> None:
        function, args = self._lister(kind)
        try:
            while not self._stop.is_set():
                try:
                    for event in watch.Watch().stream(
                        function,
                        *args,
                        resource_version=version,
                        timeout_seconds=WATCH_SECONDS,
                        **self._query(kind),
                    ):
                        now = time.perf_counter()
                        body = event["raw_object"]
                        version = body["metadata"]["resourceVersion"]
                        if event["type"] != "BOOKMARK":
                            self._on_event(kind.plural, event["type"], body, now)
                        if self._stop.is_set():
                            return
                except ApiException as error:
                    if error.status != GONE:
                        raise
                    version = self._list(kind)
        except BaseException as error:  # reported by the benchmark, never swallowed
            self.failures.append(error)
