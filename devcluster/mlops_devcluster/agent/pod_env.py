"""A container's environment and command line from its pod spec (pure).

Looks up Secrets and ConfigMaps through the ``lookup`` callable given in, so the logic is
testable without a cluster. ``$(VAR)`` references expand as in Kubernetes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from mlops_devcluster.agent.quantity import divide_ceil

Object = dict[str, Any]
#: (kind "Secret" | "ConfigMap", namespace, name) → the object, or None when it does not exist
Lookup = Callable[[str, str, str], Object | None]
_REFERENCE: Final = re.compile(r"\$\((\w[\w.\-]*)\)|\$\$")


class EnvError(ValueError):
    """The pod's environment cannot be built yet (a missing Secret/ConfigMap key, a bad ref)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def expand(text: str, env: Mapping[str, str]) -> str:
    """Expand ``$(NAME)`` from ``env``; ``$$`` is a literal ``$``; unknown names stay as is."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)


def _label_selector(path: str, values: Mapping[str, str]) -> str | None:
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if not match:
        return None
    return values.get(match.group(2), "")


def field_value(pod: Object, path: str) -> str:
    """A downward-API ``fieldRef`` value."""
    metadata = pod.get("metadata", {})
    spec = pod.get("spec", {})
    status = pod.get("status", {})
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs", [])),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs", [])),
    }
    if path in simple:
        return str(simple[path])
    if path in ("metadata.labels", "metadata.annotations"):
        values = metadata.get(path.split(".")[1], {}) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
    kind = "labels" if path.startswith("metadata.labels") else "annotations"
    picked = _label_selector(path, metadata.get(kind, {}) or {})
    if picked is not None:
        return picked
    raise EnvError("InvalidFieldRef", f"unsupported fieldRef fieldPath {path!r}")


def resource_value(container: Object, ref: Object, *, allocatable: Mapping[str, str]) -> str:
    """A downward-API ``resourceFieldRef`` value (limits fall back to node allocatable)."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise EnvError("InvalidResourceFieldRef", f"unsupported resourceFieldRef {resource!r}")
    resources = container.get("resources", {}) or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(name)
    if value is None:
        value = allocatable.get(name, "0") if kind == "limits" else "0"
    return divide_ceil(str(value), ref.get("divisor"))


def _decoded(obj: Object, key: str) -> str | None:
    if obj.get("kind") == "Secret":
        raw = (obj.get("data") or {}).get(key)
        return base64.b64decode(raw).decode() if raw is not None else None
    value = (obj.get("data") or {}).get(key)
    if value is None and key in (obj.get("binaryData") or {}):
        return str(base64.b64decode(obj["binaryData"][key]).decode(errors="replace"))
    return value if value is None else str(value)


def _key_ref(ref: Object, kind: str, namespace: str, lookup: Lookup) -> str | None:
    name = ref.get("name", "")
    obj = lookup(kind, namespace, name)
    optional = bool(ref.get("optional", False))
    if obj is None:
        if optional:
            return None
        raise EnvError(
            "CreateContainerConfigError", f'{kind.lower()} "{name}" not found in {namespace}'
        )
    value = _decoded(obj, ref["key"])
    if value is None and not optional:
        raise EnvError(
            "CreateContainerConfigError",
            f"couldn't find key {ref['key']} in {kind} {namespace}/{name}",
        )
    return value


def container_env(
    pod: Object,
    container: Object,
    *,
    base: Mapping[str, str],
    lookup: Lookup,
    allocatable: Mapping[str, str],
) -> dict[str, str]:
    """``base``, then ``envFrom`` in order, then ``env`` (later wins, ``$(VAR)`` expanded)."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom", []) or []:
        prefix = source.get("prefix", "") or ""
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(key)
            if ref is None:
                continue
            obj = lookup(kind, namespace, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    continue
                raise EnvError(
                    "CreateContainerConfigError",
                    f'{kind.lower()} "{ref.get("name")}" not found in {namespace}',
                )
            keys = list((obj.get("data") or {}).keys())
            for data_key in keys:
                decoded = _decoded(obj, data_key)
                if decoded is not None:
                    env[prefix + data_key] = decoded
    for item in container.get("env", []) or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env)
            continue
        source = item["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            value = resource_value(container, source["resourceFieldRef"], allocatable=allocatable)
        elif "secretKeyRef" in source:
            value = _key_ref(source["secretKeyRef"], "Secret", namespace, lookup)
        elif "configMapKeyRef" in source:
            value = _key_ref(source["configMapKeyRef"], "ConfigMap", namespace, lookup)
        else:
            raise EnvError("CreateContainerConfigError", f"unsupported valueFrom in env {name}")
        if value is not None:
            env[name] = value
    return env


def container_argv(
    container: Object, *, entrypoint: list[str], env: Mapping[str, str]
) -> list[str]:
    """``command`` replaces the image entrypoint, ``args`` its arguments (``$(VAR)`` expanded)."""
    command = container.get("command")
    args = container.get("args") or []
    argv = list(command) if command else list(entrypoint)
    return [expand(str(part), env) for part in [*argv, *args]]
