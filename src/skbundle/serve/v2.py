"""The Open Inference Protocol (KServe / MLServer "v2"), REST flavour, for one bundle.

Inputs are accepted in the two layouts v2 clients use for tabular models:

* one tensor per feature, named after the feature, shape ``[N]`` or ``[N, 1]``, as listed by
  ``GET /v2/models/{name}`` (the layout of MLServer's pandas codec);
* one tensor of shape ``[N, n_features]`` with columns in schema order (any name).

Either way the rows go through the bundle's one validator, so a bad value is reported with
its record and feature. A numeric feature's tensor has a numeric datatype (FP64 in the
metadata); a categorical feature with string categories is a ``BYTES`` tensor whose JSON
``data`` holds the category strings, one with integer categories an integer tensor (INT64), a
boolean feature a ``BOOL`` tensor. Every JSON value must fit its tensor's declared datatype
(see :mod:`skbundle.serve.tensors`). A matrix may use any datatype the schema needs; a
``BYTES`` matrix (what clients make of a frame of strings and numbers) holds every cell as
text, read back as its feature takes it. The model metadata lists the per-feature tensors as
``inputs`` and describes the matrix in its ``parameters``. Tensors may come as binary data
after the JSON (the binary tensor data extension), and outputs go back so when asked.
Outputs, by what the bundle predicts (``Manifest.output``):

* a classifier with probabilities: ``label`` (BYTES, ``[N]``, the class names),
  ``probabilities`` (FP64, ``[N, n_classes]``) and ``classes`` (BYTES, ``[n_classes]``: the
  order of the columns);
* a classifier without them: ``label`` (``[N]``; INT64 when the classes are integers, else
  BYTES), where the estimator has a decision function ``decision`` (FP64, ``[N]`` for two
  classes, ``[N, n_classes]`` otherwise), and ``classes`` (the datatype of ``label``);
* a regressor: ``prediction`` (FP64, ``[N]``) and, when the bundle has a prediction interval,
  ``interval`` (FP64, ``[N, 2]``: low, high; its ``level`` is a parameter).

Output parameters are strings, numbers or booleans, as the protocol has them.

Errors follow the protocol's error body, ``{"error": "<message>"}``, with our structured
``problems`` list beside it for clients that want the field.

Every size is checked before the work it would cause (a hostile request costs no more than
its bytes): at most ``Validator.max_fields`` input tensors (4 per feature, plus 64); a shape of
at most 2 dimensions, each a non-negative integer (so its product has at most 127 bits); at
most ``max_rows`` times the number of features values per tensor, counted before nesting is
walked; at most ``max_rows`` rows before per-feature columns are put together; each output
named once; ``id`` a string; binary data checked as :mod:`skbundle.serve.tensors` says.
Values and names are quoted through :func:`skbundle.core.schema.describe`, which reads no
more of them than it shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from skbundle.bundle import Bundle, prediction_labels
from skbundle.core.manifest import FeatureSpec
from skbundle.core.schema import describe
from skbundle.errors import HttpError
from skbundle.serve import tensors as binary_data
from skbundle.serve.http import JSON_TYPES, last_key, parse_json
from skbundle.serve.tensors import BOOL, BYTES, INTEGERS, NUMERIC

MAX_RANK = 2
"""The most dimensions a tensor may have: [N], [N, 1] or [N, n_features]."""
OUTPUTS = ("label", "probabilities", "classes")
"""The outputs of a classifier with probabilities (see :func:`output_names` for the others)."""
_PLAIN_NUMBERS = frozenset({float, int})

Rows = list[list[Any]] | np.ndarray
"""Rows for the validator: a float array when every value is a plain JSON number (its
vectorized path), else lists of values (its thorough path names each bad value)."""
Values = list[Any] | np.ndarray
"""A tensor's flat values: from JSON a list; from binary data an array (BYTES, BOOL: a list)."""
EXTENSIONS = (binary_data.EXTENSION,)
"""The protocol extensions the server metadata lists."""
MEDIA_TYPES = JSON_TYPES | {binary_data.MEDIA_TYPE}
"""The media types an inference request may be declared as."""
HEADER_LENGTH = binary_data.HEADER_LENGTH


def _as_array(values: list[Any], shape: tuple[int, int]) -> np.ndarray | None:
    """The values as a float array of ``shape`` if they are all plain numbers, else None."""
    if not _PLAIN_NUMBERS.issuperset(map(type, values)):
        return None
    try:
        return np.array(values, dtype=np.float64).reshape(shape)
    except OverflowError:
        return None


def _bad(problem: str, expected: str, field: str | None = None, status: int = 400) -> HttpError:
    return HttpError.simple(status, "invalid_inference_request", problem, expected, field=field)


def input_datatype(spec: FeatureSpec) -> str:
    """The datatype a feature's tensor is declared with in the model metadata."""
    if spec.kind == "boolean":
        return BOOL
    if spec.kind == "categorical":
        first = (spec.categories or [""])[0]
        return "INT64" if isinstance(first, int) else BYTES
    return "FP64"


def _accepted(datatype: str) -> frozenset[str]:
    """The datatypes a tensor declared as ``datatype`` may be sent with."""
    if datatype == "FP64":
        return NUMERIC
    if datatype == "INT64":
        return INTEGERS
    return frozenset({datatype})


def _integer_labels(bundle: Bundle) -> bool:
    labels = prediction_labels(bundle.manifest)
    return bool(labels) and all(type(v) is int for v in labels)


def output_tensors(bundle: Bundle, width: int) -> list[dict[str, Any]]:
    """The outputs of ``bundle`` as the metadata lists them; ``width`` is the number of columns
    of its runtime output (which says whether a label classifier has decision scores)."""
    output = bundle.manifest.output
    if output == "values":
        tensors = [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
        if bundle.manifest.interval is not None:
            tensors.append({"name": "interval", "datatype": "FP64", "shape": [-1, 2]})
        return tensors
    n_classes = len(bundle.classes)
    if output == "probabilities":
        return [
            {"name": "label", "datatype": BYTES, "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, n_classes]},
            {"name": "classes", "datatype": BYTES, "shape": [n_classes]},
        ]
    label = "INT64" if _integer_labels(bundle) else BYTES
    tensors = [{"name": "label", "datatype": label, "shape": [-1]}]
    if width == 2:
        tensors.append({"name": "decision", "datatype": "FP64", "shape": [-1]})
    elif width > 2:
        tensors.append({"name": "decision", "datatype": "FP64", "shape": [-1, width - 1]})
    tensors.append({"name": "classes", "datatype": label, "shape": [n_classes]})
    return tensors


def model_metadata(bundle: Bundle, width: int) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the model's name, versions, platform, inputs and outputs;
    ``width`` as for :func:`output_tensors`.

    ``inputs`` lists the per-feature layout; ``parameters`` describes the other one, a single
    ``[N, n_features]`` tensor (the protocol's parameters are strings, numbers or booleans).
    """
    features = bundle.validator.features
    datatypes = sorted(set(map(input_datatype, features)))
    matrix_datatype = datatypes[0] if len(datatypes) == 1 else BYTES
    return {
        "name": bundle.name,
        "versions": [bundle.version],
        "platform": f"skbundle/{bundle.runtime.format}",
        "inputs": [
            {"name": f.name, "datatype": input_datatype(f), "shape": [-1]} for f in features
        ],
        "outputs": output_tensors(bundle, width),
        "parameters": {
            "matrix_shape": f"[-1, {len(features)}]",
            "matrix_datatype": matrix_datatype,
            "matrix": "instead of one tensor per input, one tensor of any name and shape "
            f"[N, {len(features)}], its columns the inputs in their order"
            + (", each cell as text" if matrix_datatype == BYTES else ""),
        },
    }


def _flatten(data: object, name: str, limit: int) -> list[Any]:
    """Row-major flat values of a tensor's ``data`` (flat or nested lists), at most ``limit``."""
    if not isinstance(data, list):
        raise _bad(
            f"'data' of input {name!r} is {type(data).__name__}",
            "a list of numbers (flat, row-major, or nested)",
            field=name,
        )
    flat: list[Any] = data
    if len(flat) > limit:
        raise _too_many_values(name, len(flat), limit)
    kinds = set(map(type, flat))
    # Peel one level of nesting at a time with C-level calls; only mixed nesting
    # (numbers beside lists) takes the slow walk.
    while list in kinds and len(flat) <= limit:
        if kinds == {list}:
            flat = list(chain.from_iterable(flat))
            kinds = set(map(type, flat))
            continue
        walked: list[Any] = []
        stack = [iter(flat)]
        while stack:
            for value in stack[-1]:
                if isinstance(value, list):
                    stack.append(iter(value))
                    break
                walked.append(value)
            else:
                stack.pop()
        flat = walked
        break
    if len(flat) > limit:
        raise _too_many_values(name, len(flat), limit)
    return flat


def _too_many_values(name: str, n: int, limit: int) -> HttpError:
    return _bad(
        f"input {name!r} holds {n} values",
        f"at most {limit} (the server's max_rows times the number of features)",
        field=name,
        status=413,
    )


def _shape(tensor: dict[str, Any], name: str) -> list[int]:
    """The tensor's shape, checked before anything is computed from it: the rank first, so
    that the product of the dimensions stays small (at most two 64-bit integers)."""
    shape = tensor.get("shape")
    if isinstance(shape, list) and len(shape) > MAX_RANK:
        raise _bad(
            f"'shape' of input {name!r} has {len(shape)} dimensions",
            f"at most {MAX_RANK}: [N] or [N, 1] for a per-feature input, [N, n_features] for a "
            "matrix",
            field=name,
        )
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise _bad(
            f"'shape' of input {name!r} is {describe(shape)}",
            "a non-empty list of non-negative integers, e.g. [N] or [N, n_features]",
            field=name,
        )
    return shape


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request."""

    rows: Rows
    """The rows in schema order, for the validator."""
    outputs: list[str]
    """The outputs to send, in order."""
    binary: frozenset[str]
    """The outputs to send as binary data (the binary tensor data extension)."""
    id: str | None
    """The request's id, echoed in the response."""


def _input_field(document: Any, path: list[str | int]) -> str | None:
    """The input named at ``path`` (``inputs[i]...``), for a number too large for a float."""
    if len(path) >= 2 and path[0] == "inputs" and isinstance(path[1], int):
        name = document["inputs"][path[1]].get("name")
        return name if isinstance(name, str) else None
    return last_key(document, path)


def parse_request(
    body: bytes,
    header_length: bytes | None,
    bundle: Bundle,
    max_rows: int,
    available: Sequence[str] = OUTPUTS,
) -> InferRequest:
    """The rows, the outputs asked for (``available`` names those the model has: all of them
    when none is asked for) and the request id, from the body of a v2 request and its
    ``Inference-Header-Content-Length`` header (None when absent).

    Raises
    ------
    HttpError
        400 when the request does not follow the protocol or does not fit the model;
        413 when it holds more than ``max_rows`` rows.
    """
    header, binary = binary_data.split(body, header_length)
    payload = parse_json(header, field_of=_input_field)
    return _parse(payload, binary_data.Reader(binary), bundle, max_rows, available)


def _parse(
    payload: object,
    reader: binary_data.Reader,
    bundle: Bundle,
    max_rows: int,
    available: Sequence[str],
) -> InferRequest:
    if not isinstance(payload, dict):
        raise _bad(f"the request is a JSON {type(payload).__name__}", "a JSON object")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad("'inputs' is missing or empty", "a non-empty list of input tensors")
    names = bundle.feature_names
    n_features = len(names)
    limit = max_rows * n_features
    max_inputs = bundle.validator.max_fields
    if len(inputs) > max_inputs:
        raise _bad(
            f"the request has {len(inputs)} inputs",
            f"at most {max_inputs}: one tensor of shape [N, {n_features}], or one tensor per "
            f"feature (see GET /v2/models/{bundle.name})",
        )
    binary_all = _parameters(payload.get("parameters"), "the request").get(
        "binary_data_output", False
    )
    if type(binary_all) is not bool:
        raise _bad(
            f"the request's parameter 'binary_data_output' is {describe(binary_all)}",
            "true or false",
            field="binary_data_output",
        )
    declared = {f.name: input_datatype(f) for f in bundle.validator.features}
    # A matrix (any name) may use any datatype the schema needs; a BYTES matrix holds text,
    # numbers included (what clients make of a mixed-type frame).
    any_input = frozenset(chain.from_iterable(_accepted(d) for d in declared.values()))
    plain = bundle.validator.codec.plain
    tensors: dict[str, tuple[list[int], str, Values]] = {}
    for position, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise _bad(
                f"input {position} is not a tensor object with a string 'name'",
                "objects with name, shape, datatype and data",
            )
        name = tensor["name"]
        datatype = tensor.get("datatype")
        feature = declared.get(name)
        allowed = any_input if feature is None else _accepted(feature)
        if type(datatype) is not str or datatype not in allowed:  # a list is unhashable
            raise _bad(
                f"input {name!r} has datatype {describe(datatype)}",
                _datatype_expected(allowed, name if feature is not None else None, feature),
                field=name,
            )
        if name in tensors:
            raise _bad(f"input {name!r} appears twice", "each input once", field=name)
        shape = _shape(tensor, name)
        count = math.prod(shape)
        size = _parameters(tensor.get("parameters"), f"input {name!r}").get("binary_data_size")
        values: Values
        if size is not None:
            if "data" in tensor:
                raise _bad(
                    f"input {name!r} has both 'data' and the parameter binary_data_size",
                    "one of them: 'data' in the JSON, or binary data after it",
                    field=name,
                )
            if count > limit:
                raise _too_many_values(name, count, limit)
            values = binary_data.decode(reader.take(name, size), name, datatype, count)
        else:
            flat = _flatten(tensor.get("data"), name, limit)
            if count != len(flat):
                raise _bad(
                    f"input {name!r} has shape {shape} but {len(flat)} values",
                    f"{count} values (the product of the shape)",
                    field=name,
                )
            binary_data.check_values(flat, name, datatype)
            values = flat
        tensors[name] = (shape, datatype, values)
    reader.finish()
    outputs, binary = _requested_outputs(payload.get("outputs"), available, binary_all)
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _bad(
            f"'id' is {describe(request_id)}", "a string (echoed in the response), or no 'id'"
        )

    def done(rows: Rows) -> InferRequest:
        return InferRequest(_check_rows(rows, max_rows), outputs, binary, request_id)

    if len(tensors) == 1:
        ((name, (shape, datatype, values)),) = tensors.items()
        is_matrix = (
            len(shape) == 2 and shape[1] == n_features and (name not in names or n_features > 1)
        )
        if is_matrix:
            return done(_matrix_rows(values, datatype, shape[0], bundle))
        if name not in names:
            raise _bad(
                f"input {name!r} has shape {shape}",
                f"one tensor of shape [N, {n_features}] (columns in schema order), or one "
                f"tensor per feature named after it (see GET /v2/models/{bundle.name})",
                field=name,
            )

    unknown = sorted(set(tensors) - set(names))
    if unknown:
        raise _bad(
            f"inputs {unknown[:5]} are not features of the model",
            f"inputs named after the model's features (see GET /v2/models/{bundle.name})",
            field=unknown[0],
        )
    n_rows = None
    columns: list[list[Any] | None] = []
    arrays: list[np.ndarray] = []
    for name in names:
        if name not in tensors:
            columns.append(None)
            continue
        shape, _, values = tensors[name]
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise _bad(
                f"input {name!r} has shape {shape}", "[N] or [N, 1] for a per-feature input", name
            )
        if n_rows is None:
            n_rows = shape[0]
            # Before missing features are filled in and rows put together.
            _check_row_count(n_rows, max_rows)
        elif shape[0] != n_rows:
            raise _bad(
                f"input {name!r} has {shape[0]} rows, other inputs have {n_rows}",
                "the same number of rows in every input",
                field=name,
            )
        if isinstance(values, np.ndarray):
            arrays.append(values)
            columns.append(values.tolist())
        else:
            columns.append(values)
    if n_rows is None:  # pragma: no cover - every tensor is a known feature by now
        raise _bad("no input names a feature", "inputs named after the model's features")
    if plain and all(c is not None for c in columns):
        # Only for an all-numeric schema: a categorical feature's values must reach the
        # validator as sent (an integer category is not the float numpy would make of it).
        if len(arrays) == n_features:
            return done(np.column_stack([a.astype(np.float64) for a in arrays]))
        array = _as_array(list(chain.from_iterable(columns)), (n_features, n_rows))  # type: ignore[arg-type]
        if array is not None:
            return done(array.T)
    # Missing features become null, so the validator decides (a feature that had missing
    # values in training accepts them; any other is reported by name).
    filled = [c if c is not None else [None] * n_rows for c in columns]
    return done([list(row) for row in zip(*filled, strict=True)])


def _parameters(value: object, owner: str) -> dict[str, Any]:
    """A ``parameters`` object (absent or null: none)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"'parameters' of {owner} is {describe(value)}", "an object, or none")
    if "shared_memory_region" in value:
        raise _bad(
            f"{owner} names a shared memory region",
            "tensor data in the body (this server has no shared memory extension)",
        )
    return value


def _matrix_rows(values: Values, datatype: str, n_rows: int, bundle: Bundle) -> Rows:
    """The rows of one ``[N, n_features]`` tensor."""
    n = len(bundle.feature_names)
    plain = bundle.validator.codec.plain
    if isinstance(values, np.ndarray) and plain:
        return values.astype(np.float64).reshape(n_rows, n)
    flat: list[Any] = values.tolist() if isinstance(values, np.ndarray) else values
    if plain and datatype != BYTES:
        array = _as_array(flat, (n_rows, n))
        if array is not None:
            return array
    rows = [flat[i : i + n] for i in range(0, len(flat), n)]
    if datatype == BYTES:
        features = bundle.validator.features
        return [binary_data.from_text(row, features) for row in rows]
    return rows


def encode(body: dict[str, Any], binary: frozenset[str]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The bytes and content headers of a :func:`response` body, the outputs in ``binary``
    as binary data (see :mod:`skbundle.serve.tensors`)."""
    return binary_data.response_body(body, binary)


def _check_rows(rows: Rows, max_rows: int) -> Rows:
    _check_row_count(len(rows), max_rows)
    return rows


def _check_row_count(n_rows: int, max_rows: int) -> None:
    if n_rows == 0:
        raise _bad("the inputs hold no rows", "at least one row")
    if n_rows > max_rows:
        raise _bad(
            f"the inputs hold {n_rows} rows",
            f"at most {max_rows} rows per request (the server's max_rows)",
            status=413,
        )


def _datatype_expected(allowed: frozenset[str], feature: str | None, declared: str | None) -> str:
    if feature is None or declared == "FP64":
        if allowed == NUMERIC:
            return f"a numeric datatype, one of {sorted(NUMERIC)}"
        return f"one of {sorted(allowed)}"
    if declared == BYTES:
        return f"BYTES (the feature {feature!r} is categorical: 'data' holds its category strings)"
    if declared == BOOL:
        return f"BOOL (the feature {feature!r} is boolean: 'data' holds true or false)"
    return (
        f"an integer datatype, one of {sorted(INTEGERS)} (the feature {feature!r} is "
        "categorical with integer categories)"
    )


def _requested_outputs(
    outputs: object, available: Sequence[str], binary_all: bool
) -> tuple[list[str], frozenset[str]]:
    """The outputs asked for, and those of them to send as binary data."""
    if outputs is None:
        return list(available), frozenset(available if binary_all else ())
    if not isinstance(outputs, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise _bad("'outputs' is not a list of objects with a 'name'", 'e.g. [{"name": "label"}]')
    names: list[str] = []
    binary: set[str] = set()
    for output in outputs:  # stops at the first wrong one: at most len(available) + 1 turns
        name = output["name"]
        if name not in available:
            raise _bad(
                f"output {describe(name)} does not exist", f"one of {list(available)}", field=name
            )
        if name in names:
            # Each output once: a request must not make the response repeat a tensor.
            raise _bad(f"output {name!r} appears twice", "each output once", field=name)
        parameters = _parameters(output.get("parameters"), f"output {name!r}")
        wanted = parameters.get("binary_data", binary_all)
        if type(wanted) is not bool:
            raise _bad(
                f"the parameter 'binary_data' of output {name!r} is {describe(wanted)}",
                "true or false",
                field=name,
            )
        if parameters.get("classification", 0):
            raise _bad(
                f"output {name!r} asks for the classification extension",
                "no 'classification' parameter; the class names are the output 'classes'",
                field=name,
            )
        names.append(name)
        if wanted:
            binary.add(name)
    return names, frozenset(binary)


def response(
    bundle: Bundle, output: np.ndarray, outputs: Sequence[str], request_id: object
) -> dict[str, Any]:
    """The inference response object for the runtime output ``output`` (see
    :mod:`skbundle.core.runtime`), with the tensors named in ``outputs``."""
    n = output.shape[0]
    tensors: list[dict[str, Any]] = []
    for name in outputs:
        tensors.append(_TENSORS[name](bundle, output, n))
    body: dict[str, Any] = {
        "model_name": bundle.name,
        "model_version": bundle.version,
        "outputs": tensors,
    }
    if request_id is not None:
        body["id"] = request_id
    return body


def _label(bundle: Bundle, output: np.ndarray, n: int) -> dict[str, Any]:
    if bundle.manifest.output == "probabilities":
        classes = bundle.classes
        labels: list[Any] = [classes[i] for i in output.argmax(axis=1).tolist()]
        return {"name": "label", "datatype": BYTES, "shape": [n], "data": labels}
    labels = bundle.predictions(output)
    if _integer_labels(bundle):
        return {"name": "label", "datatype": "INT64", "shape": [n], "data": labels}
    return {"name": "label", "datatype": BYTES, "shape": [n], "data": [str(v) for v in labels]}


def _probabilities(bundle: Bundle, output: np.ndarray, n: int) -> dict[str, Any]:
    return {
        "name": "probabilities",
        "datatype": "FP64",
        "shape": [n, output.shape[1]],
        "data": output.ravel(),
    }


def _classes(bundle: Bundle, output: np.ndarray, n: int) -> dict[str, Any]:
    """The classes in the order of the columns of ``probabilities`` and ``decision``."""
    if bundle.manifest.output == "labels" and _integer_labels(bundle):
        labels = prediction_labels(bundle.manifest)
        return {"name": "classes", "datatype": "INT64", "shape": [len(labels)], "data": labels}
    classes = bundle.classes
    return {"name": "classes", "datatype": BYTES, "shape": [len(classes)], "data": classes}


def _decision(bundle: Bundle, output: np.ndarray, n: int) -> dict[str, Any]:
    scores = np.ascontiguousarray(output[:, 1:])
    if scores.shape[1] == 1:
        return {"name": "decision", "datatype": "FP64", "shape": [n], "data": scores.ravel()}
    return {
        "name": "decision",
        "datatype": "FP64",
        "shape": [n, scores.shape[1]],
        "data": scores.ravel(),
    }


def _prediction(bundle: Bundle, output: np.ndarray, n: int) -> dict[str, Any]:
    values = np.ascontiguousarray(output[:, 0])
    return {"name": "prediction", "datatype": "FP64", "shape": [n], "data": values}


def _interval(bundle: Bundle, output: np.ndarray, n: int) -> dict[str, Any]:
    interval = bundle.manifest.interval
    if interval is None:  # pragma: no cover - not listed among the outputs then
        raise AssertionError("a bundle without an interval has no 'interval' output")
    # The same arithmetic as Bundle.predict, so both give the same bounds.
    values = output[:, 0].tolist()
    width = interval.half_width
    bounds = [[v - width, v + width] for v in values]
    return {
        "name": "interval",
        "datatype": "FP64",
        "shape": [n, 2],
        "data": list(chain.from_iterable(bounds)),
        "parameters": {"level": interval.level, "method": interval.method},
    }


_TENSORS: dict[str, Callable[[Bundle, np.ndarray, int], dict[str, Any]]] = {
    "label": _label,
    "probabilities": _probabilities,
    "decision": _decision,
    "prediction": _prediction,
    "interval": _interval,
    "classes": _classes,
}
"""Each output by name: how it is made from the runtime output."""
