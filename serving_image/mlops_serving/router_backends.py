"""Where each version's ready pods are: static endpoints from the config, or EndpointSlices.

Endpoints that just refused a connection are set aside for a few seconds, so retries and the
next requests go to the others.
"""

from __future__ import annotations

import itertools
import time

from mlops_core.routing import RouterConfig
from mlops_serving.endpoint_slices import EndpointSliceWatch

QUARANTINE_S = 5.0


class BackendPool:
    def __init__(self, watch: EndpointSliceWatch | None = None) -> None:
        self._watch = watch
        self._dead: dict[str, float] = {}
        self._counter = itertools.count()

    def endpoints(self, config: RouterConfig, version: str) -> list[str]:
        """Ready endpoints of ``version`` (quarantined ones only when nothing else is left)."""
        backend = config.backend(version)
        if backend.endpoints:
            found = list(backend.endpoints)
        elif backend.service is not None and self._watch is not None:
            found = self._watch.addresses(backend.service)
        else:
            found = []
        if not self._dead:  # nothing set aside: the common case, on every request's path
            return found
        now = time.monotonic()
        alive = [e for e in found if self._dead.get(e, 0.0) <= now]
        return alive or found

    def order(self, endpoints: list[str]) -> list[str]:
        """Round-robin rotation of ``endpoints``: the order to try them in."""
        if not endpoints:
            return []
        start = next(self._counter) % len(endpoints)
        return endpoints[start:] + endpoints[:start]

    def alive_first(self, endpoints: list[str]) -> list[str]:
        """``endpoints`` with the quarantined ones moved to the end (order kept otherwise)."""
        now = time.monotonic()
        alive = [e for e in endpoints if self._dead.get(e, 0.0) <= now]
        return alive + [e for e in endpoints if self._dead.get(e, 0.0) > now]

    def mark_dead(self, endpoint: str) -> None:
        self._dead[endpoint] = time.monotonic() + QUARANTINE_S

    def mark_alive(self, endpoint: str) -> None:
        self._dead.pop(endpoint, None)
