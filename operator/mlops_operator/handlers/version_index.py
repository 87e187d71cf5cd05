"""Every ModelVersion the watch has shown, by namespace and Model: what a Model's status and a
Deployment's sources are built from, without listing every ModelVersion of the namespace on
each reconcile.

Listing the namespace made each registry event cost as much as the namespace holds (a Model's
aggregate ran on every event of each of its versions, and every Deployment reconcile listed
again): quadratic in the count. kopf updates its indexes from the watch before any handler of
the same event runs, so a handler reads the index at least as fresh as the event that woke it;
the index holds each version parsed once per event. ``ModelVersions.of_model`` answers None
until a handler has handed the index over (``capture``): callers then list from the API, as
before.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

import kopf

from mlops_operator.api.meta import GROUP, VERSION
from mlops_operator.api.model_version import ModelVersion

INDEX_ID: Final = "model_versions_by_model"
#: copies of an entry tried before falling back to listing (kopf updates it on its own thread)
ATTEMPTS: Final = 3


class ModelVersions:
    """The live index of ModelVersions by (namespace, Model), once a handler has seen it."""

    def __init__(self) -> None:
        self._index: Mapping[tuple[str, str], Any] | None = None
        self._guard = threading.Lock()

    def register(self, registry: kopf.OperatorRegistry) -> None:
        @kopf.index(GROUP, VERSION, "modelversions", id=INDEX_ID, registry=registry)
        def model_versions_by_model(
            *, body: kopf.Body, namespace: str | None, **_: Any
        ) -> dict[tuple[str, str], ModelVersion] | None:
            model = (body.get("spec") or {}).get("model")
            if not model:
                return None
            return {(namespace or "", str(model)): ModelVersion.from_body(body)}

    def capture(self, kwargs: Mapping[str, Any]) -> None:
        """Keep the live index a handler was given (kopf passes every index to every handler)."""
        if self._index is None and INDEX_ID in kwargs:
            with self._guard:
                self._index = kwargs[INDEX_ID]

    def of_model(self, namespace: str, model: str) -> list[ModelVersion] | None:
        """The versions of ``model`` in ``namespace``; None before the index is captured."""
        index = self._index
        if index is None:
            return None
        for _ in range(ATTEMPTS):
            try:
                return list(index.get((namespace, model), ()))
            except RuntimeError:  # kopf changed the entry while this thread copied it
                continue
        return None
