"""Forged joblib files that once ran a shell after "audit passed", and their variants.

Under trust (``trust_pickle=True`` or a valid signature) the pickle audit is the last line of
defence, so it must read a joblib file exactly as joblib's ``NumpyUnpickler`` will. Each
payload here is built by hand from pickle opcodes, written into a real bundle whose manifest
is re-hashed (so integrity passes), and loaded with ``skbundle.load(..., runtime="joblib",
trust_pickle=True)``: the exact refusal is asserted, and the sentinel the payload would
create must not exist. A control test runs the live payloads through plain ``joblib.load``
and sees the sentinel appear, so each one is a working exploit of the stream joblib reads.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import pickle
import pickletools
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skbundle
from skbundle import UntrustedArtifactError
from skbundle.trust import audit
from skbundle.trust._inflate import InflateLimit
from tests.tampering import SystemPayload, rehash
from tests.test_audit import _refusal

# -- building pickles by hand ---------------------------------------------------------------
PROTO2, PROTO4 = b"\x80\x02", b"\x80\x04"
POP, NONE, STOP, BUILD, REDUCE, MARK, TUPLE = b"0", b"N", b".", b"b", b"R", b"(", b"t"
TUPLE3, EMPTY_TUPLE, NEWOBJ, BINGET0, BINPUT0 = b"\x87", b")", b"\x81", b"h\x00", b"q\x00"


def expr(obj: object, protocol: int = 3) -> bytes:
    """The opcodes that push ``obj``: its pickle without PROTO, STOP or memo entries."""
    return pickletools.optimize(pickle.dumps(obj, protocol=protocol))[2:-1]


def glob(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def frame(body: bytes) -> bytes:
    return b"\x95" + struct.pack("<Q", len(body)) + body


def filler(n: int) -> bytes:
    """``n`` (>= 2) bytes of opcodes that leave the stack as they found it."""
    head, n = (b"N\x850", n - 3) if n % 2 else (b"", n)  # NONE, TUPLE1, POP
    return head + b"N0" * (n // 2)


WRAPPER = glob("joblib.numpy_pickle", "NumpyArrayWrapper")
OBJECTS = pickle.dumps(np.array([0], dtype=object), protocol=3)  # a nested stream joblib accepts


def state(dtype: bytes, shape: tuple[int, ...] = (1,)) -> bytes:
    """A NumpyArrayWrapper's state as joblib writes it (no alignment), with ``dtype`` opcodes."""
    attrs = [
        ("subclass", expr(np.ndarray)),
        ("shape", expr(shape)),
        ("order", expr("C")),
        ("dtype", dtype),
        ("allow_mmap", expr(False)),
        ("numpy_array_alignment_bytes", NONE),
    ]
    return b"}" + MARK + b"".join(expr(key) + value for key, value in attrs) + b"u"


def wrapper(dtype: bytes, shape: tuple[int, ...] = (1,)) -> bytes:
    """A wrapper built the way joblib writes one (NEWOBJ, then BUILD with its state)."""
    return WRAPPER + EMPTY_TUPLE + NEWOBJ + state(dtype, shape) + BUILD


def dt(spec: Any) -> bytes:
    return expr(np.dtype(spec))


def touch(sentinel: Path) -> bytes:
    return expr(SystemPayload(f"touch {sentinel}"), protocol=2)


def forged_dtype(dtype: np.dtype[Any], flags: int) -> bytes:
    """``dtype``'s pickle with the flags in its state replaced."""
    code, align, copy = dtype.__reduce__()[1]
    version, *rest = dtype.__reduce__()[2]
    rest[-1] = flags
    return (
        glob("numpy", "dtype") + expr((code, align, copy)) + REDUCE + expr((version, *rest)) + BUILD
    )


# -- the payloads ---------------------------------------------------------------------------
def reconstructor_wrapper(sentinel: Path) -> bytes:
    """A wrapper made by copyreg._reconstructor: joblib reads a nested stream after its BUILD,
    and the payload comes after that stream's STOP."""
    made = glob("copyreg", "_reconstructor") + WRAPPER + glob("builtins", "object") + NONE
    made += TUPLE3 + REDUCE
    return PROTO2 + made + state(dt(object)) + BUILD + OBJECTS + POP + touch(sentinel) + STOP


def mareconstruct_wrapper(sentinel: Path) -> bytes:
    """numpy.ma's _mareconstruct calls subtype.__new__: handed the wrapper class, it makes one."""
    made = glob("numpy.ma.core", "_mareconstruct") + MARK + WRAPPER + glob("numpy", "ndarray")
    made += expr((0,)) + expr("b") + TUPLE + REDUCE
    return PROTO2 + made + state(dt(object)) + BUILD + OBJECTS + POP + touch(sentinel) + STOP


def object_subarray(sentinel: Path) -> bytes:
    """dtype(('O', (2,))) pickles as code 'V16': joblib reads a nested stream (hasobject), not
    16-byte items, so the payload sits where raw bytes were expected."""
    nested = PROTO2 + touch(sentinel) + STOP
    count = -(-(len(nested) + 3) // 16)
    pad = filler(16 * count - len(nested))
    return PROTO2 + wrapper(dt(("O", (2,))), (count,)) + nested + pad + POP + NONE + STOP


def float_claiming_objects(sentinel: Path) -> bytes:
    """A float64 whose pickled flags say it holds objects: joblib reads a nested stream."""
    nested = PROTO2 + touch(sentinel) + STOP
    count = -(-(len(nested) + 3) // 8)
    pad = filler(8 * count - len(nested))
    dtype = forged_dtype(np.dtype("f8"), 63)
    return PROTO2 + wrapper(dtype, (count,)) + nested + pad + POP + NONE + STOP


def objects_claiming_none(sentinel: Path) -> bytes:
    """An object dtype whose flags deny it: numpy would take raw bytes as object pointers."""
    return PROTO2 + wrapper(forged_dtype(np.dtype(object), 0), (1,)) + b"\0" * 8 + STOP


def array_inside_frame(sentinel: Path) -> bytes:
    """joblib reads an array's bytes from the file after the current frame, while the opcodes
    go on inside it: the payload is in the frame, where the bytes seemed to be."""
    rest = POP + touch(sentinel) + STOP
    count = -(-(len(rest) + 3) // 8)
    data = b"\0" * (8 * count - len(rest)) + filler(len(rest) - 1) + STOP
    return PROTO4 + frame(wrapper(dt("f8"), (count,)) + rest) + data


def nested_frame_tail(sentinel: Path) -> bytes:
    """Bytes after a nested STOP inside its frame are skipped by joblib: the audit must not read
    them as the outer stream (here a bytes header that would swallow the payload)."""
    payload = POP + touch(sentinel)
    nested = PROTO4 + frame(OBJECTS[2:] + b"C" + bytes([len(payload)]))
    return PROTO2 + wrapper(dt(object)) + nested + payload + POP + NONE + STOP


def wrapper_inside_nested(sentinel: Path) -> bytes:
    """A nested stream is read by a plain pickle.Unpickler: a wrapper there reads nothing, and
    the payload sits where array bytes would have been."""
    hidden = POP + touch(sentinel) + POP
    count = -(-(len(hidden) + 2) // 8)
    hidden += filler(8 * count - len(hidden))
    nested = PROTO2 + wrapper(dt("f8"), (count,)) + hidden + OBJECTS[2:]
    return PROTO2 + wrapper(dt(object)) + nested + POP + NONE + STOP


def wrapper_from_a_nested_stream(sentinel: Path) -> bytes:
    """A nested stream may return a wrapper (its plain unpickler reads nothing for it); a BUILD
    on it in the outer stream makes joblib read its array there."""
    payload = POP + touch(sentinel) + POP
    nested = PROTO2 + wrapper(dt("f8")) + STOP
    data = (
        filler(6) + b"C" + bytes([len(payload)])
    )  # 8 bytes: a bytes header to a reader of opcodes
    return PROTO2 + wrapper(dt(object)) + nested + b"}" + BUILD + data + payload + NONE + STOP


def wrapper_built_twice(sentinel: Path) -> bytes:
    """A memoized wrapper built a second time reads a second array (here: a nested stream)."""
    first = WRAPPER + EMPTY_TUPLE + NEWOBJ + BINPUT0 + state(dt("f8")) + BUILD + b"\0" * 8
    again = BINGET0 + b"}" + expr("dtype") + dt(object) + b"s" + BUILD
    return PROTO2 + first + POP + again + PROTO2 + touch(sentinel) + STOP + STOP


SECOND = PROTO4 + expr(SystemPayload("true"), protocol=2) + STOP


def second_pickle(sentinel: Path) -> bytes:
    """joblib stops at the first STOP; what follows is not what was audited."""
    return pickle.dumps({"model": 1}, protocol=4) + SECOND


def trailing_byte(sentinel: Path) -> bytes:
    return pickle.dumps({"model": 1}, protocol=4) + b"\0"


def two_values_at_stop(sentinel: Path) -> bytes:
    return PROTO2 + NONE + touch(sentinel) + STOP


def code_while_dtype_half_built(sentinel: Path) -> bytes:
    """Code runs between a dtype's creation and its state (which could change what it is)."""
    dtype = glob("numpy", "dtype") + expr(("f8", False, True)) + REDUCE
    return (
        PROTO2 + dtype + touch(sentinel) + POP + expr(np.dtype("f8").__reduce__()[2]) + BUILD + STOP
    )


def dtype_state_set_twice(sentinel: Path) -> bytes:
    dtype = forged_dtype(np.dtype("f8"), 0)
    return (
        PROTO2
        + dtype
        + BINPUT0
        + POP
        + BINGET0
        + expr(np.dtype(object).__reduce__()[2])
        + BUILD
        + STOP
    )


def wrapper_called(sentinel: Path) -> bytes:
    """Calling the class runs __init__ with the file's arguments: not the form joblib writes."""
    args = expr((np.ndarray, (1,), "C", np.dtype(object)))
    return PROTO2 + WRAPPER + args + REDUCE + STOP


def legacy_wrapper(sentinel: Path) -> bytes:
    return PROTO2 + glob("joblib.numpy_pickle", "NDArrayWrapper") + STOP


@dataclass(frozen=True)
class Forgery:
    build: Callable[[Path], bytes]
    reason: str | None  # the audit's reason; None: refused by the allowlist
    names: tuple[str, ...] = ()
    live: bool = True  # plain joblib.load runs the payload (checked by the control test)


def cannot(reason: str) -> str:
    return f"the pickle audit cannot follow it: {reason}"


MISUSE = cannot(
    "it uses joblib's NumpyArrayWrapper other than the way joblib writes one (every object of "
    "that class makes joblib read array bytes from the stream)"
)
HALF_BUILT = cannot(
    "it runs code while a numpy dtype is half-built (between its creation and state)"
)

FORGERIES = {
    "nested-stream-after-copyreg-reconstructor": Forgery(
        reconstructor_wrapper, None, ("posix.system",)
    ),
    "wrapper-made-by-ma-mareconstruct": Forgery(mareconstruct_wrapper, MISUSE),
    "object-subarray-dtype-V16": Forgery(object_subarray, None, ("posix.system",)),
    "float64-with-object-flags": Forgery(
        float_claiming_objects,
        cannot(
            "a pickled numpy dtype 'f8' has the state (3, '<', None, None, None, -1, -1, 63), but "
            "numpy pickles the dtype of that layout (float64) as (3, '<', None, None, None, -1, "
            "-1, 0) (a forged state can hide objects from numpy, or claim some)"
        ),
    ),
    "object-dtype-without-object-flags": Forgery(
        objects_claiming_none,
        cannot(
            "a pickled numpy dtype 'O8' has the state (3, '|', None, None, None, -1, -1, 0), but "
            "numpy pickles the dtype of that layout (object) as (3, '|', None, None, None, -1, "
            "-1, 63) (a forged state can hide objects from numpy, or claim some)"
        ),
        live=False,  # it makes numpy read 8 raw bytes as an object pointer: a crash, not a test
    ),
    "array-bytes-after-the-frame": Forgery(
        array_inside_frame,
        cannot("an array's bytes start inside a pickle frame (joblib reads them after the frame)"),
    ),
    "bytes-after-a-nested-stop-in-its-frame": Forgery(
        nested_frame_tail, cannot("there are 2 bytes after its STOP inside the same frame")
    ),
    "wrapper-inside-a-nested-stream": Forgery(wrapper_inside_nested, None, ("posix.system",)),
    "wrapper-returned-by-a-nested-stream": Forgery(
        wrapper_from_a_nested_stream, None, ("posix.system",)
    ),
    "wrapper-built-twice": Forgery(wrapper_built_twice, None, ("posix.system",)),
    "second-pickle-appended": Forgery(
        second_pickle,
        cannot(
            f"there are {len(SECOND)} bytes after its final STOP (joblib stops reading there: a "
            "file joblib writes ends with its STOP)"
        ),
        live=False,
    ),
    "trailing-byte": Forgery(
        trailing_byte,
        cannot(
            "there is 1 byte after its final STOP (joblib stops reading there: a file joblib "
            "writes ends with its STOP)"
        ),
        live=False,
    ),
    "two-values-at-stop": Forgery(
        two_values_at_stop,
        cannot("its STOP finds 2 values on the stack (a pickle ends with exactly one)"),
    ),
    "code-while-a-dtype-is-half-built": Forgery(code_while_dtype_half_built, HALF_BUILT),
    "dtype-state-set-twice": Forgery(
        dtype_state_set_twice,
        cannot("it sets the state of a numpy dtype twice, or after using it"),
        live=False,
    ),
    "wrapper-class-called": Forgery(wrapper_called, MISUSE, live=False),
    "pre-0.10-NDArrayWrapper": Forgery(
        legacy_wrapper,
        cannot(
            "it names joblib.numpy_pickle.NDArrayWrapper, joblib's pre-0.10 array wrapper, "
            "which reads other files"
        ),
        live=False,
    ),
}


def expected(path: Path, forgery: Forgery) -> str:
    if forgery.reason is None:
        return _refusal(list(forgery.names)).replace("model.joblib", str(path), 1)
    return (
        f"Refusing to load {path}: {forgery.reason}. skbundle only loads pickles whose every "
        "import it can check; rebuild the bundle with skbundle.save()."
    )


def forge(bundle: Path, data: bytes) -> Path:
    (bundle / "model.joblib").write_bytes(data)
    rehash(bundle, "model.joblib")
    return bundle / "model.joblib"


@pytest.mark.parametrize("compress", [None, "zlib"])
@pytest.mark.parametrize("case", list(FORGERIES))
def test_forged_joblib_is_refused_under_trust(
    case: str, compress: str | None, bundle_copy: Path, tmp_path: Path
) -> None:
    forgery = FORGERIES[case]
    sentinel = tmp_path / "payload-ran"
    data = forgery.build(sentinel)
    if compress:
        data = zlib.compress(data)
    path = forge(bundle_copy, data)
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy, runtime="joblib", trust_pickle=True)
    assert str(info.value) == expected(path, forgery)
    assert not sentinel.exists()


@pytest.mark.parametrize("case", [name for name, f in FORGERIES.items() if f.live])
def test_the_forgeries_are_live_against_plain_joblib(case: str, tmp_path: Path) -> None:
    """Control: joblib.load itself runs each payload (some then fail, after the shell ran)."""
    sentinel = tmp_path / "payload-ran"
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        joblib.load(io.BytesIO(FORGERIES[case].build(sentinel)))
    assert sentinel.exists()


# -- decompression bombs --------------------------------------------------------------------
ZEROS = 1 << 20
SMALL = InflateLimit(ratio=200, floor=4096, ceiling=2 << 30)
TINY_CEILING = InflateLimit(ratio=10**6, floor=0, ceiling=65536)
CODECS = ["zlib", "gzip", "bz2", "xz", "lzma"]


def bomb(codec: str) -> bytes:
    """A joblib file of 1 MiB of zeros: a few hundred compressed bytes or less."""
    buf = io.BytesIO()
    joblib.dump(bytes(ZEROS), buf, compress=(codec, 9))
    return buf.getvalue()


def too_big(path: Path, most: int, how: str) -> str:
    return (
        f"Refusing to load {path}: it inflates to more than {most} bytes ({how}), the limit "
        "past which skbundle treats a compressed model as a decompression bomb. Nothing was "
        "unpickled. If you built this bundle, save it again uncompressed "
        "(skbundle.save(..., compress=0)), or load its skops or ONNX runtime instead."
    )


@pytest.mark.parametrize("codec", CODECS)
def test_a_bomb_is_refused_by_the_ratio(
    codec: str, bundle_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bomb(codec)
    assert 200 * len(data) < ZEROS
    path = forge(bundle_copy, data)
    monkeypatch.setattr(audit, "DEFAULT_INFLATE_LIMIT", SMALL)
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy, runtime="joblib", trust_pickle=True)
    how = f"200x its {len(data)} compressed bytes, at least 4096 and at most {2 << 30} bytes"
    assert str(info.value) == too_big(path, max(4096, 200 * len(data)), how)


@pytest.mark.parametrize("codec", CODECS)
def test_a_bomb_is_refused_by_the_ceiling(
    codec: str, bundle_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bomb(codec)
    path = forge(bundle_copy, data)
    monkeypatch.setattr(audit, "DEFAULT_INFLATE_LIMIT", TINY_CEILING)
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy, runtime="joblib", trust_pickle=True)
    how = f"1000000x its {len(data)} compressed bytes, at least 0 and at most 65536 bytes"
    assert str(info.value) == too_big(path, 65536, how)


@pytest.mark.parametrize("codec", CODECS)
def test_the_default_limit_lets_the_same_file_through(codec: str) -> None:
    """1 MiB is under the 64 MiB floor: a small, very compressible file is no bomb."""
    assert audit.scan(bomb(codec), source="model.joblib").imports == set()


def test_the_limits_are_documented_defaults() -> None:
    assert InflateLimit(ratio=200, floor=64 << 20, ceiling=2 << 30) == audit.DEFAULT_INFLATE_LIMIT
    assert audit.DEFAULT_INFLATE_LIMIT.for_size(1000) == 64 << 20
    assert audit.DEFAULT_INFLATE_LIMIT.for_size(1 << 20) == 200 << 20
    assert audit.DEFAULT_INFLATE_LIMIT.for_size(1 << 30) == 2 << 30


RAW = pickle.dumps({"model": 1}, protocol=4)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(
            zlib.compress(RAW)[:-6],
            "its zlib stream is truncated (it ends before its end marker)",
            id="zlib-truncated",
        ),
        pytest.param(
            zlib.compress(RAW) + b"\0",
            "it has 1 more byte after the end of its zlib stream (joblib's reader would go on "
            "into them; a file joblib writes is one stream)",
            id="zlib-trailing-byte",
        ),
        pytest.param(
            gzip.compress(RAW, mtime=0) + gzip.compress(RAW, mtime=0),
            f"it has {len(gzip.compress(RAW, mtime=0))} more bytes after the end of its gzip "
            "stream (joblib's reader would go on into them; a file joblib writes is one stream)",
            id="gzip-second-member",
        ),
        pytest.param(
            bz2.compress(RAW) + bz2.compress(RAW),
            f"it has {len(bz2.compress(RAW))} more bytes after the end of its bz2 stream "
            "(joblib's reader would go on into them; a file joblib writes is one stream)",
            id="bz2-second-stream",
        ),
        pytest.param(
            lzma.compress(RAW)[:-20],
            "its xz stream is truncated (it ends before its end marker)",
            id="xz-truncated",
        ),
        pytest.param(
            b"\x04\x22\x4d\x18" + b"\0" * 16,
            "its first bytes b'\\x04\"M\\x18' are not those of a pickle or of a compressed "
            "container the audit can open",
            id="lz4-not-installed",
        ),
    ],
)
def test_compressed_streams_must_end_where_joblib_ends(data: bytes, reason: str) -> None:
    with pytest.raises(UntrustedArtifactError) as info:
        audit.scan(data, source="model.joblib")
    assert str(info.value) == f"Refusing to load model.joblib: {reason}. Rebuild the bundle."


# -- what real models and arrays look like still audits -------------------------------------
def _fitted(case: Any) -> dict[str, Any]:
    X, y = case.X_train, case.y_train
    frame_ = X.iloc[:, :3].copy()
    frame_["colour"] = np.where(X.iloc[:, 0] > X.iloc[:, 0].median(), "red", "blue")
    encoded = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("onehot", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
                        ("scale", StandardScaler(), list(frame_.columns[:3])),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    return {
        "gradient-boosting": GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y),
        "hist-gradient-boosting": HistGradientBoostingClassifier(max_iter=5).fit(X, y),
        "one-hot-of-strings": encoded.fit(frame_, y),
    }


ARRAYS = {
    "structured": np.zeros(3, dtype=[("a", "<i8"), ("b", "<f4", (2,))]),
    "aligned-struct": np.zeros(2, dtype=np.dtype([("a", "u1"), ("b", "<f8")], align=True)),
    "struct-with-object": np.array([(1, "x")], dtype=[("a", "<i8"), ("b", "O")]),
    "big-endian": np.arange(5, dtype=">i4"),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "datetime": np.array(["2024-01-01"], dtype="M8[ns]"),
    "unicode": np.array(["malignant", "benign"]),
    "zero-d": np.array(3.5),
    "empty": np.empty((0, 4)),
    "objects": np.array([{"a": [1, 2]}, None, "x"], dtype=object),
    "masked": np.ma.masked_array([1.0, 2.0], mask=[False, True]),
}


NOT_ALLOWLISTED = {"gradient-boosting", "hist-gradient-boosting", "masked"}


@pytest.mark.parametrize("compress", [0, 3])
def test_real_models_and_arrays_still_audit(cancer: Any, compress: int) -> None:
    models = _fitted(cancer)
    for name, obj in {**models, **ARRAYS}.items():
        buf = io.BytesIO()
        joblib.dump(obj, buf, compress=compress)
        # These name numpy helpers the allowlist does not list (its own business): here the
        # audit must follow their streams to the end, not approve them.
        read = audit.scan if name in NOT_ALLOWLISTED else audit.check
        report = read(buf.getvalue(), source=name)
        assert report.arrays > 0 or name == "masked", name


def test_nested_streams_are_counted(cancer: Any) -> None:
    buf = io.BytesIO()
    joblib.dump(ARRAYS["objects"], buf)
    report = audit.check(buf.getvalue(), source="objects")
    assert (report.arrays, report.nested) == (1, 1)


def test_the_demo_bundle_audits(cancer: Any) -> None:
    report = audit.check((cancer.path / "model.joblib").read_bytes(), source="model.joblib")
    assert report.arrays > 100 and report.nested == 1  # feature_names_in_ holds objects


def test_damaged_dtypes_and_nested_streams_are_refused_never_crash() -> None:
    """Byte flips in a file full of dtypes (structured, aligned, datetime, big-endian) and
    nested streams: the audit follows or refuses, and never lets numpy parse a broken state
    (numpy's dtype.__setstate__ crashes the process on some)."""
    buf = io.BytesIO()
    joblib.dump({k: ARRAYS[k] for k in ARRAYS if k != "masked"}, buf)
    data = buf.getvalue()
    rng = np.random.default_rng(0)
    outcomes = {"followed": 0, "refused": 0}
    for _ in range(400):
        damaged = bytearray(data)
        for pos in rng.integers(2, len(data), size=int(rng.integers(1, 4))):
            damaged[pos] = int(rng.integers(0, 256))
        try:
            audit.scan(bytes(damaged), source="model.joblib")
            outcomes["followed"] += 1
        except UntrustedArtifactError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and outcomes["followed"] > 0
