"""Send an alert message to a channel: Slack, an Alertmanager-compatible webhook, or email.

Credentials come from the channel's Secret, read at send time through ``read_secret`` and held
only for the call: they never reach status, Events or logs, and every error message is
scrubbed of them before it is returned. Each send reports an ``Outcome``; the retry policy is
the alerting package's, not this module's.

- slack: an incoming-webhook POST (``text`` plus Block Kit blocks) to the Secret's ``url``.
- webhook: the Alertmanager webhook body (version 4: status, receiver, labels, annotations,
  alerts with startsAt/endsAt and fingerprint) to ``spec.url`` or the Secret's ``url``; with
  ``signingKey`` in the Secret, header ``X-Mlops-Signature-256: sha256=<hex>`` is the
  HMAC-SHA256 of the body under that key.
- email: SMTP with STARTTLS (required; the certificate verified, against the Secret's
  ``caCert`` when given) and login, from the Secret's host, port, username, password, from.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any, Final

from mlops_operator.alerting.decisions import Outcome
from mlops_operator.alerting.messages import AlertMessage
from mlops_operator.api.monitoring import AlertChannel

#: (namespace, Secret name) → the Secret's data, decoded
SecretReader = Callable[[str, str], Mapping[str, bytes]]

SIGNATURE_HEADER: Final = "X-Mlops-Signature-256"
FINGERPRINT_HEADER: Final = "X-Mlops-Alert-Fingerprint"
NEVER: Final = "0001-01-01T00:00:00Z"
SLACK_FIELDS_MAX: Final = 10


class DeliveryError(Exception):
    """A channel could not be reached or refused the alert; the message says why."""


class AlertSender:
    """Delivers messages; one per operator, shared by every Deployment."""

    def __init__(self, read_secret: SecretReader, *, timeout: float = 10.0) -> None:
        self._read_secret = read_secret
        self._timeout = timeout

    def send(self, channel: AlertChannel, message: AlertMessage, *, namespace: str) -> Outcome:
        secrets: dict[str, str] = {}
        try:
            if channel.secret_name is not None:
                data = self._read_secret(namespace, channel.secret_name)
                secrets = {k: v.decode() for k, v in data.items()}
            if channel.type == "slack":
                self._post(_required(secrets, "url", channel), slack_body(message), {})
            elif channel.type == "webhook":
                self._webhook(channel, message, secrets)
            else:
                self._email(channel, message, secrets)
        except (DeliveryError, OSError, smtplib.SMTPException, ValueError, KeyError) as exc:
            text = _scrub(f"{type(exc).__name__}: {exc}", secrets.values())
            return Outcome(message.fingerprint, channel.name, message.state, False, text)
        return Outcome(message.fingerprint, channel.name, message.state, True)

    def _webhook(
        self, channel: AlertChannel, message: AlertMessage, secrets: dict[str, str]
    ) -> None:
        url = channel.url or _required(secrets, "url", channel)
        body = json.dumps(webhook_body(message, receiver=channel.name)).encode()
        headers = {FINGERPRINT_HEADER: message.fingerprint}
        key = secrets.get("signingKey")
        if key:
            headers[SIGNATURE_HEADER] = "sha256=" + sign(body, key)
        self._post(url, body, headers)

    def _post(self, url: str, body: bytes | dict[str, Any], headers: dict[str, str]) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (http and https only, checked below)
            url, data=data, method="POST", headers={"Content-Type": "application/json", **headers}
        )
        if request.type not in ("http", "https"):
            raise DeliveryError(f"the channel's URL must be http or https, not {request.type}")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"the receiver answered HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise DeliveryError(f"the receiver could not be reached: {exc.reason}") from None

    def _email(self, channel: AlertChannel, message: AlertMessage, secrets: dict[str, str]) -> None:
        host = _required(secrets, "host", channel)
        port = int(secrets.get("port", "587"))
        sender = _required(secrets, "from", channel)
        mail = EmailMessage()
        mail["Subject"] = f"[{message.state}] {message.title}"
        mail["From"] = sender
        mail["To"] = ", ".join(channel.to or [])
        mail[FINGERPRINT_HEADER] = message.fingerprint
        mail.set_content(message.text)
        context = ssl.create_default_context(cadata=secrets.get("caCert") or None)
        with smtplib.SMTP(host, port, timeout=self._timeout) as smtp:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise DeliveryError(
                    f"{host}:{port} does not offer STARTTLS; credentials are never sent in clear"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
            smtp.login(
                _required(secrets, "username", channel), _required(secrets, "password", channel)
            )
            smtp.send_message(mail)


def slack_body(message: AlertMessage) -> dict[str, Any]:
    """An incoming-webhook payload: the plain text and Block Kit blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": message.summary or message.title}},
    ]
    if message.figures:
        fields = [
            {"type": "mrkdwn", "text": f"*{name}*\n{value}"}
            for name, value in message.figures[:SLACK_FIELDS_MAX]
        ]
        blocks.append({"type": "section", "fields": fields})
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"`{message.ref.kubectl}`"}]}
    )
    return {"text": f"{message.title}: {message.summary}", "blocks": blocks}


def webhook_body(message: AlertMessage, *, receiver: str) -> dict[str, Any]:
    """The Alertmanager webhook payload (version 4) with this one alert."""
    labels, annotations = message.labels, message.annotations
    return {
        "version": "4",
        "groupKey": f'{{}}:{{fingerprint="{message.fingerprint}"}}',
        "truncatedAlerts": 0,
        "status": message.state,
        "receiver": receiver,
        "groupLabels": {"alertname": labels["alertname"]},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "",
        "alerts": [
            {
                "status": message.state,
                "labels": labels,
                "annotations": annotations,
                "startsAt": message.starts_at.isoformat(),
                "endsAt": message.ends_at.isoformat() if message.ends_at else NEVER,
                "generatorURL": message.ref.api_path,
                "fingerprint": message.fingerprint,
            }
        ],
    }


def sign(body: bytes, key: str) -> str:
    """Hex HMAC-SHA256 of ``body`` under ``key``."""
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def _required(secrets: Mapping[str, str], key: str, channel: AlertChannel) -> str:
    value = secrets.get(key)
    if not value:
        raise DeliveryError(
            f"channel {channel.name}: Secret {channel.secret_name or '(none)'} has no key {key!r}"
        )
    return value


def _scrub(text: str, secrets: Any) -> str:
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text[:512]
