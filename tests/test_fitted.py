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
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbundle
from skbundle import UntrustedArtifactError
from skbundle.core.manifest import write_manifest
from skbundle.formats import FORMATS
from skbundle.formats._protocol import SaveContext
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


# -- forged structures of the models that load by default, forged for real ---------------------
def _categorical_data() -> np.ndarray:
    """The cancer data with its first column cut into 5 categories (0..4)."""
    X_cat = X.copy()
    X_cat[:, 0] = np.digitize(X[:, 0], np.quantile(X[:, 0], [0.2, 0.4, 0.6, 0.8]))
    return X_cat


def _hist_categorical(edit: Any) -> Any:
    model = HistGradientBoostingClassifier(
        max_iter=5, categorical_features=[0], random_state=0
    ).fit(_categorical_data(), Y)
    edit(model)
    return model


def _numeric_split_made_categorical(model: Any) -> None:
    for stage in model._predictors:
        nodes = stage[0].nodes
        numeric = np.flatnonzero((nodes["is_leaf"] == 0) & (nodes["feature_idx"] != 0))
        if numeric.size and (nodes["is_categorical"] != 0).any():
            nodes["is_categorical"][numeric[0]] = 1
            nodes["feature_idx"][numeric[0]] = 7
            return
    raise LookupError("no stage with both kinds of split")


def _narrow_bitsets(model: Any) -> None:
    for stage in model._predictors:
        if (stage[0].nodes["is_categorical"] != 0).any():
            stage[0].raw_left_cat_bitsets = np.ascontiguousarray(
                stage[0].raw_left_cat_bitsets[:, :4]
            )
            return
    raise LookupError("no categorical split")


def _short_bin_mapper(model: Any) -> None:
    model._bin_mapper.is_categorical_ = model._bin_mapper.is_categorical_[:5].copy()


def _gradient_boosting(edit: Any) -> Any:
    model = GradientBoostingClassifier(n_estimators=4, max_depth=2, random_state=0).fit(X, Y)
    edit(model)
    return model


def _wider_stages(model: Any) -> None:
    model.estimators_ = np.concatenate([model.estimators_, model.estimators_], axis=1)


def _gb_tree_child(model: Any) -> None:
    _tree_nodes(model.estimators_[1, 0].tree_, _past_the_end)


def _wide_tree(model: Any) -> None:
    """A tree that expects 40 columns (and reads the 36th) inside an ensemble of 30."""
    tree = model.estimators_[1] if isinstance(model.estimators_, list) else model.estimators_[1, 0]
    tree.n_features_in_ = 40
    _tree_nodes(tree.tree_, lambda nodes: nodes["feature"].__setitem__(0, 35))


def _ball_tree(edit: Any) -> Any:
    model = KNeighborsClassifier(algorithm="ball_tree").fit(X, Y)
    state = list(model._tree.__getstate__())
    edit(state)
    model._tree.__setstate__(tuple(state))
    return model


def _bare_forest(edit: Any) -> Any:
    model = RandomForestClassifier(5, max_depth=3, random_state=0).fit(X, Y)
    edit(model)
    return model


# id: (build the forged model, what the message says where "Refusing to load ...: " ends)
FORGED: dict[str, tuple[Any, str]] = {
    **{case: (build, message) for case, (build, message) in CASES.items()},
    "histogram categorical split on a numeric feature": (
        lambda: _hist_categorical(_numeric_split_made_categorical),
        "splits on feature 7 as a category; its estimator's categorical features are [0]",
    ),
    "histogram category bitsets too narrow": (
        lambda: _hist_categorical(_narrow_bitsets),
        "has category bitsets of shape (1, 4); expected 8 words per split",
    ),
    "histogram bin mapper narrower than the input": (
        lambda: _hist_categorical(_short_bin_mapper),
        "model._bin_mapper describes 5 features; the estimator has 30",
    ),
    "gradient boosting stage wider than its predictions": (
        lambda: _gradient_boosting(_wider_stages),
        "model.estimators_ has 2 trees per stage; its initial predictions have 1 column",
    ),
    "gradient boosting tree child past the end": (
        lambda: _gradient_boosting(_gb_tree_child),
        "model.estimators_[1].tree_ has node 0 whose right child is 10000; expected a later "
        "node below ",
    ),
    "gradient boosting tree wider than the ensemble": (
        lambda: _gradient_boosting(_wide_tree),
        "model.estimators_ holds a tree (number 1) that expects 40 features; the ensemble "
        "feeds it 30 unchecked",
    ),
    "forest tree wider than the forest": (
        lambda: _bare_forest(_wide_tree),
        "model.estimators_ holds a tree (number 1) that expects 40 features; the ensemble "
        "feeds it 30 unchecked",
    ),
    "ball-tree index outside the data": (
        lambda: _ball_tree(_idx_out),
        "model._tree has indices outside its 569 samples",
    ),
}


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_file_is_refused_by_the_handler_with_no_trusted_types(
    case: str, fmt: str, tmp_path: Path
) -> None:
    """The forged model written for real by the format's own writer, then loaded by its
    handler with nothing trusted: the names all pass the audit, the structure does not."""
    build, message = FORGED[case]
    handler = FORMATS[fmt]
    context = SaveContext(("x",), np.zeros((1, 1)), handler.check_options({}))
    path = handler.save(build(), tmp_path, context)
    with pytest.raises(UntrustedArtifactError) as info:
        handler.load(path.read_bytes(), source=path.name, trusted=frozenset())
    text = str(info.value)
    assert text.startswith(f"Refusing to load {path.name}: model"), text
    assert message in text, text
    assert text.endswith(". The model file was damaged or forged; rebuild the bundle."), text


def test_genuine_ensembles_and_categorical_boosting_pass() -> None:
    for model in (
        _hist_categorical(lambda m: None),
        _gradient_boosting(lambda m: None),
        GradientBoostingClassifier(n_estimators=3, init="zero").fit(X, Y),
        _bare_forest(lambda m: None),
        _ball_tree(lambda s: None),
    ):
        validate_fitted(model, source="model.skops")
