"""Tensor data of the Open Inference Protocol: the datatypes, what their JSON values may be,
and the binary tensor data extension (REST).

A JSON ``data`` value must fit its tensor's declared datatype: a number (or null, a missing
value) in a numeric tensor, a whole number within the type's range in an integer one, a
number within the type's range in a float one, a string in ``BYTES``, a boolean in ``BOOL``.

A request with binary tensors is a JSON header of ``Inference-Header-Content-Length`` bytes
followed by each binary input's bytes, in the order of ``inputs``; such an input has the
parameter ``binary_data_size`` instead of ``data``. Values are little-endian, row-major, in
the datatype's native size (BOOL one byte, 0 or 1); a ``BYTES`` element is a 4-byte
little-endian length and that many bytes (UTF-8 text here). A response carries binary outputs
the same way: those asked for with ``binary_data`` on the output, or ``binary_data_output`` on
the request (the default of ``tritonclient`` when no output is named).

Every length is checked against what is really there before anything is read or allocated:
the header length within the body, each tensor's size equal to its shape times its
datatype's size (for BYTES, every element's length within the tensor's bytes), the sizes
summing to exactly the bytes after the header. Each violation is a 400 naming the input.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import orjson

from skbundle.core.manifest import FeatureSpec
from skbundle.core.schema import describe
from skbundle.errors import HttpError

HEADER_LENGTH = b"inference-header-content-length"
"""The request and response header giving the length of the JSON part of the body."""
MEDIA_TYPE = "application/octet-stream"
"""The media type of a body holding binary tensors (the JSON header first)."""
EXTENSION = "binary_tensor_data"
"""The extension's name in the server metadata."""

DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(code)
    for name, code in {
        "BOOL": "?",
        "INT8": "i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
        "UINT8": "u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
        "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
    }.items()
}  # fmt: skip
"""The little-endian numpy type of each fixed-size datatype."""
_LENGTH = 4
BYTES = "BYTES"
BOOL = "BOOL"
FLOATS = ("FP16", "FP32", "FP64")
INTEGERS = frozenset(d for d in DTYPES if "INT" in d)
NUMERIC = INTEGERS | frozenset(FLOATS)
INTEGER_RANGES = {
    datatype: (int(np.iinfo(dtype).min), int(np.iinfo(dtype).max))
    for datatype, dtype in DTYPES.items()
    if datatype in INTEGERS
}
"""The smallest and largest value of each integer datatype."""
FLOAT_MAX = {"FP16": 65504.0, "FP32": float(np.finfo(np.float32).max), "FP64": sys.float_info.max}
"""The largest finite value of each float datatype."""
_NONE = type(None)
_JSON_TYPES: dict[str, frozenset[type]] = {
    **{d: frozenset({int, float, _NONE}) for d in NUMERIC},
    BYTES: frozenset({str, _NONE}),
    BOOL: frozenset({bool, _NONE}),
}
"""The JSON values a tensor of each datatype may hold in 'data' (null: a missing value)."""


def _bad(problem: str, expected: str, field: str | None = None) -> HttpError:
    return HttpError.simple(400, "invalid_inference_request", problem, expected, field=field)


def split(body: bytes, header_length: bytes | None) -> tuple[bytes, memoryview | None]:
    """The JSON header and the binary part of a body (None without the header)."""
    if header_length is None:
        return body, None
    text = header_length.decode("latin-1").strip()
    if not text.isdigit() or len(text) > 19:
        raise _bad(
            f"the Inference-Header-Content-Length header is {describe(text)}",
            "the length in bytes of the JSON part of the body, a non-negative integer",
            field="Inference-Header-Content-Length",
        )
    length = int(text)
    if length > len(body):
        raise _bad(
            f"the Inference-Header-Content-Length header says {length} bytes but the body "
            f"has {len(body)}",
            "the length of the JSON part, at most the length of the body",
            field="Inference-Header-Content-Length",
        )
    view = memoryview(body)
    return bytes(view[:length]), view[length:]


class Reader:
    """Hands out each binary input's bytes in order, never past the end."""

    def __init__(self, data: memoryview | None) -> None:
        self.data = data
        self.offset = 0

    def take(self, name: str, size: object) -> memoryview:
        """The next ``size`` bytes, for the input ``name``."""
        if self.data is None:
            raise _bad(
                f"input {name!r} has the parameter binary_data_size but the request has no "
                "Inference-Header-Content-Length header",
                "the header giving the length of the JSON part, the binary data after it",
                field=name,
            )
        if type(size) is not int or size < 0:
            raise _bad(
                f"'binary_data_size' of input {name!r} is {describe(size)}",
                "the size in bytes of the input's binary data, a non-negative integer",
                field=name,
            )
        left = len(self.data) - self.offset
        if size > left:
            raise _bad(
                f"input {name!r} has binary_data_size {size} but only {left} bytes of binary "
                "data are left in the body",
                "binary data of each input in the order of 'inputs', after the JSON header",
                field=name,
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def finish(self) -> None:
        """Refuse bytes that no input claims (a framing error on the client's side)."""
        if self.data is not None and self.offset != len(self.data):
            raise _bad(
                f"the body has {len(self.data) - self.offset} bytes of binary data that no "
                "input's binary_data_size accounts for",
                "the binary data of the inputs and nothing else after the JSON header",
            )


def decode(chunk: memoryview, name: str, datatype: str, count: int) -> list[Any] | np.ndarray:
    """The ``count`` values of an input from its binary data: an array for fixed-size types
    (BOOL as Python booleans), a list of strings for BYTES."""
    if datatype == "BYTES":
        return _decode_bytes(chunk, name, count)
    dtype = DTYPES[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise _bad(
            f"input {name!r} has {len(chunk)} bytes of binary data for {count} values of "
            f"{datatype}",
            f"{count * dtype.itemsize} bytes (the product of the shape times "
            f"{dtype.itemsize} bytes)",
            field=name,
        )
    if datatype == "BOOL":
        raw = np.frombuffer(chunk, dtype=np.uint8)
        if raw.size and int(raw.max()) > 1:
            at = int(np.argmax(raw > 1))
            raise _bad(
                f"value {at} of BOOL input {name!r} is the byte {int(raw[at])}",
                "one byte per value, 0 (false) or 1 (true)",
                field=name,
            )
        values: list[Any] = raw.astype(bool).tolist()
        return values
    return np.frombuffer(chunk, dtype=dtype)


def _decode_bytes(chunk: memoryview, name: str, count: int) -> list[Any]:
    values: list[Any] = []
    offset = 0
    end = len(chunk)
    raw = bytes(chunk)
    for i in range(count):
        if end - offset < _LENGTH:
            raise _bad(
                f"element {i} of BYTES input {name!r} has no 4-byte length: {end - offset} "
                "bytes are left",
                f"{count} elements, each a 4-byte little-endian length and that many bytes",
                field=name,
            )
        length = int.from_bytes(raw[offset : offset + _LENGTH], "little")
        offset += _LENGTH
        if length > end - offset:
            raise _bad(
                f"element {i} of BYTES input {name!r} says {length} bytes but {end - offset} "
                "are left",
                "each element's length within the input's binary_data_size",
                field=name,
            )
        try:
            values.append(raw[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise _bad(
                f"element {i} of BYTES input {name!r} is not UTF-8 text",
                "category names as UTF-8 text",
                field=name,
            ) from None
        offset += length
    if offset != end:
        raise _bad(
            f"BYTES input {name!r} has {end - offset} bytes after its {count} elements",
            "binary_data_size equal to the elements' lengths plus 4 bytes each",
            field=name,
        )
    return values


def encode(tensor: dict[str, Any]) -> bytes:
    """An output tensor's ``data`` in binary form."""
    datatype = tensor["datatype"]
    data = tensor["data"]
    if datatype == "BYTES":
        parts = []
        for value in data:
            text = str(value).encode("utf-8")
            parts.append(len(text).to_bytes(_LENGTH, "little"))
            parts.append(text)
        return b"".join(parts)
    return np.ascontiguousarray(data, dtype=DTYPES[datatype]).tobytes()


def response_body(
    body: dict[str, Any], binary: Collection[str]
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The response bytes and content headers: JSON alone when no output is binary, else the
    JSON header (binary outputs without ``data``, with ``binary_data_size``) and their data."""
    if not binary:
        content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        return content, [(b"content-type", b"application/json")]
    blobs: list[bytes] = []
    outputs = []
    for tensor in body["outputs"]:
        if tensor["name"] in binary:
            blob = encode(tensor)
            blobs.append(blob)
            parameters = {**tensor.get("parameters", {}), "binary_data_size": len(blob)}
            tensor = {k: v for k, v in tensor.items() if k != "data"}
            tensor["parameters"] = parameters
        outputs.append(tensor)
    header = orjson.dumps({**body, "outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)
    return b"".join([header, *blobs]), [
        (b"content-type", MEDIA_TYPE.encode()),
        (HEADER_LENGTH, str(len(header)).encode()),
    ]


def check_values(flat: list[Any], name: str, datatype: str) -> None:
    """Refuse a JSON value that does not fit the tensor's declared datatype: a non-number in a
    numeric tensor, a fraction in an integer one, a number beyond the type's range, a
    non-string in BYTES, a non-boolean in BOOL. Whole-list passes at C speed; the value is
    looked for one by one only to report it."""
    kinds = set(map(type, flat))
    allowed = _JSON_TYPES[datatype]
    if not allowed.issuperset(kinds):
        at = next(i for i, v in enumerate(flat) if type(v) not in allowed)
        raise _value_error(name, datatype, at, flat[at], "")
    if datatype not in NUMERIC or (datatype == "FP64" and int not in kinds):
        return  # a JSON float always fits FP64 (the parser refuses larger numbers)
    numbers = flat if _NONE not in kinds else [v for v in flat if v is not None]
    if not numbers:
        return
    low: float
    high: float
    if datatype in INTEGERS:
        if float in kinds and not all(v.is_integer() for v in numbers if type(v) is float):
            at = next(i for i, v in enumerate(flat) if type(v) is float and not v.is_integer())
            raise _value_error(name, datatype, at, flat[at], "is not a whole number")
        low, high = INTEGER_RANGES[datatype]
    else:
        high = FLOAT_MAX[datatype]
        low = -high
    if min(numbers) < low or max(numbers) > high:
        at = next(i for i, v in enumerate(flat) if v is not None and not low <= v <= high)
        raise _value_error(name, datatype, at, flat[at], f"is outside the range of {datatype}")


def _value_error(name: str, datatype: str, at: int, value: object, why: str) -> HttpError:
    if datatype in INTEGERS:
        low, high = INTEGER_RANGES[datatype]
        expected = f"whole numbers from {low} to {high} (datatype {datatype}), or null"
    elif datatype == "FP64":
        expected = "numbers (datatype FP64), or null"
    elif datatype in NUMERIC:
        expected = f"numbers within +/-{FLOAT_MAX[datatype]:.6g} (datatype {datatype}), or null"
    else:
        kind = "strings" if datatype == BYTES else "true or false"
        expected = f"{kind} (datatype {datatype}), or null"
    return _bad(
        f"value {at} of input {name!r} is {describe(value)}" + (f", which {why}" if why else ""),
        expected,
        field=name,
    )


_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER_TEXT = re.compile(r"[+-]?\d{1,19}")
_MISSING_TEXT = frozenset({"", "nan", "NaN", "None", "null"})
_BOOLEAN_TEXT = {"true": True, "false": False, "True": True, "False": False}


def from_text(row: list[Any], features: Sequence[FeatureSpec]) -> list[Any]:
    """A row of a BYTES matrix with each cell as its feature takes it: a number's text as the
    number (a missing value's text as null), an integer category's as the integer, a
    boolean's ``true``/``false`` as the boolean. Text that does not read so is left as it is,
    for the validator to report by record and feature."""
    out: list[Any] = []
    for value, spec in zip(row, features, strict=True):
        if isinstance(value, str):
            if spec.kind == "numeric":
                if value in _MISSING_TEXT:
                    value = None
                elif len(value) <= 400 and _NUMBER_TEXT.fullmatch(value):
                    value = float(value)
            elif spec.kind == "boolean":
                value = _BOOLEAN_TEXT.get(value, value)
            elif (
                spec.categories
                and isinstance(spec.categories[0], int)
                and _INTEGER_TEXT.fullmatch(value)
            ):
                value = int(value)
        out.append(value)
    return out
