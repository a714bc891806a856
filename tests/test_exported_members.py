"""The public API surface is pinned: adding or removing a name is a deliberate change."""

import importlib

import pytest

import skbundle

EXPECTED = [
    "FORMAT_VERSION",
    "Bundle",
    "BundleExistsError",
    "BundleIntegrityError",
    "EnvironmentMismatchWarning",
    "IncompatibleEnvironmentError",
    "InputProblem",
    "InputValidationError",
    "Manifest",
    "ManifestError",
    "PipelineError",
    "RuntimeUnavailableError",
    "SkbundleError",
    "UntrustedArtifactError",
    "__version__",
    "load",
    "read_manifest",
    "save",
    "verify",
]


def test_public_api_is_pinned() -> None:
    assert skbundle.__all__ == EXPECTED
    missing = [name for name in EXPECTED if not hasattr(skbundle, name)]
    assert missing == []


PACKAGES = {
    "skbundle.core": [
        "atomic",
        "environment",
        "files",
        "integrity",
        "layout",
        "manifest",
        "metrics",
        "runtime",
        "schema",
        "update",
    ],
    "skbundle.trust": ["allowlist", "audit", "fitted", "onnx_check", "signing", "skops_types"],
    "skbundle.formats": ["FORMATS", "FormatHandler", "SaveContext", "shorten"],
    "skbundle.monitor": [
        "BundleInfo",
        "DriftReport",
        "FeatureDrift",
        "LogReader",
        "PerformanceDrift",
        "PredictionDrift",
        "PredictionLogger",
        "Thresholds",
        "drift",
        "drift_log",
        "drift_source",
        "read_reference",
    ],
    "skbundle.report": [
        "checklist",
        "drift_page",
        "files",
        "html",
        "markdown",
        "model_card",
        "plots",
        "templates",
    ],
    "skbundle.readiness": [
        "CheckOutcome",
        "check",
        "compute",
        "compute_for_build",
        "read_readiness",
        "refresh",
    ],
    "skbundle.serve": [
        "DEFAULT_MAX_BODY_BYTES",
        "DEFAULT_MAX_ROWS",
        "PredictionHook",
        "ServeOptions",
        "create_app",
    ],
    "skbundle.build": ["BuildContext", "save"],
}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_each_package_pins_what_the_docs_teach(package: str) -> None:
    """Each layer's __init__ names what it offers; a module-list __all__ names its modules."""
    module = importlib.import_module(package)
    assert module.__all__ == PACKAGES[package]
    unresolved = []
    for name in PACKAGES[package]:
        if hasattr(module, name):
            continue
        try:
            importlib.import_module(f"{package}.{name}")
        except ImportError:
            unresolved.append(name)
    assert unresolved == []
