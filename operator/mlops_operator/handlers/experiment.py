"""Experiment handlers: level-triggered and event-driven.

A search moves when one of its trials changes: the trial TrainingJobs are watched (by the
``mlops.dev/experiment`` label) and every change of one — a new epoch in its progress, its end —
reconciles the Experiment that owns it, so the next trial starts as soon as one ends. The
Experiment itself is reconciled when it appears, when the operator starts, and when its spec
changes (not on its own status writes). A slow timed look through the operator-wide requeue
covers what no event announces.

Deleting an Experiment deletes its trials through their owner references (garbage
collection), and their Jobs with them; the registered winner is not owned and stays.
"""

from __future__ import annotations

from typing import Any

import kopf

from mlops_operator.api.meta import API_VERSION, GROUP, VERSION
from mlops_operator.builders.experiment_trial import LABEL_EXPERIMENT
from mlops_operator.context import OperatorContext
from mlops_operator.handlers.posting import post_notes
from mlops_operator.handlers.requeue import Requeue
from mlops_operator.reconcile.experiment import reconcile_experiment

KIND = "Experiment"


def _reference(namespace: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
    }


def register(registry: kopf.OperatorRegistry, ctx: OperatorContext, requeue: Requeue) -> None:
    uids: dict[tuple[str, str], str] = {}

    def reconcile(namespace: str, name: str) -> None:
        outcome = reconcile_experiment(ctx, namespace, name)
        uid = uids.get((namespace, name))
        if uid is not None:
            post_notes(_reference(namespace, name, uid), outcome)
        if outcome.requeue_after is not None:
            requeue.schedule(KIND, namespace, name, after=outcome.requeue_after)

    def timed(namespace: str, name: str) -> float | None:
        if (namespace, name) not in uids:
            return None  # deleted since
        outcome = reconcile_experiment(ctx, namespace, name)
        post_notes(_reference(namespace, name, uids[(namespace, name)]), outcome)
        return outcome.requeue_after

    requeue.handle(KIND, timed)

    @kopf.on.event(GROUP, VERSION, "experiments", id="reconcile", registry=registry)
    def experiment(
        *, body: kopf.Body, namespace: str | None, name: str, type: str | None, **_: Any
    ) -> None:
        key = (namespace or "", name)
        if type == "DELETED":
            uids.pop(key, None)
            requeue.cancel(KIND, *key)
            return
        uids[key] = str(body.get("metadata", {}).get("uid") or "")
        generation = body.get("metadata", {}).get("generation")
        observed = (body.get("status") or {}).get("observedGeneration")
        if type in (None, "ADDED") or generation != observed:
            reconcile(*key)

    @kopf.on.event(
        GROUP,
        VERSION,
        "trainingjobs",
        labels={LABEL_EXPERIMENT: kopf.PRESENT},
        id="experiment-trial-changed",
        registry=registry,
    )
    def trial_changed(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        for owner in body.get("metadata", {}).get("ownerReferences") or []:
            if owner.get("kind") == KIND and owner.get("controller"):
                key = (namespace or "", str(owner["name"]))
                uids.setdefault(key, str(owner.get("uid") or ""))
                reconcile(*key)
