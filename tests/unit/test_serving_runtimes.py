"""The two serving runtimes answer alike; ONNX Runtime is the default and never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from example_artifacts import dataset_of, example_records, publish_example

from mlops_core.artifact import ArtifactError
from mlops_core.serving_spec import runtime_for
from mlops_serving.runtimes import ServableArtifact, load_servable

pytestmark = pytest.mark.unit

ARCHITECTURES = ["logistic_regression", "mlp", "lstm", "cnn_text"]
TOLERANCE = 1e-5


def test_the_runtime_is_onnx_when_asked_and_the_artifact_has_it() -> None:
    assert runtime_for("onnx", has_onnx=True) == "onnx"
    assert runtime_for("onnx", has_onnx=False) == "torch"  # trained before the export
    assert runtime_for("torch", has_onnx=True) == "torch"
    assert runtime_for("torch", has_onnx=False) == "torch"


def _both(store_path: Path, architecture: str) -> tuple[ServableArtifact, ServableArtifact]:
    store = publish_example(store_path, architecture)
    onnx = load_servable(store, requested="onnx")
    torch_ = load_servable(store, requested="torch")
    assert (onnx.runtime, torch_.runtime) == ("onnx", "torch")
    return onnx, torch_


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_both_runtimes_answer_alike_per_request_and_batched(
    tmp_path: Path, architecture: str
) -> None:
    onnx, torch_ = _both(tmp_path, architecture)
    records = example_records(dataset_of(architecture), "test")
    batched = onnx.predict_proba(records), torch_.predict_proba(records)
    assert np.abs(batched[0] - batched[1]).max() <= TOLERANCE
    assert (batched[0].argmax(axis=1) == batched[1].argmax(axis=1)).all()
    for i, record in enumerate(records[:40]):
        one = onnx.predict_proba([record]), torch_.predict_proba([record])
        assert np.abs(one[0] - one[1]).max() <= TOLERANCE
        assert np.abs(one[0][0] - batched[0][i]).max() <= TOLERANCE
    assert onnx.predict_proba([]).shape == (0, len(onnx.class_labels))


def test_a_version_without_onnx_is_served_by_torch(tmp_path: Path) -> None:
    store = publish_example(tmp_path, "mlp", onnx=False, steps=2)
    assert load_servable(store, requested="onnx").runtime == "torch"


def test_a_version_whose_onnx_was_changed_is_refused(tmp_path: Path) -> None:
    store = publish_example(tmp_path, "mlp", steps=2)
    (tmp_path / "model.onnx").write_bytes(b"changed")
    with pytest.raises(ArtifactError, match=r"model\.onnx does not match the manifest"):
        load_servable(store, requested="onnx")


SERVER_WITHOUT_TORCH = textwrap.dedent(
    """
    import asyncio, json, sys

    import httpx

    from mlops_serving.server_app import build_server
    from mlops_serving.settings import ServerSettings

    async def main() -> None:
        settings = ServerSettings(
            model_repository_uri=sys.argv[1], preload_models="m:1.0.0", serving={"runtime": "onnx"}
        )
        server = build_server(settings)
        app = server.app
        async with app.router.lifespan_context(app):
            served = await app.state.inference.repository.get("m", "1.0.0")
            transport = httpx.ASGITransport(app=server)
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                record = json.loads(sys.argv[2])
                v1 = await client.post("/v1/models/m:predict", json={"instances": [record]})
                meta = await client.get("/v2/models/m")
        loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
        print(json.dumps({"runtime": served.artifact.runtime, "v1": v1.status_code,
                          "platform": meta.json()["platform"], "torch": loaded}))

    asyncio.run(main())
    """
)


def test_the_onnx_path_never_imports_torch(tmp_path: Path) -> None:
    publish_example(tmp_path / "m" / "1.0.0", "mlp", steps=2)
    record = example_records("breast-cancer", "test")[0]
    done = subprocess.run(
        [sys.executable, "-c", SERVER_WITHOUT_TORCH, str(tmp_path), json.dumps(record)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {"runtime": "onnx", "v1": 200, "platform": "onnxruntime", "torch": []}


def test_cuda_comes_first_only_for_a_pod_with_a_gpu_and_onnxruntime_gpu() -> None:
    from mlops_core.onnx_network import execution_providers

    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers(gpu=True, available=both) == both
    assert execution_providers(gpu=False, available=both) == ["CPUExecutionProvider"]
    cpu_only = ["CPUExecutionProvider"]
    assert execution_providers(gpu=True, available=cpu_only) == ["CPUExecutionProvider"]
