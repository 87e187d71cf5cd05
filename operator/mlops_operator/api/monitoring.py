"""Alert channels of a served model (drift monitoring is ``mlops_core.serving_spec.DriftSpec``)."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import ConfigDict, Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.cel import rule, validations
from mlops_operator.api.meta import (
    LABEL_NAME_MAX,
    LABEL_NAME_PATTERN,
    OBJECT_NAME_MAX,
    OBJECT_NAME_PATTERN,
)

AlertType = Literal["slack", "email", "webhook"]
AlertEvent = Literal["drift", "performance", "rollback", "promotion", "failure"]

ALERTS_MAX: Final = 8
EMAIL_SERVER_MISSING: Final = (
    "an email channel needs secretName: a Secret with host, port, username, password and from"
)

EmailAddress = Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class AlertChannel(WireModel):
    """Where alerts go."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            rule(
                "self.type != 'email' || (has(self.to) && size(self.to) > 0)",
                "an email channel needs to: the addresses to write to",
            ),
            rule(
                "self.type != 'slack' || has(self.secretName)",
                "a slack channel needs secretName: a Secret with the webhook URL under key url",
            ),
            rule(
                "self.type != 'webhook' || has(self.url) || has(self.secretName)",
                "a webhook channel needs url or secretName",
            ),
            rule(
                "self.type != 'email' || has(self.secretName)",
                EMAIL_SERVER_MISSING,
            ),
        )
    )

    name: str = Field(
        min_length=1,
        max_length=LABEL_NAME_MAX,
        pattern=LABEL_NAME_PATTERN,
        description="Name of the channel, unique in the list.",
    )
    type: AlertType = Field(description="slack, email or webhook.")
    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^https?://",
        description="Webhook URL (type webhook), when it is not a secret.",
    )
    secret_name: str | None = Field(
        default=None,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Secret (same namespace) with the channel's credentials, read when an "
        "alert is sent: key url for slack and webhook (and optionally signingKey, to sign "
        "webhook bodies with HMAC-SHA256); host, port, username, password, from (and "
        "optionally caCert, a PEM bundle to verify the server) for email.",
    )
    to: list[EmailAddress] | None = Field(
        default=None, max_length=16, description="Recipients (type email)."
    )
    repeat_interval_seconds: int = Field(
        default=3600,
        ge=0,
        le=604_800,
        description="How often an alert that is still firing (drift, performance, failure) is "
        "sent again; "
        "0 sends it once.",
    )
    events: list[AlertEvent] = Field(
        default_factory=lambda: list[AlertEvent](
            ["drift", "performance", "rollback", "promotion", "failure"]
        ),
        max_length=5,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="What is reported: drift, performance (estimated accuracy below the "
        "test accuracy by more than monitoring.performanceMargin), rollback, promotion, failure.",
    )

    @model_validator(mode="after")
    def _has_target(self) -> AlertChannel:
        if self.type == "email" and not self.to:
            raise ValueError("an email channel needs to: the addresses to write to")
        if self.type == "slack" and self.secret_name is None:
            raise ValueError(
                "a slack channel needs secretName: a Secret with the webhook URL under key url"
            )
        if self.type == "webhook" and self.url is None and self.secret_name is None:
            raise ValueError("a webhook channel needs url or secretName")
        if self.type == "email" and self.secret_name is None:
            raise ValueError(EMAIL_SERVER_MISSING)
        return self
