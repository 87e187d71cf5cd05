"""Building a container's environment and command line from its pod spec."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mlops_devcluster.agent.pod_env import (
    EnvError,
    container_argv,
    container_env,
    expand,
    field_value,
)
from mlops_devcluster.agent.quantity import divide_ceil, parse_quantity

pytestmark = pytest.mark.unit

POD: dict[str, Any] = {
    "metadata": {
        "name": "trainer-0",
        "namespace": "ml",
        "uid": "u-1",
        "labels": {"app": "trainer", "tier": "batch"},
        "annotations": {"note": "x"},
    },
    "spec": {"nodeName": "devcluster-gpu", "serviceAccountName": "runner"},
    "status": {"podIP": "198.18.7.2", "podIPs": [{"ip": "198.18.7.2"}], "hostIP": "127.0.0.1"},
}
OBJECTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("Secret", "ml", "s3"): {
        "kind": "Secret",
        "data": {
            "AWS_ACCESS_KEY_ID": base64.b64encode(b"id").decode(),
            "AWS_SECRET_ACCESS_KEY": base64.b64encode(b"secret").decode(),
        },
    },
    ("ConfigMap", "ml", "cfg"): {"kind": "ConfigMap", "data": {"mode": "fast", "epochs": "3"}},
}


def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, namespace, name))


def build(container: dict[str, Any]) -> dict[str, str]:
    return container_env(
        POD, container, base={"PATH": "/bin"}, lookup=lookup, allocatable={"cpu": "16"}
    )


def test_expand_replaces_known_references_and_keeps_the_rest() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)-$(C)-$$(A)", env) == "1-two-$(C)-$(A)"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "trainer-0"),
        ("metadata.namespace", "ml"),
        ("metadata.uid", "u-1"),
        ("spec.nodeName", "devcluster-gpu"),
        ("spec.serviceAccountName", "runner"),
        ("status.podIP", "198.18.7.2"),
        ("status.podIPs", "198.18.7.2"),
        ("status.hostIP", "127.0.0.1"),
        ("metadata.labels['tier']", "batch"),
        ("metadata.annotations['note']", "x"),
        ("metadata.labels", 'app="trainer"\ntier="batch"'),
    ],
)
def test_field_refs(path: str, value: str) -> None:
    assert field_value(POD, path) == value


def test_unknown_field_ref_is_an_error_that_names_it() -> None:
    with pytest.raises(EnvError, match=r"status\.nope"):
        field_value(POD, "status.nope")


def test_env_from_then_env_with_every_value_source() -> None:
    env = build(
        {
            "name": "main",
            "resources": {"limits": {"memory": "1Gi"}},
            "envFrom": [
                {"secretRef": {"name": "s3"}},
                {"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
            ],
            "env": [
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
                {
                    "name": "KEY",
                    "valueFrom": {"secretKeyRef": {"name": "s3", "key": "AWS_ACCESS_KEY_ID"}},
                },
                {"name": "URL", "value": "http://$(POD_IP):8080"},
                {
                    "name": "MEM_MI",
                    "valueFrom": {
                        "resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}
                    },
                },
                {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {
                    "name": "MISSING",
                    "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}},
                },
            ],
        }
    )
    assert env == {
        "PATH": "/bin",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "CFG_mode": "fast",
        "CFG_epochs": "3",
        "POD_IP": "198.18.7.2",
        "MODE": "fast",
        "KEY": "id",
        "URL": "http://198.18.7.2:8080",
        "MEM_MI": "1024",
        "CPUS": "16",
    }


def test_missing_secret_and_missing_key_say_what_is_missing() -> None:
    with pytest.raises(EnvError, match='secret "absent" not found in ml'):
        build({"name": "c", "envFrom": [{"secretRef": {"name": "absent"}}]})
    with pytest.raises(EnvError, match="couldn't find key nokey in ConfigMap ml/cfg"):
        build(
            {
                "name": "c",
                "env": [
                    {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey"}}}
                ],
            }
        )


@pytest.mark.parametrize(
    ("container", "argv"),
    [
        ({}, ["python", "-m", "mlops_trainer"]),
        (
            {"args": ["--config", "$(CFG)"]},
            ["python", "-m", "mlops_trainer", "--config", "/c.json"],
        ),
        ({"command": ["sh", "-c"], "args": ["echo $(CFG)"]}, ["sh", "-c", "echo /c.json"]),
        ({"command": ["sleep", "1"]}, ["sleep", "1"]),
    ],
)
def test_command_replaces_entrypoint_and_args_follow(
    container: dict[str, Any], argv: list[str]
) -> None:
    entrypoint = ["python", "-m", "mlops_trainer"]
    assert container_argv(container, entrypoint=entrypoint, env={"CFG": "/c.json"}) == argv


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1Gi", str(2**30)), ("1e3", "1000"), ("1.5k", "1500")],
)
def test_quantities(text: str, value: str) -> None:
    assert parse_quantity(text) == parse_quantity(value)


def test_bad_quantity_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="invalid resource quantity '12parsecs'"):
        parse_quantity("12parsecs")


def test_resource_values_round_up_like_the_kubelet() -> None:
    assert divide_ceil("500m", None) == "1"
    assert divide_ceil("1500Mi", "1Gi") == "2"
