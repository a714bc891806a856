"""skbundle: a fitted scikit-learn Pipeline as a bundle you can verify, load, serve and monitor.

>>> import skbundle
>>> skbundle.save(pipeline, "models/cancer", X_train=..., y_train=..., X_test=..., y_test=...,
...               name="breast-cancer", version="1.0.0")
>>> bundle = skbundle.load("models/cancer", trust_pickle=True)
>>> bundle.predict({"mean radius": 14.1, ...})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skbundle.bundle import Bundle, load
from skbundle.core.environment import missing_extra, skbundle_version
from skbundle.core.integrity import verify
from skbundle.core.manifest import FORMAT_VERSION, Manifest, read_manifest
from skbundle.errors import (
    BundleExistsError,
    BundleIntegrityError,
    EnvironmentMismatchWarning,
    IncompatibleEnvironmentError,
    InputProblem,
    InputValidationError,
    ManifestError,
    PipelineError,
    RuntimeUnavailableError,
    SkbundleError,
    UntrustedArtifactError,
)

if TYPE_CHECKING:
    from skbundle.build.save import save


def __getattr__(name: str) -> Any:
    # save() needs scikit-learn's metrics, pandas and pyarrow; loading and serving a bundle
    # need none of them, so ``import skbundle`` leaves them out until save is first used.
    if name == "save":
        try:
            from skbundle.build.save import save
        except ImportError as exc:
            raise (missing_extra(exc, "skbundle.save") or exc) from exc
        return save
    raise AttributeError(f"module 'skbundle' has no attribute {name!r}")


__version__ = skbundle_version()

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
