"""The replaced service's request bodies → TrainingJob and Deployment specs (pure)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from mlops_operator.api.deployment import EXACTLY_ONE_SOURCE
from mlops_operator.api.training_job import TEXT_MODEL_NEEDS_TEXT_COLUMN
from mlops_operator.operations.errors import InvalidRequestError
from mlops_operator.rest.deploy_request import DeployRequest, deployment_name, deployment_spec
from mlops_operator.rest.train_request import TrainRequest, training_job_spec

pytestmark = pytest.mark.unit


def _seed_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "config": {"modelType": "cnn", "modelId": "threat-classifier"},
        "datasetConfig": {
            "trainPath": "s3://mlops/datasets/threat/train.csv",
            "validation": "s3://mlops/datasets/threat/validation.csv",
            "textColumn": "description",
        },
        "modelConfig": {"embeddingDim": 32, "learningRate": 0.01},
        "trainingConfig": {
            "epochs": 3,
            "batchSize": 16,
            "earlyStoppingPatience": 2,
            "resources": {"cpu": "1", "memory": "1Gi"},
            "workers": 2,
        },
        "experimentName": "threat-v2",
    }
    body.update(overrides)
    return body


def test_the_seed_body_maps_onto_a_training_job_spec() -> None:
    spec = training_job_spec(TrainRequest.model_validate(_seed_body()))
    assert spec.model_name == "threat-classifier"
    assert spec.model.architecture == "cnn_text"
    assert spec.model.embedding_dim == 32
    assert spec.model.optimizer.learning_rate == 0.01
    assert spec.dataset.train == "s3://mlops/datasets/threat/train.csv"
    assert spec.dataset.text_column == "description"
    assert spec.training.epochs == 3
    assert spec.training.batch_size == 16
    assert spec.training.early_stopping.patience == 2
    assert spec.resources.cpu == "1"
    assert spec.workers == 2
    assert spec.mlflow_experiment == "threat-v2"
    assert spec.registration.bump == "patch"


def test_training_config_learning_rate_and_registration_settings() -> None:
    body = _seed_body(
        config={"modelType": "logistic", "version": "2.0.0", "stage": "staging"},
        datasetConfig={"train": "s3://b/train.csv", "labelColumn": "y"},
        modelConfig={"optimizer": "sgd", "momentum": 0.9},
        trainingConfig={"learningRate": 0.05},
    )
    spec = training_job_spec(TrainRequest.model_validate(body))
    assert spec.model_name == "logistic"  # the model type, as a name, when no modelId
    assert spec.model.architecture == "logistic_regression"
    assert spec.model.optimizer.name == "sgd"
    assert spec.model.optimizer.momentum == 0.9
    assert spec.model.optimizer.learning_rate == 0.05
    assert spec.registration.version == "2.0.0"
    assert spec.registration.stage == "staging"


def test_an_unknown_model_type_says_which_are_known() -> None:
    body = _seed_body(config={"modelType": "transformer"})
    with pytest.raises(InvalidRequestError, match=r"modelConfig\.architecture.*cnn"):
        training_job_spec(TrainRequest.model_validate(body))


def test_model_config_architecture_wins_over_the_model_type() -> None:
    body = _seed_body(
        config={"modelType": "threat classifier", "modelId": "t"},
        modelConfig={"architecture": "lstm"},
    )
    assert training_job_spec(TrainRequest.model_validate(body)).model.architecture == "lstm"


def test_a_misspelt_key_is_named() -> None:
    body = _seed_body(datasetConfig={"train": "s3://b/t.csv", "textColum": "d"})
    with pytest.raises(ValidationError, match="textColum"):
        training_job_spec(TrainRequest.model_validate(body))


def test_a_text_model_without_a_text_column_gets_the_rule_message() -> None:
    body = _seed_body(datasetConfig={"train": "s3://b/t.csv"})
    with pytest.raises(ValidationError, match=re.escape(TEXT_MODEL_NEEDS_TEXT_COLUMN)):
        training_job_spec(TrainRequest.model_validate(body))


def test_deploy_takes_name_colon_version_or_a_stage() -> None:
    request = DeployRequest.model_validate({"modelId": "threat-classifier:1.2.0", "replicas": 2})
    spec = deployment_spec(request)
    assert (spec.model, spec.version, spec.replicas) == ("threat-classifier", "1.2.0", 2)
    assert deployment_name(request) == "threat-classifier"
    staged = deployment_spec(
        DeployRequest.model_validate({"modelId": "m", "stage": "production", "name": "m-prod"})
    )
    assert (staged.version, staged.follow_stage) == (None, "production")


def test_deploy_needs_a_version_or_a_stage() -> None:
    with pytest.raises(ValidationError, match=EXACTLY_ONE_SOURCE):
        deployment_spec(DeployRequest.model_validate({"modelId": "m"}))
