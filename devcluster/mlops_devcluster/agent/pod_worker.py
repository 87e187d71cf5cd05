"""One thread per pod: start its containers, keep its status, stop it when it is deleted."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Final

from mlops_devcluster.agent.container import ContainerRun
from mlops_devcluster.agent.images import UnknownImageError, image_entrypoint
from mlops_devcluster.agent.launch import BindMount
from mlops_devcluster.agent.nodes import HOST_IP, now
from mlops_devcluster.agent.pod_env import EnvError, container_argv, container_env
from mlops_devcluster.agent.pod_status import PodView, build_pod_status, pod_phase
from mlops_devcluster.agent.reporting import EventType, PodReporter
from mlops_devcluster.agent.runtime import Runtime
from mlops_devcluster.agent.volumes import container_mounts, prepare_volumes
from mlops_devcluster.kube import ApiError

Object = dict[str, Any]
TICK: Final = 0.2
MAX_BACKOFF: Final = 20.0
SHUTDOWN_GRACE: Final = 5.0
log = logging.getLogger(__name__)


class PodWorker(threading.Thread):
    def __init__(self, runtime: Runtime, pod: Object) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.runtime = runtime
        self.uid: str = meta["uid"]
        self._pod = pod
        self._lock = threading.Lock()
        self._gone = threading.Event()
        self.reporter = PodReporter(runtime.kube)
        self.pod_ip = ""
        self.start_time = now()
        self.started_mono = time.monotonic()
        self.containers = [self._new_run(c) for c in pod["spec"].get("containers", [])]
        self.init_containers = [
            self._new_run(c) for c in pod["spec"].get("initContainers", []) or []
        ]
        self.initialized = not self.init_containers
        self.phase: str = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.mounts: dict[str, Path] = {}
        self.hosts_file: Path | None = None

    # -- inputs from the agent -------------------------------------------------------------
    def update(self, pod: Object) -> None:
        with self._lock:
            self._pod = pod

    def gone(self) -> None:
        """The pod object was removed from the API: stop at once."""
        self._gone.set()

    @property
    def pod(self) -> Object:
        with self._lock:
            return self._pod

    # -- helpers ------------------------------------------------------------------------------
    def _new_run(self, spec: Object) -> ContainerRun:
        return ContainerRun(
            spec=spec,
            pod_dir=self.runtime.pod_dir(self._pod),
            log_dir=self.runtime.log_dir(self._pod),
            pid_dir=self.runtime.pid_dir,
            pod_uid=self.uid,
        )

    @property
    def _deleting(self) -> bool:
        return bool(self.pod["metadata"].get("deletionTimestamp"))

    @property
    def _should_exit(self) -> bool:
        return self._gone.is_set() or self.runtime.stopping.is_set()

    def _report(self) -> None:
        if self._should_exit:
            return
        view = PodView(
            phase=self.phase,  # type: ignore[arg-type]
            pod_ip=self.pod_ip,
            host_ip=HOST_IP,
            start_time=self.start_time,
            containers=[c.record for c in self.containers],
            init_containers=[c.record for c in self.init_containers],
            initialized=self.initialized,
            reason=self.reason,
            message=self.message,
        )
        if not self.reporter.status(self.pod, build_pod_status(self.pod, view, now=now())):
            self._gone.set()

    @property
    def pod_name(self) -> str:
        meta = self.pod["metadata"]
        return f"{meta['namespace']}/{meta['name']}"

    # -- lifecycle --------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            log.exception("pod %s: worker failed", self.pod_name)
            self._stop_all(SHUTDOWN_GRACE)
            try:
                self._fail(reason="NodeAgentError", message=f"the devcluster node agent: {exc}")
            except Exception:
                log.exception("pod %s: cannot report the failure", self.pod_name)
        finally:
            self._release_address()
            if self._gone.is_set():  # also a finished pod, which the API server drops at once
                self._stop_all(0)
                self._remove_folder()

    def _remove_folder(self) -> None:
        """The pod's folder (emptyDir data and the secrets written for it) goes with the pod,
        as on a kubelet; its logs stay."""
        shutil.rmtree(self.runtime.pod_dir(self.pod), ignore_errors=True)

    def _run(self) -> None:
        observed_phase = (self.pod.get("status") or {}).get("phase")
        if observed_phase in ("Succeeded", "Failed"):
            self._wait_for_deletion()
            return
        if self._deleting:
            self._finish_deletion()
            return
        for run in [*self.init_containers, *self.containers]:
            try:
                run.entrypoint = image_entrypoint(run.spec.get("image", ""))
            except UnknownImageError as exc:
                self._fail(reason="UnknownImage", message=str(exc), waiting="ErrImageNeverPull")
                self._wait_for_deletion()
                return
        self.pod_ip = self.runtime.addresses.allocate(self.uid)
        self.hosts_file = self.runtime.hosts.add(self.pod, self.pod_ip)
        self._report()
        if not self._prepare_volumes():
            return
        if not self._run_init_containers():
            self._wait_for_deletion()
            return
        self.initialized = True
        self._supervise()
        self._wait_for_deletion()

    def _event(
        self,
        reason: str,
        message: str,
        *,
        event_type: EventType = "Normal",
        container: str | None = None,
    ) -> None:
        if not self._should_exit:
            self.reporter.event(
                self.pod, reason, message, event_type=event_type, container=container
            )

    def _release_address(self) -> None:
        if self.pod_ip:
            self.runtime.hosts.remove(self.pod)
        self.runtime.addresses.release(self.uid)

    def _fail(self, *, reason: str, message: str, waiting: str | None = None) -> None:
        self.phase = "Failed"
        self.reason = reason
        self.message = message
        if waiting:
            for run in [*self.init_containers, *self.containers]:
                run.record.state = {"waiting": {"reason": waiting, "message": message}}
        log.info("pod %s failed: %s", self.pod_name, message)
        self._event(reason, message, event_type="Warning")
        self._report()

    def _prepare_volumes(self) -> bool:
        """Write the volumes, retrying while a ConfigMap/Secret is missing."""
        while not self._should_exit:
            if self._deleting:
                self._finish_deletion()
                return False
            try:
                self.mounts = prepare_volumes(
                    self.pod,
                    self.runtime.pod_dir(self.pod),
                    lookup=self.runtime.lookup,
                    issue_token=self.runtime.issue_token,
                )
                return True
            except EnvError as exc:
                if exc.reason == "UnsupportedVolume":
                    self._fail(reason=exc.reason, message=str(exc))
                    self._wait_for_deletion()
                    return False
                for run in self.containers:
                    run.record.state = {
                        "waiting": {"reason": "ContainerCreating", "message": str(exc)}
                    }
                self._report()
            except ApiError as exc:
                log.warning("pod %s: volumes: %s", self.pod_name, exc)
            time.sleep(1.0)
        self._stop_all(SHUTDOWN_GRACE)
        return False

    def _bind_mounts(self, spec: Object) -> list[BindMount]:
        mounts = container_mounts(spec, volumes=self.mounts, hosts_file=self.hosts_file)
        return [*self.runtime.runtime_mounts, *mounts]

    def _start(self, run: ContainerRun) -> bool:
        """Start one container; False (and a waiting state) when its env cannot be built."""
        pod = self.pod
        pod.setdefault("status", {})["podIP"] = self.pod_ip
        pod["status"]["podIPs"] = [{"ip": self.pod_ip}]
        pod["status"]["hostIP"] = HOST_IP
        pod["status"]["hostIPs"] = [{"ip": HOST_IP}]
        node = pod["spec"].get("nodeName", "")
        try:
            env = container_env(
                pod,
                run.spec,
                base=self.runtime.base_env(pod),
                lookup=self.runtime.lookup,
                allocatable=self.runtime.allocatable.get(node, {}),
            )
            mounts = self._bind_mounts(run.spec)
        except EnvError as exc:
            if run.record.state.get("waiting", {}).get("message") != str(exc):
                self._event("Failed", f"Error: {exc}", event_type="Warning", container=run.name)
            run.record.state = {"waiting": {"reason": exc.reason, "message": str(exc)}}
            return False
        Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
        argv = container_argv(run.spec, entrypoint=run.entrypoint, env=env)
        hostname = pod["spec"].get("hostname") or pod["metadata"]["name"][:63]
        run.start(argv=argv, env=env, hostname=hostname, mounts=mounts)
        run.env = env
        log.info(
            "pod %s: started container %s (pid %s)",
            self.pod_name,
            run.name,
            run.process.pid if run.process else "?",
        )
        self._event("Started", f"Started container {run.name}", container=run.name)
        return True

    def _restart_policy(self) -> str:
        return str(self.pod["spec"].get("restartPolicy", "Always"))

    def _wants_restart(self, run: ContainerRun) -> bool:
        policy = self._restart_policy()
        code = run.record.exit_code
        return policy == "Always" or (policy == "OnFailure" and code not in (None, 0))

    def _schedule_restart(self, run: ContainerRun) -> None:
        run.restart_at = time.monotonic() + run.backoff
        run.backoff = min(run.backoff * 2, MAX_BACKOFF)

    def _restart(self, run: ContainerRun) -> None:
        run.record.last_state = run.record.state
        run.record.restart_count += 1
        run.record.state = {"waiting": {"reason": "ContainerCreating"}}
        if not self._start(run):
            self._schedule_restart(run)

    def _run_init_containers(self) -> bool:
        for run in self.init_containers:
            while True:
                if self._should_exit or self._deleting:
                    self._stop_all(self._grace())
                    if self._deleting and not self._should_exit:
                        self._finish_deletion()
                    return False
                if run.process is None and run.record.exit_code is None:
                    if not self._start(run):
                        self._report()
                        time.sleep(1.0)
                        continue
                    self.phase = "Pending"
                    self._report()
                if run.poll():
                    self._report()
                code = run.record.exit_code
                if code == 0:
                    break
                if code is not None:
                    if self._restart_policy() == "Never":
                        self._fail(
                            reason="InitContainerFailed",
                            message=f"init container {run.name} exited {code}",
                        )
                        return False
                    if run.restart_at is None:
                        self._schedule_restart(run)
                    elif time.monotonic() >= run.restart_at:
                        self._restart(run)
                        self._report()
                time.sleep(TICK)
        return True

    def _check_probes(self, run: ContainerRun) -> None:
        failed = run.check_probes(self.pod_ip)
        if failed is not None:
            self._kill_unhealthy(run, failed)

    def _kill_unhealthy(self, run: ContainerRun, which: str) -> None:
        tracker = run.liveness if which == "liveness" else run.startup
        detail = tracker.message if tracker is not None else ""
        self._event(
            "Unhealthy",
            f"{which.capitalize()} probe failed: {detail}",
            event_type="Warning",
            container=run.name,
        )
        self._event(
            "Killing",
            f"Container {run.name} failed {which} probe, will be restarted",
            container=run.name,
        )
        log.info(
            "pod %s: container %s failed its %s probe; restarting", self.pod_name, run.name, which
        )
        run.stop(self._grace())

    def _grace(self) -> float:
        meta = self.pod["metadata"]
        value = meta.get("deletionGracePeriodSeconds")
        if value is None:
            value = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        return float(value)

    def _supervise(self) -> None:
        for run in self.containers:
            if not self._start(run):
                self._schedule_restart(run)
        self.phase = "Running" if any(r.alive for r in self.containers) else "Pending"
        self._report()
        while True:
            if self._should_exit:
                self._stop_all(SHUTDOWN_GRACE if self.runtime.stopping.is_set() else 0)
                return
            if self._deleting:
                for run in self.containers:
                    if run.alive:
                        self._event("Killing", f"Stopping container {run.name}", container=run.name)
                self._stop_all(self._grace())
                self.phase = pod_phase(
                    [r.record for r in self.containers], restart_policy="Never", will_restart=set()
                )
                self._report()
                self._finish_deletion()
                return
            if self._past_deadline():
                self._stop_all(self._grace())
                self._fail(
                    reason="DeadlineExceeded",
                    message="Pod was active on the node longer than the specified deadline",
                )
                self._release_address()
                return
            for run in self.containers:
                run.poll()
                if run.process is None and run.record.exit_code is not None:
                    if self._wants_restart(run):
                        if run.restart_at is None:
                            self._schedule_restart(run)
                        elif time.monotonic() >= run.restart_at:
                            self._restart(run)
                elif run.process is None and run.restart_at is not None:
                    if time.monotonic() >= run.restart_at:
                        run.restart_at = None
                        if not self._start(run):
                            self._schedule_restart(run)
                elif run.alive:
                    self._check_probes(run)
                    if run.alive and time.monotonic() - run.started_mono > 10 * run.backoff:
                        run.backoff = 1.0
            will_restart = {
                run.name
                for run in self.containers
                if run.process is None
                and (
                    run.restart_at is not None
                    or (run.record.exit_code is not None and self._wants_restart(run))
                )
            }
            self.phase = pod_phase(
                [r.record for r in self.containers],
                restart_policy=self._restart_policy(),
                will_restart=will_restart,
            )
            self._report()
            if self.phase in ("Succeeded", "Failed"):
                self._release_address()
                return
            time.sleep(TICK)

    def _past_deadline(self) -> bool:
        deadline = self.pod["spec"].get("activeDeadlineSeconds")
        return deadline is not None and time.monotonic() - self.started_mono > float(deadline)

    def _stop_all(self, grace: float) -> None:
        runs = [r for r in [*self.init_containers, *self.containers] if r.process is not None]
        for run in runs:
            run.stop_requested = True
            run.signal(15)
        deadline = time.monotonic() + grace
        for run in runs:
            run.stop(max(0.0, deadline - time.monotonic()))

    def _wait_for_deletion(self) -> None:
        """A finished pod stays until someone deletes it; then remove it for good."""
        while not self._should_exit:
            if self._deleting:
                self._finish_deletion()
                return
            time.sleep(0.5)

    def _finish_deletion(self) -> None:
        """Containers are stopped: remove the pod's folder, then the pod object."""
        self._remove_folder()
        self.reporter.delete(self.pod)
        self._gone.set()
