"""The operator's settings, read once from the environment (pydantic-settings).

Every setting has an ``MLOPS_``-prefixed variable except the ones other tools already name
(``MLFLOW_TRACKING_URI``) and the feature flags kept from the service this operator replaces
(``USE_MLOPS_REGISTRY``, ``USE_MLOPS_TRAINING``, ``USE_MLOPS_SERVING``, ``USE_MLOPS_MONITORING``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_core.images import SERVING_IMAGE, SERVING_TORCH_IMAGE, TRAINER_IMAGE
from mlops_operator import __version__

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class OperatorSettings(BaseSettings):
    """What the operator needs to know about its environment."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    trainer_image: str = Field(
        default=f"{TRAINER_IMAGE}:{__version__}",
        validation_alias="MLOPS_TRAINER_IMAGE",
        description="Image of the trainer pods (repository:tag or @digest).",
    )
    serving_image: str = Field(
        default=f"{SERVING_IMAGE}:{__version__}",
        validation_alias="MLOPS_SERVING_IMAGE",
        description="Image of the model server and router pods (repository:tag or @digest); "
        "without torch: ONNX Runtime serves the models.",
    )
    serving_torch_image: str = Field(
        default=f"{SERVING_TORCH_IMAGE}:{__version__}",
        validation_alias="MLOPS_SERVING_TORCH_IMAGE",
        description="Image of the model server pods of Deployments with serving.runtime torch "
        "(the serving image with torch).",
    )
    router_replicas: int = Field(
        default=2,
        ge=1,
        le=20,
        validation_alias="MLOPS_ROUTER_REPLICAS",
        description="Router pods per Deployment.",
    )
    drain_seconds: float = Field(
        default=10.0,
        ge=0,
        le=600,
        validation_alias="MLOPS_DRAIN_SECONDS",
        description="How long a version's pods stay after its traffic went to 0, so that the "
        "routers have taken the new weights and requests in flight finish.",
    )
    metrics_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        validation_alias="MLOPS_METRICS_TIMEOUT_SECONDS",
        description="Timeout of one scrape of a router pod's /metrics.",
    )
    endpoint_probe: bool = Field(
        default=True,
        validation_alias="MLOPS_ENDPOINT_PROBE",
        description="Ask a Deployment's Service (GET /readyz at its ClusterIP) before reporting "
        "Ready, so that Ready means a request sent at once succeeds. Turn off only for an "
        "operator run outside the cluster's network, which cannot reach ClusterIPs; Ready then "
        "rests on the router pods being ready and listed in the Service's EndpointSlices.",
    )
    image_pull_policy: str = Field(
        default="IfNotPresent",
        validation_alias="MLOPS_IMAGE_PULL_POLICY",
        pattern=r"^(Always|IfNotPresent|Never)$",
    )
    s3_secret: Annotated[str, Field(pattern=DNS_LABEL, max_length=253)] = Field(
        default="mlops-s3",
        validation_alias="MLOPS_S3_SECRET",
        description="Default name of the Secret, in the TrainingJob's own namespace, whose "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_ENDPOINT_URL the trainer pods get.",
    )
    bucket: Annotated[str, Field(min_length=3, max_length=63)] = Field(
        default="mlops",
        validation_alias="MLOPS_BUCKET",
        description="Bucket for artifacts and checkpoints.",
    )
    s3_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLOPS_S3_ENDPOINT", "AWS_ENDPOINT_URL"),
        description="S3 endpoint the operator reads artifacts from (MinIO); default: AWS.",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias="MLFLOW_TRACKING_URI",
        description="Passed to trainer pods so runs are logged to MLflow.",
    )
    watch_namespace: str | None = Field(
        default=None,
        validation_alias="MLOPS_WATCH_NAMESPACE",
        description="Watch only this namespace (comma-separated for several); unset: all.",
    )
    gpu_resource: str = Field(
        default="nvidia.com/gpu",
        validation_alias="MLOPS_GPU_RESOURCE",
        description="Extended resource name that GPU limits use.",
    )
    gpu_node_label: str = Field(
        default="nvidia.com/gpu.present",
        validation_alias="MLOPS_GPU_NODE_LABEL",
        description="Node label (value 'true') that GPU pods select.",
    )
    gpu_product_label: str = Field(
        default="nvidia.com/gpu.product",
        validation_alias="MLOPS_GPU_PRODUCT_LABEL",
        description="Node label matched against a TrainingJob's resources.gpuProduct.",
    )
    gpu_toleration_key: str = Field(
        default="nvidia.com/gpu",
        validation_alias="MLOPS_GPU_TOLERATION_KEY",
        description="Taint key of GPU nodes that GPU pods tolerate (effect NoSchedule).",
    )
    default_queue: str | None = Field(
        default=None,
        validation_alias="MLOPS_DEFAULT_QUEUE",
        description="Kueue LocalQueue name for TrainingJobs that name none: a namespace with a "
        "LocalQueue of this name queues its runs there; elsewhere they start at once. Unset: "
        "only runs with spec.queue are queued.",
    )
    job_ttl_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        validation_alias="MLOPS_JOB_TTL_SECONDS",
        description="ttlSecondsAfterFinished of training Jobs.",
    )
    peering_name: str = Field(
        default="mlops-operator",
        validation_alias="MLOPS_PEERING_NAME",
        description="kopf peering object that keeps one operator replica active.",
    )
    peering_lifetime_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        validation_alias="MLOPS_PEERING_LIFETIME_SECONDS",
        description="How long a silent peer is presumed alive.",
    )
    standalone: bool = Field(
        default=False,
        validation_alias="MLOPS_STANDALONE",
        description="Run without peering (only for local development).",
    )
    liveness_endpoint: str | None = Field(
        default="http://0.0.0.0:8080/healthz",
        validation_alias="MLOPS_LIVENESS_ENDPOINT",
        description="Where kopf serves its liveness probe; empty to disable.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        validation_alias="MLOPS_METRICS_PORT",
        description="Port of the operator's Prometheus metrics (/metrics); unset: not served.",
    )
    metrics_host: str = Field(
        default="0.0.0.0",  # noqa: S104 (a pod's metrics are scraped from outside it)
        validation_alias="MLOPS_METRICS_HOST",
        description="Address the metrics endpoint binds (the chart passes the pod IP).",
    )
    log_level: str = Field(
        default="INFO",
        validation_alias="MLOPS_LOG_LEVEL",
        pattern=r"^(DEBUG|INFO|WARNING|ERROR)$",
        description="DEBUG also logs every API request with its duration.",
    )
    use_registry: bool = Field(default=True, validation_alias="USE_MLOPS_REGISTRY")
    use_training: bool = Field(default=True, validation_alias="USE_MLOPS_TRAINING")
    use_serving: bool = Field(default=False, validation_alias="USE_MLOPS_SERVING")
    use_monitoring: bool = Field(default=False, validation_alias="USE_MLOPS_MONITORING")

    @field_validator(
        "watch_namespace",
        "s3_endpoint",
        "mlflow_tracking_uri",
        "liveness_endpoint",
        "metrics_port",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return value or None

    @property
    def watch_namespaces(self) -> list[str]:
        """The namespaces to watch; empty means every namespace (cluster-wide)."""
        if not self.watch_namespace:
            return []
        return [ns.strip() for ns in self.watch_namespace.split(",") if ns.strip()]

    @property
    def artifact_root(self) -> str:
        return f"s3://{self.bucket}/models"

    @property
    def checkpoint_root(self) -> str:
        return f"s3://{self.bucket}/checkpoints"
