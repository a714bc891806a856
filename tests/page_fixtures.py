"""The demo bundle as ``skbundle demo`` saves it (feature descriptions from the dataset's
DESCR, malignant as the positive class, a held-out example), built once per session for the
page, positive-class and plain-table tests (the shared ``cancer`` fixture is saved without
them, as a bundle of a caller who gives none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skbundle import demo

_BUILT: dict[str, Path] = {}


def described_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The path of the demo bundle saved with the demo's own save call; each test module's
    ``described`` fixture returns it."""
    if "demo" not in _BUILT:  # one build per session, whichever module asks first
        path = tmp_path_factory.mktemp("described") / demo.BUNDLE_NAME
        demo.fit().save(path)
        _BUILT["demo"] = path
    return _BUILT["demo"]
