"""``POST /mlops/train`` and ``GET /mlops/train/{jobId}``: TrainingJobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from mlops_operator.api.meta import OBJECT_NAME_MAX, OBJECT_NAME_PATTERN
from mlops_operator.api.training_job import TrainingJob
from mlops_operator.operations.training import get_training_job, submit_training
from mlops_operator.rest.access import Access, Scope
from mlops_operator.rest.auth import Permission
from mlops_operator.rest.train_request import TrainRequest, training_job_spec
from mlops_operator.rest.views import ERRORS, TrainingJobView

router = APIRouter(tags=["training"], responses=ERRORS)

JobId = Annotated[
    str,
    Path(
        alias="jobId",
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Name of the TrainingJob.",
    ),
]


def job_view(job: TrainingJob) -> TrainingJobView:
    """What the service answered about a job, from the TrainingJob: id, status, progress."""
    status = job.status
    return TrainingJobView(
        job_id=job.metadata.name,
        namespace=job.metadata.namespace,
        model_id=job.spec.model_name,
        status=status.phase or "Pending",
        version=status.version,
        progress=status.progress,
        metrics=status.metrics,
        model_version=status.model_version,
        artifact=status.artifact,
        conditions=status.conditions,
        created_at=job.metadata.creation_timestamp,
        start_time=status.start_time,
        completion_time=status.completion_time,
        training_job=job.to_wire(),
    )


@router.post("/mlops/train", status_code=201, summary="Start a training run (a TrainingJob)")
def train(
    body: TrainRequest,
    scope: Annotated[Scope, Depends(Access(Permission("create", "trainingjobs")))],
) -> TrainingJobView:
    job = submit_training(scope.target, training_job_spec(body), name=body.config.job_id)
    return job_view(job)


@router.get("/mlops/train/{jobId}", summary="A training run's status and progress")
def training_status(
    job_id: JobId,
    scope: Annotated[Scope, Depends(Access(Permission("get", "trainingjobs")))],
) -> TrainingJobView:
    return job_view(get_training_job(scope.target, job_id))
