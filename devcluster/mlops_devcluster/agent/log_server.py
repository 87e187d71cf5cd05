"""The node agent's kubelet-style HTTPS endpoint for container logs, so that ``kubectl logs``
(``pods/log`` through the API server) works. Only the API server's client certificate is let in.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, unquote, urlsplit

from mlops_devcluster.pki import KUBELET_CLIENT, Pki
from mlops_devcluster.pod_logs import PodLogError, container_pid_file, find_log

FOLLOW_POLL: Final = 0.3
log = logging.getLogger(__name__)


def tail_lines(data: bytes, count: int | None) -> bytes:
    """The last ``count`` lines of ``data`` (all of it for None)."""
    if count is None:
        return data
    if count <= 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:])


def parse_log_path(path: str) -> tuple[str, str, str] | None:
    """``/containerLogs/<namespace>/<pod>/<container>`` → its three parts."""
    parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
    if len(parts) != 4 or parts[0] != "containerLogs":
        return None
    return parts[1], parts[2], parts[3]


class LogServer:
    """Serves ``GET /containerLogs/...`` over TLS on 127.0.0.1 (a free port)."""

    def __init__(self, *, root: Path, pki: Pki, stopping: threading.Event) -> None:
        self.root = root
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.kubelet_cert), str(pki.kubelet_key))
        context.load_verify_locations(cafile=str(pki.ca_cert))
        context.verify_mode = ssl.CERT_REQUIRED
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, stopping))
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port: int = server.server_address[1]

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="log-server", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(root: Path, stopping: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            log.debug(format, *args)

        def _client_allowed(self) -> bool:
            if not isinstance(self.connection, ssl.SSLSocket):
                return False
            peer = self.connection.getpeercert() or {}
            names = []
            for rdn in peer.get("subject", ()):
                for attribute in rdn:
                    if isinstance(attribute, tuple) and attribute[0] == "commonName":
                        names.append(attribute[1])
            return names == [KUBELET_CLIENT.user]

        def _send_text(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if not self._client_allowed():
                self._send_text(403, "only the API server may read logs here\n")
                return
            target = parse_log_path(self.path)
            if target is None:
                self._send_text(
                    404, f"the devcluster node agent serves only container logs, not {self.path}\n"
                )
                return
            namespace, pod, container = target
            query = parse_qs(urlsplit(self.path).query)
            previous = query.get("previous", ["false"])[0] == "true"
            follow = query.get("follow", ["false"])[0] == "true"
            lines = query.get("tailLines", [None])[0]
            limit = query.get("limitBytes", [None])[0]
            try:
                path = find_log(
                    root, pod=pod, namespace=namespace, container=container, previous=previous
                )
            except PodLogError as exc:
                self._send_text(404, f"{exc}\n")
                return
            data = tail_lines(path.read_bytes(), int(lines) if lines is not None else None)
            if limit is not None:
                data = data[: int(limit)]
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            if not follow:
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self._follow(path, offset=path.stat().st_size)

        def _follow(self, path: Path, *, offset: int) -> None:
            """Stream what is appended until the container's run ends (a newer run file
            appears or its pid file is gone) or the client goes away."""
            pid_file = container_pid_file(root, path)
            with path.open("rb") as handle:
                handle.seek(offset)
                while not stopping.is_set():
                    chunk = handle.read()
                    try:
                        if chunk:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                        elif not pid_file.exists():
                            return
                    except OSError:
                        return
                    time.sleep(FOLLOW_POLL)

    return Handler
