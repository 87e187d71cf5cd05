"""``mlops devcluster up | down | status | env | logs POD | binaries``.

``register(subparsers)`` adds the ``devcluster`` command to another argparse tree (the ``mlops``
CLI calls it lazily); ``main(argv)`` runs it on its own (``python -m mlops_devcluster``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_devcluster import lifecycle
from mlops_devcluster.binaries import (
    MissingBinaryError,
    resolve_binaries,
    resolve_helm,
    resolve_kueue,
)
from mlops_devcluster.cluster import DevCluster, NotRunningError
from mlops_devcluster.kueue import KueueStartError, kueue_running, start_kueue
from mlops_devcluster.layout import DIR_ENV, Layout, state_dir
from mlops_devcluster.pod_logs import PodLogError, container_pid_file, find_log
from mlops_devcluster.ports import PortInUseError


def _print_err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_up(args: argparse.Namespace) -> int:
    root = state_dir(args.dir)
    started = time.monotonic()
    cluster = lifecycle.up(
        root, use_free_ports=args.free_ports, timeout=args.timeout, log=_print_err
    )
    if args.with_kueue:
        start_kueue(cluster, log=_print_err)
    _print_err(f"devcluster up in {time.monotonic() - started:.1f}s: {cluster.server}")
    _print_err(f'use it with: eval "$({_self_command()}{_dir_flag(args)} env)"')
    return 0


def _self_command() -> str:
    return "mlops devcluster" if Path(sys.argv[0]).name == "mlops" else "python -m mlops_devcluster"


def _dir_flag(args: argparse.Namespace) -> str:
    return f" --dir {shlex.quote(str(args.dir))}" if args.dir else ""


def _cmd_down(args: argparse.Namespace) -> int:
    root = state_dir(args.dir)
    stopped = lifecycle.down(root, purge=args.purge, log=_print_err)
    if not stopped:
        _print_err(f"nothing was running in {root}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    state = lifecycle.status(state_dir(args.dir))
    print(f"state folder: {state.root}")
    for name, pid in state.components.items():
        print(f"  {name:<24} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
    kueue = kueue_running(Layout(state.root))
    kueue_state = f"running (pid {kueue})" if kueue else "stopped"
    print(f"  {'kueue (optional)':<24} {kueue_state}")
    if state.cluster is not None:
        readiness = "ready" if state.api_ready else "not ready"
        print(f"  {'API server':<24} {state.cluster.server} ({readiness})")
        print(f"  {'MinIO':<24} {state.cluster.s3_endpoint} (bucket {state.cluster.bucket})")
        print(f"  {'kubeconfig':<24} {state.cluster.kubeconfig}")
    print("up" if state.up else "down")
    return 0 if state.up else 1


def _cmd_env(args: argparse.Namespace) -> int:
    root = state_dir(args.dir)
    cluster = DevCluster.load(root)
    values = {**cluster.env(), DIR_ENV: str(root)}
    for key, value in values.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    root = state_dir(args.dir)
    path = find_log(
        root,
        pod=args.pod,
        namespace=args.namespace,
        container=args.container,
        previous=args.previous,
    )
    data = path.read_bytes()
    if args.tail is not None:
        data = b"\n".join(data.splitlines()[-args.tail :]) + b"\n"
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    if args.follow:
        pid_file = container_pid_file(root, path)
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            try:
                while True:
                    chunk = handle.read()
                    if chunk:
                        sys.stdout.buffer.write(chunk)
                        sys.stdout.flush()
                    elif not pid_file.exists():
                        return 0
                    else:
                        time.sleep(0.3)
            except KeyboardInterrupt:
                return 0
    return 0


def _cmd_binaries(args: argparse.Namespace) -> int:
    found = resolve_binaries(build=not args.no_build)
    for name, path in found.to_json().items():
        print(f"{name.replace('_', '-')}: {path}")
    print(f"helm: {resolve_helm(build=not args.no_build)}")
    if args.kueue:
        print(f"kueue: {resolve_kueue(build=not args.no_build).binary}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The devcluster sub-commands, under ``parser``."""
    parser.add_argument(
        "--dir",
        default=None,
        help=f"state folder (default: ${DIR_ENV}, else ~/.mlops-devcluster)",
    )
    commands = parser.add_subparsers(dest="devcluster_command", metavar="COMMAND", required=True)
    up = commands.add_parser("up", help="start the control plane, node agent and MinIO")
    up.add_argument(
        "--free-ports",
        action="store_true",
        help="pick free ports instead of the defaults (first start only)",
    )
    up.add_argument(
        "--timeout",
        type=float,
        default=lifecycle.DEFAULT_TIMEOUT,
        help="seconds to wait for the cluster to be usable",
    )
    up.add_argument(
        "--with-kueue",
        action="store_true",
        help="also install Kueue's CRDs and run its manager (queued training; built once "
        "from the Go module proxy)",
    )
    up.set_defaults(devcluster_handler=_cmd_up)
    down = commands.add_parser("down", help="stop everything the devcluster started")
    down.add_argument(
        "--purge",
        action="store_true",
        help="also delete the state folder (cluster data, certificates, logs)",
    )
    down.set_defaults(devcluster_handler=_cmd_down)
    commands.add_parser("status", help="which components run").set_defaults(
        devcluster_handler=_cmd_status
    )
    commands.add_parser(
        "env", help="shell exports: KUBECONFIG, PATH (pinned kubectl first), AWS_* for MinIO"
    ).set_defaults(devcluster_handler=_cmd_env)
    logs = commands.add_parser("logs", help="a pod's container log")
    logs.add_argument("pod", metavar="POD")
    logs.add_argument("-n", "--namespace", default="default")
    logs.add_argument("-c", "--container", default=None)
    logs.add_argument(
        "-p",
        "--previous",
        action="store_true",
        help="the log of the previous run of a restarted container",
    )
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("--tail", type=int, default=None, metavar="N")
    logs.set_defaults(devcluster_handler=_cmd_logs)
    found = commands.add_parser(
        "binaries",
        help="find (else build, once) etcd, the Kubernetes binaries, kubectl, MinIO and helm",
    )
    found.add_argument("--no-build", action="store_true", help="fail instead of building")
    found.add_argument("--kueue", action="store_true", help="also Kueue's manager and CRDs")
    found.set_defaults(devcluster_handler=_cmd_binaries)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``devcluster`` to the sub-parsers of another CLI; dispatch with :func:`run`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "devcluster", help="a local Kubernetes control plane, node agent and MinIO"
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the parsed devcluster command; known failures become one clear line and exit 1."""
    try:
        return int(args.devcluster_handler(args))
    except (
        MissingBinaryError,
        PortInUseError,
        NotRunningError,
        lifecycle.StartError,
        PodLogError,
        KueueStartError,
    ) as exc:
        _print_err(f"error: {exc}")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mlops devcluster", description="A local Kubernetes cluster for mlops-operator."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
