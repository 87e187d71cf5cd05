"""Which local command a container image stands for (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from mlops_core.images import ENTRYPOINT_MODULES, image_repository


class UnknownImageError(ValueError):
    """The image is not one of this project's images, so the agent cannot run it."""


def image_entrypoint(image: str, *, modules: Mapping[str, str] = ENTRYPOINT_MODULES) -> list[str]:
    """``ghcr.io/mlops-dev/mlops-trainer:0.1`` → ``["python", "-m", "mlops_trainer"]``."""
    repository = image_repository(image)
    module = modules.get(repository)
    if module is None:
        known = ", ".join(sorted(modules))
        raise UnknownImageError(
            f"image {image!r} is not one of this project's images ({known}); the devcluster "
            f"node agent runs pods as local processes and can only run those"
        )
    return ["python", "-m", module]
