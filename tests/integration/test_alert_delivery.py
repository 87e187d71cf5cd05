"""Alerts delivered to real receivers on loopback: an HTTP server for slack and webhook
channels (body shape, HMAC signature), an SMTP server with STARTTLS and login for email; a
receiver that fails twice gets exactly one alert; secrets appear in no status and no log."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alert_receivers import http_receiver, smtp_receiver
from mlops_operator.adapters.alert_senders import SIGNATURE_HEADER, AlertSender
from mlops_operator.alerting.alerts import Alert, ObjectRef, figures
from mlops_operator.alerting.decisions import next_due, plan, record
from mlops_operator.alerting.messages import build_message
from mlops_operator.api.alert_status import AlertRecord
from mlops_operator.api.monitoring import AlertChannel

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REF = ObjectRef(kind="Deployment", namespace="fraud", name="scorer")
SIGNING_KEY = "hmac-key-8c1f0e"
SLACK_TOKEN_PATH = "/services/T000/B000/XXXXsecretXXXX"
PASSWORD = "smtp-pass-0b7d"


class Secrets:
    """Secret data by (namespace, name), read at send time; counts the reads."""

    def __init__(self, data: Mapping[tuple[str, str], Mapping[str, str]]) -> None:
        self._data = data
        self.reads = 0

    def __call__(self, namespace: str, name: str) -> Mapping[str, bytes]:
        self.reads += 1
        return {k: v.encode() for k, v in self._data[(namespace, name)].items()}


def _drift() -> Alert:
    return Alert(
        ref=REF,
        event="drift",
        version="1.2.0",
        summary="feature amount drifted: psi 0.41 > 0.2",
        figures=figures(score=0.41, threshold=0.2, feature="amount", samples=1000),
    )


def _deliver_round(
    sender: AlertSender,
    records: list[AlertRecord],
    observed: list[Alert],
    channels: list[AlertChannel],
    now: datetime,
) -> list[AlertRecord]:
    records, due = plan(records, observed, channels, now=now)
    outcomes = [
        sender.send(d.channel, build_message(d.record, d.alert, REF), namespace=REF.namespace)
        for d in due
    ]
    return record(records, outcomes, channels, now=now)


def test_webhook_body_is_alertmanager_shaped_and_signed() -> None:
    with http_receiver() as receiver:
        secrets = Secrets({("fraud", "hook"): {"signingKey": SIGNING_KEY}})
        channel = AlertChannel(name="hook", type="webhook", url=receiver.url, secret_name="hook")
        sender = AlertSender(secrets)
        records = _deliver_round(sender, [], [_drift()], [channel], T0)
        records = _deliver_round(sender, records, [], [channel], T0 + timedelta(minutes=1))
    assert records == []
    assert secrets.reads == 2  # read at every send, never kept
    (_, b1), (_, b2) = receiver.received
    for headers, body in receiver.received:
        expected = hmac.new(SIGNING_KEY.encode(), body, hashlib.sha256).hexdigest()
        assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    firing, resolved = json.loads(b1), json.loads(b2)
    assert firing["version"] == "4"
    assert firing["status"] == "firing"
    assert resolved["status"] == "resolved"
    alert = firing["alerts"][0]
    assert set(alert) >= {"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint"}
    assert alert["labels"]["alertname"] == "MlopsDriftDetected"
    assert alert["labels"]["version"] == "1.2.0"
    assert alert["annotations"]["figure_score"] == "0.41"
    assert alert["fingerprint"] == _drift().fingerprint == resolved["alerts"][0]["fingerprint"]
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


def test_slack_gets_incoming_webhook_json_from_the_secret_url() -> None:
    with http_receiver() as receiver:
        secrets = Secrets({("fraud", "slack"): {"url": receiver.url}})
        channel = AlertChannel(name="chat", type="slack", secret_name="slack")
        _deliver_round(AlertSender(secrets), [], [_drift()], [channel], T0)
    (body,) = receiver.bodies()
    assert body["text"].startswith("Input drift detected on fraud/scorer 1.2.0")
    kinds = [block["type"] for block in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert {"type": "mrkdwn", "text": "*score*\n0.41"} in body["blocks"][2]["fields"]


def test_a_receiver_failing_twice_then_succeeding_gets_exactly_one_alert(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with http_receiver(fail_first=2) as receiver:
        token_url = receiver.url + SLACK_TOKEN_PATH
        secrets = Secrets({("fraud", "hook"): {"url": token_url, "signingKey": SIGNING_KEY}})
        channel = AlertChannel(name="hook", type="webhook", secret_name="hook")
        sender = AlertSender(secrets)
        records: list[AlertRecord] = []
        now = T0
        failures = []
        for _ in range(6):
            records = _deliver_round(sender, records, [_drift()], [channel], now)
            failures.append(records[0].deliveries[0].result)
            wait = next_due(records, [channel], now=now)
            now += timedelta(seconds=wait if wait is not None else 3600)
            if now - T0 > timedelta(minutes=30):
                break
    assert receiver.refused == 2
    assert len(receiver.received) == 1
    assert failures[:3] == ["Failed", "Failed", "Delivered"]
    status_text = json.dumps([r.to_wire() for r in records])
    assert "HTTP 500" not in status_text  # delivered now: the last result replaced the error
    for secret in (SIGNING_KEY, "XXXXsecretXXXX"):
        assert secret not in status_text
        assert secret not in caplog.text


def test_a_failed_delivery_reports_why_without_the_secret() -> None:
    secrets = Secrets({("fraud", "hook"): {"url": "http://127.0.0.1:9" + SLACK_TOKEN_PATH}})
    channel = AlertChannel(name="hook", type="webhook", secret_name="hook")
    records = _deliver_round(AlertSender(secrets, timeout=2), [], [_drift()], [channel], T0)
    delivery = records[0].deliveries[0]
    assert delivery.result == "Failed"
    assert "could not be reached" in delivery.message
    assert "XXXXsecretXXXX" not in json.dumps(records[0].to_wire())


def test_email_goes_over_starttls_with_login(tmp_path: Path) -> None:
    with smtp_receiver(tmp_path, username="alerts", password=PASSWORD) as smtp:
        secret: dict[str, Any] = {
            "host": smtp.host,
            "port": str(smtp.port),
            "username": "alerts",
            "password": PASSWORD,
            "from": "mlops@example.com",
            "caCert": smtp.ca_pem,
        }
        secrets = Secrets({("fraud", "smtp"): secret})
        channel = AlertChannel(
            name="owners", type="email", secret_name="smtp", to=["ml@example.com"]
        )
        records = _deliver_round(AlertSender(secrets), [], [_drift()], [channel], T0)
    assert records[0].deliveries[0].result == "Delivered", records[0].deliveries[0].message
    assert smtp.logins == ["alerts"]
    assert smtp.starttls_sessions == 1
    (mail,) = smtp.messages
    assert mail["Subject"] == "[firing] Input drift detected on fraud/scorer 1.2.0"
    assert mail["To"] == "ml@example.com"
    body = mail.get_payload()
    assert isinstance(body, str)
    assert "score: 0.41" in body
    assert PASSWORD not in body


def test_email_refuses_a_wrong_password_and_says_so_without_it(tmp_path: Path) -> None:
    with smtp_receiver(tmp_path, username="alerts", password=PASSWORD) as smtp:
        secret = {
            "host": smtp.host,
            "port": str(smtp.port),
            "username": "alerts",
            "password": "wrong-password-1",
            "from": "mlops@example.com",
            "caCert": smtp.ca_pem,
        }
        channel = AlertChannel(
            name="owners", type="email", secret_name="smtp", to=["ml@example.com"]
        )
        sender = AlertSender(Secrets({("fraud", "smtp"): secret}))
        records = _deliver_round(sender, [], [_drift()], [channel], T0)
    delivery = records[0].deliveries[0]
    assert delivery.result == "Failed"
    assert "SMTPAuthenticationError" in delivery.message
    assert "wrong-password-1" not in delivery.message
    assert smtp.messages == []
