"""What the agent tells the API about a pod: its status (written only when it changes), Events
as the kubelet records them (so ``kubectl describe pod`` tells the story), and the final delete."""

from __future__ import annotations

import logging
import time
from typing import Any, Final, Literal

import urllib3

from mlops_devcluster.agent.nodes import now
from mlops_devcluster.kube import ApiError, Kube, resource_path

Object = dict[str, Any]
EventType = Literal["Normal", "Warning"]
log = logging.getLogger(__name__)

#: how long a status write waits for an API server that is away or starting (a control plane
#: restart takes seconds), as a kubelet's status manager keeps retrying
STATUS_PATIENCE_S: Final = 120.0
#: the first pause between tries, doubled up to ``_MAX_PAUSE_S``
_FIRST_PAUSE_S: Final = 0.25
_MAX_PAUSE_S: Final = 5.0


def build_pod_event(
    pod: Object,
    *,
    reason: str,
    message: str,
    event_type: EventType = "Normal",
    container: str | None = None,
    stamp: str,
) -> Object:
    """A core/v1 Event about ``pod`` (or one of its containers), from the node's kubelet."""
    meta = pod["metadata"]
    involved: Object = {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
    }
    if container is not None:
        involved["fieldPath"] = f"spec.containers{{{container}}}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": involved,
        "reason": reason,
        "message": message[:1024],
        "type": event_type,
        "source": {"component": "kubelet", "host": pod["spec"].get("nodeName", "")},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def record_event(
    kube: Kube,
    pod: Object,
    *,
    reason: str,
    message: str,
    event_type: EventType = "Normal",
    container: str | None = None,
) -> None:
    """Create the Event; a failure is logged, never raised (events are best effort)."""
    body = build_pod_event(
        pod,
        reason=reason,
        message=message,
        event_type=event_type,
        container=container,
        stamp=now(),
    )
    path = resource_path(api_version="v1", plural="events", namespace=pod["metadata"]["namespace"])
    try:
        kube.create(path, body)
    except (ApiError, OSError, urllib3.exceptions.HTTPError) as exc:
        log.debug("event %s for pod %s: %s", reason, pod["metadata"]["name"], exc)


def _passing(exc: ApiError) -> bool:
    """An answer of an API server that is starting or overloaded, not a verdict on the write."""
    return exc.status == 429 or exc.status >= 500


def pod_path(pod: Object, subresource: str | None = None) -> str:
    meta = pod["metadata"]
    return resource_path(
        api_version="v1",
        plural="pods",
        namespace=meta["namespace"],
        name=meta["name"],
        subresource=subresource,
    )


def _comparable(status: Object) -> Object:
    """The status without transition times, to tell whether anything changed."""
    same = {k: v for k, v in status.items() if k != "conditions"}
    same["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status["conditions"]
    ]
    return same


class PodReporter:
    """Writes one pod's status, Events and final deletion."""

    def __init__(self, kube: Kube, *, patience: float = STATUS_PATIENCE_S) -> None:
        self.kube = kube
        self.patience = patience
        self._last: Object | None = None

    def status(self, pod: Object, status: Object) -> bool:
        """Merge-patch ``status`` when it differs from the last one written; False when the
        pod no longer exists. An API server that is away (refused connection) or starting
        (5xx, 429) is a passing fault: the write is tried again for ``patience`` seconds, so a
        control plane restart never leaves a pod's last state unwritten."""
        comparable = _comparable(status)
        if comparable == self._last:
            return True
        name = pod["metadata"]["name"]
        deadline = time.monotonic() + self.patience
        pause = _FIRST_PAUSE_S
        while True:
            try:
                self.kube.merge_patch(pod_path(pod, "status"), {"status": status})
            except ApiError as exc:
                if exc.status == 404:
                    return False
                if not _passing(exc) or time.monotonic() >= deadline:
                    log.warning("status of pod %s: %s", name, exc)
                    return True
                failure: Exception = exc
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                if time.monotonic() >= deadline:
                    log.warning("status of pod %s: the API server is unreachable: %s", name, exc)
                    return True
                failure = exc
            else:
                self._last = comparable
                return True
            log.info("status of pod %s: trying again in %.2f s (%s)", name, pause, failure)
            time.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE_S)

    def event(
        self,
        pod: Object,
        reason: str,
        message: str,
        *,
        event_type: EventType = "Normal",
        container: str | None = None,
    ) -> None:
        record_event(
            self.kube,
            pod,
            reason=reason,
            message=message,
            event_type=event_type,
            container=container,
        )

    def delete(self, pod: Object) -> None:
        """Remove the pod object for good (grace 0, only this incarnation: same uid)."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": pod["metadata"]["uid"]}}
        try:
            self.kube.delete(pod_path(pod), body)
        except ApiError as exc:
            if exc.status not in (404, 409):
                log.warning("deleting pod %s: %s", pod["metadata"]["name"], exc)
