"""The model server loading versions from MinIO (the devcluster's S3), digests checked."""

from __future__ import annotations

from pathlib import Path

import boto3
import httpx
import pytest
from test_serving_models import run_server, train_tabular
from test_serving_server import RECORD

from mlops_core.storage import join_uri, open_store
from mlops_devcluster.cluster import DevCluster

pytestmark = pytest.mark.integration


def test_server_loads_from_s3_and_refuses_a_tampered_version(
    devcluster: DevCluster, s3_prefix: str, tmp_path: Path
) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=devcluster.s3_endpoint,
        aws_access_key_id=devcluster.s3_access_key,
        aws_secret_access_key=devcluster.s3_secret_key,
        region_name="us-east-1",
    )
    root = join_uri(s3_prefix, "models")
    digest = train_tabular(open_store(join_uri(root, "fraud", "1.0.0"), client=client))
    train_tabular(open_store(join_uri(root, "fraud", "1.1.0"), client=client), version="1.1.0")
    # tamper with 1.1.0 after publication: its weights no longer match the manifest
    tampered = open_store(join_uri(root, "fraud", "1.1.0"), client=client)
    weights = bytearray(tampered.read_bytes("model.safetensors"))
    weights[-1] ^= 0x01
    tampered.write_bytes("model.safetensors", bytes(weights))

    with (
        run_server(
            root,
            host="127.0.0.41",
            log_dir=tmp_path,
            PRELOAD_MODELS="fraud:1.0.0",
            **devcluster.s3_env(),
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        meta = http.get("/v2/models/fraud/versions/1.0.0").json()
        assert meta["parameters"]["digest"] == digest
        assert meta["versions"] == ["1.0.0", "1.1.0"]
        answer = http.post("/v1/models/fraud/versions/1.0.0:predict", json={"instances": [RECORD]})
        assert answer.json()["predictions"] == ["fraud"]
        refused = http.post("/v1/models/fraud:predict", json={"instances": [RECORD]})
        assert refused.status_code == 503  # the default (highest) version is the tampered one
        assert "does not match the manifest" in refused.json()["error"]
        assert http.get("/v2/health/ready").status_code == 200
