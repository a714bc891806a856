"""ONNX: the pipeline as a graph of operators, run by onnxruntime. Loading runs no Python code.

Conversion uses skbundle's own exact converter (``onnx_graph``) when it knows every step, and
skl2onnx otherwise; the model's metadata says which (``skbundle.converter``). Either way,
parity with the fitted pipeline is measured at save time and recorded in the manifest, and
``load(runtime="auto")`` picks ONNX only when that parity is exact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported
from skbundle.formats import onnx_graph
from skbundle.formats._boundary import reading, writing
from skbundle.formats._protocol import SaveContext
from skbundle.trust.onnx_check import check_self_contained

CONVERTER_KEY = "skbundle.converter"


def _skl2onnx(pipeline: Any, n_features: int) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    return convert_sklearn(
        pipeline,
        initial_types=[("X", FloatTensorType([None, n_features]))],
        options={id(final): {"zipmap": False}},
    )


def convert(pipeline: Any, n_features: int) -> tuple[Any, str]:
    """The ONNX model and the name of the converter that made it.

    Raises
    ------
    FormatUnavailable
        Neither converter can represent the pipeline; the message holds both reasons.
    """
    try:
        return onnx_graph.convert(pipeline, n_features), "skbundle-exact"
    except ExactConversionUnsupported as exc:
        exact_why = str(exc)
    with writing(f"exact converter: {exact_why}; skl2onnx"):
        model = _skl2onnx(pipeline, n_features)
    return model, "skl2onnx"


class OnnxPredictor:
    """An onnxruntime session; everything a call needs is looked up once, here."""

    def __init__(self, session: Any) -> None:
        inp = session.get_inputs()[0]
        outputs = [o.name for o in session.get_outputs()]
        self._input = inp.name
        self._float32 = inp.type == "tensor(float)"
        self._outputs = ["probabilities"] if "probabilities" in outputs else [outputs[-1]]
        self._run = session.run
        self.session = session

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self._float32:  # a skl2onnx graph: float32 input, float32 probabilities
            X = X.astype(np.float32)
        return np.asarray(self._run(self._outputs, {self._input: X})[0], dtype=np.float64)


EXTERNAL_DATA_FOLDER_KEY = "session.model_external_initializers_file_folder_path"
"""The onnxruntime session option (>= 1.21) naming the folder external tensor data is read from."""


def session_options() -> Any:
    """The options of every session skbundle creates.

    One thread: onnxruntime may otherwise sum the trees of one row in another order.

    External data: a model given as bytes has no folder of its own, so onnxruntime resolves a
    tensor's external file against the working directory (a server's, with its keys next to
    it). ``trust.onnx_check`` refuses such tensors first; as a second wall, external data is
    resolved inside ``os.devnull``, a device and not a folder, so no relative path names a file
    there, and onnxruntime itself refuses absolute paths and paths that climb out with ``..``.
    onnxruntime older than 1.21 ignores the key; the check still holds there.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry(EXTERNAL_DATA_FOLDER_KEY, os.devnull)
    return options


class OnnxFormat:
    name = "onnx"
    filename = "model.onnx"
    engine = "onnxruntime"
    needs_trust = False

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def save(self, pipeline: Any, directory: Path, context: SaveContext) -> Path:
        model, converter = convert(pipeline, len(context.feature_names))
        entry = model.metadata_props.add()
        entry.key, entry.value = CONVERTER_KEY, converter
        path = directory / self.filename
        path.write_bytes(model.SerializeToString())
        return path

    def imports(self, data: bytes, *, source: str) -> frozenset[str]:
        return frozenset()  # a graph of operators imports nothing

    def load(
        self, data: bytes, *, source: str, trusted: frozenset[str] = frozenset()
    ) -> OnnxPredictor:
        import onnxruntime as ort

        check_self_contained(data, source=source)
        with reading(source, "onnxruntime"):
            session = ort.InferenceSession(
                data, session_options(), providers=["CPUExecutionProvider"]
            )
        return OnnxPredictor(session)
