"""XGBoost (gbtree): the trees of the booster's JSON, compared and summed in float32."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._ensemble import Ensemble
from skbundle.formats.onnx_graph._graph import Graph
from skbundle.formats.onnx_graph._libm import libm_float32
from skbundle.formats.onnx_graph._links import with_link_graph

_XGB_IDENTITY = frozenset(
    {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"}
)
"""XGBoost objectives whose ``predict`` is the margin and whose base score is a margin."""


class _XGBoostModel:
    """An XGBoost model's trees (those ``predict`` uses), their groups, and the margin each
    group starts from, read from the booster's JSON at save time."""

    def __init__(self, estimator: Any) -> None:
        import json

        missing = estimator.missing
        if not (isinstance(missing, float) and np.isnan(missing)):
            raise ExactConversionUnsupported(
                f"XGBoost with missing={missing!r}: only NaN as the missing value is converted"
            )
        booster = estimator.get_booster()
        learner = json.loads(booster.save_raw("json"))["learner"]
        gbm = learner["gradient_booster"]
        if gbm["name"] != "gbtree":
            raise ExactConversionUnsupported(
                f"XGBoost with booster={gbm['name']!r} (converted: gbtree)"
            )
        params = learner["learner_model_param"]
        if int(params["num_target"]) != 1:
            raise ExactConversionUnsupported("XGBoost with several targets")
        self.objective = str(learner["objective"]["name"])
        model = gbm["model"]
        trees, groups = list(model["trees"]), [int(k) for k in model["tree_info"]]
        best = booster.attr("best_iteration")
        rounds = int(best) + 1 if best is not None else len(model["iteration_indptr"]) - 1
        # the sklearn wrapper predicts with the best iteration's trees after early stopping
        stop = int(model["iteration_indptr"][rounds])
        trees, groups = trees[:stop], groups[:stop]
        self.rounds = rounds
        for tree in trees:
            if any(int(t) != 0 for t in tree["split_type"]):
                raise ExactConversionUnsupported("XGBoost with categorical splits")
        self.trees, self.groups = trees, groups
        self.n_groups = max(1, int(params["num_class"]))
        scores = str(params["base_score"]).strip("[]").split(",")
        base = np.array([np.float32(float(s)) for s in scores], dtype=np.float32)
        if len(base) == 1:
            base = np.repeat(base, self.n_groups)
        self.base = self._margin(base)

    def _margin(self, base: np.ndarray) -> np.ndarray:
        """``ProbToMargin`` in float32: ``-logf(1 / b - 1)`` for binary:logistic (the C
        library's ``logf``, as XGBoost calls it); the identity for softprob and the
        identity-link regressions."""
        if self.objective == "binary:logistic":
            logf = libm_float32("logf")
            one = np.float32(1.0)
            return np.array(
                [np.float32(-logf(float(one / b - one))) for b in base.tolist()], dtype=np.float32
            )
        if self.objective == "multi:softprob" or self.objective in _XGB_IDENTITY:
            return base
        raise ExactConversionUnsupported(
            f"XGBoost with objective {self.objective!r} (converted: binary:logistic, "
            f"multi:softprob, {', '.join(sorted(_XGB_IDENTITY))})"
        )

    def margin_of(self, row: np.ndarray) -> np.ndarray:
        """This reading's margin of one row, in float32 as XGBoost's predictor sums it."""
        out: np.ndarray = self.base.copy()
        value = row.astype(np.float32)
        for tree, k in zip(self.trees, self.groups, strict=True):
            n = 0
            while tree["left_children"][n] != -1:
                v = value[tree["split_indices"][n]]
                if np.isnan(v):
                    go_left = bool(tree["default_left"][n])
                else:
                    go_left = bool(v < np.float32(tree["split_conditions"][n]))
                n = tree["left_children"][n] if go_left else tree["right_children"][n]
            out[k] = out[k] + np.float32(tree["split_conditions"][n])
        return out

    def check(self, estimator: Any) -> None:
        """XGBoost's own margin of two probe rows (zeros, and all missing) must be this
        reading's, bit for bit: a wrong base score or sum order is refused here."""
        n_features = int(estimator.n_features_in_)
        booster = estimator.get_booster()
        for row in (np.zeros(n_features), np.full(n_features, np.nan)):
            expected = np.asarray(
                booster.inplace_predict(
                    row.reshape(1, -1),
                    predict_type="margin",
                    iteration_range=(0, self.rounds),
                    missing=np.nan,
                ),
                dtype=np.float32,
            ).ravel()
            if not np.array_equal(self.margin_of(row), expected):
                raise ExactConversionUnsupported(
                    f"XGBoost with objective {self.objective!r}: its margin of a probe row is "
                    "not the sum this converter reads from the model"
                )


def _xgboost_model(estimator: Any) -> _XGBoostModel:
    return _XGBoostModel(estimator)


def xgboost_trees(estimator: Any) -> list[dict[str, Any]]:
    """The booster's trees as its JSON model holds them, whatever the model: for their splits."""
    import json

    learner = json.loads(estimator.get_booster().save_raw("json"))["learner"]
    trees: list[dict[str, Any]] = learner["gradient_booster"].get("model", {}).get("trees", [])
    return trees


def _xgboost_raw(g: Graph, estimator: Any, x: str) -> tuple[str, _XGBoostModel]:
    """XGBoost's margin as float64 (exactly its float32): ``x`` cast to float32, each node
    ``x < split_condition`` (float32) with NaN to its default child, and per group, from the
    base margin (a one-leaf tree first), every leaf added in float32 in tree order."""
    model = _xgboost_model(estimator)
    model.check(estimator)
    ensemble = Ensemble()
    for k in range(model.n_groups):
        ensemble.add_constant(k, float(model.base[k]))
    for tree, k in zip(model.trees, model.groups, strict=True):
        left = np.asarray(tree["left_children"], dtype=np.int64)
        ensemble.add_nodes(
            k,
            left=left,
            right=np.asarray(tree["right_children"], dtype=np.int64),
            feature=np.asarray(tree["split_indices"], dtype=np.int64),
            threshold=np.asarray(tree["split_conditions"], dtype=np.float32),
            leaf_values=np.asarray(tree["split_conditions"], dtype=np.float32),
            missing_left=np.asarray(tree["default_left"], dtype=bool),
            mode=1,  # BRANCH_LT
        )
    summed = ensemble.emit(g, x, model.n_groups, dtype=np.float32)
    return g.op("Cast", [summed], "margin", to=11), model  # DOUBLE: exact


def xgboost_classifier(g: Graph, estimator: Any, x: str) -> str:
    """``predict_proba``: XGBoost's float32 sigmoid or softmax of the margin, with the C
    library's ``expf`` (``onnx_format.LINKS``)."""
    raw, model = _xgboost_raw(g, estimator, x)
    n_classes = len(estimator.classes_)
    if model.objective == "binary:logistic" and n_classes == 2 and model.n_groups == 1:
        link = "xgboost-expit"
    elif model.objective == "multi:softprob" and model.n_groups == n_classes:
        link = "xgboost-softmax"
    else:
        raise ExactConversionUnsupported(
            f"XGBClassifier with objective {model.objective!r} (converted: binary:logistic, "
            "multi:softprob)"
        )
    g.raw = (raw, model.n_groups, link)
    return with_link_graph(g, raw, model.n_groups)


def xgboost_regressor(g: Graph, estimator: Any, x: str) -> str:
    """``predict`` is the margin itself for the identity-link objectives."""
    raw, model = _xgboost_raw(g, estimator, x)
    if model.objective not in _XGB_IDENTITY:
        raise ExactConversionUnsupported(
            f"XGBRegressor with objective {model.objective!r}: its output is not the margin"
        )
    return raw


XGBOOST = ("xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor")
