"""The replaced service's documented bodies become this API's typed requests (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import service_examples as service
from mlops_operator.api.training_job import TrainingRunSpec
from mlops_operator.rest.deploy_request import DeployRequest, deployment_name, deployment_spec
from mlops_operator.rest.drift import DriftInitRequest
from mlops_operator.rest.experiments import ExperimentRequest
from mlops_operator.rest.models import CompareRequest
from mlops_operator.rest.train_request import TrainRequest, training_job_spec

pytestmark = pytest.mark.unit


def test_the_services_train_body_maps_every_setting() -> None:
    spec = training_job_spec(TrainRequest.model_validate(service.train()))
    assert spec.model_name == "threat-classifier"  # modelType is the model's identity
    assert spec.model.architecture == "lstm"
    assert spec.model.optimizer.name == "adam"
    assert spec.model.optimizer.learning_rate == 0.001
    assert spec.model.loss == "cross_entropy"
    assert spec.model.metrics == ["accuracy", "precision", "recall"]
    assert spec.training.epochs == 50
    assert spec.training.batch_size == 32
    stopping = spec.training.early_stopping
    assert (stopping.enabled, stopping.patience, stopping.monitor, stopping.mode) == (
        True,
        10,
        "val_loss",
        "min",
    )
    assert spec.dataset.train.endswith("/train.csv")
    assert spec.dataset.validation
    assert spec.dataset.validation.endswith("/validation.csv")
    assert spec.dataset.test
    assert spec.dataset.test.endswith("/test.csv")
    assert spec.dataset.text_column == "description"
    assert spec.mlflow_experiment == "threat-classifier-v2"


def test_an_optimizer_type_is_taken_beside_config_too() -> None:
    body = service.train()
    config = body["config"]
    body.update({k: config.pop(k) for k in ("datasetConfig", "modelConfig", "trainingConfig")})
    body["datasetConfig"]["textColumn"] = "text"
    spec = training_job_spec(TrainRequest.model_validate(body))
    assert (spec.model.optimizer.name, spec.dataset.text_column) == ("adam", "text")


def test_an_unknown_key_inside_the_services_config_is_named() -> None:
    body = service.train()
    body["config"]["modelConfig"]["optimiser"] = "sgd"
    with pytest.raises(ValidationError, match="optimiser"):
        training_job_spec(TrainRequest.model_validate(body))
    body = service.train()
    body["config"]["datasetConfg"] = {}
    with pytest.raises(ValidationError, match="datasetConfg"):
        TrainRequest.model_validate(body)


def test_the_services_compare_body_names_two_versions() -> None:
    request = CompareRequest.model_validate(service.compare())
    assert (request.model_id, request.versions) == ("threat-classifier", ["1.0.0", "1.1.0"])
    with pytest.raises(ValidationError, match="version3"):
        CompareRequest.model_validate({**service.compare(), "version3": "2.0.0"})


def test_the_services_experiment_body_becomes_an_experiment_spec() -> None:
    request = ExperimentRequest.model_validate(service.experiment())
    assert request.experiment_id == "threat-classifier-tuning"
    assert request.model_name is None
    assert request.trial_template is None
    template = TrainingRunSpec.model_validate(
        {
            "dataset": {"train": "s3://b/t.csv", "textColumn": "description"},
            "model": {"architecture": "lstm", "metrics": ["accuracy"]},
        }
    )
    spec = request.spec("threat-classifier", template)
    assert (spec.objective.metric, spec.objective.direction) == ("val_accuracy", "maximize")
    assert (spec.strategy, spec.max_trials, spec.parallel_trials) == ("bayesian", 100, 4)
    by_name = {p.name: p for p in spec.search_space}
    rate = by_name["model.optimizer.learningRate"]
    assert (rate.type, rate.log, rate.low, rate.high) == ("float", True, 0.0001, 0.1)
    assert by_name["model.dropout"].type == "float"
    units = by_name["model.hiddenDim"]
    assert (units.type, units.values) == ("categorical", ["64", "128", "256"])
    assert spec.trial_template == template


def test_an_unknown_search_parameter_or_key_is_named() -> None:
    body = service.experiment()
    body["config"]["searchSpace"]["warp_factor"] = {"type": "float", "low": 1, "high": 9}
    with pytest.raises(ValidationError, match="warp_factor"):
        ExperimentRequest.model_validate(body)
    body = service.experiment()
    body["config"]["maxTrails"] = 3
    with pytest.raises(ValidationError, match="maxTrails"):
        ExperimentRequest.model_validate(body)


def test_a_version_with_a_stage_is_served_as_that_stages_deployment() -> None:
    request = DeployRequest.model_validate(service.deploy())
    spec = deployment_spec(request)
    assert (spec.model, spec.version, spec.follow_stage) == ("threat-classifier", "1.1.0", None)
    assert deployment_name(request) == "threat-classifier"
    staging = DeployRequest.model_validate({"modelId": "m:2.0.0", "stage": "staging"})
    assert (deployment_spec(staging).version, deployment_name(staging)) == ("2.0.0", "m-staging")
    follow = DeployRequest.model_validate({"modelId": "m", "stage": "staging"})
    assert (deployment_spec(follow).follow_stage, deployment_name(follow)) == (
        "staging",
        "m-staging",
    )


def test_reference_data_is_records_or_columns() -> None:
    rows = [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}]
    assert DriftInitRequest.model_validate(service.drift_init(rows)).records == rows
    columns = {"referenceData": {"a": [1.0, 2.0], "b": ["x", "y"]}}
    assert DriftInitRequest.model_validate(columns).records == rows
    with pytest.raises(ValidationError, match="referenceDta"):
        DriftInitRequest.model_validate({"referenceDta": rows})
