"""Services on the devcluster: names resolve in pods, ClusterIPs forward to ready endpoints."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

import pytest
from test_devcluster_pods import container_state, finished, get_pod, log_of, wait_for

from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration
TRAINER = "ghcr.io/mlops-dev/mlops-trainer:test"

#: GET / on :8080 answers the pod's name; :8081 serves /healthz (the readiness probe) and
#: POST /unready, /ready and /close-main (stop listening on :8080, still ready)
ECHO_SERVER = """
import os, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
ip, name, state = os.environ["POD_IP"], os.environ["POD_NAME"], {"ready": True}
class Main(BaseHTTPRequestHandler):
    def do_GET(self):
        self._send(200, name)
    def _send(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
main = ThreadingHTTPServer((ip, 8080), Main)
class Control(Main):
    def do_GET(self):
        self._send(200 if state["ready"] else 503, str(state["ready"]))
    def do_POST(self):
        if self.path == "/close-main":
            main.shutdown()
            main.server_close()
        else:
            state["ready"] = self.path == "/ready"
        self._send(200, self.path)
threading.Thread(target=ThreadingHTTPServer((ip, 8081), Control).serve_forever).start()
main.serve_forever()
"""

CLIENT = """
import json, socket, ssl, sys, urllib.request
out = {}
ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
version = urllib.request.urlopen("https://kubernetes.default.svc/version", timeout=5,
                                 context=ssl.create_default_context(cafile=ca))
out["api"] = json.load(version)["gitVersion"]
for url in sys.argv[1:]:
    try:
        out[url] = urllib.request.urlopen(url, timeout=5).read().decode()
    except Exception as exc:
        out[url] = type(exc).__name__
for name in ("echo-headless.%(ns)s.svc", "echo.%(ns)s.svc"):
    try:
        out[name] = sorted({a[4][0] for a in socket.getaddrinfo(name, 80, socket.AF_INET)})
    except socket.gaierror:
        out[name] = "gaierror"
open("/dev/termination-log", "w").write(json.dumps(out))
"""


def echo_pods(namespace: str, *names: str) -> str:
    pods = [
        f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: echo}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: server
    image: {TRAINER}
    command: [python, -c, {json.dumps(ECHO_SERVER)}]
    ports: [{{name: http, containerPort: 8080}}]
    env:
    - {{name: POD_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
    - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
    readinessProbe:
      httpGet: {{path: /healthz, port: 8081}}
      periodSeconds: 1
      failureThreshold: 1
"""
        for name in names
    ]
    services = f"""
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: {namespace}}}
spec:
  selector: {{app: echo}}
  ports: [{{name: web, port: 80, targetPort: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo-headless, namespace: {namespace}}}
spec:
  clusterIP: None
  selector: {{app: echo}}
  ports: [{{name: http, port: 8080}}]
"""
    return "---".join([services, *pods])


def start_echo(devcluster: DevCluster, namespace: str, *names: str) -> dict[str, str]:
    """Pod name → pod IP, once every pod is Ready."""
    devcluster.kubectl("apply", "-f", "-", input=echo_pods(namespace, *names))
    devcluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Ready", "pod", *names, "--timeout=60s"
    )
    return {name: get_pod(devcluster, namespace, name)["status"]["podIP"] for name in names}


def headless_addresses(devcluster: DevCluster, namespace: str, name: str) -> list[str]:
    """The addresses the node's hosts file gives ``name``'s headless Service in ``namespace``."""
    hosts = devcluster.layout.run / "hosts" / namespace
    text = hosts.read_text() if hosts.exists() else ""
    wanted = f"{name}.{namespace}.svc"
    return sorted(line.split()[0] for line in text.splitlines() if wanted in line.split()[1:])


def run_client(devcluster: DevCluster, namespace: str, name: str, *urls: str) -> Any:
    script = CLIENT % {"ns": namespace}
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  restartPolicy: Never
  containers:
  - name: client
    image: {TRAINER}
    command: [python, -c, {json.dumps(script)}, {", ".join(json.dumps(u) for u in urls)}]
"""
    devcluster.kubectl("apply", "-f", "-", input=manifest)
    pod = finished(devcluster, namespace, name)
    assert pod["status"]["phase"] == "Succeeded", log_of(devcluster, namespace, name, check=False)
    return json.loads(container_state(pod)["terminated"]["message"])


def cluster_ip(devcluster: DevCluster, namespace: str, name: str) -> str:
    return devcluster.kubectl(
        "get", "service", "-n", namespace, name, "-o", "jsonpath={.spec.clusterIP}"
    ).stdout


def ask(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/", timeout=5) as answer:
        return str(answer.read().decode())


def post(pod_ip: str, path: str) -> None:
    request = urllib.request.Request(f"http://{pod_ip}:8081{path}", method="POST")
    urllib.request.urlopen(request, timeout=5).close()


def refused(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_pod_calls_a_service_by_name_until_the_service_is_deleted(
    devcluster: DevCluster, namespace: str
) -> None:
    pods = start_echo(devcluster, namespace, "echo-a", "echo-b")
    # Ready pods reach a headless name once their EndpointSlice does: wait for both, as DNS would
    wait_for(
        "the headless Service to list both pods",
        lambda: headless_addresses(devcluster, namespace, "echo-headless"),
        lambda listed: listed == sorted(pods.values()),
        timeout=20,
    )
    names = ["echo", f"echo.{namespace}", f"echo.{namespace}.svc"]
    names.append(f"echo.{namespace}.svc.cluster.local")
    urls = [f"http://{name}/" for name in names] + [f"http://echo.{namespace}.svc:80/"]
    out = run_client(devcluster, namespace, "client", *urls)
    address = cluster_ip(devcluster, namespace, "echo")
    for url in urls:
        assert out[url] in pods, out
    assert out["api"] == "v1.36.3"  # default/kubernetes goes to the API server
    assert out[f"echo.{namespace}.svc"] == [address]
    assert out[f"echo-headless.{namespace}.svc"] == sorted(pods.values())

    devcluster.kubectl("delete", "service", "-n", namespace, "echo", "--wait")
    wait_for(f"{address}:80 to refuse", lambda: refused(address, 80), timeout=20)
    out = run_client(devcluster, namespace, "client-after", urls[2])
    assert out[f"echo.{namespace}.svc"] == "gaierror", out
    assert out[urls[2]] == "URLError", out
    assert out[f"echo-headless.{namespace}.svc"] == sorted(pods.values())


def test_the_cluster_ip_follows_readiness_and_skips_an_endpoint_that_refuses(
    devcluster: DevCluster, namespace: str
) -> None:
    pods = start_echo(devcluster, namespace, "echo-a", "echo-b")
    address = cluster_ip(devcluster, namespace, "echo")

    def answers(count: int = 8) -> set[str]:
        return {ask(address) for _ in range(count)}

    wait_for("both endpoints to answer", answers, lambda seen: seen == set(pods))
    post(pods["echo-a"], "/unready")
    wait_for("only echo-b to answer", answers, lambda seen: seen == {"echo-b"}, timeout=20)
    post(pods["echo-a"], "/ready")
    wait_for("echo-a to answer again", answers, lambda seen: seen == set(pods), timeout=20)

    # echo-b stays ready but stops listening: its connections are refused and retried on echo-a
    post(pods["echo-b"], "/close-main")
    assert answers(12) == {"echo-a"}
