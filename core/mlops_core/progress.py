"""What a training run reports while it runs and when it ends.

``TrainingProgress`` is what the trainer's status reporter writes to ``status.progress`` of its
own TrainingJob (a JSON merge patch on the status subresource), and the TrainingJob CRD embeds
the same type, so the schema and the writer cannot drift apart.

``TrainingResult`` is the trainer's last word, written to the pod's termination message
(``/dev/termination-log``, at most 4 KiB) and read by the operator when the Job ends.
"""

from __future__ import annotations

from pydantic import Field

from mlops_core.wire import WireModel

HISTORY_MAX = 50
METRICS_MAX = 16
TERMINATION_MESSAGE_MAX = 4096
#: the trainer's exit status after it stopped on SIGTERM (preemption, drain) and checkpointed
#: the step it was at; the training Job does not count it as a failure (EX_TEMPFAIL)
PREEMPTED_EXIT_CODE = 75

Metrics = dict[str, float]


class EpochRecord(WireModel):
    """Validation metrics of one finished epoch."""

    epoch: int = Field(ge=1, description="Epoch number, from 1.")
    metrics: Metrics = Field(
        max_length=METRICS_MAX, description="Metric name → value, e.g. val_loss, val_accuracy."
    )


class TrainingProgress(WireModel):
    """Where a running training is."""

    epoch: int = Field(ge=0, description="Epochs finished so far.")
    total_epochs: int = Field(ge=1, description="Epochs asked for (early stopping may end sooner).")
    latest_metrics: Metrics = Field(
        default_factory=dict, max_length=METRICS_MAX, description="Metrics of the last epoch."
    )
    best_metrics: Metrics = Field(
        default_factory=dict, max_length=METRICS_MAX, description="Metrics of the best epoch."
    )
    best_epoch: int | None = Field(default=None, ge=1, description="The best epoch so far.")
    history: list[EpochRecord] = Field(
        default_factory=list,
        max_length=HISTORY_MAX,
        description=f"The last {HISTORY_MAX} epochs, oldest first.",
    )


class TrainingResult(WireModel):
    """The termination message of a trainer pod: success with its artifact, or the reason."""

    succeeded: bool = Field(description="Whether an artifact was published.")
    reason: str | None = Field(
        default=None, max_length=1024, description="One-line reason when not succeeded."
    )
    artifact_uri: str | None = Field(default=None, max_length=1024, description="Artifact root.")
    digest: str | None = Field(
        default=None, max_length=80, description="sha256:<hex> of the artifact's manifest.json."
    )
    metrics: Metrics = Field(
        default_factory=dict, max_length=METRICS_MAX, description="Final validation/test metrics."
    )
    best_epoch: int | None = Field(default=None, ge=1, description="Epoch whose weights were kept.")
    epochs_run: int | None = Field(default=None, ge=0, description="Epochs actually trained.")
