"""Deployments end to end: trained versions served behind the router, switched directly with
zero failed requests, mirrored (copies reach the shadow version's server, clients see only the
chosen one), rolled out by canary steps judged on the routers' own metrics, rolled
back, steered by `mlops rollout`, following the production stage, surviving a SIGKILL of the
operator — every pod admitted under the restricted Pod Security profile.

The versions are trained once for the module (tiny logistic regressions, two epochs); each
test has its own Deployment in the module's namespace.
"""

from __future__ import annotations

from typing import Any

import pytest
from deployment_support import (
    MODEL,
    Load,
    ServingOperator,
    answers_at_once,
    apply,
    client_pod,
    condition,
    example,
    mirror_copies,
    pod_result,
    pod_running,
    router_endpoints,
    router_requests,
    server_address,
    server_predictions,
    stable_address,
    status,
    train_ready_versions,
    wait_ready,
    wait_status,
)
from e2e_support import s3_client_of, tabular_training_job

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.cli import main as mlops
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

#: the module's namespace (the ``ns`` fixture): serve-<random>
NAMESPACE_PREFIX = "serve"

VERSIONS = ("1.0.0", "1.1.0", "1.2.0")
CANARY = {"stepWeights": [10, 25, 50], "intervalSeconds": 5}
GATES = {"maxErrorRate": 0.01, "maxP99LatencyMs": 5000, "minRequests": 5}


@pytest.fixture(scope="module")
def versions(
    devcluster: DevCluster, admin: Kube, ns: str, operator: ServingOperator
) -> tuple[str, ...]:
    """Three trained, registered, Ready versions of the breast-cancer model."""
    jobs = {
        version: tabular_training_job(
            f"bc-{version.replace('.', '-')}",
            training={"epochs": 2, "batchSize": 64},
            registration={"version": version},
        )
        for version in VERSIONS
    }
    train_ready_versions(devcluster, admin, ns, jobs, timeout=240)
    return VERSIONS


def _servers(admin: Kube, ns: str, deployment: str) -> list[str]:
    return sorted(
        d["metadata"]["name"]
        for d in admin.list(
            "apps/v1",
            "Deployment",
            ns,
            label_selector=f"mlops.dev/deployment={deployment},app.kubernetes.io/component=serving",
        )
    )


def test_direct_switch_by_service_name_from_a_pod_fails_no_request(
    devcluster: DevCluster, admin: Kube, ns: str, versions: tuple[str, ...]
) -> None:
    apply(
        devcluster,
        ns,
        example("direct.yaml", deployment="direct", version="1.0.0", followStage=None),
    )
    wait_ready(admin, ns, "direct", timeout=120, what="1.0.0 served")
    # Ready means the stable endpoint answers: sent at once, no request may fail
    assert answers_at_once(stable_address(admin, ns, "direct")) == [(200, "1.0.0")] * 30
    assert status(admin, ns, "direct")["phase"] == "Succeeded"
    endpoint = status(admin, ns, "direct")["endpoint"]
    assert endpoint == f"http://direct.{ns}.svc"
    url = f"{endpoint}/v1/models/{MODEL}:predict"
    admin.apply(client_pod(ns, "client", url, new="1.1.0", settle=6.0))
    wait_until(lambda: pod_running(admin, ns, "client"), timeout=60, what="the client pod")
    wait_until(
        lambda: router_requests(admin, ns, "direct") >= 20, timeout=60, what="the client's requests"
    )
    devcluster.kubectl(
        "patch", "-n", ns, "mldeploy/direct", "--type=merge", "-p", '{"spec":{"version":"1.1.0"}}'
    )
    wait_status(
        admin,
        ns,
        "direct",
        lambda s: s.get("stableVersion") == "1.1.0" and not s["rollout"].get("draining"),
        timeout=120,
        what="1.1.0 stable and 1.0.0 drained",
    )
    wait_until(
        lambda: _servers(admin, ns, "direct") == ["direct-v1-1-0"], timeout=30, what="1.0.0 gone"
    )
    result = pod_result(admin, ns, "client", timeout=150)
    assert result["failed"] == 0, result
    assert set(result["versions"]) == {"1.0.0", "1.1.0"}, result
    assert status(admin, ns, "direct")["trafficSummary"] == "1.1.0=100"
    # the scale subresource scales the server pods of every served version
    devcluster.kubectl("scale", "-n", ns, "mldeploy/direct", "--replicas=2")
    wait_until(
        lambda: (
            (admin.get("apps/v1", "Deployment", "direct-v1-1-0", ns) or {})["spec"]["replicas"] == 2
        ),
        timeout=30,
        what="two server pods asked for",
    )


def test_healthy_canary_moves_10_25_50_100_with_step_measurements(
    devcluster: DevCluster, admin: Kube, ns: str, versions: tuple[str, ...]
) -> None:
    # first 1.0.0 with every request mirrored to 1.1.0 (whose server the canary then reuses)
    strategy = {
        "type": "canary",
        "canary": {**CANARY, "analysis": GATES},
        "mirror": {"version": "1.1.0", "percent": 100},
    }
    body = example(
        "canary.yaml", deployment="canary", version="1.0.0", followStage=None, strategy=strategy
    )
    apply(devcluster, ns, body)
    wait_ready(admin, ns, "canary", timeout=120, what="1.0.0")
    address = stable_address(admin, ns, "canary")
    answers = answers_at_once(address)
    assert answers == [(200, "1.0.0")] * 30  # clients only see the chosen version's answers
    mirrored = server_address(admin, ns, "canary", "1.1.0")
    # the mirror is best effort: until its server's EndpointSlice reaches the router, copies
    # are dropped (counted as such); the copies are checked once the router knows where to go
    wait_until(
        lambda: router_endpoints(address).get("1.1.0", 0) >= 1,
        timeout=60,
        what="the router to learn 1.1.0's ready endpoint",
        interval=0.2,
    )
    before = server_predictions(mirrored, "1.1.0")
    assert answers_at_once(address, 20) == [(200, "1.0.0")] * 20
    try:
        wait_until(
            lambda: server_predictions(mirrored, "1.1.0") >= before + 20,
            timeout=30,
            what="the mirrored copies to reach 1.1.0's server",
            interval=0.2,
        )
    except TimeoutError as exc:
        raise TimeoutError(
            f"{exc}; the router's copies: {mirror_copies(address, '1.1.0')}"
        ) from None
    seen: list[str] = []
    with Load(address):
        body["spec"]["version"] = "1.1.0"
        body["spec"]["strategy"].pop("mirror")
        apply(devcluster, ns, body)

        def done(current: dict[str, Any]) -> bool:
            summary = current.get("trafficSummary") or ""
            if summary and (not seen or seen[-1] != summary):
                seen.append(summary)
            return summary == "1.1.0=100"

        wait_status(admin, ns, "canary", done, timeout=120, what="the canary to reach 100%")
    assert [s for s in seen if "," in s] == [
        "1.0.0=90,1.1.0=10",
        "1.0.0=75,1.1.0=25",
        "1.0.0=50,1.1.0=50",
    ]
    final = status(admin, ns, "canary")
    assert (final["phase"], final["stableVersion"]) == ("Succeeded", "1.1.0")
    runs = final["analysis"]
    assert [(r["step"], r["weight"], r["decision"]) for r in runs] == [
        (0, 10, "Passed"),
        (1, 25, "Passed"),
        (2, 50, "Passed"),
    ]
    for run in runs:
        assert run["canary"]["requests"] >= GATES["minRequests"]
        assert run["stable"]["requests"] > 0
        assert run["limits"]["maxP99LatencyMs"] == GATES["maxP99LatencyMs"]
        assert 0 < run["canary"]["p99LatencyMs"] <= GATES["maxP99LatencyMs"]
    assert condition(admin, ns, "canary", "Ready")["status"] == "True"


def test_faulty_canary_is_rolled_back_to_stable(
    devcluster: DevCluster, admin: Kube, ns: str, versions: tuple[str, ...]
) -> None:
    """1.2.0's artifact is removed: its pods never become ready within the deadline."""
    s3 = s3_client_of(devcluster)
    prefix = f"models/{ns}/{MODEL}/1.2.0/"
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=devcluster.bucket, Prefix=prefix)["Contents"]
    ]
    s3.delete_objects(Bucket=devcluster.bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    strategy = {"type": "canary", "canary": {**CANARY, "analysis": GATES}}
    body = example(
        "canary.yaml", deployment="faulty", version="1.0.0", followStage=None, strategy=strategy
    )
    apply(devcluster, ns, body)
    wait_ready(admin, ns, "faulty", timeout=120, what="1.0.0")
    address = stable_address(admin, ns, "faulty")
    assert answers_at_once(address) == [(200, "1.0.0")] * 30
    with Load(address) as load:
        body["spec"].update(version="1.2.0", progressDeadlineSeconds=10)
        apply(devcluster, ns, body)
        final = wait_status(
            admin,
            ns,
            "faulty",
            lambda s: s.get("phase") == "RolledBack",
            timeout=60,
            what="rollback",
        )
    assert final["trafficSummary"] == "1.0.0=100"
    assert final["rollout"]["failedVersion"] == "1.2.0"
    stalled = condition(admin, ns, "faulty", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert "progressDeadlineSeconds 10" in stalled["message"]
    assert load.failures == []  # its pods never got a request
    events = admin.list("v1", "Event", ns)
    assert any(e.get("reason") == "ProgressDeadlineExceeded" for e in events)
    wait_until(
        lambda: _servers(admin, ns, "faulty") == ["faulty-v1-0-0"], timeout=30, what="scaled away"
    )


def test_follow_stage_abort_retry_and_a_sigkilled_operator(
    devcluster: DevCluster,
    admin: Kube,
    ns: str,
    versions: tuple[str, ...],
    operator: ServingOperator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kubeconfig = ["--kubeconfig", str(devcluster.kubeconfig), "-n", ns]
    assert mlops(["promote", MODEL, "1.0.0", "--stage", "production", *kubeconfig]) == 0
    strategy = {"type": "canary", "canary": {**CANARY, "analysis": GATES}}
    body = example("canary.yaml", deployment="follow", strategy=strategy)
    assert body["spec"]["followStage"] == "production"
    apply(devcluster, ns, body)
    wait_ready(admin, ns, "follow", timeout=120, what="1.0.0")
    assert status(admin, ns, "follow")["stableVersion"] == "1.0.0"
    address = stable_address(admin, ns, "follow")
    assert answers_at_once(address) == [(200, "1.0.0")] * 30
    with Load(address):
        # a promotion starts the canary by itself
        assert mlops(["promote", MODEL, "1.1.0", "--stage", "production", *kubeconfig]) == 0
        wait_status(
            admin, ns, "follow", lambda s: s.get("currentStep") == 0, timeout=90, what="step 1"
        )
        assert mlops(["rollout", "abort", "follow", *kubeconfig]) == 0
        aborted = wait_status(
            admin, ns, "follow", lambda s: s.get("phase") == "Aborted", timeout=30, what="abort"
        )
        assert aborted["trafficSummary"] == "1.0.0=100"
        capsys.readouterr()
        assert mlops(["rollout", "status", "follow", *kubeconfig]) == 0
        assert "Aborted" in capsys.readouterr().out
        assert mlops(["rollout", "retry", "follow", *kubeconfig]) == 0
        wait_status(
            admin, ns, "follow", lambda s: s.get("currentStep") == 1, timeout=90, what="step 2"
        )
        # killed mid-canary: the restarted operator goes on from step 2, never from step 1
        operator.kill()
        operator.start()
        steps: list[int] = []

        def finished() -> bool:
            s = status(admin, ns, "follow")
            if s.get("currentStep") is not None:
                steps.append(s["currentStep"])
            return s.get("stableVersion") == "1.1.0"

        wait_until(
            finished, timeout=90, what="the canary to finish after the restart", interval=0.2
        )
    assert 0 not in steps
    assert _servers(admin, ns, "follow") in (["follow-v1-1-0"], ["follow-v1-0-0", "follow-v1-1-0"])
    routers = admin.list(
        "apps/v1",
        "Deployment",
        ns,
        label_selector="mlops.dev/deployment=follow,app.kubernetes.io/component=router",
    )
    assert [r["metadata"]["name"] for r in routers] == ["follow"]
    # every pod of the namespace was admitted under the restricted profile
    pods = admin.list("v1", "Pod", ns)
    assert pods
    assert all(p["spec"]["securityContext"].get("runAsNonRoot") for p in pods)


def test_a_version_nobody_registered_stalls_without_children(
    devcluster: DevCluster, admin: Kube, ns: str, versions: tuple[str, ...]
) -> None:
    apply(
        devcluster,
        ns,
        example("direct.yaml", deployment="missing", version="9.9.9", followStage=None),
    )
    stalled = wait_status(
        admin,
        ns,
        "missing",
        lambda s: any(
            c["type"] == "Stalled" and c["status"] == "True" for c in s.get("conditions", [])
        ),
        timeout=30,
        what="Stalled",
    )
    ready = next(c for c in stalled["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "VersionUnavailable"
    assert "version 9.9.9 of breast-cancer is not registered" in ready["message"]
    selector = "mlops.dev/deployment=missing"
    assert admin.list("apps/v1", "Deployment", ns, label_selector=selector) == []
    assert admin.list("v1", "ConfigMap", ns, label_selector=selector) == []
    # the spec fixed: it serves
    devcluster.kubectl(
        "patch", "-n", ns, "mldeploy/missing", "--type=merge", "-p", '{"spec":{"version":"1.0.0"}}'
    )
    wait_status(
        admin, ns, "missing", lambda s: s.get("phase") == "Succeeded", timeout=90, what="1.0.0"
    )
