"""The REST API as a real uvicorn server on loopback, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
import yaml

from mlops_operator.kube import Kube
from mlops_operator.rest.__main__ import store_opener
from mlops_operator.rest.app import build_app
from mlops_operator.rest.auth import Reviews
from mlops_operator.rest.services import RestServices, StoreOpener
from mlops_operator.rest.settings import RestSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def rest_server(
    kube: Kube,
    *,
    namespace: str = "default",
    open_store: StoreOpener | None = None,
    **settings: object,
) -> Iterator[str]:
    """Serve the REST API (acting as ``kube``) on 127.0.0.1; yields its base URL."""
    port = free_port()
    config = RestSettings.model_validate(
        {"host": "127.0.0.1", "port": port, "namespace": namespace, **settings}
    )
    services = RestServices(
        settings=config,
        kube=kube,
        reviews=Reviews(kube, cache_seconds=config.auth_cache_seconds),
        open_store=open_store or store_opener(),
    )
    server = uvicorn.Server(
        uvicorn.Config(build_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="rest-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the REST API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def token_kubeconfig(admin_kubeconfig: Path, token: str, path: Path) -> Path:
    """A kubeconfig with the admin's server and CA but ``token`` as the identity."""
    config = yaml.safe_load(admin_kubeconfig.read_text())
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    cluster = next(c for c in config["clusters"] if c["name"] == current["context"]["cluster"])
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "cluster", "cluster": cluster["cluster"]}],
                "users": [{"name": "user", "user": {"token": token}}],
                "contexts": [{"name": "user", "context": {"cluster": "cluster", "user": "user"}}],
                "current-context": "user",
            }
        )
    )
    path.chmod(0o600)
    return path
