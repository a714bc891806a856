"""The computed checklist: every item tested on a bundle that passes it and one that fails it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from typer.testing import CliRunner

import skbundle
from skbundle import bench
from skbundle.cli import app
from skbundle.core.integrity import verify
from skbundle.core.manifest import Manifest, Parity, read_manifest
from skbundle.readiness import asgi, items, probes
from skbundle.readiness.check import CheckOutcome, check, server_items
from skbundle.report import checklist as cl
from skbundle.trust import signing

from .conftest import Case
from .readiness_helpers import EchoApp, copy_bundle, edit_features
from .zoo_bundles import CATEGORICAL, LABELS, REGRESSOR, zoo_bundle

GENEROUS_MS = 1e9  # a latency budget no machine misses: these tests never assert on timing


@pytest.fixture(scope="module")
def ready(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo bundle, benchmarked: everything required can pass."""
    path = copy_bundle(cancer.path, tmp_path_factory.mktemp("ready") / "bundle")
    measured = bench.run(path, n=30, batch_sizes=(1, 10), trust_pickle=True, persistence=False)
    bench.store(path, measured)
    return path


@pytest.fixture(scope="module")
def ready_outcome(ready: Path) -> CheckOutcome:
    return check(ready, trust_pickle=True, max_p99_ms=GENEROUS_MS, min_accuracy=0.9, requests=200)


def statuses(outcome: CheckOutcome) -> dict[str, str]:
    return {item.key: item.status for item in outcome.checklist.items}


def test_a_ready_bundle_passes_every_required_item(ready_outcome: CheckOutcome) -> None:
    expected = {
        "metrics": "pass",
        "integrity": "pass",
        "version": "pass",
        "metadata": "warn",  # the fixture bundle has no description
        "parity": "pass",
        "schema": "pass",
        "validation": "pass",
        "boundary": "pass",
        "requirements": "pass",
        "python": "pass",
        "memory": "pass",
        "latency": "pass",
        "load": "pass",
        "model_card": "pass",
        "openapi": "pass",
        "monitoring": "pass",
        "signature": "warn",
    }
    assert statuses(ready_outcome) == expected
    assert ready_outcome.ok() is True
    assert ready_outcome.ok(strict=True) is False  # unsigned, no description


def test_groups_follow_the_seed(ready_outcome: CheckOutcome) -> None:
    groups = [item.group for item in ready_outcome.checklist.items]
    assert groups == sorted(groups, key=cl.GROUPS.index)
    assert set(groups) == set(cl.GROUPS)


def test_check_stores_the_checklist_and_the_bundle_stays_intact(ready: Path) -> None:
    outcome = check(ready, trust_pickle=True, max_p99_ms=GENEROUS_MS, requests=50)
    assert outcome.update is not None
    assert outcome.update.written == [
        "checklist.md",
        "model_card.md",
        "readiness.json",
        "report.html",
    ]
    assert verify(ready).ok
    text = (ready / "checklist.md").read_text(encoding="utf-8")
    assert text.count("- [x]") == outcome.checklist.counts()["pass"]
    assert "**READY**" in text


# -- model ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("threshold", "status", "start"),
    [
        (None, "pass", "test split (n=114): accuracy 0.9561"),
        (0.9, "pass", "accuracy 0.9561 >= the threshold 0.9000; test split (n=114)"),
        (0.99, "fail", "accuracy 0.9561 is below the threshold 0.9900"),
    ],
    ids=["no-threshold", "above", "below"],
)
def test_metrics_item(cancer: Case, threshold: float | None, status: str, start: str) -> None:
    item = items.metrics_item(read_manifest(cancer.path), threshold)
    assert (item.status, item.evidence[: len(start)]) == (status, start)


def test_metrics_item_fails_without_metrics(cancer: Case) -> None:
    manifest = read_manifest(cancer.path).model_copy(update={"metrics": {}})
    item = items.metrics_item(manifest, None)
    assert (item.status, item.evidence) == ("fail", "no test accuracy in bundle.json")


def test_a_tampered_file_fails_integrity_and_nothing_is_loaded(ready: Path, tmp_path: Path) -> None:
    path = copy_bundle(ready, tmp_path / "tampered")
    model = path / "model.joblib"
    data = bytearray(model.read_bytes())
    data[200] ^= 0x01
    model.write_bytes(bytes(data))
    outcome = check(path, trust_pickle=True, max_p99_ms=GENEROUS_MS, write=False)
    item = outcome.checklist.item("integrity")
    assert item.status == "fail"
    assert item.evidence.startswith("1 problem(s): model.joblib has sha256 ")
    validation = outcome.checklist.item("validation")
    assert validation.status == "not measured"
    assert validation.evidence.startswith(
        f"the bundle could not be loaded: Bundle {path} failed verification"
    )
    assert outcome.ok() is False


@pytest.mark.parametrize(
    ("version", "status", "evidence"),
    [
        ("1.0.0", "pass", "1.0.0 (MAJOR.MINOR.PATCH)"),
        ("2.1.3", "pass", "2.1.3 (MAJOR.MINOR.PATCH)"),
        ("1.0.0-rc.1", "warn", "1.0.0-rc.1 is a pre-release version"),
        ("0.3.0", "warn", "0.3.0: major version 0 is for initial development"),
    ],
)
def test_version_item(cancer: Case, version: str, status: str, evidence: str) -> None:
    manifest = read_manifest(cancer.path).model_copy(update={"version": version})
    item = items.version_item(manifest)
    assert (item.status, item.evidence) == (status, evidence)


def test_metadata_item_three_ways(cancer: Case) -> None:
    manifest = read_manifest(cancer.path)
    described = items.metadata_item(manifest.model_copy(update={"description": "A model."}))
    assert described.status == "pass"
    assert described.evidence.startswith("name breast-cancer, 2 classes, 30 features, created ")
    undescribed = items.metadata_item(manifest)
    assert undescribed.status == "warn"
    assert undescribed.evidence.endswith(
        "; no description (pass description= to save(), it feeds the model card)"
    )
    broken = items.metadata_item(manifest.model_copy(update={"metrics": {}, "classes": []}))
    assert (broken.status, broken.evidence) == ("fail", "missing: classes, test metrics")


@pytest.mark.parametrize(
    ("parity", "status", "evidence"),
    [
        (
            {"joblib": Parity(n_rows=114, max_abs_diff=0.0, label_agreement=1.0, exact=True)},
            "pass",
            "joblib: max |diff| 0, labels 100.00% on 114 rows",
        ),
        (
            {"joblib": Parity(n_rows=114, max_abs_diff=1e-3, label_agreement=1.0, exact=False)},
            "warn",
            "joblib: max |diff| 0.001, labels 100.00% on 114 rows",
        ),
        (
            {"joblib": Parity(n_rows=100, max_abs_diff=0.4, label_agreement=0.97, exact=False)},
            "fail",
            "joblib: max |diff| 0.4, labels 97.00% on 100 rows",
        ),
        ({}, "fail", "no parity recorded for any runtime"),
    ],
    ids=["exact", "close", "labels-differ", "none"],
)
def test_parity_item(cancer: Case, parity: dict[str, Parity], status: str, evidence: str) -> None:
    manifest = read_manifest(cancer.path).model_copy(update={"parity": parity})
    item = items.parity_item(manifest)
    assert (item.status, item.evidence) == (status, evidence)


# -- data -----------------------------------------------------------------------------------
def test_schema_item_three_ways(cancer: Case) -> None:
    manifest = read_manifest(cancer.path)
    item = items.schema_item(manifest)
    assert (item.status, item.evidence) == (
        "pass",
        "30 features with dtype and training range; missing values accepted for 0",
    )
    unranged = [f.model_copy(update={"min": None}) for f in manifest.features[:2]]
    item = items.schema_item(manifest.model_copy(update={"features": unranged}))
    assert (item.status, item.evidence) == (
        "warn",
        "2 features; no training range for ['mean radius', 'mean texture']",
    )
    item = items.schema_item(manifest.model_copy(update={"features": []}))
    assert (item.status, item.evidence) == ("fail", "bundle.json lists no features")


def test_validation_probes_fail_when_the_schema_accepts_nan_silently(
    ready: Path, tmp_path: Path
) -> None:
    """A schema that lets NaN through for features that never had any: the random forest
    (which handles NaN) answers anyway, and the probe catches it."""
    path = copy_bundle(ready, tmp_path / "nan")
    edit_features(path, missing_allowed=True)
    outcome = check(path, trust_pickle=True, max_p99_ms=GENEROUS_MS, write=False)
    item = outcome.checklist.item("validation")
    assert item.status == "fail"
    assert item.evidence == (
        "4/6 as expected; failed: missing field: accepted silently (predicted 'benign'); "
        "NaN: accepted silently (predicted 'benign')"
    )
    assert outcome.ok() is False


def test_validation_probes_on_a_bundle_with_missing_values(wine: Case) -> None:
    bundle = skbundle.load(wine.path, trust_pickle=True)
    results = probes.validation_probes(bundle)
    assert [(r.name, r.passed) for r in results] == [
        ("missing field", True),
        ("NaN", True),
        ("string", True),
        ("inf", True),
        ("extra field", True),
        ("empty", True),
    ]
    # NaN is aimed at a feature that had no missing values in training, not at 'alcohol'.
    nan = next(r for r in results if r.name == "NaN")
    assert nan.detail.startswith("rejected: record 0, field 'malic_acid': got a missing value")


@pytest.fixture(scope="module")
def log_bundle(cancer: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """log1p of the inputs: fine on training data (all >= 0), NaN for far negative values,
    which LogisticRegression refuses with a ValueError: a real pipeline that breaks at the edge."""
    pipe = Pipeline(
        [
            ("log", FunctionTransformer(np.log1p, validate=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    ).fit(cancer.X_train, cancer.y_train)
    path = tmp_path_factory.mktemp("log") / "bundle"
    skbundle.save(pipe, path, **{**cancer.save_kwargs(), "name": "log-model"})
    return path


def test_boundary_probes_fail_when_the_pipeline_breaks_beyond_the_range(
    log_bundle: Path,
) -> None:
    outcome = check(
        log_bundle,
        trusted_types=["numpy.log1p"],  # the transformer's function: ours, so trusted here
        max_p99_ms=GENEROUS_MS,
        write=False,
    )
    item = outcome.checklist.item("boundary")
    assert item.status == "fail"
    assert item.evidence.startswith(
        "3/4 as expected; failed: far below (negative): raised ValueError: Input X contains NaN"
    )
    assert outcome.ok() is False
    # The same failure was found at save time and is in the bundle's checklist.md.
    saved = (log_bundle / "checklist.md").read_text(encoding="utf-8")
    assert "far below \\(negative\\): raised ValueError" in saved  # Markdown-escaped


def test_boundary_probes_pass_with_the_expected_range_warnings(ready: Path) -> None:
    bundle = skbundle.load(ready, trust_pickle=True)
    results = probes.boundary_probes(bundle)
    assert [(r.name, r.passed) for r in results] == [
        ("training min", True),
        ("training max", True),
        ("far above (x10)", True),
        ("far below (negative)", True),
    ]
    assert results[0].detail.endswith("0 range warnings")
    assert results[2].detail.endswith("30 range warnings")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"a": 0.5, "b": 0.5}, ""),
        ({"a": float("nan"), "b": 0.5}, "probabilities are not finite: [nan, 0.5]"),
        ({"a": 1.5, "b": -0.5}, "probabilities outside [0, 1]: [1.5, -0.5]"),
        ({"a": 0.5, "b": 0.6}, "probabilities sum to 1.1, not 1"),
    ],
    ids=["valid", "nan", "outside", "sum"],
)
def test_probability_check_table(row: dict[str, float], problem: str) -> None:
    assert probes._check_probabilities(row) == problem


# -- environment ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pin", "status", "evidence"),
    [
        ("numpy=={numpy}", "pass", "all 1 pins match the installed versions"),
        ("numpy==0.0.1", "warn", "0/1 pins match; numpy==0.0.1 pinned, {numpy} installed"),
        ("scikit-learn==0.1.0", "fail", "scikit-learn==0.1.0 pinned, {sklearn} installed"),
        ("not-a-real-package==1.0", "fail", "not-a-real-package==1.0 is not installed"),
        ("# nothing pinned", "fail", "requirements.txt pins nothing"),
    ],
    ids=["match", "minor-mismatch", "sklearn-mismatch", "missing", "empty"],
)
def test_requirements_item(
    cancer: Case, tmp_path: Path, pin: str, status: str, evidence: str
) -> None:
    import sklearn

    versions = {"numpy": np.__version__, "sklearn": sklearn.__version__}
    (tmp_path / "requirements.txt").write_text(pin.format(**versions) + "\n", encoding="utf-8")
    item = items.requirements_item(tmp_path, read_manifest(cancer.path))
    assert (item.status, item.evidence) == (status, evidence.format(**versions))


def test_requirements_item_fails_without_the_file(cancer: Case, tmp_path: Path) -> None:
    item = items.requirements_item(tmp_path, read_manifest(cancer.path))
    assert item.status == "fail"
    assert item.evidence.startswith("requirements.txt: [Errno 2] No such file or directory")


def test_requirements_item_passes_on_the_bundle_as_built(cancer: Case) -> None:
    item = items.requirements_item(cancer.path, read_manifest(cancer.path))
    assert item.status == "pass"
    assert re.fullmatch(r"all \d+ pins match the installed versions", item.evidence)


def test_python_item(cancer: Case) -> None:
    import platform

    manifest = read_manifest(cancer.path)
    assert items.python_item(manifest).status == "pass"
    old = manifest.model_copy(
        update={"environment": manifest.environment.model_copy(update={"python": "2.7.18"})}
    )
    item = items.python_item(old)
    assert (item.status, item.evidence) == (
        "warn",
        f"built with Python 2.7.18, running {platform.python_version()}: a different minor "
        "version may change how the model unpickles",
    )


def test_memory_and_latency_are_not_measured_without_a_benchmark(cancer: Case) -> None:
    manifest = read_manifest(cancer.path)
    for item in (items.memory_item(manifest), items.latency_item(manifest, 100.0)):
        assert (item.status, item.evidence) == (
            "not measured",
            "no benchmark: run 'skbundle bench'",
        )
        assert item.blocking is True


def test_memory_and_latency_pass_with_a_benchmark(ready: Path) -> None:
    manifest = read_manifest(ready)
    memory = items.memory_item(manifest)
    assert memory.status == "pass"
    assert re.fullmatch(
        r"joblib \+\d+\.\d MiB resident after loading, onnx \+\d+\.\d MiB resident after "
        r"loading, skops \+\d+\.\d MiB resident after loading \(measured \S+\)",
        memory.evidence,
    )
    latency = items.latency_item(manifest, GENEROUS_MS)
    assert latency.status == "pass"
    assert re.fullmatch(
        r"single-row joblib p99 \d+\.\d\d ms, onnx p99 \d+\.\d\d ms, skops p99 \d+\.\d\d ms",
        latency.evidence,
    )


def test_latency_fails_over_budget(ready: Path) -> None:
    item = items.latency_item(read_manifest(ready), 1e-9)
    assert item.status == "fail"
    assert item.title == "Prediction time measured and within budget (p99 <= 1e-09 ms)"
    assert item.evidence.startswith("over budget: joblib, onnx, skops; single-row joblib p99 ")


# -- docs -----------------------------------------------------------------------------------
def test_model_card_item_fails_when_the_card_is_missing(ready: Path, tmp_path: Path) -> None:
    path = copy_bundle(ready, tmp_path / "nocard")
    (path / "model_card.md").unlink()
    manifest = read_manifest(path)
    item = items.file_item(
        "docs", "model_card", "Model card present", manifest, verify(path), "model_card.md"
    )
    assert (item.status, item.evidence) == (
        "fail",
        "model_card.md is listed in the manifest but missing",
    )
    unlisted = manifest.model_copy(
        update={"artifacts": [a for a in manifest.artifacts if a.path != "model_card.md"]}
    )
    item = items.file_item(
        "docs",
        "model_card",
        "Model card present",
        unlisted,
        verify(path, unlisted),
        "model_card.md",
        absent="no model_card.md",
    )
    assert (item.status, item.evidence) == ("fail", "no model_card.md")


# -- the signature item: verified with the caller's key, else only "present" ----------------
SIGNER = signing.generate_keypair()
OTHER = signing.generate_keypair()
SIGNER_FP = signing.fingerprint(signing.load_public_key(SIGNER[1]))[:16]
OTHER_FP = signing.fingerprint(signing.load_public_key(OTHER[1]))[:16]
NOT_VERIFIED = (
    f"signature.json present (key {SIGNER_FP}...) but not verified: no public key given "
    "(pass --key, or set SKBUNDLE_PUBLIC_KEY)"
)


def _signed(bundle: Path) -> None:
    signing.sign(bundle, SIGNER[0])


def _write(text: str) -> Callable[[Path], None]:
    return lambda bundle: (bundle / "signature.json").write_text(text, encoding="utf-8")


def _wrong_algorithm(bundle: Path) -> None:
    _signed(bundle)
    data = orjson.loads((bundle / "signature.json").read_bytes())
    (bundle / "signature.json").write_bytes(orjson.dumps({**data, "algorithm": "rsa"}))


def _manifest_changed(bundle: Path) -> None:
    _signed(bundle)
    manifest = bundle / "bundle.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"breast-cancer"', b'"breast-cancer2"', 1))


@pytest.mark.parametrize(
    ("prepare", "key", "status", "required", "evidence"),
    [
        pytest.param(
            None,
            None,
            "warn",
            False,
            "unsigned: nothing vouches for where this bundle came from",
            id="no-signature",
        ),
        pytest.param(
            _write("{}"),
            None,
            "fail",
            False,
            "signature.json does not vouch for the bundle: it is not a valid signature file "
            "(KeyError: 'algorithm')",
            id="empty-object",
        ),
        pytest.param(
            _write("{}"),
            SIGNER[1],
            "fail",
            True,
            "signature.json does not vouch for the bundle: it is not a valid signature file "
            "(KeyError: 'algorithm')",
            id="empty-object-with-key",
        ),
        pytest.param(
            _write("not json"),
            None,
            "fail",
            False,
            "signature.json does not vouch for the bundle: it is not a valid signature file "
            "(JSONDecodeError: invalid literal, expected 'null': line 1 column 1 (char 0))",
            id="not-json",
        ),
        pytest.param(
            _wrong_algorithm,
            None,
            "fail",
            False,
            "signature.json does not vouch for the bundle: its algorithm is 'rsa', expected "
            "'ed25519'",
            id="wrong-algorithm",
        ),
        pytest.param(
            _signed,
            SIGNER[1],
            "pass",
            False,
            f"signature.json verified with key {SIGNER_FP}...: it covers bundle.json",
            id="valid-with-key",
        ),
        pytest.param(_signed, None, "warn", False, NOT_VERIFIED, id="valid-without-key"),
        pytest.param(
            _signed,
            OTHER[1],
            "fail",
            True,
            f"signature.json does not vouch for the bundle: it was made with key {SIGNER_FP}..., "
            f"not with the key given ({OTHER_FP}...)",
            id="valid-but-another-key",
        ),
        pytest.param(
            _signed,
            b"not a key",
            "fail",
            True,
            "the public key cannot be used (the key given as bytes: it is not a PEM public key)",
            id="unreadable-key",
        ),
    ],
)
def test_signature_item(
    bundle_copy: Path,
    monkeypatch: pytest.MonkeyPatch,
    prepare: Callable[[Path], None] | None,
    key: bytes | None,
    status: str,
    required: bool,
    evidence: str,
) -> None:
    monkeypatch.delenv("SKBUNDLE_PUBLIC_KEY", raising=False)
    if prepare is not None:
        prepare(bundle_copy)
    item = items.signature_item(bundle_copy, read_manifest(bundle_copy), key)
    assert (item.status, item.required, item.evidence) == (status, required, evidence)


def test_a_changed_manifest_fails_the_signature(bundle_copy: Path) -> None:
    _manifest_changed(bundle_copy)
    item = items.signature_item(bundle_copy, read_manifest(bundle_copy), SIGNER[1])
    assert (item.status, item.required) == ("fail", True)
    assert item.evidence.startswith(
        "signature.json does not vouch for the bundle: it does not match bundle.json (the "
        "manifest changed after it was signed"
    )


def test_the_key_comes_from_the_environment(
    bundle_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _signed(bundle_copy)
    monkeypatch.setenv("SKBUNDLE_PUBLIC_KEY", SIGNER[1].decode())
    item = items.signature_item(bundle_copy, read_manifest(bundle_copy))
    assert (item.status, item.evidence) == (
        "pass",
        f"signature.json verified with key {SIGNER_FP}...: it covers bundle.json",
    )


def test_check_passes_the_key_to_the_signature_item(
    bundle_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKBUNDLE_PUBLIC_KEY", raising=False)
    _signed(bundle_copy)
    outcome = check(bundle_copy, requests=1, write=False, public_key=OTHER[1])
    item = next(i for i in outcome.checklist.items if i.key == "signature")
    assert (item.status, item.required, item.blocking) == ("fail", True, True)
    assert not outcome.ok()
    outcome = check(bundle_copy, requests=1, write=False, public_key=SIGNER[1])
    item = next(i for i in outcome.checklist.items if i.key == "signature")
    assert item.status == "pass"


def test_monitoring_fails_without_reference_statistics(ready: Path, tmp_path: Path) -> None:
    path = copy_bundle(ready, tmp_path / "noref")
    data = orjson.loads((path / "bundle.json").read_bytes())
    data["artifacts"] = [a for a in data["artifacts"] if a["role"] != "reference"]
    (path / "bundle.json").write_bytes(orjson.dumps(data))
    (path / "reference.json").unlink()
    item = items.monitoring_item(read_manifest(path), verify(path))
    assert (item.status, item.required, item.evidence) == (
        "fail",
        True,
        "no reference statistics in the bundle: rebuild it with this skbundle",
    )


def _served(app: Any, ready: Path, requests: int = 200) -> tuple[cl.Item, cl.Item]:
    bundle = skbundle.load(ready, trust_pickle=True)
    return server_items(bundle, "", requests=requests, concurrency=8, app_factory=lambda _: app)


def test_load_probe_and_spec_pass_when_the_app_answers(ready: Path) -> None:
    app = EchoApp()
    load, spec = _served(app, ready)
    assert load.status == "pass"
    assert re.fullmatch(
        r"200 POST /predict, 8 concurrent, served in-process \(ASGI\): 0 errors, "
        r"[\d,]+ requests/s",
        load.evidence,
    )
    assert (spec.status, spec.evidence) == (
        "pass",
        "GET /openapi.json: 2 paths, including /predict",
    )
    assert app.events == ["startup", "shutdown"]


def test_load_probe_fails_on_errors(ready: Path) -> None:
    load, _ = _served(EchoApp(fail_every=10), ready)
    assert (load.status, load.evidence) == (
        "fail",
        "20/200 requests failed (statuses {200: 180, 500: 20}); first: status 500: "
        '{"error": "boom"}',
    )


def test_spec_fails_without_predict(ready: Path) -> None:
    _, spec = _served(EchoApp(paths=("/health",)), ready)
    assert (spec.status, spec.evidence) == (
        "fail",
        "GET /openapi.json answered 200 without a /predict path",
    )


def test_an_app_that_cannot_be_built_fails_both_items(ready: Path) -> None:
    def factory(bundle: Any) -> Any:
        raise RuntimeError("no port")

    bundle = skbundle.load(ready, trust_pickle=True)
    load, spec = server_items(bundle, "", requests=10, concurrency=2, app_factory=factory)
    assert (load.status, load.evidence) == ("fail", "the app failed: RuntimeError: no port")
    assert (spec.status, spec.evidence) == ("fail", "the app failed: RuntimeError: no port")


def test_the_load_probe_needs_a_loaded_bundle() -> None:
    load, spec = server_items(
        None,
        "the bundle could not be loaded: x",
        requests=10,
        concurrency=2,
        app_factory=lambda _: EchoApp(),
    )
    assert (load.status, load.required) == ("not measured", True)
    assert load.evidence == "the bundle could not be loaded: x"
    assert spec.status == "not measured"


# -- the verdict ----------------------------------------------------------------------------
def _checklist(*items: cl.Item) -> cl.Checklist:
    return cl.Checklist("b", "1.0.0", "now", list(items))


@pytest.mark.parametrize(
    ("status", "required", "ok", "strict_ok"),
    [
        ("pass", True, True, True),
        ("warn", True, True, False),
        ("fail", True, False, False),
        ("not measured", True, False, False),
        ("fail", False, True, False),
        ("not measured", False, True, False),
    ],
)
def test_verdict(status: str, required: bool, ok: bool, strict_ok: bool) -> None:
    checklist = _checklist(
        cl.Item("model", "a", "A", "pass", "e"), cl.Item("data", "b", "B", status, "e", required)
    )
    assert (checklist.ok(), checklist.ok(strict=True)) == (ok, strict_ok)


def test_markdown_ticks_only_what_passed() -> None:
    checklist = _checklist(
        cl.Item("model", "a", "Alpha", "pass", "1 file"),
        cl.Item("model", "b", "Beta", "fail", "2 files"),
        cl.Item("docs", "c", "Gamma", "warn", "unsigned", required=False),
    )
    text = cl.to_markdown(checklist)
    assert text.splitlines()[2:] == [
        "Computed now: **NOT READY**. Every box is ticked by a measurement; the evidence "
        "follows each item.",
        "",
        "## Model",
        "",
        "- [x] Alpha: 1 file",
        "- [ ] Beta **FAIL**: 2 files",
        "",
        "## Docs",
        "",
        "- [ ] Gamma **WARN** _(advisory)_: unsigned",
    ]


def test_checklist_round_trips_through_json(ready_outcome: CheckOutcome) -> None:
    data = ready_outcome.checklist.to_dict()
    assert cl.Checklist.from_dict(data) == ready_outcome.checklist
    assert data["ok"] is True
    assert data["counts"]["pass"] == sum(i.status == "pass" for i in ready_outcome.checklist.items)


def test_cli_check_takes_the_key(
    bundle_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKBUNDLE_PUBLIC_KEY", raising=False)
    _signed(bundle_copy)
    key = tmp_path / "signer.pub"
    key.write_bytes(SIGNER[1])
    args = ["check", str(bundle_copy), "--key", str(key), "--no-write", "--requests", "1"]
    result = CliRunner().invoke(app, [*args, "--json"])
    signature = next(i for i in orjson.loads(result.stdout)["items"] if i["key"] == "signature")
    assert (signature["status"], signature["evidence"]) == (
        "pass",
        f"signature.json verified with key {SIGNER_FP}...: it covers bundle.json",
    )


# -- regressors, label-only classifiers, categorical features (zoo bundles) ------------------
@pytest.fixture(scope="session")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, REGRESSOR)


@pytest.fixture(scope="session")
def labels_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, LABELS)


@pytest.fixture(scope="session")
def categorical(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return zoo_bundle(tmp_path_factory, CATEGORICAL)


@pytest.fixture(scope="module")
def regressor_outcome(regressor: Path) -> CheckOutcome:
    # runtime="joblib": the fitted pipeline itself.
    return check(
        regressor, runtime="joblib", trust_pickle=True, requests=20, write=False,
        max_p99_ms=GENEROUS_MS,
    )  # fmt: skip


def test_a_regressors_checklist_needs_no_probabilities(regressor_outcome: CheckOutcome) -> None:
    got = statuses(regressor_outcome)
    # The load probe is the server's business (serve/): not asserted here.
    keys = ("metrics", "parity", "interval", "schema", "validation", "boundary", "model_card")
    assert {k: got[k] for k in keys} == {**dict.fromkeys(keys, "pass"), "parity": "warn"}
    monitoring = regressor_outcome.checklist.item("monitoring")
    assert (monitoring.status, monitoring.required, monitoring.blocking) == ("pass", True, False)
    assert monitoring.evidence.startswith("reference.json")
    boundary = regressor_outcome.checklist.item("boundary")
    assert boundary.title == (
        "Boundary probes: finite values and range warnings at and beyond the edges"
    )
    assert boundary.evidence == (
        "5/5 as expected: training means, training min, training max, far above (x10), "
        "far below (negative)"
    )


def test_a_regressors_metrics_item_without_thresholds(regressor: Path) -> None:
    manifest = read_manifest(regressor)
    test = manifest.metrics["test"]
    item = items.metrics_item(manifest, None)
    assert (item.title, item.status, item.evidence) == (
        "Metrics recorded and within the thresholds",
        "pass",
        f"test split (n=89): r2 {test['r2']:.4g}, rmse {test['rmse']:.4g}, mae "
        f"{test['mae']:.4g}; no --min-r2 or --max-rmse set",
    )


@pytest.mark.parametrize(
    ("min_r2", "max_rmse", "status", "start"),
    [
        (0.4, None, "pass", "r2 {r2:.4f} >= the threshold 0.4000; test split (n=89)"),
        (0.9, None, "fail", "r2 {r2:.4f} is below the threshold 0.9000; test split"),
        (None, 60.0, "pass", "rmse {rmse:.4g} <= the threshold 60; test split"),
        (None, 50.0, "fail", "rmse {rmse:.4g} is above the threshold 50; test split"),
        (
            0.9,
            50.0,
            "fail",
            "r2 {r2:.4f} is below the threshold 0.9000; rmse {rmse:.4g} is above the threshold 50",
        ),
        (0.4, 50.0, "fail", "rmse {rmse:.4g} is above the threshold 50; r2 {r2:.4f} >= the"),
    ],
    ids=["r2-met", "r2-missed", "rmse-met", "rmse-missed", "both-missed", "one-missed"],
)
def test_regressor_thresholds(
    regressor: Path, min_r2: float | None, max_rmse: float | None, status: str, start: str
) -> None:
    manifest = read_manifest(regressor)
    test = manifest.metrics["test"]
    assert 0.4 < test["r2"] < 0.9 and 50 < test["rmse"] < 60  # the table's premise
    item = items.metrics_item(manifest, None, min_r2=min_r2, max_rmse=max_rmse)
    expected = start.format(r2=test["r2"], rmse=test["rmse"])
    assert (item.status, item.evidence[: len(expected)]) == (status, expected)


def _with_interval(manifest: Manifest, **changes: Any) -> Manifest:
    assert manifest.interval is not None
    return manifest.model_copy(update={"interval": manifest.interval.model_copy(update=changes)})


@pytest.mark.parametrize(
    ("changes", "status", "evidence"),
    [
        (
            {"half_width": 12.5, "coverage": 0.87, "n_calibration": 40},
            "pass",
            "split-conformal +/- 12.5 at level 0.90: measured coverage 0.870 on held-out rows, "
            "calibrated on 40 rows (within 0.05 of the level)",
        ),
        (
            {"half_width": 12.5, "coverage": 0.8, "n_calibration": 40},
            "warn",
            "split-conformal +/- 12.5 at level 0.90: measured coverage 0.800 on held-out rows, "
            "calibrated on 40 rows; the coverage is 0.100 away from the level (more than 0.05): "
            "the interval may not hold for new data",
        ),
        (
            None,
            "fail",
            "no prediction interval in bundle.json: rebuild the bundle with this skbundle "
            "(save() calibrates one on the test split)",
        ),
    ],
    ids=["near-the-level", "off-the-level", "absent"],
)
def test_interval_item(
    regressor: Path, changes: dict[str, Any] | None, status: str, evidence: str
) -> None:
    manifest = read_manifest(regressor)
    if changes is None:
        manifest = manifest.model_copy(update={"interval": None})
    else:
        manifest = _with_interval(manifest, **changes)
    item = items.interval_item(manifest)
    assert (item.key, item.status, item.evidence) == ("interval", status, evidence)


def test_the_interval_item_is_only_for_regressors(ready_outcome: CheckOutcome) -> None:
    assert "interval" not in statuses(ready_outcome)


@pytest.mark.parametrize(
    ("diff", "status"),
    [(0.0, "pass"), (1e-5, "warn"), (1.0, "fail"), (float("nan"), "fail")],
    ids=["exact", "float32", "a-thousandth-of-rmse-or-more", "nan"],
)
def test_a_regressors_parity_is_judged_against_its_error(
    regressor: Path, diff: float, status: str
) -> None:
    manifest = read_manifest(regressor)
    parity = {"onnx": Parity(n_rows=89, max_abs_diff=diff, label_agreement=0.0, exact=False)}
    item = items.parity_item(manifest.model_copy(update={"parity": parity}))
    rmse = manifest.metrics["test"]["rmse"]
    assert (item.status, item.evidence) == (
        status,
        f"onnx: max |diff| {diff:.3g} ({diff / rmse:.2g} of the test RMSE), identical values "
        "0.00% on 89 rows",
    )


def test_a_regressors_metadata_needs_no_classes(regressor: Path) -> None:
    manifest = read_manifest(regressor).model_copy(update={"description": "Diabetes."})
    item = items.metadata_item(manifest)
    assert item.status == "pass"
    assert item.evidence.startswith("name diabetes-ridge, a regressor, 10 features, created ")


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"prediction": 1.5, "interval": [1.0, 2.0]}, ""),
        ({"prediction": 1.5}, ""),
        ({"prediction": float("nan")}, "the prediction is not a finite number: nan"),
        ({"prediction": "x"}, "the prediction is not a finite number: 'x'"),
        (
            {"prediction": 1.5, "interval": [2.0, 3.0]},
            "the interval [2.0, 3.0] is not finite around the prediction 1.5",
        ),
        (
            {"prediction": 1.5, "interval": [float("-inf"), 3.0]},
            "the interval [-inf, 3.0] is not finite around the prediction 1.5",
        ),
    ],
    ids=["valid", "no-interval", "nan", "not-a-number", "outside", "infinite"],
)
def test_value_check_table(result: dict[str, Any], problem: str) -> None:
    assert probes._check_value(result) == problem


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ({"prediction": "benign", "decision": 0.7}, ""),
        ({"prediction": "benign"}, ""),
        ({"prediction": "a", "decision": {"a": 1.0, "b": -1.0}}, ""),
        (
            {"prediction": "other"},
            "predicted 'other', not one of the classes ['benign', 'malignant', 'a', 'b']",
        ),
        ({"prediction": "benign", "decision": float("inf")}, "decision scores are not finite: inf"),
        (
            {"prediction": "a", "decision": {"a": float("nan"), "b": 0.0}},
            "decision scores are not finite: {'a': nan, 'b': 0.0}",
        ),
    ],
    ids=["binary", "no-decision", "multiclass", "unknown-label", "inf-score", "nan-score"],
)
def test_label_check_table(result: dict[str, Any], problem: str) -> None:
    assert probes._check_label(result, ["benign", "malignant", "a", "b"]) == problem


def test_a_label_only_classifiers_probes_and_items(labels_only: Path) -> None:
    outcome = check(
        labels_only, trust_pickle=True, requests=20, write=False, max_p99_ms=GENEROUS_MS
    )
    got = statuses(outcome)
    assert [got[k] for k in ("metrics", "parity", "validation", "boundary", "load")] == ["pass"] * 5
    boundary = outcome.checklist.item("boundary")
    assert (
        boundary.title == "Boundary probes: known labels and range warnings at and beyond the edges"
    )
    assert boundary.evidence.startswith("4/4 as expected: training min, training max")
    test = read_manifest(labels_only).metrics["test"]
    assert outcome.checklist.item("metrics").evidence == (
        f"test split (n=114): accuracy {test['accuracy']:.4f}, f1_macro {test['f1_macro']:.4f}; "
        "no --min-accuracy set"
    )
    monitoring = outcome.checklist.item("monitoring")
    assert (monitoring.status, monitoring.required) == ("pass", True)
    assert monitoring.evidence.startswith("reference.json")
    assert "interval" not in got


def test_categorical_probes_send_an_unseen_category(categorical: Path, tmp_path: Path) -> None:
    bundle = skbundle.load(categorical, trust_pickle=True)
    results = {r.name: r for r in probes.validation_probes(bundle)}
    assert list(results) == [
        "missing field",
        "NaN",
        "string",
        "inf",
        "unseen category",
        "extra field",
        "empty",
    ]
    assert all(r.passed for r in results.values()), results
    assert results["unseen category"].detail == (
        "accepted with a warning: 'island' = '__skbundle_unseen__' is a category never seen in "
        "training; the pipeline handles it as unknown"
    )
    assert results["string"].detail.startswith("rejected: record 0, field 'bill_length_mm'")
    # The same pipeline declared as refusing unknown categories: the schema refuses first.
    path = copy_bundle(categorical, tmp_path / "strict")
    edit_features(path, unknown="error")
    strict = {r.name: r for r in probes.validation_probes(skbundle.load(path, trust_pickle=True))}
    assert strict["unseen category"].passed
    assert strict["unseen category"].detail.startswith(
        "rejected: record 0, field 'island': got '__skbundle_unseen__', a category never seen "
        "in training (the pipeline refuses unknown categories)"
    )


def test_an_unseen_category_accepted_without_a_warning_fails_the_probe(categorical: Path) -> None:
    bundle = skbundle.load(categorical, trust_pickle=True)
    record = {**bundle.validator.example(), "island": "Biscoe"}  # a known one: no warning
    result = probes._expect_unseen_accepted(bundle, "unseen category", record)
    assert (result.passed, result.detail) == (
        False,
        "accepted without the warning that it was never seen",
    )


def test_schema_item_counts_categorical_features(categorical: Path) -> None:
    item = items.schema_item(read_manifest(categorical))
    assert (item.status, item.evidence) == (
        "pass",
        "7 features: 5 numeric with dtype and training range, 2 categorical or boolean with "
        "their categories (an unseen category is refused by 0, accepted by 2); missing values "
        "accepted for 5",
    )


def test_the_load_probe_runs_beside_a_running_event_loop() -> None:
    """save() from a notebook (or beside a browser driver) calls the probe with a loop running."""

    async def inside() -> Any:
        return asgi.exercise(EchoApp(), body=b"{}", requests=10, concurrency=2)

    result, spec = asyncio.run(inside())
    assert (result.requests, result.errors, spec.status) == (10, 0, 200)
