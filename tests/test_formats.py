"""The three model formats: every bundle carries them, each round-trips, each refuses forgeries."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import skbundle
from skbundle import (
    IncompatibleEnvironmentError,
    RuntimeUnavailableError,
    UntrustedArtifactError,
)
from skbundle.core.integrity import sha256_file
from skbundle.core.manifest import read_manifest, write_manifest
from skbundle.formats import FORMATS, skops_format
from tests.custom_steps import Log1p
from tests.tampering import rehash

RUNTIMES = ["joblib", "skops", "onnx"]


def test_formats_are_registered_as_data() -> None:
    assert list(FORMATS) == ["joblib", "skops", "onnx"]
    assert {n: (h.filename, h.engine, h.needs_trust) for n, h in FORMATS.items()} == {
        "joblib": ("model.joblib", "scikit-learn", True),
        "skops": ("model.skops", "scikit-learn", False),
        "onnx": ("model.onnx", "onnxruntime", False),
    }


def test_every_bundle_lists_every_format_with_its_hash(any_case: Any) -> None:
    manifest = read_manifest(any_case.path)
    models = {a.format: a for a in manifest.artifacts if a.role == "model"}
    assert sorted(models) == sorted(RUNTIMES)
    for fmt, artifact in models.items():
        assert artifact.path == FORMATS[fmt].filename
        assert artifact.sha256 == sha256_file(any_case.path / artifact.path)
    assert manifest.unavailable_formats == {}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_round_trip_per_runtime(any_case: Any, runtime: str) -> None:
    bundle = skbundle.load(any_case.path, runtime=runtime, trust_pickle=True)
    assert bundle.runtime.format == runtime
    assert bundle.runtime.engine == FORMATS[runtime].engine
    expected = any_case.pipeline.predict_proba(any_case.X_test)
    got = bundle.predict_proba(any_case.X_test)
    recorded = read_manifest(any_case.path).parity[runtime].sets["test"]
    what = f"{any_case.name} via {runtime}"
    # what load() gives reproduces exactly what save() measured and recorded
    assert float(np.max(np.abs(got - expected))) == recorded.max_abs_diff, what
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1)), what
    if recorded.max_abs_diff == 0.0:
        assert np.array_equal(got, expected), what
    # One record at a time, through the dict fast path, gives what the pipeline itself gives
    # one row at a time: for a linear model, BLAS may take another kernel for one row than for
    # a batch (in the pipeline and in the bundle alike), so a batch is not the reference here.
    records = any_case.X_test.iloc[:5].to_dict(orient="records")
    singles = np.array(
        [list(bundle.predict(r)[0]["probabilities"].values()) for r in records], dtype=np.float64
    )
    one_by_one = np.vstack(
        [any_case.pipeline.predict_proba(any_case.X_test.iloc[[i]]) for i in range(5)]
    )
    if recorded.max_abs_diff == 0.0:
        assert np.array_equal(singles, one_by_one), what
    else:  # e.g. a one-row MatMul takes another kernel than a batch in onnxruntime
        assert np.array_equal(singles.argmax(axis=1), got[:5].argmax(axis=1)), what
        assert float(np.max(np.abs(singles - got[:5]))) < 1e-12, what


def test_all_runtimes_agree_bit_for_bit_on_the_demo(cancer: Any) -> None:
    X = cancer.X_test
    results = {
        runtime: skbundle.load(cancer.path, runtime=runtime, trust_pickle=True).predict_proba(X)
        for runtime in RUNTIMES
    }
    for runtime, proba in results.items():
        assert np.array_equal(proba, results["joblib"]), runtime


@pytest.mark.parametrize(
    ("case", "runtime", "reason"),
    [
        ("cancer", "onnx", "auto: onnx, because its parity with the fitted pipeline is exact"),
        ("wine", "onnx", "auto: onnx, because its parity with the fitted pipeline is exact"),
        (
            "iris",
            "skops",
            "auto: skops, because it reproduces the fitted pipeline; not onnx (parity not exact: "
            "max |diff| {diff:g}, labels 100.00%)",
        ),
    ],
)
def test_auto_prefers_exact_onnx_then_skops(
    request: pytest.FixtureRequest, case: str, runtime: str, reason: str
) -> None:
    path = request.getfixturevalue(case).path
    bundle = skbundle.load(path)
    diff = read_manifest(path).parity["onnx"].max_abs_diff
    assert (bundle.runtime.format, bundle.runtime.reason) == (runtime, reason.format(diff=diff))


def _only(path: Path, keep: set[str]) -> None:
    """Drop every model format but ``keep`` from a bundle (files and manifest entries)."""
    manifest = read_manifest(path)
    for artifact in manifest.artifacts:
        if artifact.role == "model" and artifact.format not in keep:
            (path / artifact.path).unlink()
    kept = [a for a in manifest.artifacts if a.role != "model" or a.format in keep]
    write_manifest(path, manifest.model_copy(update={"artifacts": kept}))


def test_auto_uses_a_pickle_only_when_trusted(bundle_copy: Path) -> None:
    _only(bundle_copy, {"joblib"})
    with pytest.raises(UntrustedArtifactError, match=re.escape("pass trust_pickle=True")):
        skbundle.load(bundle_copy)
    bundle = skbundle.load(bundle_copy, trust_pickle=True)
    assert (
        bundle.runtime.reason == "auto: joblib, because the pickle is trusted (trust_pickle=True)"
    )


@pytest.mark.parametrize(
    ("runtime", "message"),
    [
        (
            "pickle",
            "Runtime 'pickle' is not available for this bundle: expected one of ['auto', "
            "'joblib', 'onnx', 'skops'].",
        ),
        (
            "ONNX",
            "Runtime 'ONNX' is not available for this bundle: expected one of ['auto', "
            "'joblib', 'onnx', 'skops'].",
        ),
    ],
)
def test_unknown_runtime(cancer: Any, runtime: str, message: str) -> None:
    with pytest.raises(RuntimeUnavailableError, match=re.escape(message)):
        skbundle.load(cancer.path, runtime=runtime)


def test_the_environment_check_does_not_apply_to_onnx(bundle_copy: Path) -> None:
    manifest = read_manifest(bundle_copy)
    packages = {**manifest.environment.packages, "scikit-learn": "0.1.0"}
    env = manifest.environment.model_copy(update={"packages": packages})
    write_manifest(bundle_copy, manifest.model_copy(update={"environment": env}))
    assert skbundle.load(bundle_copy).runtime.format == "onnx"
    with pytest.raises(IncompatibleEnvironmentError, match=re.escape("scikit-learn 0.1.0")):
        skbundle.load(bundle_copy, runtime="skops")


# -- a pipeline a format cannot represent -------------------------------------------------------
@pytest.fixture(scope="module")
def custom(iris: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    pipe = make_pipeline(Log1p(), LogisticRegression(max_iter=500)).fit(iris.X_train, iris.y_train)
    path = tmp_path_factory.mktemp("custom") / "custom"
    skbundle.save(
        pipe,
        path,
        X_train=iris.X_train,
        y_train=iris.y_train,
        X_test=iris.X_test,
        y_test=iris.y_test,
        name="custom",
    )
    return path, pipe, iris


SKOPS_REFUSAL = (
    "it would construct 1 type outside skbundle's allowlist: ['tests.custom_steps.Log1p']. Nothing "
    "was constructed. If you trust those types, pass them as trusted_types=[...] to "
    "skbundle.load() (CLI: --trust-type NAME, once per type); never take that list from the file."
)


def test_an_unconvertible_pipeline_still_gets_a_bundle(custom: tuple[Path, Any, Any]) -> None:
    path, _, _ = custom
    manifest = read_manifest(path)
    assert sorted(a.path for a in manifest.artifacts if a.role == "model") == [
        "model.joblib",
        "model.skops",
    ]
    assert not (path / "model.onnx").exists()
    why = manifest.unavailable_formats["onnx"]
    assert why.startswith(
        "exact converter: no exact conversion for Log1p; skl2onnx: MissingShapeCalculator: "
        "Unable to find a shape calculator for type '<class 'tests.custom_steps.Log1p'>'."
    )
    assert len(why) <= 300
    with pytest.raises(RuntimeUnavailableError) as info:
        skbundle.load(path, runtime="onnx")
    assert str(info.value).startswith(f"Runtime 'onnx' is not available for this bundle ({why})")


def test_skops_refuses_types_outside_the_allowlist(
    custom: tuple[Path, Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = custom

    def must_not_run(data: bytes, trusted: list[str]) -> object:
        raise AssertionError("skops.io.loads was reached")

    with monkeypatch.context() as patch:
        patch.setattr(skops_format, "_construct", must_not_run)
        with pytest.raises(UntrustedArtifactError) as info:
            skbundle.load(path)
    assert str(info.value) == f"Refusing to load {path / 'model.skops'}: {SKOPS_REFUSAL}"


def test_caller_trusted_types_let_a_custom_step_load(custom: tuple[Path, Any, Any]) -> None:
    path, pipe, iris = custom
    for runtime in ("skops", "joblib"):
        bundle = skbundle.load(
            path, runtime=runtime, trust_pickle=True, trusted_types=["tests.custom_steps.Log1p"]
        )
        got = bundle.predict_proba(iris.X_test)
        assert np.array_equal(got, pipe.predict_proba(iris.X_test)), runtime
    # the pickle audit holds the same line as skops
    with pytest.raises(UntrustedArtifactError, match=re.escape("['tests.custom_steps.Log1p']")):
        skbundle.load(path, runtime="joblib", trust_pickle=True)


def test_a_pipeline_only_onnx_can_store(cancer: Any, tmp_path: Path) -> None:
    """A lambda attribute: joblib cannot pickle it, skops writes it but cannot read it back;
    the bundle is still made, with ONNX, and says why the others are missing."""
    from sklearn.base import clone

    pipe = clone(cancer.pipeline).fit(cancer.X_train, cancer.y_train)
    pipe.steps[0][1].hook = lambda x: x
    manifest = skbundle.save(pipe, tmp_path / "b", **cancer.save_kwargs())
    assert sorted(a.path for a in manifest.artifacts if a.role == "model") == ["model.onnx"]
    assert sorted(p.name for p in (tmp_path / "b").iterdir() if p.name.startswith("model.")) == [
        "model.onnx"
    ]
    why = manifest.unavailable_formats
    assert why["joblib"].startswith("joblib could not pickle the pipeline: ")
    assert why["skops"].startswith(
        "skops wrote the pipeline but cannot read it back: AttributeError: "
    )
    assert manifest.parity["onnx"].exact
    bundle = skbundle.load(tmp_path / "b")
    assert np.array_equal(bundle.predict_proba(cancer.X_test), pipe.predict_proba(cancer.X_test))


# -- forged files -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filename", "content", "reason"),
    [
        pytest.param(
            "model.skops",
            b"PK\x05\x06" + b"\x00" * 18,
            'it is not a skops archive with a readable schema.json ("There is no item named '
            "'schema.json' in the archive\"). The file is not what the manifest says it is; "
            "rebuild the bundle.",
            id="skops-empty-zip",
        ),
        pytest.param(
            "model.skops",
            b"not a zip",
            "it is not a skops archive with a readable schema.json (File is not a zip file). "
            "The file is not what the manifest says it is; rebuild the bundle.",
            id="skops-garbage",
        ),
        pytest.param(
            "model.onnx",
            b"\xff\xff\xff",
            "it is not an ONNX model (Error parsing message with type 'onnx.ModelProto': Wire "
            "format was corrupt). Rebuild the bundle.",
            id="onnx-garbage",
        ),
    ],
)
def test_forged_model_files_are_refused(
    bundle_copy: Path, filename: str, content: bytes, reason: str
) -> None:
    (bundle_copy / filename).write_bytes(content)
    rehash(bundle_copy, filename)
    runtime = filename.split(".")[1]
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy, runtime=runtime)
    assert str(info.value) == f"Refusing to load {bundle_copy / filename}: {reason}"


def test_onnx_pointing_at_external_files_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    import onnx
    from onnx.external_data_helper import set_external_data

    model = onnx.load_model_from_string((bundle_copy / "model.onnx").read_bytes())
    tensor = model.graph.initializer[0]
    set_external_data(tensor, location="../../../etc/passwd")
    tensor.ClearField("raw_data")
    (bundle_copy / "model.onnx").write_bytes(model.SerializeToString())
    rehash(bundle_copy, "model.onnx")
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(bundle_copy)
    assert str(info.value) == (
        f"Refusing to load {bundle_copy / 'model.onnx'}: 1 tensor reads data from a file "
        f"outside the model: graph.initializer[0] {tensor.name!r}. A bundle's ONNX model must "
        "be self-contained; rebuild the bundle."
    )


def test_tampered_model_without_rehash_fails_integrity(bundle_copy: Path) -> None:
    data = bytearray((bundle_copy / "model.onnx").read_bytes())
    data[-1] ^= 1
    (bundle_copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(skbundle.BundleIntegrityError, match=re.escape("model.onnx has sha256")):
        skbundle.load(bundle_copy)


def test_bundle_copy_is_independent(bundle_copy: Path, cancer: Any) -> None:
    shutil.rmtree(bundle_copy)
    assert (cancer.path / "model.onnx").exists()
