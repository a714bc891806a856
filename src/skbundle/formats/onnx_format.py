"""ONNX: the pipeline as a graph of operators, run by onnxruntime. Loading runs no code of the file.

Conversion uses skbundle's own exact converter (``onnx_graph``) when it knows every step, and
skl2onnx otherwise; the model's metadata says which (``skbundle.converter``). Either way,
parity with the fitted pipeline is measured at save time and recorded in the manifest, and
``load(runtime="auto")`` picks ONNX only when that parity is exact.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skbundle.core.manifest import FeatureSpec
from skbundle.core.runtime import Signature
from skbundle.errors import ExactConversionUnsupported, FormatUnavailable, UntrustedArtifactError
from skbundle.formats import onnx_graph
from skbundle.formats._boundary import reading, writing
from skbundle.formats._protocol import SaveContext
from skbundle.trust.onnx_check import check_self_contained

CONVERTER_KEY = "skbundle.converter"


def _skl2onnx(pipeline: Any, n_features: int) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    # zipmap is a classifier's option; skl2onnx refuses it for a regressor
    options = {id(final): {"zipmap": False}} if is_classifier(final) else {}
    return convert_sklearn(
        pipeline,
        initial_types=[("X", FloatTensorType([None, n_features]))],
        options=options,
    )


def _refusal(signature: Signature | None) -> str | None:
    """Why this skbundle writes no ONNX file for such a bundle, or None."""
    if signature is not None and signature.output == "labels":
        return (
            "the classifier has no predict_proba: the ONNX writer serves probabilities and "
            "values only, so skops serves this bundle"
        )
    return None


def convert(
    pipeline: Any, n_features: int, features: Sequence[FeatureSpec] | None = None
) -> tuple[Any, str]:
    """The ONNX model and the name of the converter that made it.

    ``features`` is the schema. skl2onnx reads values, not codes: a pipeline with categorical
    or boolean features is converted by the exact writer or not at all.

    Raises
    ------
    FormatUnavailable
        Neither converter can represent the pipeline; the message holds the reasons.
    """
    try:
        return onnx_graph.convert(pipeline, n_features, features), "skbundle-exact"
    except ExactConversionUnsupported as exc:
        exact_why = str(exc)
    kinds = sorted({f.kind for f in features or () if f.kind != "numeric"})
    if kinds:
        raise FormatUnavailable(
            f"the pipeline has {' and '.join(kinds)} features and the exact ONNX writer cannot "
            f"convert it ({exact_why}); skl2onnx cannot read their codes, so skops serves this "
            "bundle"
        )
    with writing(f"exact converter: {exact_why}; skl2onnx"):
        model = _skl2onnx(pipeline, n_features)
    return model, "skl2onnx"


def _expit(raw: np.ndarray) -> np.ndarray:
    """Two-class probabilities as scikit-learn computes them: ``p = scipy.special.expit(raw)``,
    ``[1 - p, p]``.

    scipy's expit is ``1 / (1 + exp(-x))`` with the C library's ``exp``, which is also what
    ``math.exp`` calls: element by element here, so that serving needs no scipy import
    (0.4 s at start-up). A test checks the two agree bit for bit.
    """
    positive = np.fromiter(
        (_expit_one(v) for v in raw.ravel().tolist()), dtype=np.float64, count=raw.size
    )
    proba = np.empty((raw.shape[0], 2), dtype=np.float64)
    proba[:, 1] = positive
    proba[:, 0] = 1 - proba[:, 1]
    return proba


def _expit_one(x: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:  # exp(-x) is +inf in C: the probability is 0
        return 0.0


def _softmax(raw: np.ndarray) -> np.ndarray:
    """scikit-learn's softmax (``sklearn.utils.extmath.softmax``), the same numpy operations
    in the same order on a C-contiguous copy."""
    X = np.array(raw, dtype=np.float64, order="C", copy=True)
    X -= np.max(X, axis=1).reshape((-1, 1))
    np.exp(X, out=X)
    X /= np.sum(X, axis=1).reshape((-1, 1))
    return X


def _lightgbm_softmax(raw: np.ndarray) -> np.ndarray:
    """LightGBM's ``Common::Softmax``, row by row in float64: the row's max subtracted, the C
    library's ``exp`` (``math.exp`` calls it), a sum from 0.0 in class order, each divided by
    it. Plain Python floats: one row costs a few microseconds, where numpy's per-call
    overhead on tiny arrays is several times that."""
    rows = np.asarray(raw, dtype=np.float64).tolist()
    out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=np.float64)
    for i, row in enumerate(rows):
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = 0.0
        for v in exps:
            total += v
        out[i] = [v / total for v in exps]
    return out


_FLOAT32 = struct.Struct("<f")


def _f32(x: float) -> float:
    """``x`` rounded to float32. A float32 ``+ - * /`` equals the float64 operation rounded
    to float32 (53 >= 2 * 24 + 2 bits: the double rounding is innocuous), so XGBoost's
    float32 arithmetic is reproduced exactly on Python floats."""
    value: float = _FLOAT32.unpack(_FLOAT32.pack(x))[0]
    return value


_XGB_CLAMP = _f32(88.7)
_XGB_EPS = _f32(1e-16)


def _xgboost_expit(raw: np.ndarray) -> np.ndarray:
    """XGBoost's ``common::Sigmoid`` in float32 (``1 / (expf(min(-x, 88.7f)) + 1 + 1e-16f)``,
    the C library's ``expf``), then the sklearn wrapper's ``[1 - p, p]`` in float32."""
    expf = onnx_graph.libm_float32("expf")
    margins = np.asarray(raw, dtype=np.float64).ravel().tolist()
    proba = np.empty((len(margins), 2), dtype=np.float64)
    for i, x in enumerate(margins):
        t = _XGB_CLAMP if -x > _XGB_CLAMP else -x  # std::min(-x, 88.7f)
        positive = _f32(1.0 / _f32(_f32(expf(t) + 1.0) + _XGB_EPS))
        proba[i, 0] = _f32(1.0 - positive)
        proba[i, 1] = positive
    return proba


def _xgboost_softmax(raw: np.ndarray) -> np.ndarray:
    """XGBoost's ``common::Softmax``: float32 ``expf(x - max)``, summed into a double in class
    order, each divided (in float32) by that sum rounded to float32."""
    expf = onnx_graph.libm_float32("expf")
    rows = np.asarray(raw, dtype=np.float64).tolist()
    out = np.empty((len(rows), len(rows[0]) if rows else 0), dtype=np.float64)
    for i, row in enumerate(rows):
        top = max(row)
        exps = [expf(_f32(v - top)) for v in row]
        total = 0.0
        for v in exps:
            total += v
        divisor = _f32(total)
        out[i] = [_f32(v / divisor) for v in exps]
    return out


def _numpy(function: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A ``TransformedTargetRegressor``'s inverse function as scikit-learn calls it: the numpy
    ufunc on the ``(n, 1)`` float64 predictions."""

    def inverse(raw: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.asarray(function(np.asarray(raw, dtype=np.float64)))
        return out

    return inverse


LINKS = {
    "expit": _expit,
    "softmax": _softmax,
    "lightgbm-softmax": _lightgbm_softmax,
    "xgboost-expit": _xgboost_expit,
    "xgboost-softmax": _xgboost_softmax,
    "numpy.expm1": _numpy(np.expm1),
    "numpy.exp": _numpy(np.exp),
    "numpy.log1p": _numpy(np.log1p),
    "numpy.log": _numpy(np.log),
    "numpy.sqrt": _numpy(np.sqrt),
    "numpy.square": _numpy(np.square),
}
"""Links a graph may leave to the runtime (``onnx_graph.LINK_KEY``): raw scores ->
probabilities, or a regressor's raw prediction -> its inverse-transformed value. A fixed
table of skbundle's own functions: the model's metadata only picks one by name."""


class OnnxPredictor:
    """An onnxruntime session; everything a call needs is looked up once, here."""

    def __init__(self, session: Any, *, source: str = "model.onnx") -> None:
        inp = session.get_inputs()[0]
        outputs = [o.name for o in session.get_outputs()]
        self._input = inp.name
        self._float32 = inp.type == "tensor(float)"
        main = [o for o in (onnx_graph.OUTPUT, onnx_graph.VALUES_OUTPUT) if o in outputs]
        self._outputs = main[:1] or [outputs[-1]]
        link = session.get_modelmeta().custom_metadata_map.get(onnx_graph.LINK_KEY)
        self._link = LINKS.get(link) if onnx_graph.RAW_OUTPUT in outputs else None
        if link is not None and self._link is None:
            raise UntrustedArtifactError(
                source,
                f"its metadata names a link this skbundle does not know ({link!r}) or it has no "
                f"{onnx_graph.RAW_OUTPUT!r} output",
                "Rebuild the bundle with this version of skbundle.",
            )
        if self._link is not None:
            self._outputs = [onnx_graph.RAW_OUTPUT]
        self._run = session.run
        self.session = session

    def predict_output(self, X: np.ndarray) -> np.ndarray:
        """The model's main output as float64: a classifier's probabilities ``(n, n_classes)``
        (link applied), a regressor's values ``(n, 1)``."""
        if self._float32:  # a skl2onnx graph: float32 input, float32 output
            X = X.astype(np.float32)
        out = self._run(self._outputs, {self._input: X})[0]
        if self._link is not None:
            return self._link(out)
        return np.asarray(out, dtype=np.float64).reshape(len(X), -1)


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
        why = _refusal(context.signature)
        if why is not None:
            raise FormatUnavailable(why)
        features = context.signature.features if context.signature is not None else None
        model, converter = convert(pipeline, len(context.feature_names), features)
        entry = model.metadata_props.add()
        entry.key, entry.value = CONVERTER_KEY, converter
        path = directory / self.filename
        path.write_bytes(model.SerializeToString())
        return path

    def imports(self, data: bytes, *, source: str) -> frozenset[str]:
        return frozenset()  # a graph of operators imports nothing

    def load(
        self,
        data: bytes,
        *,
        source: str,
        signature: Signature | None = None,
        trusted: frozenset[str] = frozenset(),
    ) -> OnnxPredictor:
        import onnxruntime as ort

        check_self_contained(data, source=source)
        with reading(source, "onnxruntime"):
            session = ort.InferenceSession(
                data, session_options(), providers=["CPUExecutionProvider"]
            )
        return OnnxPredictor(session, source=source)
