"""Bundles written by earlier skbundle releases (tests/data/bundles/) still verify and load.

They were made by tests/data/make_bundles.py and are never regenerated: a change that stops
skbundle from reading what it once wrote fails here.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import orjson
import pytest

import skbundle
from skbundle.errors import EnvironmentMismatchWarning

DATA = Path(__file__).parent / "data" / "bundles"
BUNDLES = sorted(p for p in DATA.glob("*/*") if (p / "bundle.json").is_file())


def test_there_are_old_bundles_to_load() -> None:
    assert [p.relative_to(DATA).as_posix() for p in BUNDLES][:1] == ["skbundle-0.1.0/iris-forest"]


@pytest.mark.parametrize("path", BUNDLES, ids=[p.relative_to(DATA).as_posix() for p in BUNDLES])
@pytest.mark.parametrize("runtime", ["onnx", "skops", "joblib"])
def test_old_bundle_verifies_and_predicts_as_recorded(
    path: Path, runtime: str, tmp_path: Path
) -> None:
    copy = tmp_path / path.name  # loading must not depend on, or change, the committed files
    shutil.copytree(path, copy)
    assert skbundle.verify(copy).ok
    expected = orjson.loads(path.with_name(f"{path.name}.expected.json").read_bytes())
    with warnings.catch_warnings():
        # Dependencies move on between releases; a version difference is reported, not fatal.
        warnings.simplefilter("ignore", EnvironmentMismatchWarning)
        bundle = skbundle.load(
            copy, runtime=runtime, trust_pickle=True, allow_version_mismatch=True
        )
    got = bundle.predict_proba(expected["records"])
    assert np.array_equal(got, np.array(expected["probabilities"])), f"{path.name} via {runtime}"


OLD = DATA / "skbundle-0.1.0" / "iris-forest"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output": "labels"}, "format version 1 has no field 'output'"),
        ({"task": "regression"}, "format version 1 has no task 'regression'"),
        ({"feature_kind": "categorical"}, "format version 1 has no field 'features.0.kind'"),
    ],
    ids=["output", "regression", "feature-kind"],
)
def test_a_version_1_manifest_naming_a_version_2_field_is_refused(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    """A version 1 reader would have refused these fields; so does the version 1 path here."""
    copy = tmp_path / "b"
    shutil.copytree(OLD, copy)
    data = orjson.loads((copy / "bundle.json").read_bytes())
    assert data["format_version"] == 1
    if "feature_kind" in change:
        data["features"][0]["kind"] = change["feature_kind"]
    else:
        data.update(change)
    (copy / "bundle.json").write_bytes(orjson.dumps(data))
    with pytest.raises(skbundle.ManifestError) as info:
        skbundle.read_manifest(copy)
    assert message in str(info.value)


def test_a_version_1_manifest_written_again_is_version_2(tmp_path: Path) -> None:
    manifest = skbundle.read_manifest(OLD)
    assert manifest.format_version == 1
    again = orjson.loads(manifest.to_json())
    assert again["format_version"] == 2
    assert again["output"] == "probabilities" and again["features"][0]["kind"] == "numeric"
