"""Send the alert deliveries a reconcile found due, and write the outcomes into the records.

The one place where alerts leave the operator: the reconcile decided (``alerting``), the
sender (``adapters.alert_senders``) talks to Slack, webhooks and SMTP, and this module joins
the two for a handler. Channel Secrets are read here, at send time, through the Kubernetes
API (RBAC: ``get`` on secrets, nothing more).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime

from mlops_operator.adapters.alert_senders import AlertSender, DeliveryError, SecretReader
from mlops_operator.alerting.alerts import ObjectRef
from mlops_operator.alerting.decisions import Dispatch, next_due, record
from mlops_operator.alerting.messages import build_message
from mlops_operator.api.alert_status import AlertRecord
from mlops_operator.api.meta import API_VERSION
from mlops_operator.api.monitoring import AlertChannel
from mlops_operator.kube import Kube
from mlops_operator.reconcile.notes import AlertBatch, Note


def kube_secret_reader(kube: Kube) -> SecretReader:
    """Reads a Secret's data (decoded) when an alert is sent; nothing is cached."""

    def read(namespace: str, name: str) -> Mapping[str, bytes]:
        body = kube.get("v1", "Secret", name, namespace)
        if body is None:
            raise DeliveryError(f"Secret {namespace}/{name} does not exist")
        data = body.get("data") or {}
        return {str(k): base64.b64decode(v) for k, v in data.items()}

    return read


def deliver(
    sender: AlertSender,
    *,
    ref: ObjectRef,
    records: Sequence[AlertRecord],
    dispatches: Sequence[Dispatch],
    channels: Sequence[AlertChannel],
    now: datetime,
) -> tuple[list[AlertRecord], list[Note]]:
    """Send every dispatch; the records with their outcomes, and a Warning per failure."""
    outcomes = [
        sender.send(d.channel, build_message(d.record, d.alert, ref), namespace=ref.namespace)
        for d in dispatches
    ]
    notes = [
        Note(
            "Warning",
            "AlertDeliveryFailed",
            f"channel {o.channel}: {o.message} (retried with backoff)",
        )
        for o in outcomes
        if not o.ok
    ]
    return record(records, outcomes, channels, now=now), notes


def send_batch(
    kube: Kube, sender: AlertSender, batch: AlertBatch | None, *, kind: str, now: datetime
) -> tuple[list[Note], float | None]:
    """Send a reconcile's due deliveries, write the records with their outcomes into the
    object's ``status.alerts``; the Warnings to post and the seconds until a retry or repeat."""
    if batch is None or not batch.dispatches:
        return [], None
    ref = ObjectRef(kind=kind, namespace=batch.namespace, name=batch.name)
    records, notes = deliver(
        sender,
        ref=ref,
        records=batch.records,
        dispatches=batch.dispatches,
        channels=batch.channels,
        now=now,
    )
    kube.merge_patch(
        API_VERSION,
        kind,
        batch.name,
        batch.namespace,
        {"status": {"alerts": [r.model_dump(mode="json", by_alias=True) for r in records]}},
        subresource="status",
    )
    return notes, next_due(records, batch.channels, now=now)
