"""Ray Serve with ``serve.multiplexed`` serving each version's ``model.onnx`` (in its own venv).

Arguments: the model root (``<root>/<model>/1.0.0/model.onnx``), the HTTP port, the replica count,
``max_num_models_per_replica``, a file each load appends the model's name to, and Ray's temp dir.
A request names its model in the ``serve_multiplexed_model_id`` header and carries an Open
Inference Protocol v2 body with one FP32 tensor. Prints one JSON line with the replicas' process
ids once serving, and shuts down when stdin closes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import numpy as np
import onnxruntime as ort
import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

ROOT, PORT, REPLICAS, PER_REPLICA, LOADS, TEMP = sys.argv[1:7]


@serve.deployment(
    num_replicas=int(REPLICAS), ray_actor_options={"num_cpus": 0}, max_ongoing_requests=16
)
class Models:
    def __init__(self) -> None:
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = 1
        self.options.inter_op_num_threads = 1

    def pid(self) -> int:
        return os.getpid()

    @serve.multiplexed(max_num_models_per_replica=int(PER_REPLICA))
    async def get_model(self, model_id: str) -> ort.InferenceSession:
        with open(LOADS, "a") as loads:
            loads.write(model_id + "\n")
        path = os.path.join(ROOT, model_id, "1.0.0", "model.onnx")
        return ort.InferenceSession(path, self.options, providers=["CPUExecutionProvider"])

    async def __call__(self, request: Request) -> JSONResponse:
        session = await self.get_model(serve.get_multiplexed_model_id())
        tensor = (await request.json())["inputs"][0]
        x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        proba = session.run(None, {session.get_inputs()[0].name: x})[0]
        output = {"name": "proba", "shape": list(proba.shape), "datatype": "FP32"}
        return JSONResponse({"outputs": [{**output, "data": proba.ravel().tolist()}]})


def main() -> None:
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        _temp_dir=TEMP,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": int(PORT)})
    handle = serve.run(Models.bind(), route_prefix="/")
    pids: set[int] = set()
    deadline = time.monotonic() + 60
    while len(pids) < int(REPLICAS) and time.monotonic() < deadline:
        pids.add(handle.pid.remote().result())
    print(json.dumps({"replica_pids": sorted(pids)}), flush=True)
    sys.stdin.read()
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
