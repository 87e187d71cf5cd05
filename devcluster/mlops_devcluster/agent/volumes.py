"""Pod volumes as folders on the host, bind-mounted into each container's mount namespace.

Supported: ``emptyDir``, ``configMap``, ``secret``, ``downwardAPI`` and ``projected`` (which
carries the service-account token, the cluster CA and the namespace). Files are written once
when the pod starts.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_devcluster.agent.launch import BindMount
from mlops_devcluster.agent.pod_env import EnvError, Lookup, field_value
from mlops_devcluster.agent.pod_runtime import RuntimeMountError, check_mount_path

Object = dict[str, Any]
#: (namespace, service account, pod, token request spec) → token
TokenIssuer = Callable[[str, str, Object, Object], str]


class VolumeError(EnvError):
    """A volume cannot be prepared (yet); ``reason`` is CamelCase for the pod status."""


def _items(obj: Object) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("data") or {}).items():
            data[key] = base64.b64decode(value)
        return data
    for key, value in (obj.get("data") or {}).items():
        data[key] = str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        data[key] = base64.b64decode(value)
    return data


def _write_keys(
    folder: Path,
    obj: Object | None,
    source: Object,
    *,
    kind: str,
    name: str,
    namespace: str,
) -> None:
    if obj is None:
        if source.get("optional"):
            return
        raise VolumeError("FailedMount", f'{kind.lower()} "{name}" not found in {namespace}')
    data = _items(obj)
    items = source.get("items")
    mapping = {i["key"]: i["path"] for i in items} if items else {k: k for k in data}
    for key, relative in mapping.items():
        if key not in data:
            if source.get("optional"):
                continue
            raise VolumeError("FailedMount", f"key {key!r} not in {kind} {namespace}/{name}")
        _write_file(folder / relative, data[key])


def _write_file(path: Path, content: bytes) -> None:
    if ".." in path.parts:
        raise VolumeError("FailedMount", f"volume path {path} escapes its volume")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _downward(folder: Path, pod: Object, items: list[Object]) -> None:
    for item in items:
        if "fieldRef" not in item:
            raise VolumeError("FailedMount", "only fieldRef items are supported in downwardAPI")
        _write_file(folder / item["path"], field_value(pod, item["fieldRef"]["fieldPath"]).encode())


def prepare_volumes(
    pod: Object,
    pod_dir: Path,
    *,
    lookup: Lookup,
    issue_token: TokenIssuer,
) -> dict[str, Path]:
    """Write every volume of ``pod`` under ``pod_dir/volumes``; volume name → host folder."""
    namespace = pod["metadata"]["namespace"]
    service_account = pod["spec"].get("serviceAccountName") or "default"
    root = pod_dir / "volumes"
    paths: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes", []) or []:
        name = volume["name"]
        folder = root / name
        if "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
            paths[name] = folder
            continue
        staging = root / f".{name}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if "configMap" in volume or "secret" in volume:
            kind = "ConfigMap" if "configMap" in volume else "Secret"
            source = volume["configMap"] if kind == "ConfigMap" else volume["secret"]
            ref = source.get("name") or source.get("secretName", "")
            obj = lookup(kind, namespace, ref)
            _write_keys(staging, obj, source, kind=kind, name=ref, namespace=namespace)
        elif "downwardAPI" in volume:
            _downward(staging, pod, volume["downwardAPI"].get("items", []))
        elif "projected" in volume:
            for source in volume["projected"].get("sources", []) or []:
                if "serviceAccountToken" in source:
                    spec = source["serviceAccountToken"]
                    token = issue_token(namespace, service_account, pod, spec)
                    _write_file(staging / spec["path"], token.encode())
                elif "configMap" in source or "secret" in source:
                    kind = "ConfigMap" if "configMap" in source else "Secret"
                    inner = source["configMap"] if kind == "ConfigMap" else source["secret"]
                    obj = lookup(kind, namespace, inner.get("name", ""))
                    _write_keys(
                        staging,
                        obj,
                        inner,
                        kind=kind,
                        name=inner.get("name", ""),
                        namespace=namespace,
                    )
                elif "downwardAPI" in source:
                    _downward(staging, pod, source["downwardAPI"].get("items", []))
                else:
                    kinds = ", ".join(source)
                    raise VolumeError("FailedMount", f"unsupported projected source {kinds}")
        else:
            kinds = ", ".join(k for k in volume if k != "name")
            raise VolumeError(
                "UnsupportedVolume",
                f"volume {name!r} of type {kinds} is not supported by the devcluster node agent "
                f"(supported: emptyDir, configMap, secret, downwardAPI, projected)",
            )
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
        paths[name] = folder
    return paths


def container_mounts(
    spec: Object, *, volumes: dict[str, Path], hosts_file: Path | None
) -> list[BindMount]:
    """The bind mounts of one container: the namespace's hosts file, then its volumeMounts
    (a ``subPath`` is created in the volume when missing)."""
    mounts = []
    if hosts_file is not None:
        mounts.append(BindMount(source=hosts_file, target="/etc/hosts", is_file=True))
    for mount in spec.get("volumeMounts", []) or []:
        try:
            check_mount_path(mount["mountPath"])
        except RuntimeMountError as exc:
            raise VolumeError(
                "CreateContainerConfigError", f"container {spec['name']}: {exc}"
            ) from None
        source = volumes.get(mount["name"])
        if source is None:
            raise VolumeError(
                "CreateContainerConfigError",
                f"container {spec['name']} mounts volume {mount['name']!r}, which the pod "
                f"does not declare",
            )
        if mount.get("subPath"):
            source = source / mount["subPath"]
            if ".." in Path(mount["subPath"]).parts:
                raise VolumeError("CreateContainerConfigError", "subPath may not contain '..'")
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)
        mounts.append(
            BindMount(
                source=source,
                target=mount["mountPath"],
                read_only=bool(mount.get("readOnly", False)),
                is_file=source.is_file(),
            )
        )
    return mounts
