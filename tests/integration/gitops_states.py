"""Objects of each kind in each state that GitOps tools tell apart, made real on a cluster.

Each case starts from an example in ``examples/`` (created on the API server) and writes the
status the operator's reconcilers write in that state (Ready, Reconciling, Stalled,
Succeeded with observedGeneration, checked against the status types) through the status
subresource; the "spec changed since" cases then edit the spec, so the API server bumps
``metadata.generation`` past ``status.observedGeneration``. What comes back from the API server
is what Argo CD and Flux see.

``python tests/integration/gitops_states.py`` (with KUBECONFIG set, CRDs installed) rewrites
the Argo CD ``testdata/`` from those objects.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
HEALTH: Final = ROOT / "gitops" / "argocd" / "resource_customizations" / "mlops.dev"
TIME: Final = "2026-01-01T00:00:00Z"

Object = dict[str, Any]


def condition(type_: str, status: str, reason: str, message: str = "") -> Object:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 1,
        "lastTransitionTime": TIME,
    }


def ready(message: str) -> list[Object]:
    return [
        condition("Ready", "True", "Ready", message),
        condition("Reconciling", "False", "Ready"),
        condition("Stalled", "False", "Ready"),
    ]


def reconciling(reason: str, message: str) -> list[Object]:
    return [
        condition("Ready", "False", reason, message),
        condition("Reconciling", "True", reason, message),
        condition("Stalled", "False", reason),
    ]


def stalled(reason: str, message: str) -> list[Object]:
    return [
        condition("Ready", "False", reason, message),
        condition("Reconciling", "False", reason),
        condition("Stalled", "True", reason, message),
    ]


@dataclass(frozen=True)
class Case:
    """One object in one state, with what Argo CD (health.lua) and kstatus must say."""

    kind: str
    name: str
    example: str
    status: Object
    argocd: str
    argocd_message: str
    kstatus: str
    spec_change: Object | None = None
    spec_extra: Object = field(default_factory=dict)

    @property
    def testdata(self) -> Path:
        return HEALTH / self.kind / "testdata" / f"{self.name}.yaml"


def run_status(phase: str, conditions: list[Object], **extra: Any) -> Object:
    return {"observedGeneration": 1, "phase": phase, "conditions": conditions, **extra}


TRIALS: Final = {"trialsCreated": 4, "trialsRunning": 2, "trialsSucceeded": 2}
TRAFFIC: Final = [{"version": "1.0.0", "weight": 90}, {"version": "1.1.0", "weight": 10}]

CASES: Final = (
    Case(
        "Model",
        "healthy",
        "tabular/model.yaml",
        {
            "observedGeneration": 1,
            "conditions": ready("2 versions; production 1.0.0"),
            "versionCount": 2,
        },
        "Healthy",
        "2 versions; production 1.0.0",
        "Current",
    ),
    Case(
        "Model",
        "spec-changed",
        "tabular/model.yaml",
        {"observedGeneration": 1, "conditions": ready("2 versions; production 1.0.0")},
        "Progressing",
        "Waiting for the operator to observe generation 2",
        "InProgress",
        spec_change={"description": "Breast-mass classifier, now owned by the imaging team."},
    ),
    Case(
        "Model",
        "stalled",
        "tabular/model.yaml",
        {
            "observedGeneration": 1,
            "conditions": stalled(
                "TwoProductionVersions", "1.0.0 and 1.1.0 are both in production; archive one"
            ),
        },
        "Degraded",
        "1.0.0 and 1.1.0 are both in production; archive one",
        "Failed",
    ),
    Case(
        "ModelVersion",
        "healthy",
        "registry/modelversion.yaml",
        {
            "observedGeneration": 1,
            "conditions": ready("artifact verified"),
            "artifactVerified": True,
        },
        "Healthy",
        "artifact verified",
        "Current",
    ),
    Case(
        "ModelVersion",
        "verifying",
        "registry/modelversion.yaml",
        {
            "observedGeneration": 1,
            "conditions": reconciling(
                "VerifyingArtifact", "checking 3 files against manifest.json"
            ),
        },
        "Progressing",
        "checking 3 files against manifest.json",
        "InProgress",
    ),
    Case(
        "ModelVersion",
        "digest-mismatch",
        "registry/modelversion.yaml",
        {
            "observedGeneration": 1,
            "artifactVerified": False,
            "conditions": stalled(
                "DigestMismatch", "manifest.json has sha256 1a2b…, spec.artifact.digest says 3f1c…"
            ),
        },
        "Degraded",
        "manifest.json has sha256 1a2b…, spec.artifact.digest says 3f1c…",
        "Failed",
    ),
    Case(
        "TrainingJob",
        "running",
        "tabular/trainingjob.yaml",
        run_status(
            "Running",
            [
                *reconciling("Training", "epoch 3 of 10"),
                condition("Succeeded", "Unknown", "Training", "epoch 3 of 10"),
            ],
        ),
        "Progressing",
        "epoch 3 of 10",
        "InProgress",
    ),
    Case(
        "TrainingJob",
        "succeeded",
        "tabular/trainingjob.yaml",
        run_status(
            "Succeeded",
            [
                *ready("registered breast-cancer 1.0.0"),
                condition("Succeeded", "True", "Registered", "registered breast-cancer 1.0.0"),
            ],
        ),
        "Healthy",
        "registered breast-cancer 1.0.0",
        "Current",
    ),
    Case(
        "TrainingJob",
        "failed",
        "tabular/trainingjob.yaml",
        run_status(
            "Failed",
            [
                *stalled("BackoffLimitExceeded", "the trainer exited with 1"),
                condition(
                    "Succeeded", "False", "BackoffLimitExceeded", "the trainer exited with 1"
                ),
            ],
        ),
        "Degraded",
        "the trainer exited with 1",
        "Failed",
    ),
    Case(
        "Experiment",
        "searching",
        "experiment/experiment.yaml",
        {
            "observedGeneration": 1,
            **TRIALS,
            "conditions": [
                *reconciling("Searching", "4 of 6 trials"),
                condition("Succeeded", "Unknown", "Searching", "4 of 6 trials"),
            ],
        },
        "Progressing",
        "4 of 6 trials",
        "InProgress",
    ),
    Case(
        "Experiment",
        "succeeded",
        "experiment/experiment.yaml",
        {
            "observedGeneration": 1,
            "trialsCreated": 6,
            "trialsSucceeded": 6,
            "conditions": [
                *ready("best trial 7: val_accuracy 0.95"),
                condition(
                    "Succeeded", "True", "MaxTrialsReached", "best trial 7: val_accuracy 0.95"
                ),
            ],
        },
        "Healthy",
        "best trial 7: val_accuracy 0.95",
        "Current",
    ),
    Case(
        "Experiment",
        "too-many-failures",
        "experiment/experiment.yaml",
        {
            "observedGeneration": 1,
            "trialsCreated": 2,
            "trialsFailed": 2,
            "conditions": [
                *stalled("TooManyFailedTrials", "2 trials failed (maxFailedTrials 2)"),
                condition(
                    "Succeeded",
                    "False",
                    "TooManyFailedTrials",
                    "2 trials failed (maxFailedTrials 2)",
                ),
            ],
        },
        "Degraded",
        "2 trials failed (maxFailedTrials 2)",
        "Failed",
    ),
    Case(
        "Deployment",
        "serving",
        "deployments/canary.yaml",
        {
            "observedGeneration": 1,
            "traffic": [{"version": "1.0.0", "weight": 100}],
            "trafficSummary": "1.0.0=100",
            "conditions": ready("1.0.0 serves all traffic"),
        },
        "Healthy",
        "1.0.0 serves all traffic",
        "Current",
    ),
    Case(
        "Deployment",
        "canary",
        "deployments/canary.yaml",
        {
            "observedGeneration": 1,
            "phase": "Progressing",
            "traffic": TRAFFIC,
            "trafficSummary": "1.0.0=90,1.1.0=10",
            "currentStep": 0,
            "conditions": reconciling("CanaryStep", "step 1 of 3: 1.1.0 at 10%"),
        },
        "Progressing",
        "step 1 of 3: 1.1.0 at 10%",
        "InProgress",
    ),
    Case(
        "Deployment",
        "rolled-back",
        "deployments/canary.yaml",
        {
            "observedGeneration": 1,
            "phase": "RolledBack",
            "traffic": [{"version": "1.0.0", "weight": 100}, {"version": "1.1.0", "weight": 0}],
            "conditions": stalled("RolledBack", "step 2 failed: p99 412 ms > 250 ms"),
        },
        "Degraded",
        "step 2 failed: p99 412 ms > 250 ms",
        "Failed",
    ),
    Case(
        "Deployment",
        "paused",
        "deployments/canary.yaml",
        {
            "observedGeneration": 1,
            "traffic": TRAFFIC,
            "trafficSummary": "1.0.0=90,1.1.0=10",
            "currentStep": 0,
            "conditions": ready("rollout paused at step 1 of 3"),
        },
        "Suspended",
        "Rollout paused at 1.0.0=90,1.1.0=10",
        "Current",
        spec_extra={"paused": True},
    ),
    Case(
        "Deployment",
        "spec-changed",
        "deployments/canary.yaml",
        {
            "observedGeneration": 1,
            "traffic": [{"version": "1.0.0", "weight": 100}],
            "conditions": ready("1.0.0 serves all traffic"),
        },
        "Progressing",
        "Waiting for the operator to observe generation 2",
        "InProgress",
        spec_change={"replicas": 2},
    ),
)

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def example(case: Case) -> Object:
    obj: Object = yaml.safe_load((ROOT / "examples" / case.example).read_text())
    obj["metadata"] = {"name": f"{obj['metadata']['name']}-{case.name}"}
    obj["spec"].update(case.spec_extra)
    return obj


def supported(case: Case, crd_schema: Mapping[str, Any]) -> bool:
    """Whether the installed CRD keeps the case's extra spec fields (``paused``)."""
    spec = crd_schema["properties"]["spec"]["properties"]
    return all(key in spec for key in case.spec_extra)


def make_real(case: Case, kubectl: Kubectl, namespace: str) -> Object:
    """Create the object, write its status, change its spec if the case says so; return it."""
    obj = example(case)
    name = obj["metadata"]["name"]
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj))
    ref = (f"{case.kind.lower()}s.mlops.dev/{name}",)
    kubectl(
        "patch",
        "-n",
        namespace,
        *ref,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": case.status}),
    )
    if case.spec_change is not None:
        kubectl(
            "patch",
            "-n",
            namespace,
            *ref,
            "--type=merge",
            "-p",
            json.dumps({"spec": case.spec_change}),
        )
    got: Object = json.loads(kubectl("get", "-n", namespace, *ref, "-o", "json").stdout)
    return got


def as_testdata(obj: Object) -> Object:
    """The object as Argo CD sees it, without what differs from cluster to cluster."""
    metadata = obj["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "namespace"):
        metadata.pop(key, None)
    metadata["namespace"] = "team-a"
    return obj


def main() -> int:
    def kubectl(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["kubectl", *args], input=input, capture_output=True, text=True, check=True
        )

    namespace = f"gitops-testdata-{secrets.token_hex(3)}"
    kubectl("create", "namespace", namespace)
    try:
        for case in CASES:
            obj = as_testdata(make_real(case, kubectl, namespace))
            case.testdata.parent.mkdir(parents=True, exist_ok=True)
            case.testdata.write_text(yaml.safe_dump(obj, sort_keys=False))
            print(f"wrote {case.testdata.relative_to(ROOT)}")
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
    for kind in sorted({case.kind for case in CASES}):
        tests = [
            {
                "healthStatus": {"status": c.argocd, "message": c.argocd_message},
                "inputPath": f"testdata/{c.name}.yaml",
            }
            for c in CASES
            if c.kind == kind
        ]
        (HEALTH / kind / "health_test.yaml").write_text(
            yaml.safe_dump({"tests": tests}, sort_keys=False)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---- Argo CD's health scripts, run by a real Lua interpreter ---------------------------------

LUA: Final = "lua5.4"
RUNNER: Final = """
local env = setmetatable({obj = OBJ}, {__index = _G})
local chunk = assert(loadfile(SCRIPT, "t", env))
local hs = chunk()
io.write(tostring(hs.status), "\\n", tostring(hs.message or ""))
"""


def lua_literal(value: Any) -> str:
    """A JSON-like value as a Lua table constructor (what Argo CD hands its scripts)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return (
            '"'
            + "".join(
                chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:03d}"
                for b in value.encode()
            )
            + '"'
        )
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        items = (f"[{lua_literal(str(k))}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no Lua form for {type(value).__name__}")


def argocd_health(kind: str, obj: Mapping[str, Any], *, lua: str = LUA) -> tuple[str, str]:
    """(status, message) that ``<kind>/health.lua`` gives for ``obj``."""
    script = HEALTH / kind / "health.lua"
    program = f"local OBJ = {lua_literal(dict(obj))}\nlocal SCRIPT = {lua_literal(str(script))}\n"
    result = subprocess.run(
        [lua, "-"], input=program + RUNNER, capture_output=True, text=True, check=False, timeout=30
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed: {result.stderr}")
    status, _, message = result.stdout.partition("\n")
    return status, message
