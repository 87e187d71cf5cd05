"""``mlops demo``: the whole flow on a fresh machine.

Starts (or reuses) a devcluster, installs the CRDs and the operator's RBAC, runs the operator
as its ServiceAccount, uploads the example datasets to the devcluster's MinIO, applies
``examples/threat-classifier/`` (a Model and a TrainingJob), waits for the run and prints the
trained ModelVersion with its metrics. Then it serves it (``demo_serving``): promotes it to
production, applies a Deployment following production, prints predictions through the router,
trains the next version (a second TrainingJob, two epochs), promotes it and shows its canary
steps, with their measurements, moving to 100%. When Kueue is built here, it starts while the
first run trains and the next version goes through a Kueue queue (``demo_queue``): Queued,
then admitted. Last, both versions are served side by side by one ServingPool (``demo_pool``):
a Deployment of each, with no pods of their own, answering on their own Services.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mlops_core.storage import s3_client
from mlops_devcluster import demo_pool, demo_queue, demo_serving, lifecycle
from mlops_devcluster.layout import state_dir as devcluster_dir
from mlops_devcluster.local_operator import (
    OperatorProcess,
    copy_s3_secret,
    install,
    repo_root,
    service_account_kubeconfig,
    upload_example_datasets,
)
from mlops_operator.api.meta import API_VERSION
from mlops_operator.commands.output import number, table
from mlops_operator.kube import Kube, load_api_client

DEMO_NAMESPACE = "mlops-demo"
TRAINING_JOB = "threat-classifier-cnn"
#: the next version: the same example, trained again briefly
NEXT_TRAINING_JOB = "threat-classifier-cnn-next"
NEXT_EPOCHS = 2


def _say(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)


def _show(section: str) -> None:
    """A finished part of the demo's output, printed as soon as it is known."""
    print(section, "", sep="\n", flush=True)


def _s3_client(cluster: Any) -> Any:
    return s3_client(
        endpoint=cluster.s3_endpoint,
        access_key=cluster.s3_access_key,
        secret_key=cluster.s3_secret_key,
    )


def _next_training_job(example: Path, *, queue: str | None = None) -> dict[str, Any]:
    """The example's TrainingJob under another name, for fewer epochs (in ``queue``)."""
    body: dict[str, Any] = yaml.safe_load((example / "trainingjob.yaml").read_text())
    body["metadata"] = {"name": NEXT_TRAINING_JOB, "namespace": DEMO_NAMESPACE}
    body["spec"]["training"]["epochs"] = NEXT_EPOCHS
    if queue:
        body["spec"]["queue"] = queue
    return body


def _wait_for_run(admin: Kube, *, timeout: float, name: str = TRAINING_JOB) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        body = admin.get(API_VERSION, "TrainingJob", name, DEMO_NAMESPACE) or {}
        status = body.get("status") or {}
        progress = status.get("progress") or {}
        line = f"{status.get('phase', 'Pending')}"
        queue = status.get("queue") or {}
        if queue:
            place = f", position {queue['position']}" if queue.get("position") else ""
            state = "admitted" if queue.get("admitted") else "waiting"
            line += f" (queue {queue.get('name')}: {state}{place})"
        if progress:
            line += f", epoch {progress.get('epoch')}/{progress.get('totalEpochs')}"
            latest = progress.get("latestMetrics") or {}
            line += "".join(f", {k} {number(v)}" for k, v in sorted(latest.items())[:3])
        if line != shown:
            _say(f"trainingjob/{name}: {line}")
            shown = line
        if status.get("phase") in ("Succeeded", "Failed"):
            return status
        time.sleep(1)
    raise TimeoutError(f"the TrainingJob did not finish within {timeout:.0f}s")


def _wait_for_version(admin: Kube, name: str, *, timeout: float = 60.0) -> dict[str, Any]:
    """The ModelVersion once its artifact is verified (Ready or Stalled)."""
    deadline = time.monotonic() + timeout
    while True:
        body = admin.get(API_VERSION, "ModelVersion", name, DEMO_NAMESPACE)
        if body is None:
            raise RuntimeError(f"ModelVersion {name} is missing")
        conditions = (body.get("status") or {}).get("conditions") or []
        settled = any(
            c["type"] in ("Ready", "Stalled") and c["status"] == "True" for c in conditions
        )
        if settled or time.monotonic() > deadline:
            return body
        time.sleep(0.5)


def _operator_env(cluster: Any) -> dict[str, str]:
    """The devcluster's S3 settings, serving on, one router pod, a short drain."""
    return {
        **cluster.s3_env(),
        "USE_MLOPS_SERVING": "true",
        "MLOPS_ROUTER_REPLICAS": "1",
        "MLOPS_DRAIN_SECONDS": "2",
    }


def _trained_version(admin: Kube, *, timeout: float, name: str) -> dict[str, Any]:
    """The ModelVersion the TrainingJob ``name`` registered, once verified."""
    status = _wait_for_run(admin, timeout=timeout, name=name)
    if status.get("phase") != "Succeeded":
        failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
        raise RuntimeError(f"the run failed: {failed['reason']}: {failed['message']}")
    return _wait_for_version(admin, status["modelVersion"])


def render_model_version(body: dict[str, Any]) -> str:
    spec, status = body["spec"], body.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c["type"] == "Ready"), {}
    )
    lines = [
        f"modelversion/{body['metadata']['name']}",
        f"  model      {spec['model']}",
        f"  version    {spec['version']}",
        f"  stage      {spec['stage']}",
        f"  ready      {ready.get('status', 'Unknown')} ({ready.get('reason', '-')})",
        f"  artifact   {spec['artifact']['uri']}",
        f"  digest     {spec['artifact']['digest']}",
        f"  lineage    {json.dumps(spec.get('lineage') or {})}",
        "",
        table(["metric", "value"], [[k, number(v)] for k, v in sorted(spec["metrics"].items())]),
    ]
    return "\n".join(lines)


def run_demo(*, state_dir: str | None, timeout: float, keep: bool) -> str:
    root = devcluster_dir(state_dir)
    state = lifecycle.status(root)
    started_here = not state.up
    if started_here:
        _say(f"starting a devcluster in {root} (the first start builds nothing if cached)")
        cluster = lifecycle.up(root, use_free_ports=True, log=_say)
    elif state.cluster is None:
        raise RuntimeError(f"{root} holds a devcluster without its configuration")
    else:
        cluster = state.cluster
        _say(f"using the devcluster in {root}")
    operator: OperatorProcess | None = None
    try:
        admin = Kube(load_api_client(str(cluster.kubeconfig)), field_manager="mlops-demo")
        _say("installing CRDs, kopf peering and the operator's RBAC")
        install(admin)
        upload_example_datasets(f"s3://{cluster.bucket}", client=_s3_client(cluster))
        admin.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NAMESPACE}})
        copy_s3_secret(admin, DEMO_NAMESPACE)
        work = root / "operator"
        work.mkdir(exist_ok=True)
        kubeconfig = service_account_kubeconfig(
            admin, admin_kubeconfig=Path(cluster.kubeconfig), path=work / "kubeconfig"
        )
        operator = OperatorProcess(
            kubeconfig=kubeconfig, log_path=work / "operator.log", env=_operator_env(cluster)
        ).start()
        log = work / "operator.log"
        _say(f"operator running as ServiceAccount mlops-system/mlops-operator (log: {log})")
        example = repo_root() / "examples" / "threat-classifier"
        cluster.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", str(example))
        _say(f"applied {example}")
        queue = demo_queue.start_queue(cluster, DEMO_NAMESPACE, log=_say)
        first = _trained_version(admin, timeout=timeout, name=TRAINING_JOB)
        _show(render_model_version(first))
        # the next version trains while the first one starts serving
        admin.apply(_next_training_job(example, queue=queue))
        where = f", in queue {queue}" if queue else ""
        _say(f"applied trainingjob/{NEXT_TRAINING_JOB} ({NEXT_EPOCHS} epochs{where})")
        _show(demo_serving.serve_first(admin, DEMO_NAMESPACE, first["spec"]["version"]))
        following = _trained_version(admin, timeout=timeout, name=NEXT_TRAINING_JOB)
        _show(render_model_version(following))
        _show(demo_serving.canary_to(admin, DEMO_NAMESPACE, following["spec"]["version"]))
        versions = [first["spec"]["version"], following["spec"]["version"]]
        return demo_pool.serve_pooled(admin, DEMO_NAMESPACE, versions)
    finally:
        if operator is not None:
            operator.stop()
        if started_here and not keep:
            _say("stopping the devcluster (pass --keep to leave it running)")
            lifecycle.down(root, purge=True)
