"""skbundle: a fitted scikit-learn Pipeline as a bundle you can verify, load, serve and monitor.

>>> import skbundle
>>> skbundle.save(pipeline, "models/cancer", X_train=..., y_train=..., X_test=..., y_test=...,
...               name="breast-cancer", version="1.0.0")
>>> bundle = skbundle.load("models/cancer", trust_pickle=True)
>>> bundle.predict({"mean radius": 14.1, ...})
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from skbundle.bundle import Bundle, RuntimeUnavailableError, load
from skbundle.errors import (
    BundleExistsError,
    BundleIntegrityError,
    EnvironmentMismatchWarning,
    IncompatibleEnvironmentError,
    InputProblem,
    InputValidationError,
    ManifestError,
    PipelineError,
    SkbundleError,
    UntrustedArtifactError,
)
from skbundle.integrity import verify
from skbundle.manifest import FORMAT_VERSION, Manifest, read_manifest

if TYPE_CHECKING:
    from skbundle.build import save


def __getattr__(name: str) -> Any:
    # save() needs scikit-learn's metrics, pandas and pyarrow; loading and serving a bundle
    # need none of them, so ``import skbundle`` leaves them out until save is first used.
    if name == "save":
        from skbundle.build import save

        return save
    raise AttributeError(f"module 'skbundle' has no attribute {name!r}")


try:
    __version__ = version("skbundle")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = [
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
