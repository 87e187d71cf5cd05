"""Deployments served by a ServingPool end to end: two pooled Deployments share the pool's
servers and answer on Services of their own (no pods of their own); a canary on one, judged on
the pool routers' counters for that Deployment, fails no request; a Deployment moves into the
pool and out again under load without a failed request; bad input (a pool that does not exist,
a version too large for the pool's servers) is a condition that says what to fix; an A/B test
on a pooled Deployment, judged on the pool routers' counters, reaches its verdict; a pool
server SIGKILLed under load costs no request (the other copy answers) and comes back with its
placed versions. Every pod runs under the restricted Pod Security profile.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from deployment_support import (
    FEATURES,
    MODEL,
    Repeating,
    ServingOperator,
    apply,
    condition,
    example,
    stable_address,
    status,
    train_ready_versions,
    wait_ready,
    wait_status,
)
from e2e_support import tabular_training_job

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION
from mlops_operator.builders.serving_pool import pool_servers_selector
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

#: the module's namespace (the ``ns`` fixture): pooled-<random>
NAMESPACE_PREFIX = "pooled"
POOL = "shared"
VERSIONS = ("1.0.0", "1.1.0")


def pool_body(name: str, *, replicas: int, model_memory: str = "256Mi") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ServingPool",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "routerReplicas": 1,
            "copies": 2,
            "modelMemory": model_memory,
            "resources": {"cpu": "250m", "memory": "1Gi"},
        },
    }


@pytest.fixture(scope="module")
def pool(devcluster: DevCluster, admin: Kube, ns: str, operator: ServingOperator) -> str:
    """Two trained, Ready versions and a pool of two servers and a router, Ready."""
    jobs = {
        version: tabular_training_job(
            f"bc-{version.replace('.', '-')}",
            training={"epochs": 2, "batchSize": 64},
            registration={"version": version},
        )
        for version in VERSIONS
    }
    apply(devcluster, ns, pool_body(POOL, replicas=2))
    train_ready_versions(devcluster, admin, ns, jobs, timeout=240)

    def ready() -> bool:
        body = admin.get(API_VERSION, "ServingPool", POOL, ns) or {}
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (body.get("status") or {}).get("conditions", [])
        )

    wait_until(ready, timeout=180, what="the pool Ready", interval=0.5)
    return POOL


def pooled(name: str, *, pool: str | None = POOL, **spec: Any) -> dict[str, Any]:
    return example("direct.yaml", deployment=name, followStage=None, pool=pool, **spec)


def predict_as(address: str, deployment: str, namespace: str) -> tuple[int, str]:
    """A prediction through the Service's address, addressed (Host) as its Service name, as a
    pod calling ``http://<deployment>.<namespace>.svc`` sends it."""
    request = urllib.request.Request(
        f"http://{address}/v1/models/{MODEL}:predict",
        data=json.dumps({"instances": [FEATURES]}).encode(),
        headers={"content-type": "application/json", "host": f"{deployment}.{namespace}.svc"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("x-mlops-version", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()[:200]
    except OSError as exc:
        return 0, str(exc)


def own_pods(admin: Kube, ns: str, deployment: str) -> list[str]:
    return [
        p["metadata"]["name"]
        for p in admin.list("v1", "Pod", ns, label_selector=f"mlops.dev/deployment={deployment}")
    ]


def test_two_pooled_deployments_share_the_pools_servers_and_answer_on_their_own_services(
    devcluster: DevCluster, admin: Kube, ns: str, pool: str
) -> None:
    apply(devcluster, ns, pooled("alpha", version="1.0.0"))
    apply(devcluster, ns, pooled("beta", version="1.1.0"))
    wait_ready(admin, ns, "alpha", timeout=120, what="alpha served by the pool")
    wait_ready(admin, ns, "beta", timeout=120, what="beta served by the pool")
    # Ready means the endpoint answers: sent at once, through each Deployment's own Service
    alpha, beta = stable_address(admin, ns, "alpha"), stable_address(admin, ns, "beta")
    assert [predict_as(alpha, "alpha", ns) for _ in range(20)] == [(200, "1.0.0")] * 20
    assert [predict_as(beta, "beta", ns) for _ in range(20)] == [(200, "1.1.0")] * 20
    assert status(admin, ns, "alpha")["endpoint"] == f"http://alpha.{ns}.svc"
    assert status(admin, ns, "alpha")["pool"] == POOL
    # no pods of their own: the pool's two servers and its router serve both
    assert own_pods(admin, ns, "alpha") == own_pods(admin, ns, "beta") == []
    pool_status = (admin.get(API_VERSION, "ServingPool", POOL, ns) or {})["status"]
    assert pool_status["deployments"] == 2
    assert pool_status["placedVersions"] == 2
    placed = sorted(m for s in pool_status["servers"] for m in s.get("placed") or [])
    assert len(placed) == 4, placed  # two versions, two copies each


def test_a_canary_on_a_pooled_deployment_fails_no_request(
    devcluster: DevCluster, admin: Kube, ns: str, pool: str
) -> None:
    canary = {
        "type": "canary",
        "canary": {
            "stepWeights": [50],
            "intervalSeconds": 5,
            "analysis": {"maxErrorRate": 0.01, "maxP99LatencyMs": 5000, "minRequests": 5},
        },
    }
    apply(devcluster, ns, pooled("gamma", version="1.0.0", strategy=canary))
    wait_ready(admin, ns, "gamma", timeout=120, what="gamma 1.0.0 served by the pool")
    address = stable_address(admin, ns, "gamma")
    answers: list[tuple[int, str]] = []

    def rolled_out() -> bool:
        answers.extend(predict_as(address, "gamma", ns) for _ in range(5))
        s = status(admin, ns, "gamma")
        return s.get("stableVersion") == "1.1.0" and s.get("phase") == "Succeeded"

    devcluster.kubectl(
        "patch", "-n", ns, "mldeploy/gamma", "--type=merge", "-p", '{"spec":{"version":"1.1.0"}}'
    )
    wait_until(rolled_out, timeout=150, what="the canary to 1.1.0 done", interval=0.05)
    failed = [a for a in answers if a[0] != 200]
    assert failed == [], failed[:5]
    assert {v for _, v in answers} == {"1.0.0", "1.1.0"}
    assert status(admin, ns, "gamma")["trafficSummary"] == "1.1.0=100"


def test_bad_pools_are_conditions_that_say_what_to_fix(
    devcluster: DevCluster, admin: Kube, ns: str, pool: str
) -> None:
    apply(devcluster, ns, pooled("lost", version="1.0.0", pool="nowhere"))
    stalled = wait_status(
        admin,
        ns,
        "lost",
        lambda s: any(c["reason"] == "PoolNotFound" for c in s.get("conditions", [])),
        timeout=60,
        what="lost Stalled: PoolNotFound",
    )
    assert condition(admin, ns, "lost", "Stalled")["status"] == "True", stalled
    assert "create it" in condition(admin, ns, "lost", "Stalled")["message"]
    # a pool whose servers hold less than the version needs refuses it (no pods needed)
    apply(devcluster, ns, pool_body("tiny", replicas=0, model_memory="64Ki"))
    apply(devcluster, ns, pooled("big", version="1.0.0", pool="tiny"))
    wait_status(
        admin,
        ns,
        "big",
        lambda s: any(c["reason"] == "ModelTooLarge" for c in s.get("conditions", [])),
        timeout=60,
        what="big Stalled: ModelTooLarge",
    )
    message = condition(admin, ns, "big", "Stalled")["message"]
    assert "modelMemory" in message, message
    assert "tiny" in message, message
    # with room enough, the pool's size is what to fix
    devcluster.kubectl(
        "patch", "-n", ns, "mlpool/tiny", "--type=merge", "-p", '{"spec":{"modelMemory":"512Mi"}}'
    )
    wait_status(
        admin,
        ns,
        "big",
        lambda s: any(c["reason"] == "PoolScaledToZero" for c in s.get("conditions", [])),
        timeout=60,
        what="big Stalled: PoolScaledToZero",
    )
    assert "scale it up" in condition(admin, ns, "big", "Stalled")["message"]
    # nothing else was disturbed: the shared pool still places only what it placed before
    shared = (admin.get(API_VERSION, "ServingPool", POOL, ns) or {})["status"]
    assert not shared.get("unplaced"), shared


class HostLoad(Repeating):
    """Predictions sent one after another from a thread to a Deployment's Service, addressed
    by its name, counted by outcome."""

    def __init__(self, address: str, deployment: str, namespace: str) -> None:
        self.args = (address, deployment, namespace)
        self.answers: list[tuple[int, str]] = []

    def once(self) -> None:
        self.answers.append(predict_as(*self.args))


def test_a_deployment_moves_into_and_out_of_the_pool_without_a_failed_request(
    devcluster: DevCluster, admin: Kube, ns: str, pool: str
) -> None:
    apply(devcluster, ns, pooled("delta", pool=None, version="1.0.0"))
    wait_ready(admin, ns, "delta", timeout=120, what="delta on pods of its own")
    assert own_pods(admin, ns, "delta")
    with HostLoad(stable_address(admin, ns, "delta"), "delta", ns) as load:
        devcluster.kubectl(
            "patch", "-n", ns, "mldeploy/delta", "--type=merge", "-p", '{"spec":{"pool":"shared"}}'
        )
        wait_until(
            lambda: (
                status(admin, ns, "delta").get("pool") == POOL and not own_pods(admin, ns, "delta")
            ),
            timeout=120,
            what="delta in the pool, its own pods gone",
            interval=0.5,
        )
        moved_in = len(load.answers)
        devcluster.kubectl(
            "patch", "-n", ns, "mldeploy/delta", "--type=merge", "-p", '{"spec":{"pool":null}}'
        )
        wait_until(
            lambda: (
                "pool" not in status(admin, ns, "delta")
                and admin.get("v1", "ConfigMap", "delta-pool-member", ns) is None
            ),
            timeout=120,
            what="delta out of the pool, its member removed",
            interval=0.5,
        )
        time.sleep(2)
    failed = [a for a in load.answers if a[0] != 200]
    assert failed == [], failed[:5]
    assert moved_in > 0
    assert len(load.answers) > moved_in
    assert {v for _, v in load.answers} == {"1.0.0"}
    assert own_pods(admin, ns, "delta")


def predict_sticky(address: str, deployment: str, namespace: str, user: str) -> tuple[int, str]:
    """``predict_as`` with a sticky header, as an A/B test's clients send."""
    request = urllib.request.Request(
        f"http://{address}/v1/models/{MODEL}:predict",
        data=json.dumps({"instances": [FEATURES]}).encode(),
        headers={
            "content-type": "application/json",
            "host": f"{deployment}.{namespace}.svc",
            "x-user-id": user,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get("x-mlops-version", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()[:200]
    except OSError as exc:
        return 0, str(exc)


def test_an_ab_test_on_a_pooled_deployment_reaches_its_verdict(
    devcluster: DevCluster, admin: Kube, ns: str, pool: str
) -> None:
    ab = {
        "type": "ab-test",
        "abTest": {
            "variants": [{"version": "1.0.0", "weight": 50}, {"version": "1.1.0", "weight": 50}],
            "stickyHeader": "x-user-id",
            "metric": "error-rate",
            "method": "msprt",
            "minSamples": 20,
            "maxSamples": 40,
            "intervalSeconds": 5,
            "promoteWinner": False,
        },
    }
    apply(devcluster, ns, pooled("iota", strategy=ab))
    wait_ready(admin, ns, "iota", timeout=120, what="iota's A/B test served by the pool")
    address = stable_address(admin, ns, "iota")
    answers: list[tuple[int, str]] = []

    def concluded() -> bool:
        answers.extend(predict_sticky(address, "iota", ns, f"u{len(answers)}") for _ in range(20))
        return bool((status(admin, ns, "iota").get("abTest") or {}).get("concluded"))

    wait_until(concluded, timeout=150, what="iota's A/B verdict", interval=0.2)
    result = status(admin, ns, "iota")["abTest"]
    # two equally good versions, neither failing a request: no difference, at maxSamples
    assert result["decision"] == "NoDifference", result
    assert [arm["version"] for arm in result["arms"]] == ["1.0.0", "1.1.0"]
    assert all(arm["samples"] >= 40 for arm in result["arms"]), result["arms"]
    assert [a for a in answers if a[0] != 200] == []
    assert {v for _, v in answers} == {"1.0.0", "1.1.0"}


class TimedLoad(HostLoad):
    """A HostLoad that also keeps when each answer came (monotonic seconds)."""

    def __init__(self, address: str, deployment: str, namespace: str) -> None:
        super().__init__(address, deployment, namespace)
        self.times: list[float] = []

    def once(self) -> None:
        super().once()
        self.times.append(time.monotonic())


def _server_pods(admin: Kube, ns: str) -> list[dict[str, Any]]:
    return admin.list("v1", "Pod", ns, label_selector=pool_servers_selector(POOL))


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    states: list[dict[str, Any]] = (pod.get("status") or {}).get("containerStatuses") or [{}]
    (state,) = states
    return state


def test_a_pool_server_sigkilled_under_load_fails_no_request_and_comes_back(
    devcluster: DevCluster, admin: Kube, ns: str, pool: str
) -> None:
    apply(devcluster, ns, pooled("eta", version="1.0.0"))
    apply(devcluster, ns, pooled("theta", version="1.1.0"))
    wait_ready(admin, ns, "eta", timeout=120, what="eta served by the pool")
    wait_ready(admin, ns, "theta", timeout=120, what="theta served by the pool")
    victim = _server_pods(admin, ns)[0]
    name = victim["metadata"]["name"]
    container = _container(victim)
    # the devcluster's container ID ends with the process id: mlops-devcluster://<uid>/<c>/<pid>
    pid, restarts = int(container["containerID"].rsplit("/", 1)[1]), container["restartCount"]
    placed = next(s["placed"] for s in status_of_pool(admin, ns)["servers"] if s["name"] == name)
    loads = [
        TimedLoad(stable_address(admin, ns, deployment), deployment, ns)
        for deployment in ("eta", "theta")
    ]
    with loads[0], loads[1]:
        time.sleep(2)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        def back() -> bool:
            pod = admin.get("v1", "Pod", name, ns) or {}
            state = _container(pod)
            return state.get("restartCount", 0) > restarts and bool(state.get("ready"))

        wait_until(back, timeout=90, what=f"{name} restarted and ready", interval=0.2)
        back_after = time.monotonic() - killed_at
        print(f"{name}: restarted and ready {back_after:.1f} s after the SIGKILL")
        time.sleep(2)
    for load in loads:
        after = [a for a, at in zip(load.answers, load.times, strict=True) if at > killed_at]
        assert len(after) > 20, f"too little load after the kill: {len(after)}"
        failed = [a for a in load.answers if a[0] != 200]
        assert failed == [], failed[:5]
    assert back_after < 60, back_after
    server = next(s for s in status_of_pool(admin, ns)["servers"] if s["name"] == name)
    assert sorted(server["placed"]) == sorted(placed)


def status_of_pool(admin: Kube, ns: str) -> dict[str, Any]:
    body = admin.get(API_VERSION, "ServingPool", POOL, ns) or {}
    pool_status: dict[str, Any] = body.get("status") or {}
    return pool_status
