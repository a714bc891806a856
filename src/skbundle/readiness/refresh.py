"""Re-rendering a published bundle's readiness files after a new measurement.

A benchmark, a checklist run or a persistence comparison changes what ``checklist.md``,
``model_card.md`` and ``report.html`` show, so :func:`refresh` is the one function that stores
the measurement and re-renders those files, updating their manifest entries in one atomic step.

Both files read here come from the bundle, so both are read through
:mod:`skbundle.core.files`: a link (to a key, say) or a FIFO is refused, never read, so nothing
from outside the bundle can end up in the report it renders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from skbundle.core.files import MAX_DATA_BYTES, read_bundle_file
from skbundle.core.layout import IMPORTANCE_PNG, READINESS_NAME
from skbundle.core.manifest import read_manifest
from skbundle.core.update import UpdateResult, update_bundle
from skbundle.errors import BundleFileError, ReadinessError
from skbundle.report.checklist import Checklist
from skbundle.report.files import render_files

_UNSET: Any = object()


def read_readiness(bundle_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``readiness.json`` of a bundle (evaluation data, importances, last checklist).

    Raises
    ------
    ReadinessError
        The file is missing (a bundle built before reports existed), is not a regular file
        (a link, a FIFO...), is larger than ``MAX_DATA_BYTES``, or is not a JSON object.
    """
    data = _read_readiness(Path(bundle_dir))
    if data is None:
        raise ReadinessError(
            str(Path(bundle_dir) / READINESS_NAME),
            "the file is missing",
            "The bundle was built before reports existed; rebuild it with skbundle.save().",
        )
    return data


def _read_readiness(root: Path) -> dict[str, Any] | None:
    """``readiness.json``, or None when the bundle has none; raises ReadinessError otherwise."""
    path = root / READINESS_NAME
    try:
        data = orjson.loads(read_bundle_file(root, READINESS_NAME, max_bytes=MAX_DATA_BYTES))
    except FileNotFoundError:
        return None
    except BundleFileError as exc:
        raise ReadinessError(
            str(path),
            f"it {exc.reason}; nothing was read from it",
            "Rebuild the bundle with skbundle.save(), or fetch an intact copy.",
        ) from exc
    except orjson.JSONDecodeError as exc:
        raise ReadinessError(
            str(path), f"it is not valid JSON ({exc})", "Rebuild the bundle."
        ) from exc
    if not isinstance(data, dict):
        raise ReadinessError(str(path), "expected a JSON object", "Rebuild the bundle.")
    return data


def _read_image(root: Path) -> bytes | None:
    """The importance image, or None when the bundle has none."""
    try:
        return read_bundle_file(root, IMPORTANCE_PNG, max_bytes=MAX_DATA_BYTES)
    except FileNotFoundError:
        return None


def refresh(
    path: str | os.PathLike[str],
    *,
    checklist: Checklist | None = None,
    benchmarks: dict[str, Any] | None = _UNSET,
    persistence: list[dict[str, Any]] | None = None,
) -> UpdateResult:
    """Store new readiness measurements in a bundle and re-render every file that shows them.

    Parameters
    ----------
    path
        The bundle directory.
    checklist
        A freshly computed checklist to store (otherwise the stored one is re-rendered).
    benchmarks
        A benchmark result for the manifest's ``benchmarks`` section.
    persistence
        Rows of a persistence comparison (see :mod:`skbundle.build.persistence`).

    Returns
    -------
    UpdateResult
        Says whether the bundle's signature must be renewed.

    A bundle saved before reports existed (no ``readiness.json``) gets the files its
    manifest alone can fill: no curves or importances, the rest as usual.

    Raises
    ------
    ManifestError, ReadinessError
        The manifest cannot be read, or ``readiness.json`` exists but is not valid.
    BundleFileError
        ``feature_importance.png`` is a link, not a regular file, or over ``MAX_DATA_BYTES``;
        or a file that would be copied into the new bundle is (see
        :func:`skbundle.core.update.update_bundle`).
    """
    root = Path(path)
    manifest = read_manifest(root)
    # A bundle saved before reports existed: render what its manifest alone can show.
    data = _read_readiness(root) or {}
    if checklist is not None:
        data["checklist"] = checklist.to_dict()
    if persistence is not None:
        data["persistence"] = persistence
    if benchmarks is not _UNSET:
        manifest = manifest.model_copy(update={"benchmarks": benchmarks})
    files = render_files(manifest, data, importance_png=_read_image(root))
    if benchmarks is _UNSET:
        return update_bundle(root, files)
    return update_bundle(root, files, benchmarks=benchmarks)
