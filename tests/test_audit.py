"""The pickle audit: every name a joblib file would import is checked before unpickling."""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import subprocess
import tracemalloc
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from skbundle import UntrustedArtifactError
from skbundle.formats import joblib_format
from skbundle.trust import audit
from skbundle.trust.allowlist import is_trusted
from tests.tampering import SystemPayload, payload_bytes


class _Reduce:
    """Pickles as a call of ``target(*args)``."""

    def __init__(self, target: Any, *args: Any) -> None:
        self.target = target
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (self.target, self.args)


def _dump(obj: object, compress: int | tuple[str, int] = 0) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf, compress=compress)
    return buf.getvalue()


def _refusal(names: list[str]) -> str:
    s = "s" if len(names) != 1 else ""
    return (
        f"Refusing to load model.joblib: the pickle would import {len(names)} name{s} outside "
        f"skbundle's allowlist: {names!r}. Nothing was unpickled. If you wrote this model and "
        "trust those names, pass trusted_types=[...] with them to skbundle.load() (CLI: "
        "--trust-type NAME, once per name); otherwise do not load it."
    )


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("sklearn.ensemble._forest.RandomForestClassifier", True),
        ("sklearn.pipeline.Pipeline", True),
        ("sklearn.tree._tree.Tree", True),
        ("numpy.dtype", True),
        ("joblib.numpy_pickle.NumpyArrayWrapper", True),
        ("os.system", False),
        ("posix.system", False),
        ("builtins.eval", False),
        ("sklearn.utils._testing.assert_run_python_script_without_output", False),
        ("sklearn.utils._testing.TempMemmap", False),
        ("sklearn.utils.extmath.safe_sparse_dot", False),
        ("numpy.testing._private.utils.runstring", False),
        ("numpy.load", False),
        ("joblib.numpy_pickle.NDArrayWrapper", False),
        ("sklearnx.Evil", False),
    ],
)
def test_allowlist(name: str, trusted: bool) -> None:
    assert is_trusted(name) is trusted


def test_caller_can_extend_the_allowlist() -> None:
    assert not is_trusted("mypackage.MyTransformer")
    assert is_trusted("mypackage.MyTransformer", {"mypackage.MyTransformer"})


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_real_bundles_pass_the_audit_in_every_container(any_case: Any, compress: Any) -> None:
    data = _dump(any_case.pipeline, compress)
    report = audit.check(data, source="model.joblib")
    assert "sklearn.pipeline.Pipeline" in report.imports
    assert report.arrays > 0
    # The audit stepped over every array: it saw the same names whatever the container.
    assert report.imports == audit.scan(_dump(any_case.pipeline), source="x").imports


def test_bundle_file_passes_the_audit(any_case: Any) -> None:
    data = (any_case.path / "model.joblib").read_bytes()
    final = type(any_case.pipeline.steps[-1][1])
    report = audit.check(data, source="model.joblib")
    assert f"{final.__module__}.{final.__name__}" in report.imports


@pytest.mark.parametrize(
    ("obj", "names"),
    [
        pytest.param(SystemPayload("true"), ["posix.system"], id="os.system"),
        pytest.param(_Reduce(eval, "1+1"), ["builtins.eval"], id="eval"),
        pytest.param(_Reduce(subprocess.Popen, ["true"]), ["subprocess.Popen"], id="Popen"),
        pytest.param(
            np.array([SystemPayload("true")], dtype=object), ["posix.system"], id="in-object-array"
        ),
        pytest.param(
            {"w": np.arange(1000.0), "x": SystemPayload("true")},
            ["posix.system"],
            id="after-an-array",
        ),
        pytest.param(
            [_Reduce(eval, "1"), _Reduce(exec, "1"), SystemPayload("x")],
            ["builtins.eval", "builtins.exec", "posix.system"],
            id="several",
        ),
    ],
)
def test_malicious_pickles_are_refused(obj: object, names: list[str]) -> None:
    for compress in (0, 3):
        with pytest.raises(UntrustedArtifactError, match=re.escape(_refusal(names))):
            audit.check(_dump(obj, compress), source="model.joblib")


def test_names_fetched_from_the_memo_are_seen() -> None:
    # 'os' and 'system' are memoized, popped, and fetched back before STACK_GLOBAL.
    data = (
        b"\x80\x04"
        b"\x8c\x02os\x94" b"0"  # SHORT_BINUNICODE 'os', MEMOIZE, POP
        b"\x8c\x06system\x94" b"0"  # SHORT_BINUNICODE 'system', MEMOIZE, POP
        b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL
        b"\x8c\x04true\x85R."  # 'true', TUPLE1, REDUCE, STOP
    )  # fmt: skip
    assert audit.scan(data, source="x").imports == {"os.system"}
    with pytest.raises(UntrustedArtifactError, match=re.escape(_refusal(["os.system"]))):
        audit.check(data, source="model.joblib")


@pytest.mark.parametrize(
    ("data", "names"),
    [
        pytest.param(
            pickle.dumps(SystemPayload("true"), protocol=2), ["posix.system"], id="GLOBAL"
        ),
        pytest.param(b"\x80\x02(S'true'\nios\nsystem\n.", ["os.system"], id="INST"),
    ],
)
def test_older_opcodes_naming_globals_are_seen(data: bytes, names: list[str]) -> None:
    with pytest.raises(UntrustedArtifactError, match=re.escape(_refusal(names))):
        audit.check(data, source="model.joblib")


@pytest.mark.parametrize(
    ("data", "imports"),
    [
        pytest.param(b"\x80\x02c\\x6fs\nsystem\n.", {"\\x6fs.system"}, id="no-escapes"),
        pytest.param(
            b"\x80\x02ccopy_reg\n_reconstructor\n.", {"copyreg._reconstructor"}, id="py2-rename"
        ),
        pytest.param(
            b"\x80\x03ccopy_reg\n_reconstructor\n.", {"copy_reg._reconstructor"}, id="protocol-3"
        ),
        pytest.param(b"\x80\x01c__builtin__\neval\n.", {"builtins.eval"}, id="protocol-1"),
    ],
)
def test_names_are_the_ones_the_unpickler_imports(data: bytes, imports: set[str]) -> None:
    """UTF-8 lines without escapes, and Python 2 renames below protocol 3 (fix_imports)."""
    assert audit.scan(data, source="x").imports == imports


def _cannot(reason: str) -> str:
    return (
        f"Refusing to load model.joblib: the pickle audit cannot follow it: {reason}. skbundle "
        "only loads pickles whose every import it can check; rebuild the bundle with "
        "skbundle.save()."
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"\x80\x02P1\n.", _cannot("it uses the PERSID opcode"), id="persid"),
        pytest.param(b"\x80\x02\x82\x01.", _cannot("it uses the EXT1 opcode"), id="ext1"),
        pytest.param(
            pickle.dumps({"a": 1}, protocol=2)[:-1],
            _cannot("its opcodes do not parse (pickle exhausted before seeing STOP)"),
            id="no-stop",
        ),
        pytest.param(
            b"\x80\x02\x8c\x02osR.",
            _cannot("its opcodes do not form a valid pickle (IndexError('pop from empty list'))"),
            id="stack-underflow",
        ),
        pytest.param(
            b"\x80\x04K\x01K\x02\x93.", _cannot("it computes the name of a global"), id="computed"
        ),
        pytest.param(
            b"hello",
            "Refusing to load model.joblib: its first bytes b'hell' are not those of a pickle or "
            "of a compressed container the audit can open. Rebuild the bundle.",
            id="not-a-pickle",
        ),
        pytest.param(
            b"\x78\x9cnot zlib",
            "Refusing to load model.joblib: it does not decompress as zlib (Error -3 while "
            "decompressing data: invalid block type). Rebuild the bundle.",
            id="bad-zlib",
        ),
    ],
)
def test_streams_the_audit_cannot_follow_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(UntrustedArtifactError) as info:
        audit.check(data, source="model.joblib")
    assert str(info.value) == message


def test_a_truncated_array_is_refused() -> None:
    data = _dump(np.arange(1000.0))
    with pytest.raises(UntrustedArtifactError) as info:
        audit.check(data[:-100], source="model.joblib")
    assert str(info.value) == _cannot("the stream ends inside an array")


def test_unpickling_is_never_reached_on_refusal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def must_not_run(data: bytes) -> object:
        raise AssertionError("the unpickler was reached")

    monkeypatch.setattr(joblib_format, "_unpickle", must_not_run)
    sentinel = tmp_path / "pwned"
    with pytest.raises(UntrustedArtifactError, match=re.escape(_refusal(["posix.system"]))):
        joblib_format.JoblibFormat().load(payload_bytes(sentinel), source="model.joblib")
    assert not sentinel.exists()


def test_caller_trust_lets_an_audited_name_through(monkeypatch: pytest.MonkeyPatch) -> None:
    reached: list[bytes] = []
    monkeypatch.setattr(
        joblib_format, "_unpickle", lambda data: reached.append(data) or _Reduce(eval, "1")
    )
    data = _dump(_Reduce(eval, "1"))
    joblib_format.JoblibFormat().load(
        data, source="model.joblib", trusted=frozenset({"builtins.eval"})
    )
    assert reached == [data]


@pytest.mark.parametrize("what", ["scaler", "object-array"])
def test_damaged_files_are_refused_never_crash(cancer: Any, what: str) -> None:
    """Flip bytes of a real (uncompressed) pickle: the audit passes or refuses, nothing else."""
    objects = np.array([{"a": [1.5]}, "x", None], dtype=object)
    data = _dump(cancer.pipeline.steps[0][1] if what == "scaler" else {"o": objects})
    rng = np.random.default_rng(0)
    outcomes = {"passed": 0, "refused": 0}
    for _ in range(300):
        damaged = bytearray(data)
        for pos in rng.integers(2, len(data), size=3):
            damaged[pos] = int(rng.integers(0, 256))
        try:
            audit.check(bytes(damaged), source="model.joblib")
            outcomes["passed"] += 1
        except UntrustedArtifactError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0
    assert sum(outcomes.values()) == 300


# -- BYTEARRAY8: numpy's protocol-5 buffers, inside the nested streams joblib writes ----------
def _opcodes(data: bytes) -> set[str]:
    return {op.name for op, _, _ in pickletools.genops(data)}


def test_a_nested_protocol_5_stream_with_bytearray8_passes() -> None:
    """joblib writes an array of objects as a nested protocol-5 pickle, in which numpy writes
    each writable array it holds as BYTEARRAY8 (gradient boosting's trees are held so)."""
    inner = np.arange(6.0)
    assert "BYTEARRAY8" in _opcodes(pickle.dumps(inner, protocol=5))
    holder = np.empty(2, dtype=object)
    holder[0], holder[1] = inner, {"k": inner * 2}
    data = _dump({"stages": holder})
    report = audit.check(data, source="model.joblib")
    assert report.nested == 1
    assert "numpy._core.numeric._frombuffer" in report.imports
    loaded = joblib.load(io.BytesIO(data))
    assert np.array_equal(loaded["stages"][1]["k"], inner * 2)


def test_a_real_gradient_boosting_pickle_passes() -> None:
    from sklearn.datasets import load_wine
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_wine(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y)
    # its trees, as joblib writes the array that holds them: protocol 5, with BYTEARRAY8
    assert "BYTEARRAY8" in _opcodes(pickle.dumps(model.estimators_, protocol=5))
    report = audit.check(_dump(model, compress=3), source="model.joblib")
    assert report.nested >= 1
    assert "sklearn._loss._loss.__pyx_unpickle_CyHalfMultinomialLoss" in report.imports


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        pytest.param(
            1 << 40,
            "its opcodes do not parse (expected 1099511627776 bytes in a bytearray8, but only "
            "4 remain)",
            id="longer-than-the-stream",
        ),
        pytest.param(
            (1 << 63) + 5,
            "its opcodes do not parse (bytearray8 byte count > sys.maxsize: 9223372036854775813)",
            id="longer-than-any-buffer",
        ),
    ],
)
def test_a_bytearray8_longer_than_the_stream_is_refused_without_allocating(
    declared: int, reason: str
) -> None:
    data = b"\x80\x05\x96" + declared.to_bytes(8, "little") + b"abc."
    tracemalloc.start()
    try:
        with pytest.raises(UntrustedArtifactError) as info:
            audit.check(data, source="model.joblib")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(info.value) == _cannot(reason)
    assert peak < 1 << 20


def test_bytearray8_payloads_are_not_kept_by_the_audit() -> None:
    """The bytes are data, never a name: kept on the symbolic stack, eight payloads of 2 MiB
    would all stay alive to the end; as placeholders only the one being read is."""
    payload = pickle.dumps([bytearray([i]) * (2 << 20) for i in range(8)], protocol=5)
    assert "BYTEARRAY8" in _opcodes(payload)
    tracemalloc.start()
    try:
        audit.scan(payload, source="model.joblib")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, peak
