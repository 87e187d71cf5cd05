"""Secrets never leak: after every other reliability test has run (faults, restarts, failed
publishes and loads included), the S3 secret key and the credentials of an alert webhook are
searched for in every log the suite produced — the devcluster's components and pods, the
operators, servers and routers — and in the status and Events of every object. The webhook's
credentials are used for real first: the operator reads them from their Secret and delivers a
signed alert with them, so a leak on that path would be found. This module runs last (see
conftest.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

import pytest
from e2e_support import StartOperator
from reliability_support import Figures

from alert_receivers import http_receiver
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.adapters.alert_senders import SIGNATURE_HEADER
from mlops_operator.api.kinds import KINDS
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.reliability

#: MinIO's own server log is the store's, not the system's: it may echo its root credentials
NOT_THE_SYSTEM = ("minio.log",)
SIGNING_KEY = f"signing-{secrets.token_hex(16)}"
HOOK_TOKEN = f"hook-{secrets.token_hex(12)}"


def _logs(*roots: Path) -> list[Path]:
    return [
        path
        for root in roots
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix in (".log", ".txt", "")
        and path.name not in NOT_THE_SYSTEM
        and path.stat().st_size < 64 * 2**20
    ]


def _texts_of_objects(admin: Kube) -> list[tuple[str, str]]:
    found = []
    for kind in KINDS:
        for body in admin.list(API_VERSION, kind.kind):
            found.append(
                (f"{kind.kind} {body['metadata']['name']} status", repr(body.get("status")))
            )
    for event in admin.list("v1", "Event"):
        found.append((f"Event {event['metadata']['name']}", repr(event.get("message"))))
    return found


def _signed_alert_delivered(admin: Kube, namespace: str, start_operator: StartOperator) -> int:
    """A Deployment of a Model that does not exist stalls and raises a failure alert; the
    operator delivers it to a webhook whose URL and signing key are in a Secret. The number
    of deliveries signed with that key (the key was read and used)."""
    with http_receiver() as receiver:
        admin.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "alerts-hook", "namespace": namespace},
                "stringData": {"url": f"{receiver.url}/{HOOK_TOKEN}", "signingKey": SIGNING_KEY},
            }
        )
        operator = start_operator(USE_MLOPS_SERVING="true")  # Deployments and their alerts
        admin.apply(
            {
                "apiVersion": API_VERSION,
                "kind": "Deployment",
                "metadata": {"name": "unservable", "namespace": namespace},
                "spec": {
                    "model": "no-such-model",
                    "version": "1.0.0",
                    "strategy": {"type": "direct"},
                    "alerts": [
                        {
                            "name": "hook",
                            "type": "webhook",
                            "secretName": "alerts-hook",
                            "events": ["failure"],
                        }
                    ],
                },
            }
        )
        try:
            wait_until(lambda: receiver.received, timeout=120, what="the failure alert")
        except TimeoutError:
            return 0
        finally:
            operator.stop()
    return sum(
        headers.get(SIGNATURE_HEADER.lower())
        == "sha256=" + hmac.new(SIGNING_KEY.encode(), body, hashlib.sha256).hexdigest()
        for headers, body in receiver.received
    )


def test_no_secret_in_any_log_status_or_event(
    devcluster: DevCluster,
    admin: Kube,
    namespace: str,
    start_operator: StartOperator,
    tmp_path_factory: pytest.TempPathFactory,
    figures: Figures,
) -> None:
    signed = _signed_alert_delivered(admin, namespace, start_operator)
    wanted = {
        "S3 secret key": devcluster.s3_secret_key,
        "alert webhook signing key": SIGNING_KEY,
        "alert webhook URL token": HOOK_TOKEN,
    }
    files = _logs(devcluster.layout.logs, tmp_path_factory.getbasetemp())
    leaks: list[str] = []
    searched = 0
    for path in files:
        data = path.read_bytes()
        searched += len(data)
        leaks += [f"{what} in {path}" for what, value in wanted.items() if value.encode() in data]
    objects: list[tuple[str, Any]] = _texts_of_objects(admin)
    leaks += [
        f"{what} in {where}"
        for where, text in objects
        for what, value in wanted.items()
        if value in text
    ]
    section = "Security"
    figures.record(
        section,
        "alerts the operator delivered signed with the searched key",
        signed,
        target="≥ 1",
        met=signed >= 1,
        worse="lower",
    )
    figures.record(section, "log files searched for secrets", len(files))
    figures.record(section, "MiB of logs searched", round(searched / 2**20, 1))
    figures.record(section, "statuses and Events searched", len(objects))
    figures.record(
        section, "secrets found in logs, status or Events", len(leaks), target="0", met=not leaks
    )
    assert signed >= 1, "the operator delivered no alert signed with the key searched for"
    assert files, "no logs to search"
    assert not leaks, leaks
