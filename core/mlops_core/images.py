"""The container images of this project, and the Python entry point each one runs.

The operator refers to images by these repositories (a tag is added from settings); the local
node agent of the devcluster maps each repository to the entry point it would run in a real
container, so the same pod specs run on a real cluster and on the devcluster.
"""

from __future__ import annotations

from typing import Final

IMAGE_REGISTRY: Final = "ghcr.io/mlops-dev"
OPERATOR_IMAGE: Final = f"{IMAGE_REGISTRY}/mlops-operator"
TRAINER_IMAGE: Final = f"{IMAGE_REGISTRY}/mlops-trainer"
#: the model server and router without torch (ONNX Runtime serves the models)
SERVING_IMAGE: Final = f"{IMAGE_REGISTRY}/mlops-serving"
#: the same server with torch too: for Deployments with serving.runtime torch
SERVING_TORCH_IMAGE: Final = f"{IMAGE_REGISTRY}/mlops-serving-torch"

#: image repository (without tag or digest) → ``python -m`` module the image's entrypoint runs
ENTRYPOINT_MODULES: Final[dict[str, str]] = {
    OPERATOR_IMAGE: "mlops_operator",
    TRAINER_IMAGE: "mlops_trainer",
    SERVING_IMAGE: "mlops_serving",
    SERVING_TORCH_IMAGE: "mlops_serving",
}


def image_repository(image: str) -> str:
    """``repo[:tag][@digest]`` → ``repo`` (a port in the registry host is kept)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name
