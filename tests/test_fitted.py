"""Forged tree structures inside a model are refused after construction, before any predict."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbundle
from skbundle import UntrustedArtifactError
from skbundle.core.manifest import write_manifest
from skbundle.trust.fitted import validate_fitted

from .conftest import Case
from .tampering import rehash

X, Y = load_breast_cancer(return_X_y=True)


def _tree_nodes(tree: Any, edit: Any) -> None:
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    edit(nodes)
    tree.__setstate__({**state, "nodes": nodes})


def _forest(edit: Any) -> Any:
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(5, max_depth=3, random_state=0))
    pipe.fit(X, Y)
    _tree_nodes(pipe[-1].estimators_[2].tree_, edit)
    return pipe


def _cycle(nodes: Any) -> None:
    nodes["left_child"][1] = 0  # a child that points back up: predict would never end


def _past_the_end(nodes: Any) -> None:
    nodes["right_child"][0] = 10_000


def _feature(nodes: Any) -> None:
    nodes["feature"][0] = 31  # the input has 30 columns


def _one_child(nodes: Any) -> None:
    leaf = int(np.flatnonzero(nodes["left_child"] == -1)[0])
    nodes["left_child"][leaf] = leaf + 1


def _hist(edit: Any) -> Any:
    model = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, Y)
    edit(model._predictors[1][0].nodes)
    return model


def _knn(edit: Any) -> Any:
    model = KNeighborsClassifier(algorithm="kd_tree").fit(X, Y)
    state = list(model._tree.__getstate__())
    edit(state)
    model._tree.__setstate__(tuple(state))
    return model


def _idx_out(state: list[Any]) -> None:
    state[1] = state[1].copy()
    state[1][0] = 10**6


def _range_out(state: list[Any]) -> None:
    state[2] = state[2].copy()
    state[2]["idx_end"][0] = 10**6


CASES = {
    "cycle": (
        lambda: _forest(_cycle),
        "model.steps[1][1].estimators_[2].tree_ has node 1 whose left child is 0; expected a "
        "later node below ",
    ),
    "child past the end": (
        lambda: _forest(_past_the_end),
        "model.steps[1][1].estimators_[2].tree_ has node 0 whose right child is 10000; expected "
        "a later node below ",
    ),
    "feature beyond the input": (
        lambda: _forest(_feature),
        "model.steps[1][1].estimators_[2].tree_ splits on feature 31; the input has 30",
    ),
    "one child": (
        lambda: _forest(_one_child),
        "model.steps[1][1].estimators_[2].tree_ has node ",
    ),
    "histogram predictor cycle": (
        lambda: _hist(lambda n: n["left"].__setitem__(1, 0)),
        "model._predictors[1][0] has node 1 whose left child is 0; expected a later node below ",
    ),
    "histogram predictor feature": (
        lambda: _hist(lambda n: n["feature_idx"].__setitem__(0, 99)),
        "model._predictors[1][0] splits on feature 99; the input has 30",
    ),
    "kd-tree index outside the data": (
        lambda: _knn(_idx_out),
        "model._tree has indices outside its 569 samples",
    ),
    "kd-tree node range outside the indices": (
        lambda: _knn(_range_out),
        "model._tree has a node range outside its 569 indices",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_forged_structures_are_refused(case: str) -> None:
    build, message = CASES[case]
    with pytest.raises(UntrustedArtifactError) as info:
        validate_fitted(build(), source="model.skops")
    assert str(info.value).startswith(f"Refusing to load model.skops: {message}"), str(info.value)
    assert str(info.value).endswith("The model file was damaged or forged; rebuild the bundle.")


def test_genuine_models_pass(cancer: Case) -> None:
    for model in (
        cancer.pipeline,
        HistGradientBoostingClassifier(max_iter=5).fit(X, Y),
        KNeighborsClassifier(algorithm="ball_tree").fit(X, Y),
        copy.deepcopy(cancer.pipeline),
    ):
        validate_fitted(model, source="model.skops")


def test_a_forged_tree_in_a_skops_file_is_refused_by_the_default_load(
    bundle_copy: Path, cancer: Case
) -> None:
    """End to end: the skops file holds a tree whose child points back up. With ONNX removed,
    the default load takes skops: it is refused before anything predicts."""
    forged = clone(cancer.pipeline).fit(cancer.X_train, cancer.y_train)
    _tree_nodes(forged[-1].estimators_[0].tree_, _cycle)
    (bundle_copy / "model.skops").write_bytes(sio.dumps(forged))
    rehash(bundle_copy, "model.skops")
    manifest = skbundle.read_manifest(bundle_copy)
    artifacts = [a for a in manifest.artifacts if a.format != "onnx"]
    write_manifest(bundle_copy, manifest.model_copy(update={"artifacts": artifacts}))
    (bundle_copy / "model.onnx").unlink()
    with pytest.raises(UntrustedArtifactError, match="has node 1 whose left child is 0"):
        skbundle.load(bundle_copy)
