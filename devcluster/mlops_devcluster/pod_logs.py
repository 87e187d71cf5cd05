"""Finding the log file of a pod's container (the node agent writes one per run)."""

from __future__ import annotations

from pathlib import Path

from mlops_devcluster.layout import Layout


class PodLogError(LookupError):
    """No such pod, container or run in the devcluster's logs."""


def _runs(container_dir: Path) -> list[Path]:
    return sorted(
        container_dir.glob("*.log"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1
    )


def find_log(
    root: Path, *, pod: str, namespace: str, container: str | None, previous: bool = False
) -> Path:
    """The newest pod of that name (the agent keeps logs of deleted pods too)."""
    layout = Layout(root)
    candidates = [
        d
        for d in layout.pod_logs.glob(f"{namespace}_{pod}_*")
        if d.is_dir() and d.name.rsplit("_", 1)[0] == f"{namespace}_{pod}"
    ]
    if not candidates:
        raise PodLogError(
            f"no logs for pod {namespace}/{pod} in {layout.pod_logs} "
            f"(wrong namespace? use -n; has the pod started?)"
        )
    pod_dir = max(candidates, key=lambda d: d.stat().st_mtime)
    containers = sorted(d.name for d in pod_dir.iterdir() if d.is_dir())
    if container is None:
        if len(containers) != 1:
            raise PodLogError(
                f"pod {namespace}/{pod} has containers {', '.join(containers)}: choose one with -c"
            )
        container = containers[0]
    if container not in containers:
        raise PodLogError(
            f"pod {namespace}/{pod} has no container {container!r} "
            f"(it has {', '.join(containers) or 'none started yet'})"
        )
    runs = _runs(pod_dir / container)
    if previous:
        if len(runs) < 2:
            raise PodLogError(f"container {container} of {namespace}/{pod} has not restarted")
        return runs[-2]
    return runs[-1]


def container_pid_file(root: Path, log_path: Path) -> Path:
    """The pid file of the container run writing ``log_path`` (gone once the run ended):
    ``logs/pods/<ns>_<pod>_<uid>/<container>/<n>.log`` → ``run/pods/<uid>_<container>.pid``."""
    container = log_path.parent.name
    uid = log_path.parent.parent.name.rsplit("_", 1)[-1]
    return Layout(root).run / "pods" / f"{uid}_{container}.pid"
