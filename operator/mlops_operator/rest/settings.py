"""The REST API's settings, read once from the environment (``MLOPS_REST_*``)."""

from __future__ import annotations

from typing import Final

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT: Final = 8080
HEALTH_PATH: Final = "/mlops/health"
METRICS_PATH: Final = "/mlops/metrics"


class RestSettings(BaseSettings):
    """Where the REST API listens, which namespace requests default to, where it stores."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    host: str = Field(
        default="0.0.0.0",  # noqa: S104 (a pod listens on its own address)
        validation_alias=AliasChoices("MLOPS_REST_HOST", "POD_IP"),
        description="Address to bind: MLOPS_REST_HOST, else POD_IP (the downward API), else "
        "every interface.",
    )
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535, validation_alias="MLOPS_REST_PORT")
    namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("MLOPS_REST_NAMESPACE", "MLOPS_WATCH_NAMESPACE"),
        description="Namespace of requests that name none (?namespace=...): "
        "MLOPS_REST_NAMESPACE, else the first of MLOPS_WATCH_NAMESPACE, else default.",
    )
    bucket: str = Field(
        default="mlops", min_length=3, max_length=63, validation_alias="MLOPS_BUCKET"
    )
    s3_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLOPS_S3_ENDPOINT", "AWS_ENDPOINT_URL"),
        description="S3 endpoint for artifacts and drift references (MinIO); default: AWS.",
    )
    auth_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        validation_alias="MLOPS_REST_AUTH_CACHE_SECONDS",
        description="How long a TokenReview or SubjectAccessReview answer is reused (0: never).",
    )
    predict_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, validation_alias="MLOPS_REST_PREDICT_TIMEOUT_SECONDS"
    )
    promote_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        le=120,
        validation_alias="MLOPS_REST_PROMOTE_WAIT_SECONDS",
        description="How long a promotion waits for the Model's status to show it.",
    )
    log_level: str = Field(
        default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", validation_alias="MLOPS_LOG_LEVEL"
    )

    @field_validator("s3_endpoint")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("namespace")
    @classmethod
    def _first_watched(cls, value: str) -> str:
        first = value.split(",")[0].strip()
        return first or "default"

    @property
    def drift_reference_root(self) -> str:
        return f"s3://{self.bucket}/drift-references"
