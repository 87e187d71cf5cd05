"""The sequential canary gate live: a new version that really costs more per request (a wide,
deep network of the same Model, trained by a TrainingJob) is rolled back within its first step,
long before the step's interval ends, with the slow-share estimate and its always-valid interval
in the status, the condition and the Event; an equally fast new version at a few requests per
second runs to 100%, every step passed by the sequential gate.

The versions are trained once for the module: two tiny logistic regressions and one MLP of six
4096-wide layers (~84 M weights), whose forward pass reads some 340 MB of weights per request.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Final

import pytest
from deployment_support import (
    Load,
    ServingOperator,
    answers_at_once,
    apply,
    condition,
    example,
    predict,
    router_endpoints,
    server_address,
    stable_address,
    train_ready_versions,
    wait_ready,
    wait_status,
)
from e2e_support import tabular_training_job

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.kube import Kube

pytestmark = pytest.mark.e2e

#: the module's namespace (the ``ns`` fixture): seqcanary-<random>
NAMESPACE_PREFIX = "seqcanary"

STABLE, SAME, SLOW = "1.0.0", "1.1.0", "2.0.0"
SLOW_LAYERS: Final = [4096] * 6
#: the router's latency buckets (ms), of which the gate takes the one below stable's p99
BUCKETS_MS: Final = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
#: how many times slower than the stable version's server the slow version's must answer (about
#: 16 times on a quiet machine; load adds most to the fast one's few milliseconds)
SLOWER_BY: Final = 2.0


def _sequential(**analysis: Any) -> dict[str, Any]:
    return {"method": "sequential", **analysis}


@pytest.fixture(scope="module")
def versions(
    devcluster: DevCluster, admin: Kube, ns: str, operator: ServingOperator
) -> tuple[str, ...]:
    """Two tiny versions (logistic regressions) and a wide, deep one, all Ready."""
    tiny = {"epochs": 2, "batchSize": 64}
    jobs = {
        version: tabular_training_job(
            f"bc-{version.replace('.', '-')}", training=tiny, registration={"version": version}
        )
        for version in (STABLE, SAME)
    }
    jobs[SLOW] = tabular_training_job(
        "bc-2-0-0",
        training={"epochs": 1, "batchSize": 128},
        resources={"cpu": "1", "memory": "3Gi"},
        registration={"version": SLOW},
    )
    jobs[SLOW]["spec"]["model"] = {"architecture": "mlp", "hiddenSizes": SLOW_LAYERS}
    train_ready_versions(devcluster, admin, ns, jobs, timeout=300)
    return STABLE, SAME, SLOW


def _median_ms(address: str, count: int = 30) -> float:
    """Median time of ``count`` predictions sent one after another to one server pod."""
    taken = []
    for _ in range(count):
        start = time.perf_counter()
        code, answered = predict(address, timeout=10)
        taken.append((time.perf_counter() - start) * 1000)
        assert code == 200, answered
    return statistics.median(taken)


def test_a_healthy_canary_at_low_traffic_runs_to_100_percent(
    devcluster: DevCluster, admin: Kube, ns: str, versions: tuple[str, ...]
) -> None:
    analysis = _sequential(minRequests=5)
    strategy = {
        "type": "canary",
        "canary": {"stepWeights": [25, 50], "intervalSeconds": 10, "analysis": analysis},
    }
    body = example(
        "canary.yaml", deployment="healthy", version=STABLE, followStage=None, strategy=strategy
    )
    apply(devcluster, ns, body)
    wait_ready(admin, ns, "healthy", timeout=120, what=STABLE)
    address = stable_address(admin, ns, "healthy")
    assert answers_at_once(address, 5) == [(200, STABLE)] * 5
    began = time.monotonic()
    with Load(address, pause=0.4) as load:  # about two requests per second
        body["spec"]["version"] = SAME
        apply(devcluster, ns, body)
        final = wait_status(
            admin,
            ns,
            "healthy",
            lambda s: (
                (s.get("stableVersion"), s.get("phase")) == (SAME, "Succeeded")
                or s.get("phase") == "RolledBack"
            ),
            timeout=120,
            what=f"{SAME} to reach 100%",
        )
    rate = load.sent / (time.monotonic() - began)
    assert rate <= 3.0, f"{rate:.1f} requests per second is not low traffic"
    decisive = {k: final.get(k) for k in ("phase", "stableVersion", "message", "analysis")}
    assert (final["phase"], final["stableVersion"]) == ("Succeeded", SAME), decisive
    assert load.failures == []
    assert final["trafficSummary"] == f"{SAME}=100"
    runs = final["analysis"]
    assert [(r["step"], r["weight"], r["method"], r["decision"]) for r in runs] == [
        (0, 25, "sequential", "Passed"),
        (1, 50, "sequential", "Passed"),
    ], runs
    for run in runs:
        found = run["sequential"]
        assert found["canaryRequests"] >= 5
        assert found["stableRequests"] > 0
        assert found["significanceLevel"] == 0.05
        for estimate in (found["errorRate"], found["slowShare"]):
            assert estimate["shown"] != "Worse", run
            assert estimate["lower"] <= estimate["increase"] <= estimate["upper"]
        assert found["latencyBoundMs"] in BUCKETS_MS
        assert "no evidence against it" in run["reason"]
    # the second step is judged on everything since the canary began
    assert runs[1]["sequential"]["canaryRequests"] > runs[0]["sequential"]["canaryRequests"]
    assert condition(admin, ns, "healthy", "Ready")["status"] == "True"


def test_a_slower_canary_is_rolled_back_within_its_step_naming_the_estimate(
    devcluster: DevCluster, admin: Kube, ns: str, versions: tuple[str, ...]
) -> None:
    interval = 120
    analysis = _sequential(minRequests=20)
    strategy: dict[str, Any] = {
        "type": "canary",
        "canary": {"stepWeights": [50], "intervalSeconds": interval, "analysis": analysis},
        # the slow version's server started beside the stable one (a rare copy of a request),
        # so both can be measured directly before the canary; the canary then reuses it
        "mirror": {"version": SLOW, "percent": 0.1},
    }
    body = example(
        "canary.yaml", deployment="slow", version=STABLE, followStage=None, strategy=strategy
    )
    apply(devcluster, ns, body)
    wait_ready(admin, ns, "slow", timeout=120, what=STABLE)
    address = stable_address(admin, ns, "slow")
    # the new version really is slower: each server measured on its own
    fast_ms = _median_ms(server_address(admin, ns, "slow", STABLE))
    slow_ms = _median_ms(server_address(admin, ns, "slow", SLOW))
    print(f"median per request: {STABLE} {fast_ms:.1f} ms, {SLOW} {slow_ms:.1f} ms")
    assert slow_ms >= SLOWER_BY * fast_ms, (fast_ms, slow_ms)
    # the router learns the mirror's server from its EndpointSlice, which may come later
    wait_until(
        lambda: router_endpoints(address).get(SLOW, 0) >= 1,
        timeout=60,
        what=f"the router to learn {SLOW}'s ready endpoint",
        interval=0.2,
    )
    with Load(address) as load:
        began = time.monotonic()
        body["spec"]["version"] = SLOW
        body["spec"]["strategy"].pop("mirror")
        apply(devcluster, ns, body)
        final = wait_status(
            admin,
            ns,
            "slow",
            lambda s: s.get("phase") == "RolledBack" or s.get("stableVersion") == SLOW,
            timeout=interval - 20,
            what=f"{SLOW} rolled back within its step",
        )
        took = time.monotonic() - began
    print(f"ended {took:.0f} s after the canary was asked for:", final["analysis"][-1])
    assert took < interval - 20  # shown worse at a look, not judged at the interval's end
    assert final["phase"] == "RolledBack", final
    assert load.failures == []
    assert final["trafficSummary"] == f"{STABLE}=100"
    assert final["stableVersion"] == STABLE
    assert final["rollout"]["failedVersion"] == SLOW
    run = final["analysis"][-1]
    assert (run["step"], run["method"], run["decision"], run["gate"]) == (
        0,
        "sequential",
        "Failed",
        "maxSlowShareIncrease",
    ), run
    found = run["sequential"]
    assert found["canaryRequests"] >= 20
    bound = found["latencyBoundMs"]
    assert bound in BUCKETS_MS
    slow = found["slowShare"]
    assert slow["shown"] == "Worse"
    assert slow["tolerance"] == 0.02
    assert slow["tolerance"] < slow["lower"] <= slow["increase"] <= slow["upper"] <= 1.0
    assert slow["stable"] <= 0.5, slow  # the bound never lies below the stable median's bucket
    assert slow["increase"] == pytest.approx(slow["canary"] - slow["stable"])
    assert found["errorRate"]["shown"] != "Worse"
    # the condition and the Event name the same estimate and interval
    named = (
        f"share slower than {bound:g} ms {slow['canary'] * 100:.2f}% against stable's "
        f"{slow['stable'] * 100:.2f}%: increase {slow['increase'] * 100:+.2f} points, "
        f"always-valid 95% interval [{slow['lower'] * 100:+.2f}, {slow['upper'] * 100:+.2f}]"
    )
    assert named in run["reason"]
    stalled = condition(admin, ns, "slow", "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "RolledBack")
    assert named in stalled["message"]
    assert "maxSlowShareIncrease 2.00 points" in stalled["message"]
    assert stalled["message"].endswith(f"traffic back to {STABLE}")
    events = [e for e in admin.list("v1", "Event", ns) if e.get("reason") == "RolledBack"]
    assert any(named in e["message"] and e["type"] == "Warning" for e in events), events
