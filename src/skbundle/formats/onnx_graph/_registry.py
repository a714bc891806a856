"""Final steps the writer converts, by the qualified name of their class."""

from __future__ import annotations

from skbundle.formats.onnx_graph._boosting import (
    gradient_boosting,
    gradient_boosting_regressor,
    hist_gradient_boosting,
    hist_gradient_boosting_regressor,
)
from skbundle.formats.onnx_graph._lightgbm import lightgbm_classifier, lightgbm_regressor
from skbundle.formats.onnx_graph._linear import logistic
from skbundle.formats.onnx_graph._trees import tree_classifier, tree_regressor
from skbundle.formats.onnx_graph._xgboost import xgboost_classifier, xgboost_regressor

# Matched by where the class is defined, not by its name: a user's own class called
# RandomForestClassifier is not scikit-learn's, and is not converted as if it were.
CLASSIFIERS = {
    "sklearn.ensemble._forest.RandomForestClassifier": tree_classifier,
    "sklearn.ensemble._forest.ExtraTreesClassifier": tree_classifier,
    "sklearn.tree._classes.DecisionTreeClassifier": tree_classifier,
    "sklearn.tree._classes.ExtraTreeClassifier": tree_classifier,
    "sklearn.linear_model._logistic.LogisticRegression": logistic,
    "sklearn.ensemble._gb.GradientBoostingClassifier": gradient_boosting,
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier": (
        hist_gradient_boosting
    ),
    "lightgbm.sklearn.LGBMClassifier": lightgbm_classifier,
    "xgboost.sklearn.XGBClassifier": xgboost_classifier,
}
"""Final steps whose graph ends in ``OUTPUT``: probabilities, one column per class."""
REGRESSORS = {
    "sklearn.ensemble._forest.RandomForestRegressor": tree_regressor,
    "sklearn.ensemble._forest.ExtraTreesRegressor": tree_regressor,
    "sklearn.tree._classes.DecisionTreeRegressor": tree_regressor,
    "sklearn.tree._classes.ExtraTreeRegressor": tree_regressor,
    "sklearn.ensemble._gb.GradientBoostingRegressor": gradient_boosting_regressor,
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor": (
        hist_gradient_boosting_regressor
    ),
    "lightgbm.sklearn.LGBMRegressor": lightgbm_regressor,
    "xgboost.sklearn.XGBRegressor": xgboost_regressor,
}
"""Final steps whose graph ends in ``VALUES_OUTPUT``: ``predict``, shape ``(n, 1)``."""
