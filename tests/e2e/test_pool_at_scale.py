"""Two hundred Deployments in one ServingPool end to end: a pool of three servers and two routers
serves 200 Deployments of 200 distinct small Models (MLPs of the core library's zoo, each from
its own seed, registered as ModelVersions from artifacts published in the test). Every one
answers a v1 prediction through its own Service name from a pod, with its own model and
version; the 200 run no pods of their own (the pool's five serve them all, where Deployments of
their own would run 400); a canary of one of them runs to 100% while a sample of the others
keeps answering without a failed request.

The test prints the figures docs/pools.md quotes: the time from applying the 200 to all Ready,
the time a spec change on all 200 takes to be observed, and the operator's RSS along the way.
Waits on the cluster follow watches, not polls.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from deployment_support import Repeating, ServingOperator, pod_result, stable_address
from e2e_support import s3_client_of, tabular_model
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from mlops_devcluster.cluster import DevCluster
from mlops_devcluster.local_operator import wait_until
from mlops_operator.api.meta import API_VERSION, GROUP, VERSION
from mlops_operator.builders.names import LABEL_COMPONENT
from mlops_operator.builders.serving_pool import (
    POOL_ROUTER_COMPONENT,
    POOL_SERVER_COMPONENT,
    pool_selector,
)
from mlops_operator.kube import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: the module's namespace (the ``ns`` fixture): many-<random>
NAMESPACE_PREFIX = "many"
POOL = "many"
COUNT = 200
SERVERS, ROUTERS = 3, 2
#: the Deployment whose canary runs while the others answer, and its next version
CANARIED, NEXT = "m000", "1.1.0"
#: the others sent requests during the canary
SAMPLE = 20
FEATURE_NAMES = ["f0", "f1", "f2", "f3"]
ROW = [0.5, -1.0, 0.25, 2.0]
CANARY = {
    "type": "canary",
    "canary": {
        "stepWeights": [50],
        "intervalSeconds": 5,
        "analysis": {"maxErrorRate": 0.01, "maxP99LatencyMs": 5000, "minRequests": 5},
    },
}


def model_name(index: int) -> str:
    return f"m{index:03d}"


MODELS = [model_name(i) for i in range(COUNT)]


def loadavg() -> str:
    with open("/proc/loadavg") as figures:
        return " ".join(figures.read().split()[:3])


def rss_mib(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS) of a process, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# ---- the versions: tiny MLPs published to MinIO -------------------------------------------


def publish_versions(
    devcluster: DevCluster, ns: str, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Publish one artifact per (model, version), each network from its own seed (the same
    data and size), where the pool's servers look for them; their digests by key."""
    import torch

    from mlops_core.artifact_config import ArtifactConfig
    from mlops_core.artifact_io import ArtifactMetrics, publish_artifact
    from mlops_core.models import build_model
    from mlops_core.onnx_export import export_onnx
    from mlops_core.preprocessing import fit_tabular
    from mlops_core.reference_stats import compute_reference_stats
    from mlops_core.storage import open_store
    from mlops_core.training_spec import ModelSpec

    torch.set_num_threads(1)
    x = np.random.default_rng(0).normal(size=(64, len(FEATURE_NAMES)))
    data: dict[str, list[object]] = {n: x[:, i].tolist() for i, n in enumerate(FEATURE_NAMES)}
    data["label"] = ["high" if v > 0 else "low" for v in x[:, 0]]
    pre = fit_tabular(data, feature_columns=FEATURE_NAMES)
    reference = compute_reference_stats(pre, data)
    config = ArtifactConfig(
        architecture="mlp",
        task="tabular",
        model=ModelSpec(architecture="mlp", hidden_sizes=[8], dropout=0.0),
        class_labels=["high", "low"],
        label_column="label",
        feature_names=FEATURE_NAMES,
        num_features=pre.num_features,
    )
    sample = pre.transform_columns(data)[:8]
    client = s3_client_of(devcluster)

    modules = []
    for seed in range(len(keys)):  # the ONNX exporter is not thread-safe: one after another
        torch.manual_seed(seed)
        module = build_model(config).eval()
        modules.append((module, export_onnx(module, config, sample)))

    def publish(key: tuple[str, str], built: tuple[Any, bytes]) -> str:
        (model, version), (module, onnx) = key, built
        return publish_artifact(
            open_store(artifact_uri(ns, model, version), client),
            model=model,
            version=version,
            module=module,
            config=config,
            preprocessor=pre,
            reference=reference,
            metrics=ArtifactMetrics(epochs_run=0),
            onnx=onnx,
        ).digest

    with ThreadPoolExecutor(8) as pool:  # the uploads, at once
        digests = list(pool.map(publish, keys, modules))
    return dict(zip(keys, digests, strict=True))


def artifact_uri(ns: str, model: str, version: str) -> str:
    return f"s3://mlops/models/{ns}/{model}/{version}/"


def model_version_body(ns: str, model: str, version: str, digest: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelVersion",
        "metadata": {"name": f"{model}-v{version.replace('.', '-')}", "namespace": ns},
        "spec": {
            "model": model,
            "version": version,
            "stage": "staging",
            "artifact": {
                "uri": artifact_uri(ns, model, version),
                "digest": digest,
                "format": "mlops-safetensors-v1",
            },
        },
    }


def deployment_body(ns: str, model: str) -> dict[str, Any]:
    strategy = CANARY if model == CANARIED else {"type": "direct"}
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": model, "namespace": ns},
        "spec": {"model": model, "version": "1.0.0", "pool": POOL, "strategy": strategy},
    }


def pool_body(ns: str) -> dict[str, Any]:
    """3 servers and 2 routers; 2 copies of each version: about 134 of the 201 tiny versions
    (48 KiB of files plus the 256 KiB overhead each) per server, 40 MiB of the 64 MiB budget."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ServingPool",
        "metadata": {"name": POOL, "namespace": ns},
        "spec": {
            "replicas": SERVERS,
            "routerReplicas": ROUTERS,
            "copies": 2,
            "modelMemory": "64Mi",
            "maxModelsPerServer": 200,
            "resources": {"cpu": "250m", "memory": "1Gi"},
        },
    }


def apply_all(admin: Kube, bodies: list[dict[str, Any]]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(admin.apply, bodies))


# ---- waiting on watches -------------------------------------------------------------------


Objects = dict[str, dict[str, Any]]


def watch_until(
    admin: Kube, plural: str, ns: str, done: Callable[[Objects], bool], *, timeout: float, what: str
) -> Objects:
    """The namespace's ``mlops.dev`` objects of ``plural`` by name, once ``done`` holds for
    them: listed, then followed by a watch (listed again if the watch expires)."""
    api = k8s.CustomObjectsApi(admin.api_client)
    deadline = time.monotonic() + timeout
    objects: Objects = {}
    while time.monotonic() < deadline:
        listed = api.list_namespaced_custom_object(GROUP, VERSION, ns, plural)
        objects = {o["metadata"]["name"]: o for o in listed["items"]}
        if done(objects):
            return objects
        try:
            for event in watch.Watch().stream(
                api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                ns,
                plural,
                resource_version=listed["metadata"]["resourceVersion"],
                timeout_seconds=max(1, int(deadline - time.monotonic())),
            ):
                body = event["object"]
                if event["type"] == "DELETED":
                    objects.pop(body["metadata"]["name"], None)
                else:
                    objects[body["metadata"]["name"]] = body
                if done(objects):
                    return objects
        except ApiException as exc:
            if exc.status != 410:  # a version too old to resume from: list again
                raise
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def ready(body: dict[str, Any]) -> bool:
    """Ready=True for the object's current generation."""
    generation = body["metadata"].get("generation")
    return any(
        c["type"] == "Ready" and c["status"] == "True" and c.get("observedGeneration") == generation
        for c in (body.get("status") or {}).get("conditions") or []
    )


def all_ready(names: list[str]) -> Callable[[Objects], bool]:
    return lambda objects: all(n in objects and ready(objects[n]) for n in names)


def not_ready(objects: Objects, names: list[str]) -> list[str]:
    return [n for n in names if n not in objects or not ready(objects[n])]


# ---- the module's pool, versions and 200 Deployments ----------------------------------------


@dataclass
class Served:
    ns: str
    operator_pid: int
    figures: dict[str, float] = field(default_factory=dict)

    def report(self, line: str) -> None:
        print(f"pool of {COUNT}: {line}", flush=True)


@pytest.fixture(scope="module")
def served(
    devcluster: DevCluster, admin: Kube, ns: str, operator: ServingOperator
) -> Iterator[Served]:
    assert operator.process is not None
    assert operator.process.process is not None
    out = Served(ns=ns, operator_pid=operator.process.process.pid)
    out.report(f"load average {loadavg()} at the start")
    admin.apply(pool_body(ns))
    started = time.monotonic()
    keys = [(m, "1.0.0") for m in MODELS] + [(CANARIED, NEXT)]
    digests = publish_versions(devcluster, ns, keys)
    out.report(f"{len(keys)} artifacts published in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    apply_all(
        admin, [{**tabular_model(m), "metadata": {"name": m, "namespace": ns}} for m in MODELS]
    )
    apply_all(admin, [model_version_body(ns, *key, digest) for key, digest in digests.items()])
    versions = [f"{m}-v{v.replace('.', '-')}" for m, v in keys]
    watch_until(
        admin, "modelversions", ns, all_ready(versions), timeout=180, what="the versions Ready"
    )
    out.report(f"{len(keys)} ModelVersions Ready {time.monotonic() - started:.1f} s after applying")
    watch_until(admin, "servingpools", ns, all_ready([POOL]), timeout=180, what="the pool Ready")
    out.figures["rss_idle"], _ = rss_mib(out.operator_pid)
    # the 200 Deployments, applied at once: the time to all Ready is the operator's lag
    started = time.monotonic()
    apply_all(admin, [deployment_body(ns, m) for m in MODELS])
    out.figures["applied"] = time.monotonic() - started
    try:
        watch_until(admin, "deployments", ns, all_ready(MODELS), timeout=360, what=f"{COUNT} Ready")
    except TimeoutError:
        objects = {o["metadata"]["name"]: o for o in admin.list(API_VERSION, "Deployment", ns)}
        late = not_ready(objects, MODELS)
        first = (objects.get(late[0]) or {}).get("status") if late else None
        raise AssertionError(f"{len(late)} not Ready, e.g. {late[:5]}: {first}") from None
    out.figures["all_ready"] = time.monotonic() - started
    out.figures["rss_ready"], _ = rss_mib(out.operator_pid)
    out.report(
        f"{COUNT} Deployments applied in {out.figures['applied']:.1f} s, all Ready "
        f"{out.figures['all_ready']:.1f} s after the first was applied; operator RSS "
        f"{out.figures['rss_idle']:.0f} MiB before, {out.figures['rss_ready']:.0f} MiB after; "
        f"load average {loadavg()}"
    )
    yield out
    _, peak = rss_mib(out.operator_pid)
    out.report(f"operator peak RSS {peak:.0f} MiB; load average {loadavg()} at the end")


# ---- asking a Deployment ------------------------------------------------------------------


def ask(address: str, deployment: str, ns: str, model: str) -> tuple[int, str, str]:
    """(status, model, version) of a v1 prediction through the Deployment's Service, addressed
    by its name (Host) as a pod calling ``http://<deployment>.<ns>.svc`` sends it."""
    request = urllib.request.Request(
        f"http://{address}/v1/models/{model}:predict",
        data=json.dumps({"instances": [ROW]}).encode(),
        headers={"content-type": "application/json", "host": f"{deployment}.{ns}.svc"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
            return response.status, str(body.get("model")), str(body.get("version"))
    except urllib.error.HTTPError as exc:
        return exc.code, "", exc.read().decode()[:200]
    except OSError as exc:
        return 0, "", str(exc)


#: a client in a pod: one v1 prediction to each Deployment by its Service name, the answering
#: model and version checked; a summary in its termination message
POD_CLIENT = """
import json, sys, urllib.request
namespace, expected, row = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
body = json.dumps({"instances": [row]}).encode()
wrong = []
for deployment, (model, version) in expected.items():
    url = f"http://{deployment}.{namespace}.svc/v1/models/{model}:predict"
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            got = json.load(answer)
        if [got.get("model"), got.get("version")] != [model, version] or not got["predictions"]:
            wrong.append([deployment, got.get("model"), got.get("version")])
    except Exception as exc:
        wrong.append([deployment, repr(exc)[:160]])
out = {"answered": len(expected) - len(wrong), "wrong": len(wrong), "first": wrong[:5]}
open("/dev/termination-log", "w").write(json.dumps(out))
"""


def client_pod(ns: str, name: str, expected: dict[str, tuple[str, str]]) -> dict[str, Any]:
    restricted = {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    args = [ns, json.dumps(expected), json.dumps(ROW)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "pool-client"}},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [
                {
                    "name": "client",
                    "image": "ghcr.io/mlops-dev/mlops-trainer:e2e",
                    "command": ["python", "-c", POD_CLIENT, *args],
                    "securityContext": restricted,
                }
            ],
        },
    }


# ---- the tests ----------------------------------------------------------------------------


def test_200_pooled_deployments_answer_on_their_own_services_from_the_pools_five_pods(
    admin: Kube, served: Served
) -> None:
    ns = served.ns
    # the pool's three servers and two routers are every pod there is: none of the 200's own
    pods = admin.list("v1", "Pod", ns)
    names = sorted(p["metadata"]["name"] for p in pods)
    assert len(pods) == SERVERS + ROUTERS, names
    components = sorted(p["metadata"]["labels"].get(LABEL_COMPONENT, "") for p in pods)
    assert components == [POOL_ROUTER_COMPONENT] * ROUTERS + [POOL_SERVER_COMPONENT] * SERVERS
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels.items() >= pool_selector(POOL, labels[LABEL_COMPONENT]).items(), labels
    pool = (admin.get(API_VERSION, "ServingPool", POOL, ns) or {})["status"]
    assert pool["deployments"] == COUNT
    assert pool["placedVersions"] == COUNT
    assert not pool.get("unplaced"), pool["unplaced"]
    # every one answers a v1 prediction through its own Service name, from a pod
    started = time.monotonic()
    expected = {m: (m, "1.0.0") for m in MODELS}
    admin.apply(client_pod(ns, "ask-all", expected))
    result = pod_result(admin, ns, "ask-all", timeout=180)
    served.report(
        f"a pod asked all {COUNT} by Service name in {time.monotonic() - started:.1f} s "
        f"(pod start included): {result}"
    )
    assert result == {"answered": COUNT, "wrong": 0, "first": []}, result
    admin.delete("v1", "Pod", "ask-all", ns)


def test_a_spec_change_on_all_200_is_observed(admin: Kube, served: Served) -> None:
    """A spec change on every Deployment (its progress deadline) at once: the time until all
    200 are Ready for their new generation is the operator's catch-up."""
    ns = served.ns
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda m: admin.merge_patch(
                    API_VERSION, "Deployment", m, ns, {"spec": {"progressDeadlineSeconds": 900}}
                ),
                MODELS,
            )
        )
    patched = time.monotonic() - started
    watch_until(admin, "deployments", ns, all_ready(MODELS), timeout=300, what=f"{COUNT} caught up")
    caught_up = time.monotonic() - started
    rss, _ = rss_mib(served.operator_pid)
    served.report(
        f"a spec change on all {COUNT} (patched in {patched:.1f} s) observed and Ready "
        f"{caught_up:.1f} s after the first patch; operator RSS {rss:.0f} MiB; "
        f"load average {loadavg()}"
    )


class Asking(Repeating):
    """Predictions from a thread to each of ``deployments`` in turn, through their Services,
    until stopped: every answer (status, model, version) by Deployment."""

    def __init__(self, admin: Kube, ns: str, deployments: list[str]) -> None:
        self.targets = [(stable_address(admin, ns, d), d) for d in deployments]
        self.ns = ns
        self.answers: dict[str, list[tuple[int, str, str]]] = {d: [] for d in deployments}

    def once(self) -> None:
        for address, deployment in self.targets:
            self.answers[deployment].append(ask(address, deployment, self.ns, deployment))


def test_a_canary_of_one_runs_to_100_percent_while_the_others_keep_answering(
    devcluster: DevCluster, admin: Kube, served: Served
) -> None:
    ns = served.ns
    others = MODELS[1 : 1 + SAMPLE]
    started = time.monotonic()
    with Asking(admin, ns, [CANARIED]) as canaried, Asking(admin, ns, others) as sample:
        devcluster.kubectl(
            "patch",
            "-n",
            ns,
            f"mldeploy/{CANARIED}",
            "--type=merge",
            "-p",
            json.dumps({"spec": {"version": NEXT}}),
        )

        def rolled_out(objects: Objects) -> bool:
            status = (objects.get(CANARIED) or {}).get("status") or {}
            return status.get("stableVersion") == NEXT and status.get("phase") == "Succeeded"

        watch_until(
            admin, "deployments", ns, rolled_out, timeout=180, what=f"the canary to {NEXT} done"
        )
        took = time.monotonic() - started
        # the routers follow the config the status reports within their ConfigMap's sync:
        # the others stay asked until the new version answers alone
        wait_until(
            lambda: canaried.answers[CANARIED][-10:] == [(200, CANARIED, NEXT)] * 10,
            timeout=60,
            what=f"{NEXT} answering alone",
            interval=0.1,
        )
    settled = time.monotonic() - started
    asked = sum(len(a) for a in sample.answers.values())
    served.report(
        f"the canary of {CANARIED} to {NEXT} Succeeded {took:.1f} s after the patch, {NEXT} "
        f"answered alone after {settled:.1f} s; {asked} requests to {SAMPLE} others and "
        f"{len(canaried.answers[CANARIED])} to {CANARIED} meanwhile"
    )
    failed = [
        (d, a) for d, answers in sample.answers.items() for a in answers if a != (200, d, "1.0.0")
    ]
    assert failed == [], failed[:5]
    assert all(len(a) >= 5 for a in sample.answers.values()), {
        d: len(a) for d, a in sample.answers.items()
    }
    answers = canaried.answers[CANARIED]
    assert [a for a in answers if a[0] != 200 or a[1] != CANARIED] == []
    assert {a[2] for a in answers} == {"1.0.0", NEXT}
    status = (admin.get(API_VERSION, "Deployment", CANARIED, ns) or {})["status"]
    assert status["trafficSummary"] == f"{NEXT}=100"
