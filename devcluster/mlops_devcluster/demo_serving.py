"""The serving half of ``mlops demo``: a Deployment following production, predictions through
its router, and a canary of the next version judged step by step on the router's metrics while
a client thread sends requests the whole time."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_operator.api.meta import API_VERSION
from mlops_operator.commands.output import number, table
from mlops_operator.commands.registry import Target, cmd_promote
from mlops_operator.kube import Kube

MODEL = "threat-classifier"
DEPLOYMENT = "threat-classifier"
#: the canary of the demo: two short steps, each judged on what the client sent in it
CANARY: dict[str, Any] = {
    "stepWeights": [25, 50],
    "intervalSeconds": 5,
    "analysis": {"maxErrorRate": 0.05, "maxP99LatencyMs": 2000, "minRequests": 5},
}
#: what the demo asks the served model, with the answer a reader expects (the example model
#: is trained to get these right: tests/integration/test_demo_examples.py)
EXAMPLES: dict[str, str] = {
    "Multiple failed SSH logins from an unknown address, then a successful root login": (
        "intrusion"
    ),
    "User opened the quarterly report from the intranet portal": "benign",
}
TEXTS = list(EXAMPLES)


def _say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def deployment(strategy: dict[str, Any], *, namespace: str) -> dict[str, Any]:
    """The demo's Deployment: one server pod per version, following the production stage."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": namespace},
        "spec": {
            "model": MODEL,
            "followStage": "production",
            "replicas": 1,
            "progressDeadlineSeconds": 120,
            "strategy": strategy,
            "resources": {"cpu": "250m", "memory": "1Gi"},
        },
    }


def wait_status(
    admin: Kube,
    namespace: str,
    check: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    what: str,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = admin.get(API_VERSION, "Deployment", DEPLOYMENT, namespace) or {}
        status: dict[str, Any] = body.get("status") or {}
        if status and check(status):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s; last status {status}")
        time.sleep(0.3)


def ready(status: dict[str, Any]) -> bool:
    """``Ready=True``: the stable endpoint answers (as ``kubectl wait --for=condition=Ready``)."""
    return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))


def router_address(admin: Kube, namespace: str, *, timeout: float = 90.0) -> str:
    """The ready router pod's address (the devcluster's host reaches pod addresses)."""
    selector = f"mlops.dev/deployment={DEPLOYMENT},app.kubernetes.io/component=router"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in admin.list("v1", "Pod", namespace, label_selector=selector):
            conditions = (pod.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return f"{pod['status']['podIP']}:8080"
        time.sleep(0.3)
    raise TimeoutError(f"no ready router pod of {DEPLOYMENT} within {timeout:.0f}s")


def predict(address: str, texts: list[str]) -> tuple[int, str, dict[str, Any]]:
    """(HTTP status, answering version, body) of a v1 prediction through the router."""
    request = urllib.request.Request(
        f"http://{address}/v1/models/{MODEL}:predict",
        data=json.dumps({"instances": texts}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, answer.headers.get("x-mlops-version", ""), json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-mlops-version", ""), {}
    except OSError as exc:
        return 0, str(exc), {}


@dataclass
class Client:
    """Predictions one after another from a thread, counted by answering version."""

    address: str
    versions: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Client:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        while not self._stop.is_set():
            code, version, _ = predict(self.address, TEXTS[:1])
            if code == 200:
                self.versions[version] += 1
            else:
                self.failed += 1
            self._stop.wait(0.02)


def explain(address: str, text: str) -> tuple[int, str, dict[str, Any]]:
    """(HTTP status, answering version, body) of ``POST /mlops/predict`` through the router:
    its probabilities come by class name."""
    request = urllib.request.Request(
        f"http://{address}/mlops/predict",
        data=json.dumps({"modelId": MODEL, "input": {"description": text}}).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, answer.headers.get("x-mlops-version", ""), json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-mlops-version", ""), {}
    except OSError as exc:
        return 0, str(exc), {}


def prediction_row(text: str, probabilities: dict[str, float], version: str) -> list[str]:
    """One line of the demo's table: the text, the top class and the runner-up, each with its
    probability, so that an uncertain answer looks uncertain."""
    ranked = sorted(probabilities.items(), key=lambda item: (-item[1], item[0]))
    (top, p_top), (second, p_second) = ranked[0], ranked[1]
    shown = text if len(text) <= 60 else text[:59] + "…"
    return [shown, top, number(round(p_top, 2)), second, number(round(p_second, 2)), version]


def render_predictions(address: str) -> str:
    rows = []
    for text in TEXTS:
        code, version, body = explain(address, text)
        if code != 200:
            raise RuntimeError(f"the router answered {code}: {version}")
        rows.append(prediction_row(text, body["probabilities"], version))
    header = f"predictions through the router (http://{address})"
    columns = ["text", "class", "p", "runner-up", "p", "version"]
    return header + "\n" + table(columns, rows)


def render_step(run: dict[str, Any], steps: int) -> str:
    canary, stable, limits = run["canary"], run["stable"], run["limits"]

    def measured(m: dict[str, Any]) -> str:
        rate, p99 = m.get("errorRate"), m.get("p99LatencyMs")
        return (
            f"{m['requests']} requests, errors {'-' if rate is None else f'{rate:.1%}'}, "
            f"p99 {'-' if p99 is None else f'{p99:.0f} ms'}"
        )

    return (
        f"step {run['step'] + 1}/{steps} at {run['weight']}%: {run['decision']}"
        f" — canary {measured(canary)} (limits: errors ≤ {limits['maxErrorRate']:.0%},"
        f" p99 ≤ {limits['maxP99LatencyMs']:.0f} ms, ≥ {limits['minRequests']} requests);"
        f" stable {measured(stable)}"
    )


def promote(admin: Kube, namespace: str, version: str) -> None:
    _say(
        cmd_promote(Target(kube=admin, namespace=namespace), MODEL, version, "production", wait=30)
    )


def serve_first(admin: Kube, namespace: str, version: str) -> str:
    """Promote ``version``, serve it directly, and show predictions through the router."""
    promote(admin, namespace, version)
    admin.apply(deployment({"type": "direct"}, namespace=namespace))
    _say(f"applied mldeploy/{DEPLOYMENT} (followStage: production, strategy direct)")
    wait_status(
        admin,
        namespace,
        lambda s: s.get("stableVersion") == version and ready(s),
        timeout=150,
        what=f"{version} served",
    )
    _say(f"mldeploy/{DEPLOYMENT}: {version} Ready")
    return render_predictions(router_address(admin, namespace))


def canary_to(admin: Kube, namespace: str, version: str) -> str:
    """Switch the Deployment to canary steps, promote ``version`` and follow it to 100%."""
    admin.apply(deployment({"type": "canary", "canary": CANARY}, namespace=namespace))
    address = router_address(admin, namespace)
    steps = len(CANARY["stepWeights"])
    print(f"canary of {version}: steps {CANARY['stepWeights']}, 5 s each", flush=True)
    shown: set[int] = set()
    traffic = ""

    def progress(status: dict[str, Any]) -> bool:
        nonlocal traffic
        summary = status.get("trafficSummary") or ""
        if summary != traffic:
            traffic = summary
            print(f"  traffic {summary}", flush=True)
        for run in status.get("analysis") or []:
            if run["decision"] != "Waiting" and run["step"] not in shown:
                shown.add(run["step"])
                print(f"  {render_step(run, steps)}", flush=True)
        if status.get("phase") in ("RolledBack", "Aborted"):
            raise RuntimeError(f"the canary did not finish: {status.get('conditions')}")
        return status.get("stableVersion") == version and summary == f"{version}=100"

    with Client(address) as client:
        promote(admin, namespace, version)
        wait_status(admin, namespace, progress, timeout=150, what=f"the canary of {version}")
    answered = ", ".join(f"{v} {n}" for v, n in sorted(client.versions.items()))
    return (
        f"{version} is stable; the client's answers by version: {answered}; failed {client.failed}"
    )
