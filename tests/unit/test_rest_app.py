"""The REST API served by uvicorn on loopback, for what needs no cluster: health, metrics,
OpenAPI, the offline Swagger UI and the 401 without a token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from kubernetes import client as k8s

from mlops_operator.kube import Kube
from rest_support import free_port, rest_server

pytestmark = pytest.mark.unit

ENDPOINTS = {
    ("post", "/mlops/train"),
    ("get", "/mlops/train/{jobId}"),
    ("get", "/mlops/models"),
    ("get", "/mlops/models/{modelId}/{version}"),
    ("post", "/mlops/models/{modelId}/{version}/promote"),
    ("post", "/mlops/models/compare"),
    ("post", "/mlops/deploy"),
    ("post", "/mlops/predict"),
    ("post", "/mlops/predict/batch"),
    ("post", "/mlops/explain"),
    ("post", "/mlops/experiments"),
    ("get", "/mlops/experiments/{experimentId}"),
    ("post", "/mlops/experiments/compare"),
    ("get", "/mlops/models/{modelId}/drift"),
    ("post", "/mlops/models/{modelId}/drift/init"),
    ("get", "/mlops/health"),
    ("get", "/mlops/metrics"),
}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    # nothing listens there: these requests must not need the API server
    unreachable = Kube(k8s.ApiClient(k8s.Configuration(host=f"http://127.0.0.1:{free_port()}")))
    with rest_server(unreachable) as url:
        yield url


def test_health(base: str) -> None:
    answer = httpx.get(f"{base}/mlops/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_openapi_lists_every_endpoint_and_the_bearer_scheme(base: str) -> None:
    spec = httpx.get(f"{base}/openapi.json").json()
    found = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert found == ENDPOINTS
    schemes = spec["components"]["securitySchemes"]
    assert schemes["KubernetesToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["KubernetesToken"]["description"],
    }
    assert spec["paths"]["/mlops/train"]["post"]["security"] == [{"KubernetesToken": []}]
    assert "security" not in spec["paths"]["/mlops/health"]["get"]


def test_swagger_ui_loads_only_its_own_files(base: str) -> None:
    page = httpx.get(f"{base}/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', page.text)
    assert urls, page.text
    assert all(url.startswith("/docs/static/") for url in urls), urls
    assert "//" not in " ".join(urls)
    for url in urls:
        asset = httpx.get(f"{base}{url}")
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    bundle = httpx.get(f"{base}/docs/static/swagger-ui-bundle.js").text
    assert "isOAS31" in bundle  # Swagger UI 5: renders FastAPI's OpenAPI 3.1
    redoc = httpx.get(f"{base}/redoc")
    assert re.findall(r'src="([^"]+)"', redoc.text) == ["/docs/static/redoc.standalone.js"]


def test_no_token_is_401_with_a_json_reason(base: str) -> None:
    for method, path in (("post", "/mlops/train"), ("get", "/mlops/models")):
        answer = httpx.request(method, f"{base}{path}", json={})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        body = answer.json()
        assert body["reason"] == "Unauthorized"
        assert "Authorization: Bearer" in body["message"]
    basic = httpx.get(f"{base}/mlops/models", auth=("user", "password"))
    assert basic.status_code == 401


def test_metrics_count_requests_by_route_template(base: str) -> None:
    for _ in range(3):
        httpx.get(f"{base}/mlops/train/job-a")
        httpx.get(f"{base}/mlops/train/job-b")
    text = httpx.get(f"{base}/mlops/metrics").text
    counted = re.search(
        r'mlops_rest_requests_total\{method="GET",route="/mlops/train/\{jobId\}",'
        r'status="401"\} (\d+)',
        text,
    )
    assert counted is not None, text
    assert int(float(counted.group(1))) == 6
    assert "job-a" not in text
    assert 'mlops_rest_request_duration_seconds_bucket{le="0.005",method="GET"' in text
