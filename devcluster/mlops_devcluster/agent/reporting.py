"""What the agent tells the API about a pod: its status (written only when it changes), Events
as the kubelet records them (so ``kubectl describe pod`` tells the story), and the final delete."""

from __future__ import annotations

import logging
from typing import Any, Literal

from mlops_devcluster.agent.nodes import now
from mlops_devcluster.kube import ApiError, Kube, resource_path

Object = dict[str, Any]
EventType = Literal["Normal", "Warning"]
log = logging.getLogger(__name__)


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
    except (ApiError, OSError) as exc:
        log.debug("event %s for pod %s: %s", reason, pod["metadata"]["name"], exc)


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

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._last: Object | None = None

    def status(self, pod: Object, status: Object) -> bool:
        """Merge-patch ``status`` when it differs from the last one written; False when the
        pod no longer exists."""
        comparable = _comparable(status)
        if comparable == self._last:
            return True
        try:
            self.kube.merge_patch(pod_path(pod, "status"), {"status": status})
        except ApiError as exc:
            if exc.status == 404:
                return False
            log.warning("status of pod %s: %s", pod["metadata"]["name"], exc)
            return True
        self._last = comparable
        return True

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
