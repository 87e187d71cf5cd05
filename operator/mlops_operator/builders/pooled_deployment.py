"""A pooled Deployment's own children: its request to the pool (a ConfigMap the pool's reconcile
reads) and its Service, which selects the pool's routers."""

from __future__ import annotations

from typing import Any, Final

from mlops_operator.api.deployment import Deployment
from mlops_operator.builders.model_server import deployment_owner
from mlops_operator.builders.names import (
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    label_value,
    pool_member_name,
)
from mlops_operator.builders.serving_pool import LABEL_POOL, build_pooled_service
from mlops_operator.placement.member import MEMBER_KEY, PoolMember, member_text

Manifest = dict[str, Any]

POOL_MEMBER_COMPONENT: Final = "pool-member"


def pool_members_selector(pool: str) -> str:
    """The members' ConfigMaps of pool ``pool``."""
    return f"{LABEL_POOL}={label_value(pool)},{LABEL_COMPONENT}={POOL_MEMBER_COMPONENT}"


def build_pool_member(dep: Deployment, pool: str, member: PoolMember) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": pool_member_name(dep.metadata.name),
            "namespace": dep.metadata.namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_POOL: label_value(pool),
                LABEL_COMPONENT: POOL_MEMBER_COMPONENT,
            },
            "ownerReferences": [deployment_owner(dep)],
        },
        "data": {MEMBER_KEY: member_text(member)},
    }


def build_deployment_pooled_service(dep: Deployment, pool: str) -> Manifest:
    """``http://<deployment>.<namespace>.svc`` in front of the pool's routers, owned by ``dep``."""
    return build_pooled_service(
        deployment=dep.metadata.name,
        namespace=dep.metadata.namespace or "default",
        owner=deployment_owner(dep),
        pool=pool,
    )
