"""The public API surface is pinned: adding or removing a name is a deliberate change."""

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
