"""The replaced service's training request, and how it becomes a TrainingJob spec. Pure.

``POST /mlops/train`` takes the service's body, ``datasetConfig``, ``modelConfig`` and
``trainingConfig`` nested in ``config`` (moved out by ``service_bodies.train_body``)::

    {"config": {"modelType": "threat-classifier",
                "datasetConfig": {"trainPath": "s3://…/train.csv", …},
                "modelConfig": {"architecture": "lstm",
                                "optimizer": {"type": "adam", "learningRate": 0.001}, …},
                "trainingConfig": {"epochs": 50, "batchSize": 32,
                                   "earlyStopping": {"enabled": true, "patience": 10}}},
     "experimentName": "threat-classifier-v2"}

or the same three blocks beside ``config``.

- ``config.modelType`` is the model's identity: ``spec.modelName`` as a DNS label, unless
  ``config.modelId`` (or ``modelName``) names it. ``modelConfig.architecture`` →
  ``spec.model.architecture`` (``cnn``/``textcnn`` → ``cnn_text``, ``logistic``/``logreg`` →
  ``logistic_regression``, ``neural_network``/``dnn`` → ``mlp``; the zoo's own names as they
  are); without it, ``modelType`` must be one of those words.
- ``config.jobId`` → the TrainingJob's name; default: ``<model>-<random>``.
  ``config.version`` / ``config.stage`` / ``config.bump`` → ``spec.registration``.
- ``datasetConfig`` → ``spec.dataset`` (``trainPath``/``validationPath``/``testPath`` are
  accepted for ``train``/``validation``/``test``).
- ``modelConfig`` → ``spec.model``; ``learningRate``/``weightDecay``/``momentum`` and a string
  ``optimizer`` go into ``spec.model.optimizer``.
- ``trainingConfig`` → ``spec.training``; ``earlyStoppingPatience`` → ``earlyStopping.patience``,
  ``learningRate`` → the optimizer's; ``resources``, ``scheduling``, ``workers``, ``retries``
  and ``deadlineSeconds`` → the spec's fields of those names.
- ``experimentName`` → ``spec.mlflowExperiment`` (the run's MLflow experiment; a
  hyperparameter search is ``POST /mlops/experiments``).

Any other key is an error that names it, as for a manifest.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import Field, model_validator

from mlops_core.wire import WireModel
from mlops_operator.api.meta import LABEL_NAME_MAX, OBJECT_NAME_MAX, OBJECT_NAME_PATTERN
from mlops_operator.api.training_job import TrainingJobSpec
from mlops_operator.operations.errors import InvalidRequestError
from mlops_operator.rest.service_bodies import ARCHITECTURE_ALIASES, architecture_named, train_body

DATASET_ALIASES: Final = {"trainPath": "train", "validationPath": "validation", "testPath": "test"}
OPTIMIZER_KEYS: Final = ("learningRate", "weightDecay", "momentum")
RUN_KEYS: Final = ("resources", "scheduling", "workers", "retries", "deadlineSeconds")
JSON = dict[str, Any]


class TrainConfig(WireModel):
    """The ``config`` block: what model, and how the result is registered."""

    model_type: str = Field(
        min_length=1,
        max_length=64,
        description="The model: its name (the default of modelId), or an architecture "
        "(cnn, lstm, mlp, logistic, or the zoo's cnn_text, logistic_regression) when "
        "modelConfig.architecture is not given.",
    )
    model_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=LABEL_NAME_MAX,
        description="The Model trained (default: modelType as a name).",
    )
    model_name: str | None = Field(
        default=None, min_length=1, max_length=LABEL_NAME_MAX, description="Same as modelId."
    )
    job_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=OBJECT_NAME_MAX,
        pattern=OBJECT_NAME_PATTERN,
        description="Name of the TrainingJob (default: generated from the model's name).",
    )
    version: str | None = Field(default=None, max_length=64, description="Exact version.")
    bump: str | None = Field(default=None, description="major, minor or patch.")
    stage: str | None = Field(default=None, description="draft, staging or production.")


class TrainRequest(WireModel):
    """The body of ``POST /mlops/train``: this shape, or the service's with the three blocks
    nested in ``config`` (``service_bodies.train_body``)."""

    config: TrainConfig
    dataset_config: JSON = Field(description="Dataset: train/validation/test URIs, columns.")
    model_config_: JSON = Field(
        default_factory=dict,
        alias="modelConfig",
        description="Architecture sizes, optimizer, loss, metrics.",
    )
    training_config: JSON = Field(
        default_factory=dict,
        description="Epochs, batch size, early stopping, seed; resources and workers.",
    )
    experiment_name: str | None = Field(
        default=None, min_length=1, max_length=OBJECT_NAME_MAX, description="MLflow experiment."
    )

    @model_validator(mode="before")
    @classmethod
    def _service_shape(cls, body: Any) -> Any:
        return train_body(body)


def model_name_of(config: TrainConfig) -> str:
    name = config.model_id or config.model_name
    if name:
        return name
    label = re.sub(r"[^a-z0-9-]+", "-", config.model_type.lower()).strip("-")
    return label[:LABEL_NAME_MAX].strip("-") or "model"


def architecture_of(model_type: str, model_config: JSON) -> str:
    given = model_config.get("architecture")
    if isinstance(given, str):
        return given
    found = architecture_named(model_type)
    if found is None:
        known = ", ".join(sorted(ARCHITECTURE_ALIASES))
        raise InvalidRequestError(
            f"config.modelType {model_type!r} is the model's name, not an architecture: set "
            f"modelConfig.architecture to one of {known}"
        )
    return found


def _dataset(dataset_config: JSON) -> JSON:
    return {DATASET_ALIASES.get(key, key): value for key, value in dataset_config.items()}


def _model(model_type: str, model_config: JSON, training_config: JSON) -> JSON:
    model = {k: v for k, v in model_config.items() if k not in OPTIMIZER_KEYS}
    model["architecture"] = architecture_of(model_type, model_config)
    optimizer = model.get("optimizer")
    optimizer = {"name": optimizer} if isinstance(optimizer, str) else dict(optimizer or {})
    for source in (training_config, model_config):
        optimizer.update({k: source[k] for k in OPTIMIZER_KEYS if k in source})
    if optimizer:
        model["optimizer"] = optimizer
    return model


def _training(training_config: JSON) -> JSON:
    skip = {*OPTIMIZER_KEYS, *RUN_KEYS, "earlyStoppingPatience"}
    training = {k: v for k, v in training_config.items() if k not in skip}
    if "earlyStoppingPatience" in training_config:
        stopping = dict(training.get("earlyStopping") or {})
        stopping["patience"] = training_config["earlyStoppingPatience"]
        training["earlyStopping"] = stopping
    return training


def training_job_spec(request: TrainRequest) -> TrainingJobSpec:
    """The TrainingJob spec the request asks for; pydantic's ValidationError names any
    field that is wrong, InvalidRequestError an unknown model type."""
    config = request.config
    spec: JSON = {
        "modelName": model_name_of(config),
        "dataset": _dataset(request.dataset_config),
        "model": _model(config.model_type, request.model_config_, request.training_config),
        "training": _training(request.training_config),
        **{k: request.training_config[k] for k in RUN_KEYS if k in request.training_config},
    }
    registration = {
        key: value
        for key, value in (
            ("version", config.version),
            ("bump", config.bump),
            ("stage", config.stage),
        )
        if value is not None
    }
    if registration:
        spec["registration"] = registration
    if request.experiment_name:
        spec["mlflowExperiment"] = request.experiment_name
    return TrainingJobSpec.model_validate(spec)
