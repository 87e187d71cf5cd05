"""Name limits per kind: the longest admitted name still gives children that fit, one more
character is refused at admission; resource quantities are refused with a sentence."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from mlops_operator.api.kinds import kind_named
from mlops_operator.api.name_limits import (
    DEPLOYMENT_NAME_MAX,
    EXPERIMENT_NAME_MAX,
    LABEL_VALUE_MAX,
    MODEL_VERSION_NAME_MAX,
    SERVER_NAME_SUFFIX_PATTERN,
    SERVICE_NAME_MAX,
    SERVICE_NAME_PATTERN,
    TRAINING_JOB_NAME_MAX,
)
from mlops_operator.api.resources import QUANTITY_PATTERN, ComputeResources
from mlops_operator.api.search_space import TRIALS_MAX
from mlops_operator.builders.names import (
    label_value,
    model_version_name,
    server_name,
    training_job_child_name,
    trial_name,
)

pytestmark = pytest.mark.unit

LIMITS = {
    "TrainingJob": TRAINING_JOB_NAME_MAX,
    "Experiment": EXPERIMENT_NAME_MAX,
    "ModelVersion": MODEL_VERSION_NAME_MAX,
    "Deployment": DEPLOYMENT_NAME_MAX,
    "Model": LABEL_VALUE_MAX,
}


@pytest.mark.parametrize(("kind", "limit"), LIMITS.items())
def test_each_kind_refuses_a_name_past_its_limit_and_says_so(kind: str, limit: int) -> None:
    rules = [r for r in kind_named(kind).root_rules if r["rule"].startswith("size(")]
    assert [item["rule"] for item in rules] == [f"size(self.metadata.name) <= {limit}"]
    message = rules[0]["message"]
    assert f" {kind} name may have" in message
    assert f"at most {limit} characters" in message


def test_a_training_job_at_its_limit_keeps_its_name_for_its_job() -> None:
    name = "r" * TRAINING_JOB_NAME_MAX
    assert training_job_child_name(name, "uid") == name
    assert label_value(name) == name
    # one more and the Job name would no longer be the TrainingJob's
    assert training_job_child_name(name + "r", "uid") != name + "r"


def test_the_last_trial_of_an_experiment_at_its_limit_is_a_valid_training_job_name() -> None:
    name = trial_name("e" * EXPERIMENT_NAME_MAX, TRIALS_MAX)
    assert len(name) == TRAINING_JOB_NAME_MAX
    assert len(trial_name("e" * (EXPERIMENT_NAME_MAX + 1), TRIALS_MAX)) > TRAINING_JOB_NAME_MAX


def test_a_deployment_name_is_a_service_name_its_servers_fit_beside() -> None:
    name = "d" * DEPLOYMENT_NAME_MAX
    assert DEPLOYMENT_NAME_MAX == SERVICE_NAME_MAX
    assert re.fullmatch(SERVICE_NAME_PATTERN, name)
    assert len(server_name(name, "1.2.0-rc.1")) <= SERVICE_NAME_MAX
    form, not_a_server = [r for r in kind_named("Deployment").root_rules if "matches" in r["rule"]]
    assert "start with a letter" in form["message"]
    assert SERVER_NAME_SUFFIX_PATTERN in not_a_server["rule"]


def test_versions_of_the_longest_model_get_names_the_model_version_rule_admits() -> None:
    model = "m" * LABEL_VALUE_MAX
    names = {model_version_name(model, v) for v in ("1.0.0", "1.0.1", "10.20.30-rc.1+build")}
    assert len(names) == 3
    assert all(len(n) <= MODEL_VERSION_NAME_MAX for n in names)
    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n) for n in names)
    assert model_version_name("short", "1.2.0") == "short-v1-2-0"


@pytest.mark.parametrize("value", ["500m", "2", "2.5", "512Mi", "4Gi", "1e3", ".5", "+1", 2])
def test_quantities_kubernetes_accepts_pass(value: object) -> None:
    ComputeResources.model_validate({"cpu": value, "memory": value})


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("memory", "2GB", "memory must be a Kubernetes quantity such as 512Mi or 2Gi"),
        ("memory", "-1Gi", "memory must be a Kubernetes quantity such as 512Mi or 2Gi"),
        ("memory", "lots", "got 'lots'"),
        ("cpu", "1 core", "cpu must be a Kubernetes quantity such as 500m, 1 or 2.5"),
        ("cpu", "", "cpu must be a Kubernetes quantity"),
    ],
)
def test_other_quantities_are_refused_with_an_example_of_a_good_one(
    field: str, value: str, expected: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(expected)):
        ComputeResources.model_validate({field: value})


def test_the_quantity_rule_carries_the_sentence_not_a_regular_expression() -> None:
    from mlops_operator.api.openapi import openapi_schema

    memory = openapi_schema(ComputeResources)["properties"]["memory"]
    assert "pattern" not in memory
    (cel,) = memory["x-kubernetes-validations"]
    assert cel["message"].startswith("memory must be a Kubernetes quantity such as 512Mi")
    assert "^" not in cel["message"]
    assert "\\" not in QUANTITY_PATTERN  # goes into a CEL string as it is


@pytest.mark.parametrize("version", ["1.0.0", "1.2.0", "10.20.30", "1.2.0-rc.1"])
def test_a_deployment_may_not_take_the_name_of_a_version_server(version: str) -> None:
    """Every version server's name is refused as a Deployment name (its router's Service would
    be that server's Service); names that merely look close are not."""
    assert re.search(SERVER_NAME_SUFFIX_PATTERN, server_name("fraud", version))
    for free in ("fraud", "fraud-1-2-0", "fraud-v1", "fraud-v1-2", "v1-2-0x", "fraud-v1-2-0x"):
        assert not re.search(SERVER_NAME_SUFFIX_PATTERN, free), free
