"""The ``python_function`` loader of the MLflow models that ``skbundle export mlflow`` writes.

MLflow calls :func:`_load_pyfunc` with the model's ``bundle/`` directory. It is loaded with
:func:`skbundle.load`, so every file's hash is verified before anything is deserialized, a
signature is checked when ``SKBUNDLE_PUBLIC_KEY`` is set, and a pickle is never trusted: trust
never comes from inside the model directory (``MLmodel`` is as writable as the bundle).

``predict`` returns one row per record with the columns of skbundle's batch output
(``prediction``, ``confidence``, ``p_<class>``..., ``decision``, ``interval_low``/``high``,
``warnings``), the very numbers :meth:`skbundle.Bundle.predict` gives. Invalid input raises
an ``MlflowException`` carrying skbundle's message, which MLflow's server answers with 400.
"""

from __future__ import annotations

from typing import Any

from skbundle.batch import flatten
from skbundle.bundle import Bundle, load
from skbundle.errors import InputValidationError


class SkbundlePyfunc:
    """A verified bundle behind MLflow's ``predict(model_input, params=None)``."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        # Imported here: MLflow and pandas are there whenever MLflow calls this.
        import pandas as pd
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            results = self.bundle.predict(model_input)
        except InputValidationError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc
        rows = []
        for i, result in enumerate(results):
            flat = flatten(result, i)
            del flat["row"]
            rows.append(flat)
        index = model_input.index if isinstance(model_input, pd.DataFrame) else None
        return pd.DataFrame(rows, index=index)

    def unwrap_python_model(self) -> Bundle:
        """The :class:`skbundle.Bundle` itself (``PyFuncModel.unwrap_python_model()``)."""
        return self.bundle


def _load_pyfunc(path: str) -> SkbundlePyfunc:
    """MLflow's entry point: load the bundle at ``path``, verified."""
    return SkbundlePyfunc(load(path))
