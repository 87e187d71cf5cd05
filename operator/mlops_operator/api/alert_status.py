"""What a Deployment reports about its alerts: one record per alert, deliveries per channel.

The records are the operator's memory of what it has told whom: kept in status, so an
operator restart neither loses nor repeats an alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import Field

from mlops_core.wire import WireModel
from mlops_operator.api.meta import LABEL_NAME_MAX, VersionString
from mlops_operator.api.monitoring import ALERTS_MAX, AlertEvent

AlertState = Literal["firing", "resolved"]
DeliveryResult = Literal["Delivered", "Failed"]

ALERT_RECORDS_MAX: Final = 16
FINGERPRINT_LENGTH: Final = 16


class ChannelDelivery(WireModel):
    """The last delivery of one alert to one channel."""

    channel: str = Field(max_length=LABEL_NAME_MAX, description="Name of the channel.")
    state: AlertState = Field(description="The alert state last sent (or being sent).")
    result: DeliveryResult = Field(description="Delivered or Failed.")
    attempts: int = Field(
        default=0, ge=0, description="Failed attempts in a row (0 once delivered)."
    )
    last_attempt: datetime | None = Field(default=None, description="When it was last tried.")
    last_delivered: datetime | None = Field(
        default=None, description="When the channel last accepted this state."
    )
    next_attempt: datetime | None = Field(
        default=None, description="When a failed delivery is tried again."
    )
    message: str = Field(
        default="", max_length=512, description="Why the last attempt failed (no secrets)."
    )


class AlertRecord(WireModel):
    """One alert: a (deployment, event, version) whose state the channels have been told."""

    fingerprint: str = Field(
        min_length=FINGERPRINT_LENGTH,
        max_length=FINGERPRINT_LENGTH,
        description="Stable identifier of the alert (hex), also sent to the channels.",
    )
    event: AlertEvent = Field(description="drift, performance, rollback, promotion or failure.")
    version: VersionString = Field(description="The version the alert is about.")
    state: AlertState = Field(description="firing, or resolved once the condition cleared.")
    since: datetime = Field(description="When the alert entered this state.")
    summary: str = Field(default="", max_length=512, description="What happened, with figures.")
    deliveries: list[ChannelDelivery] = Field(
        default_factory=list,
        max_length=ALERTS_MAX,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["channel"],
        },
        description="The last delivery to each channel that takes this event.",
    )
