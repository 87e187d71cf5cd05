"""kopf settings chosen for running in production.

- Own finalizer and annotation prefix (``mlops.dev``), so this operator's bookkeeping never
  collides with another kopf operator's on the same objects.
- Handler progress and the last-handled spec live in annotations only: nothing is written to
  undeclared ``status`` fields that the API server would prune.
- Handlers retry with growing delays and give up after a bounded number of attempts
  (``retries``/``backoff`` on each handler); API errors retry with backoff.
- CRDs are not watched (scanning off): the operator needs no access to apiextensions.
- Events are posted for the objects the operator acts on (INFO and above).
- Peering keeps exactly one replica active: two replicas reconciling the same TrainingJob
  could both pick the next version and create two Jobs; with a peering object, a replica with a
  lower priority (or a second one with the same priority) pauses until the other is gone.
"""

from __future__ import annotations

import logging
import os
from typing import Final

import kopf

from mlops_operator.builders.names import GROUP
from mlops_operator.settings import OperatorSettings

FINALIZER: Final = f"{GROUP}/finalizer"
ANNOTATION_PREFIX: Final = GROUP
HANDLER_RETRIES: Final = 12
MAX_BACKOFF_SECONDS: Final = 120.0


def backoff_seconds(retry: int) -> float:
    """Delay before retry number ``retry`` (0-based): 2, 4, 8, … capped at two minutes."""
    return float(min(2.0 ** (retry + 1), MAX_BACKOFF_SECONDS))


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: OperatorSettings) -> None:
    """Apply this operator's choices to kopf's settings (at startup)."""
    persistence = kopf_settings.persistence
    persistence.finalizer = FINALIZER
    persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
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
    # No queueing.worker_limit: with in-memory indexes, every object's worker must start to
    # finish the initial indexing, and a limit below the number of objects deadlocks startup.
