"""Where an operation acts: the Kubernetes API (as some identity) and a namespace."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_operator.kube import Kube


@dataclass(frozen=True)
class Target:
    kube: Kube
    namespace: str
