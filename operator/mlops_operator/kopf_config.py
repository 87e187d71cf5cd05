"""kopf settings chosen for running in production.

- Own finalizer and annotation prefix (``mlops.dev``), so this operator's bookkeeping never
  collides with another kopf operator's on the same objects.
- Handler progress and the last-handled spec live in annotations only: nothing is written to
  undeclared ``status`` fields that the API server would prune.
- Handlers retry with growing delays and give up after a bounded number of attempts
  (``retries``/``backoff`` on each handler); API errors retry with backoff.
- kopf builds a diff base ("essence") of every watched object on every event. For the kinds
  that only have watch-event handlers (Jobs, TrainingJobs) nothing ever reads it, so it is left
  empty; for the others it is built without first copying the parts kopf throws away
  (``metadata`` beyond labels and annotations, ``status``). Both spare a deep copy of every
  body on every event.
- CRDs are not watched (scanning off): the operator needs no access to apiextensions.
- Of all pods, only the trainers' are watched (a server-side label selector): the operator
  learns that a run's pod ended without streaming every pod of the cluster.
- Events are posted for the objects the operator acts on (INFO and above).
- Peering keeps exactly one replica active: two replicas reconciling the same TrainingJob
  could both pick the next version and create two Jobs; with a peering object, a replica with a
  lower priority (or a second one with the same priority) pauses until the other is gone.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any, Final, cast

import kopf

from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.names import GROUP
from mlops_operator.builders.training_job import TRAINING_SELECTOR
from mlops_operator.settings import OperatorSettings

FINALIZER: Final = f"{GROUP}/finalizer"
ANNOTATION_PREFIX: Final = GROUP
HANDLER_RETRIES: Final = 12
MAX_BACKOFF_SECONDS: Final = 120.0


#: (apiVersion, kind) of the objects the operator has only watch-event handlers and indexes
#: for: no create/update/delete handlers, timers or daemons, so kopf never diffs them
#: (a unit test checks this against the registered handlers)
WATCH_ONLY_KINDS: Final = frozenset(
    {("batch/v1", "Job"), ("v1", "Pod"), (API_VERSION, "TrainingJob")}
)


class LeanDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's annotation diff base, built from the fields it keeps only.

    kopf's ``build`` deep-copies the whole body and then drops ``status`` and all ``metadata``
    but labels and annotations; copying just those first gives the same essence (unless a
    handler asks for extra fields, which may lie in the dropped parts). Objects of the
    ``WATCH_ONLY_KINDS`` get an empty essence: kopf has no handler that would read it.
    """

    def build(
        self,
        *,
        body: kopf.Body,
        extra_fields: Iterable[Any] | None = None,
    ) -> kopf.BodyEssence:
        if (body.get("apiVersion"), body.get("kind")) in WATCH_ONLY_KINDS:
            return cast(kopf.BodyEssence, {})
        fields = list(extra_fields or [])
        if fields:
            return super().build(body=body, extra_fields=fields)
        metadata = body.get("metadata") or {}
        lean: dict[str, Any] = {
            key: value for key, value in body.items() if key not in ("metadata", "status")
        }
        lean["metadata"] = {
            key: metadata[key] for key in ("labels", "annotations") if key in metadata
        }
        return super().build(body=kopf.Body(cast(kopf.RawBody, lean)), extra_fields=None)


def backoff_seconds(retry: int) -> float:
    """Delay before retry number ``retry`` (0-based): 2, 4, 8, … capped at two minutes."""
    return float(min(2.0 ** (retry + 1), MAX_BACKOFF_SECONDS))


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    """Apply this operator's choices to kopf's settings (at startup)."""
    persistence = kopf_settings.persistence
    persistence.finalizer = FINALIZER
    persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    persistence.diffbase_storage = LeanDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )

    posting = kopf_settings.posting
    posting.enabled = True
    posting.level = logging.INFO
    posting.reporting_component = "mlops-operator"
    posting.reporting_instance = os.environ.get("POD_NAME", "mlops-operator")
    posting.event_name_prefix = "mlops-"

    kopf_settings.peering.name = settings.peering_name
    kopf_settings.peering.lifetime = settings.peering_lifetime_seconds
    kopf_settings.peering.mandatory = not settings.standalone
    kopf_settings.peering.standalone = settings.standalone
    kopf_settings.peering.clusterwide = not settings.watch_namespaces

    # The CRDs are installed before the operator starts (the chart's crds/); not watching
    # CustomResourceDefinitions keeps the ClusterRole free of apiextensions access.
    kopf_settings.scanning.disabled = True
    kopf_settings.execution.max_workers = 16
    kopf_settings.execution.default_backoff = MAX_BACKOFF_SECONDS
    kopf_settings.networking.request_timeout = 60
    kopf_settings.networking.connect_timeout = 10
    kopf_settings.networking.error_backoffs = (1, 2, 4, 8, 16, 30)
    kopf_settings.watching.server_timeout = 300
    kopf_settings.watching.client_timeout = 330
    kopf_settings.watching.reconnect_backoff = 1.0
    kopf_settings.watching.label_selectors["v1", "pods"] = TRAINING_SELECTOR
    # No queueing.worker_limit: with in-memory indexes, every object's worker must start to
    # finish the initial indexing, and a limit below the number of objects deadlocks startup.
