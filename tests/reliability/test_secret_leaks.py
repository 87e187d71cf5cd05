"""Secrets never leak: after every other reliability test has run (faults, restarts, failed
publishes and loads included), the S3 secret key and an alert credential are searched for in
every log the suite produced — the devcluster's components and pods, the operators, servers
and routers — and in the status and Events of every object. This module runs last (see
conftest.py)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from reliability_support import Figures

from mlops_devcluster.cluster import DevCluster
from mlops_operator.api.kinds import KINDS
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import Kube

pytestmark = pytest.mark.reliability

#: MinIO's own server log is the store's, not the system's: it may echo its root credentials
NOT_THE_SYSTEM = ("minio.log",)
ALERT_SECRET = f"hooks.slack.example/services/T000/B000/{secrets.token_hex(12)}"


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


def test_no_secret_in_any_log_status_or_event(
    devcluster: DevCluster,
    admin: Kube,
    namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
    figures: Figures,
) -> None:
    # an alert channel's credential, as a Deployment's alerts would reference it
    admin.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "alerts-slack", "namespace": namespace},
            "stringData": {"webhookUrl": f"https://{ALERT_SECRET}"},
        }
    )
    wanted = {"S3 secret key": devcluster.s3_secret_key, "alert webhook": ALERT_SECRET}
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
    figures.record(section, "log files searched for secrets", len(files))
    figures.record(section, "MiB of logs searched", round(searched / 2**20, 1))
    figures.record(section, "statuses and Events searched", len(objects))
    figures.record(
        section, "secrets found in logs, status or Events", len(leaks), target="0", met=not leaks
    )
    assert files, "no logs to search"
    assert not leaks, leaks
