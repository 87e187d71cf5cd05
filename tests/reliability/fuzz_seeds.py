"""Valid inputs of each fuzz target (fuzz_targets.py), for libFuzzer to start mutating from."""

from __future__ import annotations

import json

#: valid inputs for libFuzzer to start mutating from
SEEDS: dict[str, list[bytes]] = {
    "v1-request": [
        json.dumps(
            {"instances": [{"amount": 1.5, "age": 3, "score": 0, "segment": "vip"}]}
        ).encode(),
        json.dumps({"instances": [[1.5, 3, 0.25, "retail"], [2, 4, 1e3, None]]}).encode(),
    ],
    "v2-request": [
        json.dumps(
            {
                "inputs": [
                    {"name": "amount", "shape": [1], "datatype": "FP32", "data": [1.5]},
                    {"name": "age", "shape": [1, 1], "datatype": "INT64", "data": [[3]]},
                    {"name": "score", "shape": [1], "datatype": "FP64", "data": [0.5]},
                    {"name": "segment", "shape": [1], "datatype": "BYTES", "data": ["vip"]},
                ]
            }
        ).encode(),
        json.dumps(
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
        ).encode(),
    ],
    "router-config": [
        json.dumps(
            {
                "model": "fraud",
                "backends": [
                    {"version": "1.0.0", "weight": 90, "endpoints": ["10.0.0.1:8080"]},
                    {"version": "1.1.0", "weight": 10, "service": "fraud-v1-1-0"},
                ],
                "stickyHeader": "x-user",
            }
        ).encode(),
        b"model: fraud\nbackends:\n- version: 1.0.0\n  weight: 100\n  endpoints: [a:1]\n",
    ],
    "manifest": [
        json.dumps(
            {
                "format": "mlops-safetensors-v1",
                "model": "fraud",
                "version": "1.0.0",
                "createdAt": "2026-01-01T00:00:00Z",
                "files": [{"path": "model.safetensors", "sha256": "0" * 64, "size": 3}],
            }
        ).encode()
    ],
}
