"""The generated CRDs on a real API server: they install, every example is accepted, invalid
manifests are rejected with the message their CEL rule or schema gives, transition rules hold,
and ``kubectl explain`` / ``get`` / ``scale`` show what the models say."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from mlops_operator.api.kinds import KINDS, kind_named
from mlops_operator.api.meta import GROUP, VERSION
from mlops_operator.api.name_limits import (
    DEPLOYMENT_NAME_MAX,
    EXPERIMENT_NAME_MAX,
    MODEL_VERSION_NAME_MAX,
    TRAINING_JOB_NAME_MAX,
)
from mlops_operator.api.serving_pool import POOL_NAME_MAX

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
EXAMPLES = ROOT / "examples"
EXAMPLE_FILES = sorted(
    path for path in EXAMPLES.rglob("*.yaml") if "data" not in path.relative_to(EXAMPLES).parts
)

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def crds(devcluster: DevCluster) -> None:
    """The CRDs from crds/, applied (server-side, so re-applying is harmless) and established."""
    devcluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=mlops-crds",
        "-f",
        str(CRD_DIR),
    )
    names = [f"crd/{kind.crd_name}" for kind in KINDS]
    devcluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    _until_discoverable(devcluster)


def _until_discoverable(devcluster: DevCluster) -> None:
    deadline = time.monotonic() + 30
    while True:
        result = devcluster.kubectl(
            "api-resources", f"--api-group={GROUP}", "-o", "name", check=False
        )
        if all(kind.crd_name in result.stdout for kind in KINDS):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the {GROUP} resources never showed in discovery: {result.stdout}")
        time.sleep(0.2)


def _custom(kube_api: ApiClient) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube_api)


def _load(relative: str) -> Manifest:
    document = yaml.safe_load((EXAMPLES / relative).read_text())
    assert isinstance(document, dict)
    return document


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): None deletes a key, dicts merge, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _plural(manifest: Manifest) -> str:
    return kind_named(manifest["kind"]).plural


def _create(kube_api: ApiClient, namespace: str, manifest: Manifest, *, dry_run: bool) -> Any:
    return _custom(kube_api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, _plural(manifest), manifest, dry_run="All" if dry_run else None
    )


def _rejection(call: Any) -> str:
    """The API server's message for a call expected to be refused as invalid."""
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 422, caught.value.body
    message = json.loads(caught.value.body or "{}").get("message")
    assert isinstance(message, str)
    return message


@pytest.mark.usefixtures("crds")
def test_every_crd_is_installed_with_its_names(devcluster: DevCluster) -> None:
    for kind in KINDS:
        crd = json.loads(devcluster.kubectl("get", f"crd/{kind.crd_name}", "-o", "json").stdout)
        names = crd["status"]["acceptedNames"]
        assert names["kind"] == kind.kind
        assert names["shortNames"] == list(kind.short_names)
        assert names["categories"] == ["mlops"]
        assert crd["spec"]["scope"] == "Namespaced"


@pytest.mark.usefixtures("crds", "kueue")  # the queueing examples hold Kueue's own objects
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_is_accepted(devcluster: DevCluster, namespace: str, path: Path) -> None:
    result = devcluster.kubectl("apply", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout


@pytest.mark.usefixtures("crds", "kueue")
def test_the_mlops_category_lists_every_kind(devcluster: DevCluster, namespace: str) -> None:
    arguments = [argument for path in EXAMPLE_FILES for argument in ("-f", str(path))]
    devcluster.kubectl("apply", "-n", namespace, *arguments)
    names = devcluster.kubectl("get", "mlops", "-n", namespace, "-o", "name").stdout.split()
    assert {name.split("/")[0] for name in names} == {f"{kind.singular}.{GROUP}" for kind in KINDS}


# (name, example the manifest starts from, merge patch making it invalid, expected message)
INVALID: list[tuple[str, str, dict[str, Any], str]] = [
    (
        "pool-model-memory-over-the-pod",
        "pools/servingpool.yaml",
        {"spec": {"modelMemory": "4Gi"}},
        "modelMemory must be less than resources.memory",
    ),
    (
        "pool-without-copies",
        "pools/servingpool.yaml",
        {"spec": {"copies": 0}},
        "spec.copies: Invalid value",
    ),
    (
        "negative-gpu",
        "gpu/trainingjob.yaml",
        {"spec": {"resources": {"gpu": -1, "gpuProduct": None}}},
        "gpu must be 0 or more",
    ),
    (
        "zero-workers",
        "distributed/trainingjob.yaml",
        {"spec": {"workers": 0}},
        "workers must be at least 1",
    ),
    (
        "text-model-without-text-column",
        "threat-classifier/trainingjob.yaml",
        {"spec": {"dataset": {"textColumn": None}}},
        "text models (lstm, cnn_text) need dataset.textColumn",
    ),
    (
        "tabular-model-with-text-column",
        "tabular/trainingjob.yaml",
        {"spec": {"dataset": {"textColumn": "description"}}},
        "tabular models (logistic_regression, mlp) take no dataset.textColumn",
    ),
    (
        "gpu-product-without-gpu",
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"gpuProduct": "NVIDIA-H100-80GB-HBM3"}}},
        "gpuProduct applies only with gpu > 0",
    ),
    (
        "registration-version-not-semver",
        "tabular/trainingjob.yaml",
        {"spec": {"registration": {"version": "v2"}}},
        "registration.version must be a semantic version",
    ),
    (
        "unknown-architecture",
        "tabular/trainingjob.yaml",
        {"spec": {"model": {"architecture": "transformer"}}},
        'Unsupported value: "transformer"',
    ),
    (
        "zero-epochs",
        "tabular/trainingjob.yaml",
        {"spec": {"training": {"epochs": 0}}},
        "spec.training.epochs: Invalid value",
    ),
    (
        "cpu-not-a-quantity",
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"cpu": "lots"}}},
        "cpu must be a Kubernetes quantity such as 500m, 1 or 2.5",
    ),
    (
        "memory-not-a-quantity",
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"memory": "2GB"}}},
        "memory must be a Kubernetes quantity such as 512Mi or 2Gi",
    ),
    (
        "negative-memory",
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"memory": "-1Gi"}}},
        "memory must be a Kubernetes quantity such as 512Mi or 2Gi",
    ),
    (
        "negative-cpu-number",
        "tabular/trainingjob.yaml",
        {"spec": {"resources": {"cpu": -2}}},
        "cpu must be a Kubernetes quantity such as 500m, 1 or 2.5",
    ),
    (
        "training-job-name-too-long",
        "tabular/trainingjob.yaml",
        {"metadata": {"name": "t" * (TRAINING_JOB_NAME_MAX + 1)}},
        f"a TrainingJob name may have at most {TRAINING_JOB_NAME_MAX} characters: it names "
        "the run's Job",
    ),
    (
        "experiment-name-too-long",
        "experiment/experiment.yaml",
        {"metadata": {"name": "e" * (EXPERIMENT_NAME_MAX + 1)}},
        f"an Experiment name may have at most {EXPERIMENT_NAME_MAX} characters: its trials",
    ),
    (
        "model-version-name-too-long",
        "registry/modelversion.yaml",
        {"metadata": {"name": "v" * (MODEL_VERSION_NAME_MAX + 1)}},
        f"a ModelVersion name may have at most {MODEL_VERSION_NAME_MAX} characters",
    ),
    (
        "deployment-name-too-long",
        "deployments/direct.yaml",
        {"metadata": {"name": "d" * (DEPLOYMENT_NAME_MAX + 1)}},
        f"a Deployment name may have at most {DEPLOYMENT_NAME_MAX} characters: its router",
    ),
    (
        "deployment-name-not-a-service-name",
        "deployments/direct.yaml",
        {"metadata": {"name": "1st.fraud"}},
        "a Deployment name must start with a letter",
    ),
    (
        "deployment-name-of-a-version-server",
        "deployments/direct.yaml",
        {"metadata": {"name": "fraud-v1-2-0"}},
        "a Deployment name may not end in -v<major>-<minor>-<patch> (as fraud-v1-2-0)",
    ),
    (
        "model-version-not-semver",
        "registry/modelversion.yaml",
        {"spec": {"version": "1.0"}},
        "version must be a semantic version such as 1.4.0",
    ),
    (
        "model-version-digest-not-sha256",
        "registry/modelversion.yaml",
        {"spec": {"artifact": {"digest": "md5:0123456789abcdef"}}},
        "spec.artifact.digest: Invalid value",
    ),
    (
        "model-version-unknown-stage",
        "registry/modelversion.yaml",
        {"spec": {"stage": "retired"}},
        'Unsupported value: "retired"',
    ),
    (
        "model-name-too-long",
        "threat-classifier/model.yaml",
        {"metadata": {"name": "m" * 64}},
        "a Model name may have at most 63 characters: it is a label value",
    ),
    (
        "model-input-schema-duplicate",
        "threat-classifier/model.yaml",
        {
            "spec": {
                "inputSchema": [
                    {"name": "description", "type": "string"},
                    {"name": "description", "type": "number"},
                ]
            }
        },
        "Duplicate value",
    ),
    (
        "parallel-trials-above-max",
        "experiment/experiment.yaml",
        {"spec": {"maxTrials": 3, "parallelTrials": 4}},
        "parallelTrials must not exceed maxTrials",
    ),
    (
        "search-range-low-not-below-high",
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [{"name": "model.dropout", "type": "float", "low": 0.5, "high": 0.5}]
            }
        },
        "low must be less than high",
    ),
    (
        "log-range-from-zero",
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [
                    {
                        "name": "model.optimizer.learningRate",
                        "type": "float",
                        "low": 0,
                        "high": 0.1,
                        "log": True,
                    }
                ]
            }
        },
        "a log-scaled range needs low > 0",
    ),
    (
        "categorical-without-values",
        "experiment/experiment.yaml",
        {"spec": {"searchSpace": [{"name": "training.batchSize", "type": "categorical"}]}},
        "categorical parameters need values",
    ),
    (
        "int-range-with-fractions",
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [{"name": "model.hiddenDim", "type": "int", "low": 8.5, "high": 64}]
            }
        },
        "int parameters need whole-number low and high",
    ),
    (
        "search-parameter-not-in-template",
        "experiment/experiment.yaml",
        {"spec": {"searchSpace": [{"name": "model.layers", "type": "int", "low": 1, "high": 4}]}},
        'Unsupported value: "model.layers"',
    ),
    (
        "grid-over-continuous-float",
        "experiment/experiment.yaml",
        {"spec": {"strategy": "grid"}},
        "grid search needs a finite space",
    ),
    (
        "trial-template-text-model-without-text-column",
        "experiment/experiment.yaml",
        {"spec": {"trialTemplate": {"model": {"architecture": "lstm"}}}},
        "text models (lstm, cnn_text) need dataset.textColumn",
    ),
    (
        "float-parameter-for-int-field",
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [{"name": "training.epochs", "type": "float", "low": 1, "high": 5}]
            }
        },
        "a float parameter can set only a float field",
    ),
    (
        "number-parameter-for-list-field",
        "experiment/experiment.yaml",
        {
            "spec": {
                "searchSpace": [{"name": "model.hiddenSizes", "type": "int", "low": 1, "high": 4}]
            }
        },
        "fields holding text, lists or booleans take a categorical parameter",
    ),
    (
        "objective-metric-never-reported",
        "experiment/experiment.yaml",
        {"spec": {"objective": {"metric": "val_precision"}}},
        "objective.metric must be a metric the trials report every epoch",
    ),
    (
        "canary-weights-decrease",
        "deployments/canary.yaml",
        {"spec": {"strategy": {"canary": {"stepWeights": [10, 50, 25]}}}},
        "canary step weights must strictly increase",
    ),
    (
        "canary-weights-repeat",
        "deployments/canary.yaml",
        {"spec": {"strategy": {"canary": {"stepWeights": [10, 10, 50]}}}},
        "canary step weights must strictly increase",
    ),
    (
        "canary-weight-above-100",
        "deployments/canary.yaml",
        {"spec": {"strategy": {"canary": {"stepWeights": [50, 150]}}}},
        "canary step weights must be between 1 and 100",
    ),
    (
        "ab-weights-not-100",
        "deployments/ab-test.yaml",
        {
            "spec": {
                "strategy": {
                    "abTest": {
                        "variants": [
                            {"version": "1.0.0", "weight": 50},
                            {"version": "1.1.0", "weight": 40},
                        ]
                    }
                }
            }
        },
        "A/B variant weights must add up to 100",
    ),
    (
        "ab-test-with-version",
        "deployments/ab-test.yaml",
        {"spec": {"version": "1.0.0"}},
        "an ab-test serves the versions of strategy.abTest.variants",
    ),
    (
        "ab-test-without-variants",
        "deployments/ab-test.yaml",
        {"spec": {"strategy": {"abTest": None}}},
        "strategy type ab-test needs strategy.abTest",
    ),
    (
        "version-and-follow-stage",
        "deployments/direct.yaml",
        {"spec": {"version": "1.0.0"}},
        "set exactly one of version and followStage",
    ),
    (
        "neither-version-nor-follow-stage",
        "deployments/direct.yaml",
        {"spec": {"followStage": None}},
        "set exactly one of version and followStage",
    ),
    (
        "canary-settings-on-direct",
        "deployments/direct.yaml",
        {"spec": {"strategy": {"canary": {"stepWeights": [50]}}}},
        "strategy.canary applies only to strategy type canary",
    ),
    (
        "deployment-version-not-semver",
        "deployments/direct.yaml",
        {"spec": {"followStage": None, "version": "latest"}},
        "version must be a semantic version",
    ),
    (
        "email-alert-without-recipients",
        "deployments/canary.yaml",
        {"spec": {"alerts": [{"name": "owners", "type": "email", "secretName": "smtp"}]}},
        "an email channel needs to",
    ),
]


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("example", "patch", "expected"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_manifest_is_rejected(
    kube_api: ApiClient, namespace: str, example: str, patch: dict[str, Any], expected: str
) -> None:
    manifest = _merge(_load(example), patch)
    _create(kube_api, namespace, _load(example), dry_run=True)  # the base alone is valid
    message = _rejection(lambda: _create(kube_api, namespace, manifest, dry_run=True))
    assert expected in message


#: (example, longest name its kind admits): names exactly at the limit pass admission
AT_THE_NAME_LIMIT = [
    ("tabular/trainingjob.yaml", TRAINING_JOB_NAME_MAX),
    ("experiment/experiment.yaml", EXPERIMENT_NAME_MAX),
    ("registry/modelversion.yaml", MODEL_VERSION_NAME_MAX),
    ("deployments/direct.yaml", DEPLOYMENT_NAME_MAX),
    ("pools/servingpool.yaml", POOL_NAME_MAX),
]


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(("example", "limit"), AT_THE_NAME_LIMIT)
def test_a_name_at_the_limit_of_its_kind_is_accepted(
    kube_api: ApiClient, namespace: str, example: str, limit: int
) -> None:
    manifest = _merge(_load(example), {"metadata": {"name": "n" * limit}})
    created = _create(kube_api, namespace, manifest, dry_run=True)
    assert created["metadata"]["name"] == "n" * limit


def test_the_invalid_table_is_large_enough() -> None:
    assert len(INVALID) >= 20
    assert len({case[0] for case in INVALID}) == len(INVALID)


def _replace_spec(
    kube_api: ApiClient, namespace: str, manifest: Manifest, spec_patch: dict[str, Any]
) -> Any:
    custom = _custom(kube_api)
    plural = _plural(manifest)
    current = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, manifest["metadata"]["name"]
    )
    updated = _merge(current, {"spec": spec_patch})
    return custom.replace_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, manifest["metadata"]["name"], updated
    )


@pytest.mark.usefixtures("crds")
def test_model_version_identity_is_immutable_and_archive_is_final(
    kube_api: ApiClient, namespace: str
) -> None:
    manifest = _load("registry/modelversion.yaml")
    _create(kube_api, namespace, manifest, dry_run=False)

    message = _rejection(lambda: _replace_spec(kube_api, namespace, manifest, {"version": "0.9.1"}))
    assert "version is immutable" in message
    message = _rejection(
        lambda: _replace_spec(kube_api, namespace, manifest, {"model": "other-model"})
    )
    assert "model is immutable" in message
    message = _rejection(
        lambda: _replace_spec(
            kube_api, namespace, manifest, {"artifact": {"uri": "s3://mlops/elsewhere/"}}
        )
    )
    assert "artifact is immutable" in message

    for stage in ("production", "archived"):
        _replace_spec(kube_api, namespace, manifest, {"stage": stage})
    message = _rejection(lambda: _replace_spec(kube_api, namespace, manifest, {"stage": "draft"}))
    assert "an archived ModelVersion cannot go back to draft" in message
    # metrics may still be corrected
    _replace_spec(kube_api, namespace, manifest, {"metrics": {"val_accuracy": 0.92}})


@pytest.mark.usefixtures("crds")
def test_training_job_spec_is_immutable_but_status_is_writable(
    kube_api: ApiClient, namespace: str
) -> None:
    manifest = _load("tabular/trainingjob.yaml")
    name = manifest["metadata"]["name"]
    created = _create(kube_api, namespace, manifest, dry_run=False)
    assert created["spec"]["workers"] == 1  # defaults come from the models
    assert created["spec"]["training"]["seed"] == 42

    message = _rejection(
        lambda: _replace_spec(kube_api, namespace, manifest, {"training": {"epochs": 9}})
    )
    assert "the spec of a TrainingJob cannot change once created" in message

    status: dict[str, Any] = {
        "status": {
            "observedGeneration": 1,
            "phase": "Running",
            "version": "1.3.0",
            "attempts": 1,
            "progress": {
                "epoch": 2,
                "totalEpochs": 8,
                "latestMetrics": {"val_loss": 0.31, "val_accuracy": 0.9},
                "bestMetrics": {"val_loss": 0.31},
                "bestEpoch": 2,
                "history": [
                    {"epoch": 1, "metrics": {"val_loss": 0.5}},
                    {"epoch": 2, "metrics": {"val_loss": 0.31}},
                ],
            },
            "conditions": [
                {
                    "type": "Succeeded",
                    "status": "Unknown",
                    "reason": "Training",
                    "message": "epoch 2 of 8",
                    "observedGeneration": 1,
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        }
    }
    custom = _custom(kube_api)
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "trainingjobs", name, status
    )
    assert patched["status"]["progress"]["epoch"] == 2
    assert patched["status"]["progress"]["history"][1]["metrics"] == {"val_loss": 0.31}

    bad = {"status": {"conditions": [{**status["status"]["conditions"][0], "status": "Maybe"}]}}
    message = _rejection(
        lambda: custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "trainingjobs", name, bad
        )
    )
    assert 'Unsupported value: "Maybe"' in message


@pytest.mark.usefixtures("crds")
def test_kubectl_wait_understands_the_conditions(
    devcluster: DevCluster, kube_api: ApiClient, namespace: str
) -> None:
    manifest = _load("tabular/trainingjob.yaml")
    name = manifest["metadata"]["name"]
    _create(kube_api, namespace, manifest, dry_run=False)
    condition = {
        "type": "Succeeded",
        "status": "True",
        "reason": "Registered",
        "message": "created breast-cancer-v0-1-0",
        "observedGeneration": 1,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    _custom(kube_api).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "trainingjobs",
        name,
        {"status": {"observedGeneration": 1, "conditions": [condition]}},
    )
    result = devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Succeeded", f"tj/{name}", "--timeout=10s"
    )
    assert "condition met" in result.stdout


@pytest.mark.usefixtures("crds")
def test_printer_columns_show_progress(
    devcluster: DevCluster, kube_api: ApiClient, namespace: str
) -> None:
    manifest = _load("tabular/trainingjob.yaml")
    _create(kube_api, namespace, manifest, dry_run=False)
    _custom(kube_api).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "trainingjobs",
        manifest["metadata"]["name"],
        {
            "status": {
                "phase": "Running",
                "version": "0.2.0",
                "progress": {"epoch": 3, "totalEpochs": 8},
                "queue": {"name": "team-a", "admitted": True},
            }
        },
    )
    table = devcluster.kubectl("get", "tj", "-n", namespace).stdout.split("\n")
    assert table[0].split() == [
        "NAME",
        "MODEL",
        "PHASE",
        "QUEUE",
        "POSITION",
        "EPOCH",
        "OF",
        "VERSION",
        "SUCCEEDED",
        "AGE",
    ]
    # an admitted run has no position: its column is empty
    assert table[1].split()[:7] == [
        "breast-cancer-mlp",
        "breast-cancer",
        "Running",
        "team-a",
        "3",
        "8",
        "0.2.0",
    ]


@pytest.mark.usefixtures("crds")
def test_deployment_scales_through_the_scale_subresource(
    devcluster: DevCluster, namespace: str
) -> None:
    path = EXAMPLES / "deployments" / "direct.yaml"
    devcluster.kubectl("apply", "-n", namespace, "-f", str(path))
    devcluster.kubectl("scale", "-n", namespace, "mldeploy/threat-classifier", "--replicas=3")
    replicas = devcluster.kubectl(
        "get", "-n", namespace, "mldeploy/threat-classifier", "-o", "jsonpath={.spec.replicas}"
    ).stdout
    assert replicas == "3"


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        (
            "trainingjobs.spec.training.earlyStopping.patience",
            "Epochs without improvement before stopping.",
        ),
        ("trainingjobs.spec.resources.gpu", "NVIDIA GPUs per pod"),
        ("trainingjobs.status.progress.bestMetrics", "Metrics of the best epoch."),
        (
            "modelversions.spec.artifact.digest",
            "sha256:<64 hex digits> of the artifact's manifest.json",
        ),
        ("experiments.spec.searchSpace.log", "Sample on a log scale"),
        (
            "mldeploy.spec.strategy.canary.analysis.minRequests",
            "Requests the new version must have served",
        ),
        ("models.spec.registry.archiveOnPromote", "the version it replaces is archived"),
    ],
)
def test_kubectl_explain_shows_nested_descriptions(
    devcluster: DevCluster, field: str, expected: str
) -> None:
    result = devcluster.kubectl("explain", field, f"--api-version={GROUP}/{VERSION}")
    text = " ".join(result.stdout.split())
    assert " ".join(expected.split()) in text


@pytest.mark.usefixtures("crds")
def test_an_experiment_keeps_its_search_and_may_change_its_limits(
    kube_api: ApiClient, namespace: str
) -> None:
    manifest = _load("experiment/experiment.yaml")
    _create(kube_api, namespace, manifest, dry_run=False)
    changed = _replace_spec(kube_api, namespace, manifest, {"maxTrials": 8, "parallelTrials": 3})
    assert changed["spec"]["maxTrials"] == 8
    message = _rejection(
        lambda: _replace_spec(kube_api, namespace, manifest, {"strategy": "random"})
    )
    assert "only maxTrials, parallelTrials, maxFailedTrials and winner can change" in message


@pytest.mark.usefixtures("crds")
def test_the_trials_an_experiment_builds_pass_the_api_server(
    kube_api: ApiClient, namespace: str
) -> None:
    from mlops_operator.api.experiment import Experiment
    from mlops_operator.builders.experiment_trial import build_trial
    from mlops_operator.reconcile.experiment_study import study_settings
    from mlops_operator.search.study import SearchStudy

    body = _load("experiment/experiment.yaml")
    body["metadata"].update(namespace=namespace, uid="0000-uid")
    experiment = Experiment.from_body(body)
    plans = SearchStudy(study_settings(experiment), []).ask(3, finished=[])
    for plan in plans:
        manifest = build_trial(experiment, plan, mlflow_parent_run="run-1")
        manifest["metadata"].pop("ownerReferences")  # the Experiment is not stored here
        created = _create(kube_api, namespace, manifest, dry_run=True)
        assert created["spec"]["registration"]["enabled"] is False
        assert created["metadata"]["annotations"]["mlops.dev/trial"]
