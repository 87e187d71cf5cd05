"""A small JSON client for the Kubernetes API: the devcluster's only network adapter to it.

Plain dicts in and out (the node agent handles pods as data, not generated model classes);
client-certificate authentication from the admin kubeconfig's files.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

Object = dict[str, Any]


class ApiError(RuntimeError):
    """A non-2xx answer; ``status`` is the HTTP code, ``reason`` the API's reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def ssl_context(*, ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


def resource_path(
    *,
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """``/api/v1/namespaces/ns/pods/name/status`` and friends."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    parts = [base]
    if namespace is not None:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(plural)
    if name is not None:
        parts.append(quote(name, safe=""))
    if subresource is not None:
        parts.append(subresource)
    return "/".join(parts)


class Kube:
    """JSON requests against one API server."""

    def __init__(self, *, server: str, context: ssl.SSLContext, timeout: float = 30.0) -> None:
        self.server = server.rstrip("/")
        self._pool = urllib3.PoolManager(
            ssl_context=context, maxsize=16, timeout=urllib3.Timeout(connect=5.0, read=timeout)
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Object:
        url = self.server + path + (f"?{urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        response = self._pool.request(method, url, body=data, headers=headers)
        return _decode(response.status, response.data)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200 (False also when nothing listens yet)."""
        try:
            response = self._pool.request("GET", self.server + "/readyz", retries=False)
        except urllib3.exceptions.HTTPError:
            return False
        return response.status == 200

    def get(self, path: str, **query: str) -> Object:
        return self.request("GET", path, query=query or None)

    def create(self, path: str, body: Mapping[str, Any]) -> Object:
        return self.request("POST", path, body=body)

    def merge_patch(self, path: str, body: Mapping[str, Any]) -> Object:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def delete(self, path: str, body: Mapping[str, Any] | None = None) -> Object:
        return self.request("DELETE", path, body=body)

    def watch(self, path: str, *, resource_version: str, **query: str) -> Iterator[Object]:
        """Watch events (dicts with ``type`` and ``object``) until the server ends the stream."""
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
        }
        params.update(query)
        url = f"{self.server}{path}?{urlencode(params)}"
        response = self._pool.request(
            "GET",
            url,
            preload_content=False,
            timeout=urllib3.Timeout(connect=5.0, read=None),
        )
        try:
            if response.status >= 300:
                _decode(response.status, response.read())
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()


def _decode(status: int, data: bytes) -> Object:
    try:
        payload: Object = json.loads(data) if data else {}
    except json.JSONDecodeError:
        payload = {"message": data[:500].decode(errors="replace")}
    if status >= 300:
        raise ApiError(status, str(payload.get("reason", "")), str(payload.get("message", "")))
    return payload
