"""An MLServer runtime serving a ``model.onnx`` with ONNX Runtime (imported in the anchor's venv).

``parameters.uri`` names the file. Each load appends the model's name to the file named by
``MULTI_MODEL_LOADS``, so the benchmark counts loads as it does for Ray Serve.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxModel(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        uri = self.settings.parameters.uri if self.settings.parameters else None
        self._session = ort.InferenceSession(uri, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        with open(os.environ["MULTI_MODEL_LOADS"], "a") as loads:
            loads.write(self.name + "\n")
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        proba = self._session.run(None, {self._input: x})[0]
        return InferenceResponse(
            model_name=self.name, outputs=[NumpyCodec.encode_output("proba", proba)]
        )
