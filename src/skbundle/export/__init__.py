"""Exports of a bundle to the platforms teams already run.

- :func:`export_mlflow`: an MLflow model directory (``mlflow.pyfunc.load_model``, ``mlflow
  models serve``) whose loader verifies the bundle with skbundle;
- :func:`export_docker`: a container recipe serving the bundle with ``skbundle serve``;
- :func:`runtime_requirements`: the pinned requirements one runtime of a bundle needs.

Every export copies the bundle from bytes checked against its manifest, into a directory
written atomically. See docs/export.md.
"""

from __future__ import annotations

from skbundle.export._files import Requirements, choose_runtime, runtime_requirements
from skbundle.export.docker import DockerExport, export_docker
from skbundle.export.mlflow_model import MlflowExport, export_mlflow

__all__ = [
    "DockerExport",
    "MlflowExport",
    "Requirements",
    "choose_runtime",
    "export_docker",
    "export_mlflow",
    "runtime_requirements",
]
