"""The processes of a devcluster, in start order, each with its command line (pure)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Final

from mlops_devcluster.cluster import ClusterConfig
from mlops_devcluster.control_plane import (
    apiserver_command,
    controller_manager_command,
    etcd_command,
    scheduler_command,
)
from mlops_devcluster.layout import Layout
from mlops_devcluster.minio import minio_command, minio_env

ETCD: Final = "etcd"
APISERVER: Final = "kube-apiserver"
CONTROLLER_MANAGER: Final = "kube-controller-manager"
SCHEDULER: Final = "kube-scheduler"
NODE_AGENT: Final = "node-agent"
MINIO: Final = "minio"
NAMES: Final = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER, NODE_AGENT, MINIO)


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def agent_command(layout: Layout) -> list[str]:
    return [sys.executable, "-m", "mlops_devcluster.agent", "--dir", str(layout.root)]


def components(layout: Layout, config: ClusterConfig) -> list[Component]:
    """Every process of the cluster; ``up`` starts them at once, except the controller manager
    and the scheduler, which wait for a ready API server (see ``lifecycle.AFTER_API``)."""
    base_env = dict(os.environ)
    return [
        Component(ETCD, etcd_command(config.binaries, layout, config.ports), base_env),
        Component(
            APISERVER,
            apiserver_command(
                config.binaries, layout, config.ports, service_cidr=config.service_cidr
            ),
            base_env,
        ),
        Component(
            CONTROLLER_MANAGER,
            controller_manager_command(config.binaries, layout, service_cidr=config.service_cidr),
            base_env,
        ),
        Component(SCHEDULER, scheduler_command(config.binaries, layout), base_env),
        Component(NODE_AGENT, agent_command(layout), base_env),
        Component(
            MINIO,
            minio_command(config.binaries.minio, layout, config.ports),
            {**base_env, **minio_env(config)},
        ),
    ]
