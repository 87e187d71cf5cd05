"""List, then watch, a collection of the API, forever (until the agent stops)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from mlops_devcluster.kube import ApiError, Kube

Object = dict[str, Any]
log = logging.getLogger(__name__)


def follow(
    kube: Kube,
    path: str,
    *,
    stopping: threading.Event,
    on_list: Callable[[list[Object]], None],
    on_event: Callable[[str, Object], None],
    **query: str,
) -> None:
    """``on_list`` gets every object after each (re)list, ``on_event`` each ADDED, MODIFIED or
    DELETED that follows; a broken or expired watch lists again."""
    while not stopping.is_set():
        try:
            listing = kube.get(path, **query)
            on_list(listing.get("items", []))
            version = listing["metadata"]["resourceVersion"]
            for event in kube.watch(path, resource_version=version, **query):
                if stopping.is_set():
                    return
                kind = str(event.get("type"))
                if kind == "ERROR":
                    break
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    on_event(kind, event.get("object", {}))
        except (ApiError, OSError, ValueError) as exc:
            log.info("watch of %s restarts: %s", path, exc)
            stopping.wait(1.0)
        except Exception:
            log.exception("watch of %s failed; restarting", path)
            stopping.wait(1.0)
