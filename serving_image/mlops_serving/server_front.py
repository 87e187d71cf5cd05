"""The model server behind its HTTP front: v1 ``:predict`` and v2 ``infer`` answered directly
(``fast_path``), everything else by the FastAPI app through ``asgi_bridge``.

The busiest paths skip the ASGI server's per-request scope, task and messages as well as the
framework's routing: on a small model those cost more than the model. The answers are the
same as the FastAPI routes' (both call ``v1_predict`` and ``v2_infer``).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp

from mlops_serving.asgi_bridge import AsgiBridge, decoded_path
from mlops_serving.fast_path import answer_prediction, prediction_route
from mlops_serving.http_front import Answer, Request
from mlops_serving.inference import Inference


class ServerFront:
    def __init__(self, app: ASGIApp, *, inference: Callable[[], Inference]) -> None:
        self.bridge = AsgiBridge(app)
        self.inference = inference

    async def start(self) -> None:
        await self.bridge.start()

    async def stop(self) -> None:
        await self.bridge.stop()

    async def answer(self, request: Request) -> Answer:
        if request.method == b"POST":
            route = prediction_route(decoded_path(request.path))
            if route is not None:
                status, headers, body = await answer_prediction(
                    self.inference, route, request.headers, request.body
                )
                return Answer(status, headers, body)
        return await self.bridge.answer(request)
