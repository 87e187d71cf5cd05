"""The registry against the real API server and MinIO, with the operator running as its
ServiceAccount: artifact verification, stage policy and history, Model aggregation, and
`mlops migrate`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_core.artifact import ARTIFACT_FILES, CONFIG_FILE, METRICS_FILE, publish_files
from mlops_core.storage import open_store, s3_client
from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import (
    OperatorProcess,
    install,
    service_account_kubeconfig,
    wait_until,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.kube import InvalidError, Kube, load_api_client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin(devcluster: DevCluster) -> Kube:
    kube = Kube(load_api_client(str(devcluster.kubeconfig)), field_manager="integration-tests")
    install(kube)
    return kube


@pytest.fixture
def operator(devcluster: DevCluster, admin: Kube, tmp_path: Path) -> Iterator[OperatorProcess]:
    kubeconfig = service_account_kubeconfig(
        admin, admin_kubeconfig=Path(devcluster.kubeconfig), path=tmp_path / "kubeconfig"
    )
    process = OperatorProcess(
        kubeconfig=kubeconfig,
        log_path=tmp_path / "operator.log",
        env={**devcluster.s3_env(), "MLOPS_PEERING_LIFETIME_SECONDS": "5"},
    )
    with process.start():
        yield process


def _s3(devcluster: DevCluster) -> Any:
    return s3_client(
        endpoint=devcluster.s3_endpoint,
        access_key=devcluster.s3_access_key,
        secret_key=devcluster.s3_secret_key,
    )


def _files(version: str) -> dict[str, bytes]:
    files = {name: f"{name} of {version}".encode() for name in ARTIFACT_FILES}
    files[METRICS_FILE] = json.dumps(
        {"validation": {"val_accuracy": 0.9}, "test": {"test_f1": 0.8}}
    ).encode()
    files[CONFIG_FILE] = json.dumps(
        {"architecture": "mlp", "model": {"architecture": "mlp", "dropout": 0.1}}
    ).encode()
    return files


def _publish(devcluster: DevCluster, root: str, version: str) -> tuple[str, str]:
    uri = f"{root}/m/{version}"
    published = publish_files(
        open_store(uri, client=_s3(devcluster)), model="m", version=version, files=_files(version)
    )
    return uri, published.digest


def _version(name: str, version: str, uri: str, digest: str, stage: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {"name": name},
        "spec": {
            "model": "m",
            "version": version,
            "stage": stage,
            "artifact": {"uri": uri, "digest": digest},
        },
    }


def _status(admin: Kube, kind: str, name: str, ns: str) -> dict[str, Any]:
    return dict((admin.get(API_VERSION, kind, name, ns) or {}).get("status") or {})


def _condition(admin: Kube, name: str, ns: str, kind: str) -> tuple[str, str]:
    for c in _status(admin, "ModelVersion", name, ns).get("conditions", []):
        if c["type"] == kind:
            return c["status"], c["reason"]
    return "", ""


def _apply(devcluster: DevCluster, ns: str, *manifests: dict[str, Any]) -> None:
    devcluster.kubectl(
        "apply", "-n", ns, "-f", "-", input="\n---\n".join(map(json.dumps, manifests))
    )


def test_versions_are_verified_and_a_bad_artifact_never_ready(
    devcluster: DevCluster, admin: Kube, namespace: str, s3_prefix: str, operator: OperatorProcess
) -> None:
    ns = namespace
    good_uri, good_digest = _publish(devcluster, s3_prefix, "1.0.0")
    bad_uri, bad_digest = _publish(devcluster, s3_prefix, "1.1.0")
    open_store(bad_uri, client=_s3(devcluster)).write_bytes("model.safetensors", b"tampered")
    model = {
        "apiVersion": API_VERSION,
        "kind": "Model",
        "metadata": {"name": "m"},
        "spec": {"task": "tabular-classification"},
    }
    _apply(
        devcluster,
        ns,
        model,
        _version("m-v1-0-0", "1.0.0", good_uri, good_digest, "draft"),
        _version("m-v1-1-0", "1.1.0", bad_uri, bad_digest, "draft"),
        _version("m-v1-2-0", "1.2.0", f"{s3_prefix}/m/nothing-here", good_digest, "draft"),
        _version("m-v1-3-0", "1.3.0", good_uri, "sha256:" + "1" * 64, "draft"),
    )
    wait_until(
        lambda: _condition(admin, "m-v1-0-0", ns, "Ready") == ("True", "Verified"),
        timeout=60,
        what="the good version to be Ready",
    )
    assert _status(admin, "ModelVersion", "m-v1-0-0", ns)["artifactVerified"] is True
    for name, reason in (
        ("m-v1-1-0", "ArtifactCorrupted"),
        ("m-v1-2-0", "ArtifactMissing"),
        ("m-v1-3-0", "ArtifactCorrupted"),
    ):
        wait_until(
            lambda name=name, reason=reason: (
                _condition(admin, name, ns, "Stalled") == ("True", reason)
            ),
            timeout=60,
            what=f"{name} to be Stalled with {reason}",
        )
        assert _condition(admin, name, ns, "Ready")[0] == "False"
        assert _status(admin, "ModelVersion", name, ns)["artifactVerified"] is False
    messages = [
        c["message"]
        for c in _status(admin, "ModelVersion", "m-v1-1-0", ns)["conditions"]
        if c["type"] == "Stalled"
    ]
    assert "model.safetensors does not match the manifest" in messages[0]
    wait_until(
        lambda: _status(admin, "Model", "m", ns).get("versionCount") == 4,
        timeout=30,
        what="the Model to count its versions",
    )


def test_promotion_follows_the_model_policy_and_is_recorded(
    devcluster: DevCluster, admin: Kube, namespace: str, s3_prefix: str, operator: OperatorProcess
) -> None:
    ns = namespace
    v1 = _publish(devcluster, s3_prefix, "1.0.0")
    v2 = _publish(devcluster, s3_prefix, "2.0.0")
    _apply(
        devcluster,
        ns,
        {
            "apiVersion": API_VERSION,
            "kind": "Model",
            "metadata": {"name": "m"},
            "spec": {"task": "tabular-classification", "registry": {"singleProduction": True}},
        },
        _version("m-v1-0-0", "1.0.0", *v1, "staging"),
        _version("m-v2-0-0", "2.0.0", *v2, "draft"),
    )

    def mlops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["mlops", *args, "-n", ns],
            env=devcluster.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    result = mlops("promote", "m", "1.0.0", "--stage", "production", "--wait", "60")
    assert result.returncode == 0, result.stderr
    assert _status(admin, "Model", "m", ns)["productionVersion"] == "1.0.0"

    result = mlops("promote", "m", "2.0.0", "--stage", "production", "--wait", "60")
    assert result.returncode == 0, result.stderr
    assert "1.0.0: production → archived (by the Model's registry policy)" in result.stdout
    wait_until(
        lambda: (
            (admin.get(API_VERSION, "ModelVersion", "m-v1-0-0", ns) or {})["spec"]["stage"]
            == "archived"
        ),
        timeout=60,
        what="the operator to archive the previous production version",
    )
    model = wait_until(
        lambda: (s := _status(admin, "Model", "m", ns)).get("productionVersion") == "2.0.0" and s,
        timeout=60,
        what="the Model to show 2.0.0 in production",
    )
    assert model["stagingVersions"] == []
    history = wait_until(
        lambda: (
            (h := _status(admin, "ModelVersion", "m-v1-0-0", ns).get("stageHistory", []))
            and h[-1]["stage"] == "archived"
            and h
        ),
        timeout=60,
        what="the archive to be recorded",
    )
    assert [(h["stage"], h["reason"]) for h in history] == [
        ("staging", "Registered"),
        ("production", "Promoted"),
        ("archived", "ArchivedOnPromote"),
    ]

    def events() -> set[tuple[str, str, str]]:
        return {
            (e["involvedObject"]["name"], e["reason"], e["message"])
            for e in admin.list("v1", "Event", ns)
        }

    wait_until(
        lambda: (
            any(
                name == "m-v1-0-0" and reason == "StageChanged" and "(ArchivedOnPromote)" in message
                for name, reason, message in events()
            )
            and any(
                name == "m-v2-0-0" and reason == "ArchivedOnPromote" for name, reason, _ in events()
            )
        ),
        timeout=30,
        what="Events for both versions",
    )

    # An archived version cannot go back to draft (the API server's CEL rule says so)...
    with pytest.raises(InvalidError, match="cannot go back to draft"):
        admin.merge_patch(API_VERSION, "ModelVersion", "m-v1-0-0", ns, {"spec": {"stage": "draft"}})
    # ...and production → draft is refused by the registry, which says what to do.
    admin.merge_patch(API_VERSION, "ModelVersion", "m-v2-0-0", ns, {"spec": {"stage": "draft"}})
    wait_until(
        lambda: _condition(admin, "m-v2-0-0", ns, "Stalled") == ("True", "InvalidStageTransition"),
        timeout=60,
        what="the refused transition to be reported",
    )
    compared = mlops("compare", "m", "1.0.0", "2.0.0")
    assert compared.returncode == 0, compared.stderr


def test_migrate_registers_an_existing_artifact_folder(
    devcluster: DevCluster,
    admin: Kube,
    namespace: str,
    s3_prefix: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    folder = tmp_path / "legacy-model"
    folder.mkdir()
    for name, data in _files("legacy").items():
        (folder / name).write_bytes(data)
    result = subprocess.run(
        [
            "mlops",
            "migrate",
            str(folder),
            "--model",
            "legacy",
            "--task",
            "tabular-classification",
            "--artifact-root",
            s3_prefix,
            "-n",
            namespace,
        ],
        env=devcluster.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "modelversion/legacy-v1-0-0 created" in result.stdout
    wait_until(
        lambda: _condition(admin, "legacy-v1-0-0", namespace, "Ready") == ("True", "Verified"),
        timeout=60,
        what="the migrated version to be verified",
    )
    body = admin.get(API_VERSION, "ModelVersion", "legacy-v1-0-0", namespace)
    assert body is not None
    assert body["spec"]["metrics"] == {"test_f1": 0.8, "val_accuracy": 0.9}
    assert body["spec"]["hyperparameters"]["dropout"] == "0.1"
    assert body["spec"]["artifact"]["uri"] == f"{s3_prefix}/{namespace}/legacy/1.0.0/"
    again = subprocess.run(
        [
            "mlops",
            "migrate",
            str(folder),
            "--model",
            "legacy",
            "--version",
            "1.0.0",
            "--artifact-root",
            s3_prefix,
            "-n",
            namespace,
        ],
        env=devcluster.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 1
    assert "version 1.0.0 already exists" in again.stderr


@pytest.mark.parametrize("delete", [False, True], ids=["kept", "deleted"])
def test_archived_artifacts_are_kept_unless_the_policy_deletes_them(
    devcluster: DevCluster,
    admin: Kube,
    namespace: str,
    s3_prefix: str,
    operator: OperatorProcess,
    delete: bool,
) -> None:
    ns = namespace
    uri, digest = _publish(devcluster, s3_prefix, "1.0.0")
    _apply(
        devcluster,
        ns,
        {
            "apiVersion": API_VERSION,
            "kind": "Model",
            "metadata": {"name": "m"},
            "spec": {
                "task": "tabular-classification",
                "registry": {"deleteArtifactsOnArchive": delete},
            },
        },
        _version("m-v1-0-0", "1.0.0", uri, digest, "draft"),
    )
    wait_until(
        lambda: _condition(admin, "m-v1-0-0", ns, "Ready") == ("True", "Verified"),
        timeout=60,
        what="the version to be verified",
    )
    admin.merge_patch(API_VERSION, "ModelVersion", "m-v1-0-0", ns, {"spec": {"stage": "archived"}})
    expected = ("True", "ArtifactDeleted") if delete else ("True", "Verified")
    wait_until(
        lambda: (
            _condition(admin, "m-v1-0-0", ns, "Ready") == expected
            and _status(admin, "ModelVersion", "m-v1-0-0", ns)["stageHistory"][-1]["stage"]
            == "archived"
        ),
        timeout=60,
        what=f"the archived version to be {expected[1]}",
    )
    store = open_store(uri, client=_s3(devcluster))
    assert store.exists("manifest.json") is not delete
    assert bool(store.list()) is not delete
