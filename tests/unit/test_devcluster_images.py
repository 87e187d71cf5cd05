"""Images → local entry points."""

from __future__ import annotations

import pytest

from mlops_core.images import OPERATOR_IMAGE, SERVING_IMAGE, TRAINER_IMAGE
from mlops_devcluster.agent.images import UnknownImageError, image_entrypoint

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("image", "module"),
    [
        (f"{TRAINER_IMAGE}:0.1.0", "mlops_trainer"),
        (f"{SERVING_IMAGE}@sha256:{'a' * 64}", "mlops_serving"),
        (OPERATOR_IMAGE, "mlops_operator"),
    ],
)
def test_project_images_run_their_module(image: str, module: str) -> None:
    assert image_entrypoint(image) == ["python", "-m", module]


def test_other_images_are_refused_with_their_name() -> None:
    with pytest.raises(UnknownImageError, match=r"'nginx:1\.27' is not one of this project's"):
        image_entrypoint("nginx:1.27")
