"""An alert channel's Secret read through the API server as the operator's ServiceAccount,
at send time, and a signed webhook delivered with it; nothing of it in status or Events."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alert_receivers import http_receiver
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import install, service_account_kubeconfig
from mlops_operator.adapters.alert_senders import SIGNATURE_HEADER, AlertSender
from mlops_operator.alerting.alerts import Alert, ObjectRef, figures
from mlops_operator.alerting.decisions import plan
from mlops_operator.api.monitoring import AlertChannel
from mlops_operator.handlers.alert_delivery import deliver, kube_secret_reader
from mlops_operator.kube import Kube, load_api_client

pytestmark = pytest.mark.integration

KEY = "signing-key-5d2c9a"


def test_a_channel_secret_is_read_as_the_operator_when_sending(
    devcluster: DevCluster, namespace: str, tmp_path: Path
) -> None:
    admin = Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="integration-tests")
    install(admin)
    operator = Kube(
        load_api_client(
            str(
                service_account_kubeconfig(
                    admin, admin_kubeconfig=Path(devcluster.kubeconfig), path=tmp_path / "kc"
                )
            )
        )
    )
    ref = ObjectRef(kind="Deployment", namespace=namespace, name="scorer")
    alert = Alert(ref, "drift", "1.2.0", "amount psi 0.4 > 0.2", figures(score=0.4))
    with http_receiver() as receiver:
        admin.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "hook", "namespace": namespace},
                "stringData": {"url": receiver.url, "signingKey": KEY},
            }
        )
        channels = [AlertChannel(name="hook", type="webhook", secret_name="hook")]
        now = datetime.now(UTC)
        records, due = plan([], [alert], channels, now=now)
        sender = AlertSender(kube_secret_reader(operator))
        records, notes = deliver(
            sender, ref=ref, records=records, dispatches=due, channels=channels, now=now
        )
        missing = [AlertChannel(name="other", type="webhook", secret_name="absent")]
        _, failed = plan([], [alert], missing, now=now)
        _, warnings = deliver(
            sender, ref=ref, records=records, dispatches=failed, channels=missing, now=now
        )
    (headers, body) = receiver.received[0]
    assert len(receiver.received) == 1
    expected = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    assert records[0].deliveries[0].result == "Delivered"
    assert notes == []
    assert [n.reason for n in warnings] == ["AlertDeliveryFailed"]
    assert f"Secret {namespace}/absent does not exist" in warnings[0].message
    written = json.dumps([r.to_wire() for r in records]) + json.dumps([n.message for n in warnings])
    assert KEY not in written
    assert receiver.url not in written
