"""Coverage-guided fuzz targets (atheris / libFuzzer) for what parses untrusted bytes.

    python tests/reliability/fuzz_targets.py TARGET [libFuzzer flags, e.g. -max_total_time=60]

Targets: ``v1-request`` and ``v2-request`` (a request body all the way to the model's input
tensor), ``router-config`` (the router's JSON/YAML config) and ``manifest`` (an artifact's
manifest.json). Each target may refuse its input only with the error its caller turns into a
clear answer (InvalidInputError → 400, RoutingError → config kept, ArtifactError → version
refused); any other exception, and any non-finite number reaching the model, is a crash, and
libFuzzer writes the input that caused it next to the ``-artifact_prefix`` it was given.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import atheris
from fuzz_seeds import SEEDS

# only this project's code is instrumented: instrumenting torch or pydantic takes minutes
with atheris.instrument_imports(include=["mlops_core", "mlops_serving"]):
    import numpy as np
    from pydantic import ValidationError

    from mlops_core.artifact import ArtifactError, parse_manifest, verify_file
    from mlops_core.artifact_config import ArtifactConfig
    from mlops_core.preprocessing import PreprocessingError, fit_tabular
    from mlops_core.routing import RoutingError, choose_version, parse_router_config
    from mlops_core.training_spec import ModelSpec
    from mlops_serving.errors import ServingError
    from mlops_serving.inputs import instances_to_records, v2_inputs_to_records
    from mlops_serving.protocol_v1 import parse_instances
    from mlops_serving.protocol_v2 import InferRequest

FEATURES = ["amount", "age", "score", "segment"]
_TRAIN = {
    "amount": [100.0, 250.0, 30.0, 75.0],
    "age": [30.0, 45.0, 22.0, 60.0],
    "score": [0.5, -1.0, 1.5, 0.0],
    "segment": ["vip", "retail", "business", "retail"],
}
PREPROCESSOR = fit_tabular(_TRAIN, feature_columns=FEATURES, categorical_columns=["segment"])
CONFIG = ArtifactConfig(
    architecture="mlp",
    task="tabular",
    model=ModelSpec(architecture="mlp", hidden_sizes=[4]),
    class_labels=["fraud", "ok"],
    label_column="label",
    feature_names=FEATURES,
    num_features=PREPROCESSOR.num_features,
)


def _to_model(records: list[dict[str, Any]]) -> None:
    array = PREPROCESSOR.transform(records)
    if not np.isfinite(array).all():
        raise AssertionError(f"a non-finite number reached the model: {records!r:.200}")


def v1_request(data: bytes) -> None:
    try:
        instances = parse_instances(data)
        _to_model(instances_to_records(CONFIG, instances))
    except (ServingError, PreprocessingError):
        pass


def v2_request(data: bytes) -> None:
    try:
        body = InferRequest.model_validate_json(data)
        inputs = [(t.name, t.shape, t.datatype, t.data) for t in body.inputs]
        _to_model(v2_inputs_to_records(CONFIG, inputs))
    except (ValidationError, ServingError, PreprocessingError):
        pass


def router_config(data: bytes) -> None:
    try:
        config = parse_router_config(data.decode("utf-8", errors="replace"))
    except RoutingError:
        return
    for draw in (0.0, 0.5, 0.999):
        version = choose_version(config, draw=draw, sticky_key="caller")
        config.backend(version)


def manifest(data: bytes) -> None:
    try:
        parsed = parse_manifest(data)
    except ArtifactError:
        return
    for entry in parsed.files:
        with contextlib.suppress(ArtifactError):
            verify_file(parsed, entry.path, b"")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "v1-request": v1_request,
    "v2-request": v2_request,
    "router-config": router_config,
    "manifest": manifest,
}
assert set(TARGETS) == set(SEEDS)


def main() -> None:
    target = sys.argv[1]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
